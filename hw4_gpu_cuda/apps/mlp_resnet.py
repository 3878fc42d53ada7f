"""hw2: a residual MLP trained on MNIST with needle's nn, optim and data.

Usage (trains on the MNIST sample, saves curves and checkpoints):
    python apps/mlp_resnet.py [--epochs 12] [--out DIR]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Run as a script from anywhere: this homework's python/ (needle), src/ (hw0) and root (apps).
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "python"), str(ROOT / "src"), str(ROOT)]

import needle as ndl  # noqa: E402
import needle.nn as nn  # noqa: E402
import numpy as np  # noqa: E402
from needle.checkpoint import save_checkpoint  # noqa: E402


def ResidualBlock(dim: int, hidden_dim: int, norm=nn.BatchNorm1d, drop_prob: float = 0.1) -> nn.Module:
    """``ReLU(x + norm(Linear(Dropout(ReLU(norm(Linear(x)))))))``: ``(N, dim)`` -> ``(N, dim)``.

    The block of CMU's hw2 (after He et al., "Deep Residual Learning", CVPR 2016): Linear to
    ``hidden_dim``, norm, ReLU, Dropout, Linear back to ``dim``, norm, all inside a Residual,
    then a ReLU.
    """
    # TODO (hw2, question 6): implement ResidualBlock (MLPResNet on MNIST)
    raise NotImplementedError("ResidualBlock: hw2")


def MLPResNet(dim: int, hidden_dim: int = 100, num_blocks: int = 3, num_classes: int = 10,
              norm=nn.BatchNorm1d, drop_prob: float = 0.1) -> nn.Module:
    """Linear(dim, hidden_dim), ReLU, ``num_blocks`` ResidualBlocks (inner width
    ``hidden_dim // 2``), Linear(hidden_dim, num_classes): ``(N, dim)`` -> ``(N, num_classes)``."""
    # TODO (hw2, question 6): implement MLPResNet (MLPResNet on MNIST)
    raise NotImplementedError("MLPResNet: hw2")


def epoch(dataloader: ndl.data.DataLoader, model: nn.Module,
          opt: ndl.optim.Optimizer | None = None) -> tuple[float, float]:
    """One pass over ``dataloader``: training (``model.train()``, a step per batch) when ``opt``
    is given, else evaluation (``model.eval()``, no graph recorded).

    Images are flattened to ``(N, 784)``.

    Returns:
        ``(error rate, mean loss)`` over all examples.
    """
    # TODO (hw2, question 6): implement epoch (MLPResNet on MNIST)
    raise NotImplementedError("epoch: hw2")


def train_mnist(batch_size: int = 100, epochs: int = 12, optimizer=ndl.optim.Adam, lr: float = 0.002,
                weight_decay: float = 0.001, hidden_dim: int = 100, lr_step: int | None = 8,
                data_dir: str | Path | None = None, out_dir: str | Path | None = None, seed: int = 0,
                progress: bool = True):
    """Train an MLPResNet on the MNIST files in ``data_dir`` (default: the repository's sample).

    With ``lr_step``, the learning rate drops tenfold every ``lr_step`` epochs (``StepLR``).

    Shows a tqdm bar per epoch; with ``out_dir``, saves ``mlp_resnet_curves.png`` and, after each
    epoch, a checkpoint ``mlp_resnet_epoch{n}.npz`` of the model, optimiser, scheduler, epoch and
    generators (``needle.checkpoint.save_checkpoint``; ``load_checkpoint`` resumes from it
    exactly). Seeds needle's generator and the shuffling.

    Returns:
        ``(train error, train loss, test error, test loss)`` of the last epoch.
    """
    from simple_ml import default_data_dir  # given in hw0's src/simple_ml.py
    from tqdm import tqdm
    mnist = Path(data_dir) if data_dir else default_data_dir() / "mnist"
    ndl.manual_seed(seed)
    train_set = ndl.data.MNISTDataset(str(mnist / "train-images-idx3-ubyte.gz"),
                                      str(mnist / "train-labels-idx1-ubyte.gz"))
    test_set = ndl.data.MNISTDataset(str(mnist / "t10k-images-idx3-ubyte.gz"),
                                     str(mnist / "t10k-labels-idx1-ubyte.gz"))
    train_loader = ndl.data.DataLoader(train_set, batch_size, shuffle=True, seed=seed)
    test_loader = ndl.data.DataLoader(test_set, batch_size)
    model = MLPResNet(784, hidden_dim=hidden_dim)
    opt = optimizer(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = ndl.optim.StepLR(opt, lr_step) if lr_step else None
    history = []
    for number in tqdm(range(epochs), desc="MLPResNet", unit="epoch", disable=None if progress else True):
        train_err, train_loss = epoch(train_loader, model, opt)
        test_err, test_loss = epoch(test_loader, model)
        history.append((train_err, train_loss, test_err, test_loss))
        if scheduler:
            scheduler.step()
        tqdm.write(f"  epoch {number + 1:2d}: train error {train_err:6.2%}, test error {test_err:6.2%}")
        if out_dir:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            save_checkpoint(Path(out_dir) / f"mlp_resnet_epoch{number + 1}.npz", model=model,
                            optimizer=opt, scheduler=scheduler, epoch=number + 1,
                            dataloader=train_loader)
    if out_dir:
        _plot(history, Path(out_dir) / "mlp_resnet_curves.png")
    return history[-1]


def _plot(history: list[tuple[float, float, float, float]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = range(1, len(history) + 1)
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (i, j), title in ((axes[0], (0, 2), "error (%)"), (axes[1], (1, 3), "loss")):
        scale = 100 if i == 0 else 1
        ax.plot(epochs, [h[i] * scale for h in history], label="train")
        ax.plot(epochs, [h[j] * scale for h in history], label="test")
        ax.set(title=f"MLPResNet on the MNIST sample: {title}", xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    args = parser.parse_args()
    train_err, _, test_err, _ = train_mnist(epochs=args.epochs, out_dir=args.out)
    verdict = "ok" if test_err <= 0.06 else "ABOVE THE BOUND"
    print(f"MLPResNet: test error {test_err:.2%} (bound 6%) {verdict}")
    print(f"curves saved to {args.out / 'mlp_resnet_curves.png'}")
