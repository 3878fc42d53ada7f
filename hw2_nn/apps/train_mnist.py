"""`make demo`: train hw0's and hw1's models on the real MNIST sample and plot their curves.

Trains softmax regression (NumPy and C++) and the two-layer ReLU net (NumPy and needle), with
a progress bar per model, prints each epoch's train/test error, saves the curves as a PNG and
checks the test errors against the course's bounds.

Usage:
    python apps/train_mnist.py [--out DIR] [--data DIR]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Run as a script from anywhere: this homework's python/ (needle), src/ (hw0) and root (apps).
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "python"), str(ROOT / "src"), str(ROOT)]

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # a file, not a window: the demo runs on machines without a screen
import matplotlib.pyplot as plt  # noqa: E402
import simple_ml  # noqa: E402  (hw0)
from tqdm import tqdm  # noqa: E402

from apps import simple_ml_needle as needle_ml  # noqa: E402  (hw1)

# (name, trainer, keyword arguments, epochs, bound on test error)
RUNS = [
    ("softmax regression (NumPy)", simple_ml.train_softmax, dict(lr=0.2, batch=100), 10, 0.12),
    ("softmax regression (C++)", simple_ml.train_softmax, dict(lr=0.2, batch=100, cpp=True), 10, 0.12),
    ("two-layer net, 400 hidden (NumPy)", simple_ml.train_nn,
     dict(hidden_dim=400, lr=0.2, batch=100), 20, 0.07),
    ("two-layer net, 400 hidden (needle)", needle_ml.train_nn,
     dict(hidden_dim=400, lr=0.2, batch=100), 20, 0.07),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-output"),
                        help="folder for the plot (default: demo-output)")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder holding mnist/ (default: the repository's data/)")
    args = parser.parse_args(argv)

    X_tr, y_tr, X_te, y_te = simple_ml.load_mnist_sample(args.data)
    print(f"MNIST sample: {len(y_tr)} training and {len(y_te)} test images")
    histories, failures = {}, []
    for name, train, kwargs, epochs, bound in RUNS:
        history = []
        # disable=None: a bar on a terminal, none in a log file (CI).
        with tqdm(total=epochs, desc=name, unit="epoch", leave=False, disable=None) as bar:
            # train() calls on_epoch only during this iteration, so the loop variables it reads
            # (B023) are this run's.
            def on_epoch(epoch, train_loss, train_err, test_loss, test_err):
                history.append((train_err, test_err))  # noqa: B023
                bar.update(1)
                tqdm.write(f"  {name:36s} epoch {epoch + 1:2d}: "  # noqa: B023
                           f"train error {train_err:6.2%}, test error {test_err:6.2%}")
            train(X_tr, y_tr, X_te, y_te, epochs=epochs, on_epoch=on_epoch, **kwargs)
        histories[name] = history
        test_err = history[-1][1]
        verdict = "ok" if test_err <= bound else "ABOVE THE BOUND"
        print(f"{name}: test error {test_err:.2%} (bound {bound:.0%}) {verdict}")
        if test_err > bound:
            failures.append(name)

    from apps.mlp_resnet import train_mnist as train_mlp_resnet  # hw2
    *_, test_err, _ = train_mlp_resnet(data_dir=args.data / "mnist" if args.data else None,
                                       out_dir=args.out)
    print(f"MLPResNet (needle nn, Adam, StepLR): test error {test_err:.2%} (bound 6%) "
          f"{'ok' if test_err <= 0.06 else 'ABOVE THE BOUND'}; curves in {args.out}/mlp_resnet_curves.png")
    if test_err > 0.06:
        failures.append("MLPResNet")
    args.out.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for i, (name, history) in enumerate(histories.items()):
        epochs = range(1, len(history) + 1)
        # Each model runs twice (NumPy, then C++ or needle): dash the second so both show.
        style = dict(label=name, linestyle="--" if i % 2 else "-", linewidth=2.5 - i % 2)
        axes[0].plot(epochs, [100 * tr for tr, _ in history], **style)
        axes[1].plot(epochs, [100 * te for _, te in history], **style)
    for ax, title in zip(axes, ("train error", "test error"), strict=True):
        ax.set(title=f"MNIST sample: {title}", xlabel="epoch", ylabel="error (%)", ylim=(0, 15))
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[1].legend(fontsize=8)
    figure.tight_layout()
    plot = args.out / "mnist_curves.png"
    figure.savefig(plot, dpi=120)
    print(f"curves saved to {plot}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
