"""Per-op Python dispatch overhead of needle on cpu(): best-of-N microseconds per op.

    python bench/dispatch.py            # the per-op table
    python bench/dispatch.py --profile  # plus cProfile of 10,000 ``a + b`` (2x2)
    python bench/dispatch.py --mlp      # plus one MLP epoch (784-100-10, batch 100, 6,000 images)

Small tensors (2x2) show the fixed cost of going from ``Tensor`` through the op, ``NDArray``
and the binding to the kernel; 100x100 adds the kernels' work. Times are CPU time: run with
``OMP_NUM_THREADS=1`` on a shared machine, as OpenMP's waiting threads otherwise count too.
``--needle DIR`` times the package in ``DIR/needle`` instead (a copy of an older version).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "solutions" / "python"), str(REPO / "solutions" / "apps"),
                str(REPO / "solutions" / "src")]
if "--needle" in sys.argv:  # another copy of the package, to compare (the folder holding needle/)
    sys.path.insert(0, sys.argv[sys.argv.index("--needle") + 1])

import needle as ndl  # noqa: E402
import numpy as np  # noqa: E402
from needle import ops  # noqa: E402


def best_us(fn, number: int, repeat: int = 25) -> float:
    """The fastest of ``repeat`` runs of ``number`` calls of ``fn``, in CPU microseconds per call
    (process time: on a shared machine, time spent waiting for a core does not count)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(number):
            fn()
        best = min(best, time.process_time() - start)
    return best / number * 1e6


def per_op_table(number: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    rows: dict[str, float] = {}
    for n in (2, 100):
        a = ndl.Tensor(rng.standard_normal((n, n)).astype(np.float32), device=ndl.cpu())
        b = ndl.Tensor(rng.standard_normal((n, n)).astype(np.float32), device=ndl.cpu())
        cases = {
            "a + b": lambda a=a, b=b: a + b,
            "a * 2.0": lambda a=a: a * 2.0,
            "a @ b": lambda a=a, b=b: a @ b,
            "a.sum()": lambda a=a: a.sum(),
            "relu(a)": lambda a=a: ops.relu(a),
        }
        for name, fn in cases.items():
            rows[f"{name} {n}x{n}"] = best_us(fn, number)
    # backward of a small MLP loss (batch 8, 16-32-4), graph built each time
    x = ndl.Tensor(rng.standard_normal((8, 16)).astype(np.float32), device=ndl.cpu())
    w1 = ndl.Tensor(rng.standard_normal((16, 32)).astype(np.float32), device=ndl.cpu(),
                    requires_grad=True)
    w2 = ndl.Tensor(rng.standard_normal((32, 4)).astype(np.float32), device=ndl.cpu(),
                    requires_grad=True)

    def mlp_backward():
        loss = (ops.relu(x @ w1) @ w2).sum()
        loss.backward()

    rows["small MLP fwd+bwd"] = best_us(mlp_backward, max(1, number // 10))
    return rows


def mlp_epoch(count: int = 6000, repeat: int = 3) -> float:
    """Seconds for one SGD epoch of a 784-100-10 ReLU MLP at batch 100 (best of ``repeat``)."""
    import needle.nn as nn
    rng = np.random.default_rng(0)
    X = rng.random((count, 784), dtype=np.float32)
    y = rng.integers(0, 10, count).astype(np.uint8)
    ndl.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 100, device=ndl.cpu()), nn.ReLU(),
                        nn.Linear(100, 10, device=ndl.cpu()))
    loss_fn, opt = nn.SoftmaxLoss(), ndl.optim.SGD(net.parameters(), lr=0.1)
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for i in range(0, count, 100):
            loss = loss_fn(net(ndl.Tensor(X[i:i + 100], device=ndl.cpu())),
                           ndl.Tensor(y[i:i + 100], device=ndl.cpu()))
            opt.zero_grad()
            loss.backward()
            opt.step()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=500, help="calls per timed run")
    parser.add_argument("--needle", help="folder holding another needle package to time")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--mlp", action="store_true")
    args = parser.parse_args()
    for name, us in per_op_table(args.number).items():
        print(f"{name:24s} {us:9.2f} us")
    if args.mlp:
        print(f"{'MLP epoch (6000 imgs)':24s} {mlp_epoch() * 1e3:9.1f} ms")
    if args.profile:
        import cProfile
        import pstats
        a = ndl.Tensor(np.ones((2, 2), np.float32), device=ndl.cpu())
        b = ndl.Tensor(np.ones((2, 2), np.float32), device=ndl.cpu())
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(10000):
            a + b
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
