"""`make demo`: train hw0's and hw1's models on the real MNIST sample and plot their curves.

Trains softmax regression (NumPy and C++) and the two-layer ReLU net (NumPy and needle), with
a progress bar per model, prints each epoch's train/test error, checks the test errors against
the course's bounds, and saves to ``--out``:

- ``mnist_curves.png``: each model's training loss per iteration (the loss of each minibatch
  just before its SGD step) with the per-epoch loss on the whole training set as points, and
  its train and test error per epoch, with the bounds the models are graded against drawn in:
  12% test error for softmax regression (hw0), 7% for the two-layer net (hw1) and, from hw2 on,
  6% for the MLPResNet;
- ``mnist_misclassified.png``: test digits the needle two-layer net gets wrong, each with its
  predicted and true label.

Usage:
    python apps/train_mnist.py [--out DIR] [--data DIR] [--device cpu|cuda|cuda_emu]

``--device`` makes that needle's default device (``ndl.set_default_device``), where the needle
models' weights and batches are then made; ``cuda`` and ``cuda_emu`` need hw4's backend.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

# Run as a script from anywhere: this homework's python/ (needle), src/ (hw0) and root (apps).
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "python"), str(ROOT / "src"), str(ROOT)]

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # a file, not a window: the demo runs on machines without a screen
import matplotlib.pyplot as plt  # noqa: E402
import needle as ndl  # noqa: E402
import numpy as np  # noqa: E402
import simple_ml  # noqa: E402  (hw0)
from tqdm import tqdm  # noqa: E402

from apps import simple_ml_needle as needle_ml  # noqa: E402  (hw1)

# The test-error bounds the graded MNIST models must reach (the public tests and the hidden
# thresholds: hw0's test_simple_ml.py, hw1's test_simple_ml_needle.py, hw2's test_mlp_resnet.py).
SOFTMAX_BOUND, TWO_LAYER_BOUND, MLP_RESNET_BOUND = 0.12, 0.07, 0.06


def _softmax_model(cpp: bool):
    """(init, epoch step, logits) for softmax regression, NumPy or C++ (hw0)."""
    step = simple_ml.softmax_regression_epoch_cpp if cpp else simple_ml.softmax_regression_epoch

    def init(n, k):
        return np.zeros((n, k), dtype=np.float32)

    def train_step(X_b, y_b, theta, lr):
        step(X_b, y_b, theta, lr=lr, batch=len(y_b))
        return theta
    return init, train_step, lambda X, theta: X @ theta


def _two_layer_model(needle: bool, hidden_dim: int, seed: int = 0):
    """(init, epoch step, logits) for the two-layer ReLU net, NumPy (hw0) or needle (hw1), from
    hw0's ``init_two_layer`` weights; the needle weights are read as NumPy for the logits."""
    def init(n, k):
        W1, W2 = simple_ml.init_two_layer(n, hidden_dim, k, seed)
        return (ndl.Tensor(W1), ndl.Tensor(W2)) if needle else (W1, W2)

    def train_step(X_b, y_b, weights, lr):
        if needle:
            return needle_ml.nn_epoch(X_b, y_b, *weights, lr=lr, batch=len(y_b))
        simple_ml.nn_epoch(X_b, y_b, *weights, lr=lr, batch=len(y_b))
        return weights

    def logits(X, weights):
        W1, W2 = (w.numpy() for w in weights) if needle else weights
        return np.maximum(X @ W1, 0) @ W2
    return init, train_step, logits


# (name, model, learning rate, batch size, epochs, bound on test error)
RUNS = [
    ("softmax regression (NumPy)", _softmax_model(cpp=False), 0.2, 100, 10, SOFTMAX_BOUND),
    ("softmax regression (C++)", _softmax_model(cpp=True), 0.2, 100, 10, SOFTMAX_BOUND),
    ("two-layer net, 400 hidden (NumPy)", _two_layer_model(False, 400), 0.2, 100, 20,
     TWO_LAYER_BOUND),
    ("two-layer net, 400 hidden (needle)", _two_layer_model(True, 400), 0.2, 100, 20,
     TWO_LAYER_BOUND),
]


