"""Tests of `make demo`'s MNIST script (apps/train_mnist.py, given code): its batch-by-batch
training loop, the curves with the graded bounds, and the grid of misclassified digits."""
import numpy as np
import pytest
import simple_ml
from apps import simple_ml_needle
from apps import train_mnist as demo


def digits(m, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((m, 784)).astype(np.float32), rng.integers(0, 10, m).astype(np.uint8)


@pytest.mark.question(6)
def test_batch_by_batch_training_is_train_nn_and_records_each_batch_loss():
    X, y = digits(250)
    X_te, y_te = digits(50, seed=1)
    model = demo._two_layer_model(needle=True, hidden_dim=16)
    (W1, W2), losses, history = demo.train_by_batch(model, X, y, X_te, y_te, lr=0.1, batch=100,
                                                    epochs=2)
    R1, R2 = simple_ml_needle.train_nn(X, y, X_te, y_te, hidden_dim=16, epochs=2, lr=0.1, batch=100)
    np.testing.assert_allclose(W1.numpy(), R1.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(W2.numpy(), R2.numpy(), rtol=1e-6, atol=1e-7)
    assert len(losses) == 6 and len(history) == 2  # 3 batches (100, 100, 50) per epoch
    # The first loss is the first batch's under the initial weights, before any step.
    V1, V2 = simple_ml.init_two_layer(784, 16, 10)
    logits = np.maximum(X[:100] @ V1, 0) @ V2
    shifted = logits - logits.max(axis=1, keepdims=True)
    expected = np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(100), y[:100]])
    assert losses[0] == pytest.approx(expected, rel=1e-5)
    test_logits = np.maximum(X_te @ W1.numpy(), 0) @ W2.numpy()
    assert history[-1][3] == pytest.approx(np.mean(test_logits.argmax(axis=1) != y_te))


def test_curves_draw_every_bound(tmp_path):
    history = [(0.5, 0.15, 0.6, 0.2), (0.3, 0.08, 0.4, 0.1)]
    runs = {"a": ([1.0, 0.8, 0.6, 0.5], history), "b": ([0.9, 0.7, 0.6, 0.4], history)}
    bounds = {"softmax regression": demo.SOFTMAX_BOUND, "two-layer net": demo.TWO_LAYER_BOUND,
              "MLPResNet (hw2)": demo.MLP_RESNET_BOUND}
    figure = demo.plot_curves(runs, bounds, tmp_path / "curves.png", {"MLPResNet (hw2)": (2, 0.05)})
    loss_ax, train_ax, test_ax = figure.axes
    for ax in (train_ax, test_ax):
        levels = sorted(line.get_ydata()[0] for line in ax.get_lines()
                        if line.get_linestyle() == ":")
        assert levels == pytest.approx([6.0, 7.0, 12.0])
        assert {t.get_text() for t in ax.texts} == {"softmax regression: 12%", "two-layer net: 7%",
                                                     "MLPResNet (hw2): 6%"}
    # per iteration (4 points) and per epoch (2 dots, at the end of each epoch's iterations)
    lines = loss_ax.get_lines()
    assert [len(line.get_xdata()) for line in lines] == [4, 2, 4, 2]
    assert list(lines[1].get_xdata()) == [2, 4] and list(lines[1].get_ydata()) == [0.5, 0.3]
    star = [line for line in test_ax.get_lines() if line.get_marker() == "*"]
    assert [(list(s.get_xdata()), list(s.get_ydata())) for s in star] == [([2], [5.0])]
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (demo.SOFTMAX_BOUND, demo.TWO_LAYER_BOUND, demo.MLP_RESNET_BOUND) == (0.12, 0.07, 0.06)


def test_misclassified_grid_shows_the_wrong_digits_with_their_labels(tmp_path):
    images, labels = digits(40)
    predicted = labels.copy()
    wrong = [3, 17, 18, 39]
    predicted[wrong] = (labels[wrong] + 1) % 10
    figure, shown = demo.plot_misclassified(images, labels, predicted, tmp_path / "grid.png",
                                            rows=1, cols=3)
    assert shown.tolist() == [3, 17, 18]
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == [f"{predicted[i]} ({labels[i]})" for i in (3, 17, 18)]
    np.testing.assert_array_equal(figure.axes[1].images[0].get_array(), images[17].reshape(28, 28))
    assert "3 shown of 4 wrong" in figure._suptitle.get_text()
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"expected images \(m, 784\).*got \(40, 784\), \(39,\)"):
        demo.plot_misclassified(images, labels[:39], predicted, tmp_path / "bad.png")


def test_devices_by_name():
    import needle as ndl
    assert demo.device_by_name("cpu") == ndl.cpu()
    with pytest.raises(ValueError, match="unknown device 'gpu': expected one of cpu, cuda, cuda_emu"):
        demo.device_by_name("gpu")
    if not hasattr(ndl, "cuda"):  # hw1-hw3: NumPy or the CPU backends only
        with pytest.raises(ValueError, match="needs hw4's CUDA backend"):
            demo.device_by_name("cuda_emu")
        return
    assert demo.device_by_name("cuda_emu") == ndl.cuda(emulate=True)
    if ndl.cuda(emulate=False).enabled():
        assert demo.device_by_name("cuda") == ndl.cuda(emulate=False)
    else:
        with pytest.raises(ValueError, match=r"device 'cuda' cannot run here: .*emulate=True"):
            demo.device_by_name("cuda")


def test_an_unknown_device_is_refused_before_any_training(capsys):
    with pytest.raises(SystemExit):
        demo.main(["--device", "tpu"])
    assert "invalid choice: 'tpu'" in capsys.readouterr().err
