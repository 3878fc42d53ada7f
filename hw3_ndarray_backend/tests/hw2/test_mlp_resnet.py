"""Public tests for hw2 question 6: the residual MLP, an epoch, and training on real MNIST."""
import needle as ndl
import numpy as np
import pytest
from apps.mlp_resnet import MLPResNet, ResidualBlock, epoch, train_mnist
from needle.checkpoint import load_checkpoint


def count(model):
    return sum(int(np.prod(p.shape)) for p in model.parameters())


@pytest.mark.question(6)
def test_residual_block_and_mlp_resnet_shapes_and_sizes():
    ndl.manual_seed(0)
    block = ResidualBlock(10, 6, norm=ndl.nn.LayerNorm1d, drop_prob=0.0)
    assert count(block) == (10 * 6 + 6) + 2 * 6 + (6 * 10 + 10) + 2 * 10
    x = ndl.Tensor(np.random.default_rng(0).standard_normal((3, 10)).astype(np.float32))
    out = block(x).numpy()
    assert out.shape == (3, 10) and (out >= 0).all()
    model = MLPResNet(784, hidden_dim=100, num_blocks=3)
    per_block = (100 * 50 + 50) + 2 * 50 + (50 * 100 + 100) + 2 * 100
    assert count(model) == (784 * 100 + 100) + 3 * per_block + (100 * 10 + 10)
    assert model(ndl.Tensor(np.zeros((2, 784), np.float32))).shape == (2, 10)


@pytest.mark.question(6)
def test_evaluation_epoch_matches_the_model_on_all_examples():
    ndl.manual_seed(1)
    model = MLPResNet(12, hidden_dim=8, num_blocks=1, num_classes=3)
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((10, 2, 6)).astype(np.float32), rng.integers(0, 3, 10)

    class Pairs(ndl.data.Dataset):
        def __getitem__(self, i):
            return X[i], y[i]

        def __len__(self):
            return 10
    error, loss = epoch(ndl.data.DataLoader(Pairs(), batch_size=4), model)
    model.eval()
    logits = model(ndl.Tensor(X.reshape(10, 12)))
    expected = ndl.nn.SoftmaxLoss()(logits, ndl.Tensor(y)).item()
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert error == np.mean(logits.numpy().argmax(1) != y)


@pytest.mark.question(6)
@pytest.mark.slow
@pytest.mark.timeout(600)  # a training run: minutes on a slow machine
def test_mlp_resnet_reaches_6_percent_on_mnist_sample(tmp_path):
    _, _, test_err, _ = train_mnist(out_dir=tmp_path, progress=False)
    assert test_err <= 0.06
    assert (tmp_path / "mlp_resnet_curves.png").stat().st_size > 10_000
    model = MLPResNet(784, hidden_dim=100)  # the checkpoint restores every parameter, strictly
    assert load_checkpoint(tmp_path / "mlp_resnet_epoch12.npz", model) == 12
    fresh = MLPResNet(784, hidden_dim=100)
    assert not np.array_equal(model.parameters()[0].numpy(), fresh.parameters()[0].numpy())