def train_by_batch(model, X_tr: np.ndarray, y_tr: np.ndarray, X_te: np.ndarray, y_te: np.ndarray,
                   lr: float, batch: int, epochs: int, on_epoch: Callable | None = None):
    """Minibatch SGD as hw0's ``train_softmax``/``train_nn`` run it (consecutive batches in
    order, the same steps, so the same weights), one batch per call of the model's epoch
    function, recording the loss of each minibatch just before its step.

    Args:
        model: ``(init(n, k), train_step(X_b, y_b, params, lr) -> params, logits(X, params))``.
        X_tr, y_tr, X_te, y_te: float32 images ``(m, 784)`` and integer labels ``(m,)``.
        on_epoch: called as ``on_epoch(epoch, train_loss, train_err, test_loss, test_err)``.

    Returns:
        ``(params, batch_losses, history)``: the trained parameters, one softmax loss (nats) per
        iteration, and per epoch ``(train_loss, train_err, test_loss, test_err)``.
    """
    init, train_step, logits = model
    params = init(X_tr.shape[1], int(y_tr.max()) + 1)
    batch_losses, history = [], []
    for epoch in range(epochs):
        for start in range(0, len(y_tr), batch):
            X_b, y_b = X_tr[start:start + batch], y_tr[start:start + batch]
            batch_losses.append(simple_ml.loss_err(logits(X_b, params), y_b)[0])
            params = train_step(X_b, y_b, params, lr)
        row = (*simple_ml.loss_err(logits(X_tr, params), y_tr),
               *simple_ml.loss_err(logits(X_te, params), y_te))
        history.append(row)
        if on_epoch:
            on_epoch(epoch, *row)
    return params, batch_losses, history


def plot_curves(runs: dict[str, tuple[list[float], list[tuple[float, ...]]]],
                bounds: dict[str, float], path: Path,
                extra_points: dict[str, tuple[int, float]] | None = None):
    """Save (and return) the figure: training loss per iteration, train and test error per epoch.

    Args:
        runs: name -> ``(batch_losses, history)`` as ``train_by_batch`` returns them.
        bounds: a label -> a test-error bound (a fraction), drawn as a dotted line on both
            error panels.
        path: the PNG to write.
        extra_points: name -> ``(epoch, test error)`` of a model trained elsewhere (the
            MLPResNet), drawn as a star on the test-error panel.
    """
    figure, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, (batch_losses, history)) in enumerate(runs.items()):
        # Each model runs twice (NumPy, then C++ or needle): dash the second so both show.
        style = dict(color=colours[i], linestyle="--" if i % 2 else "-", linewidth=2.0 - 0.8 * (i % 2))
        per_epoch = len(batch_losses) // len(history)
        axes[0].plot(range(1, len(batch_losses) + 1), batch_losses, alpha=0.6, **style)
        axes[0].plot([per_epoch * (e + 1) for e in range(len(history))], [h[0] for h in history],
                     "o", color=colours[i], markersize=4)
        epochs = range(1, len(history) + 1)
        axes[1].plot(epochs, [100 * h[1] for h in history], label=name, **style)
        axes[2].plot(epochs, [100 * h[3] for h in history], label=name, **style)
    for j, (name, (epoch, error)) in enumerate((extra_points or {}).items()):
        axes[2].plot([epoch], [100 * error], "*", markersize=12, color=colours[len(runs) + j],
                     label=f"{name}: final")
    axes[0].set(title="training loss (line: per minibatch; dots: per epoch, whole set)",
                xlabel="iteration (minibatch)", ylabel="softmax loss (nats)", yscale="log")
    for k, (label, bound) in enumerate(sorted(bounds.items(), key=lambda item: -item[1])):
        for ax in axes[1:]:
            ax.axhline(100 * bound, color="black", linestyle=":", linewidth=1.2, alpha=0.5 + 0.25 * (k % 3))
            ax.annotate(f"{label}: {bound:.0%}", (1, 100 * bound), xycoords=("axes fraction", "data"),
                        xytext=(-4, 2), textcoords="offset points", ha="right", va="bottom", fontsize=7)
    for ax, title in zip(axes[1:], ("train error", "test error (bounds dotted)"), strict=True):
        ax.set(title=f"MNIST sample: {title}", xlabel="epoch", ylabel="error (%)", ylim=(0, 15))
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axes:
        ax.grid(alpha=0.3)
    handles, labels = axes[2].get_legend_handles_labels()  # one legend, below: clear of every curve
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    figure.savefig(path, dpi=120)
    return figure


def plot_misclassified(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, path: Path,
                       rows: int = 4, cols: int = 8, title: str = "misclassified test digits"):
    """Save (and return) a grid of the first ``rows * cols`` images whose prediction is wrong,
    each titled ``predicted (true)``.

    Args:
        images: ``(m, 784)`` grey levels in [0, 1] (``parse_mnist``'s ``X``).
        labels, predicted: integer labels ``(m,)``.
        path: the PNG to write.

    Returns:
        ``(figure, indices)``: the figure and the indices of the digits shown.

    Raises:
        ValueError: if the arrays' lengths differ or an image does not have 784 pixels.
    """
    if not (len(images) == len(labels) == len(predicted)) or images.ndim != 2 or images.shape[1] != 784:
        raise ValueError(f"plot_misclassified: expected images (m, 784) and labels and predictions "
                         f"(m,), got {images.shape}, {np.shape(labels)}, {np.shape(predicted)}")
    wrong = np.flatnonzero(np.asarray(predicted) != np.asarray(labels))[:rows * cols]
    figure, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.6 * rows + 0.4))
    for ax in np.ravel(axes):
        ax.set_axis_off()
    for ax, i in zip(np.ravel(axes), wrong, strict=False):
        ax.imshow(images[i].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"{predicted[i]} ({labels[i]})", fontsize=9, color="firebrick")
    figure.suptitle(f"{title}: predicted (true); {len(wrong)} shown of "
                    f"{int(np.sum(np.asarray(predicted) != np.asarray(labels)))} wrong")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return figure, wrong


DEVICES = ("cpu", "cuda", "cuda_emu")


def device_by_name(name: str):
    """The needle device called ``name``: ``"cpu"`` (``ndl.cpu()``), ``"cuda"`` (``ndl.cuda()``,
    the GPU) or ``"cuda_emu"`` (``ndl.cuda(emulate=True)``, hw4's kernels run on the CPU).

    Raises:
        ValueError: for another name, for a CUDA device in a homework before hw4 (its backend
            is not there yet), or for a device that cannot run here (``enabled()`` False: no
            GPU, or a backend not built), saying why.
    """
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}: expected one of {', '.join(DEVICES)}")
    if name == "cpu":
        return ndl.cpu()
    if not hasattr(ndl, "cuda"):
        raise ValueError(f"device {name!r} needs hw4's CUDA backend (ndl.cuda); this homework "
                         f"runs on the CPU only: use --device cpu")
    device = ndl.cuda(emulate=name == "cuda_emu")
    if not device.enabled():
        raise ValueError(f"device {name!r} cannot run here: {device._missing}")
    return device


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-output"),
                        help="folder for the plots (default: demo-output)")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder holding mnist/ (default: the repository's data/)")
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="needle's device for the needle models (default: cpu)")
    args = parser.parse_args(argv)
    try:
        ndl.set_default_device(device_by_name(args.device))
    except ValueError as error:
        parser.error(str(error))

    X_tr, y_tr, X_te, y_te = simple_ml.load_mnist_sample(args.data)
    print(f"MNIST sample: {len(y_tr)} training and {len(y_te)} test images")
    runs, failures = {}, []
    for name, model, lr, batch, epochs, bound in RUNS:
        # disable=None: a bar on a terminal, none in a log file (CI).
        with tqdm(total=epochs, desc=name, unit="epoch", leave=False, disable=None) as bar:
            # train_by_batch calls on_epoch only during this iteration, so the loop variables it
            # reads (B023) are this run's.
            def on_epoch(epoch, train_loss, train_err, test_loss, test_err):
                bar.update(1)
                tqdm.write(f"  {name:36s} epoch {epoch + 1:2d}: "  # noqa: B023
                           f"train error {train_err:6.2%}, test error {test_err:6.2%}")
            params, batch_losses, history = train_by_batch(model, X_tr, y_tr, X_te, y_te, lr, batch,
                                                           epochs, on_epoch)
        runs[name] = (batch_losses, history)
        test_err = history[-1][3]
        verdict = "ok" if test_err <= bound else "ABOVE THE BOUND"
        print(f"{name}: test error {test_err:.2%} (bound {bound:.0%}) {verdict}")
        if test_err > bound:
            failures.append(name)
    args.out.mkdir(parents=True, exist_ok=True)
    # The last run is hw1's needle net: show what it gets wrong.
    predicted = model[2](X_te, params).argmax(axis=1)
    grid = args.out / "mnist_misclassified.png"
    plt.close(plot_misclassified(X_te, y_te, predicted, grid,
                                 title=f"{RUNS[-1][0]}, misclassified test digits")[0])
    print(f"misclassified test digits saved to {grid}")
    bounds = {"softmax regression": SOFTMAX_BOUND, "two-layer net": TWO_LAYER_BOUND}
    extra_points: dict[str, tuple[int, float]] = {}

    ### BEGIN FROM hw2
    from apps.mlp_resnet import train_mnist as train_mlp_resnet  # hw2
    mlp_epochs = 12
    *_, test_err, _ = train_mlp_resnet(epochs=mlp_epochs,
                                       data_dir=args.data / "mnist" if args.data else None,
                                       out_dir=args.out)
    print(f"MLPResNet (needle nn, Adam, StepLR): test error {test_err:.2%} (bound "
          f"{MLP_RESNET_BOUND:.0%}) {'ok' if test_err <= MLP_RESNET_BOUND else 'ABOVE THE BOUND'}; "
          f"curves in {args.out}/mlp_resnet_curves.png")
    if test_err > MLP_RESNET_BOUND:
        failures.append("MLPResNet")
    bounds["MLPResNet (hw2)"] = MLP_RESNET_BOUND
    extra_points["MLPResNet (hw2)"] = (mlp_epochs, test_err)
    ### END FROM
    plot = args.out / "mnist_curves.png"
    plt.close(plot_curves(runs, bounds, plot, extra_points))
    print(f"curves saved to {plot}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
