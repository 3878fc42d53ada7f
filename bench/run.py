"""``make bench``: needle's reference backends against NumPy and PyTorch, measured in one run.

Every row times needle and its reference on the same inputs in the same process, and reports
their ratio, so the figures say how needle compares on *this* machine rather than in absolute
seconds. Each thread count runs in a fresh interpreter with ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` set before NumPy loads (BLAS libraries read
them once), and with PyTorch and needle's backend told the same.

Ratios: for throughput rows (matmul, element-wise, reductions) ``speed`` is needle's throughput
over the reference's (>= 1 means needle is as fast or faster); for training steps and epochs it
is the reference's time over needle's, the same reading. The targets are the course's
performance targets, kept in ``TARGETS`` below (a target of "at most 2x PyTorch's time" for a
model row reads as speed >= 0.5).

Usage::

    python bench/run.py                      # 1 and 2 threads, table + bench-results/cpu.json
    python bench/run.py --threads 2 --quick  # fewer, smaller rows (a smoke test)

With a GPU and the CUDA backend built, GPU rows (matmul 1024 and 4096, add, exp, sums) compare
``ndl.cuda()`` with PyTorch on the same GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "solutions" / "python"), str(REPO / "solutions" / "src"),
                str(REPO / "solutions")]

# (row, reference, target on speed, threads at which the target applies)
TARGETS = {
    "matmul 1024x1024": (0.7, 2),
    "add 1e7": (1.0, None), "exp 1e7": (1.0, None),
    "sum axis 0, 4096x4096": (1.0, None), "sum axis 1, 4096x4096": (1.0, None),
    "max axis 0, 4096x4096": (1.0, None), "max axis 1, 4096x4096": (1.0, None),
    "MLP epoch 784-100-10": (1.0, None),
    "conv2d 3-16-32, 32x32, fwd+bwd": (0.5, None),
    "LSTM LM step, vocab 3430": (0.5, None),
    "LSTM LM step, vocab 10000": (0.5, None),
    "GPU matmul 4096x4096": (0.5, None),
}


def best_time(fn, budget: float = 0.5, min_runs: int = 3, max_runs: int = 50) -> float:
    """The fastest of repeated calls of ``fn`` (after one warm-up), within ``budget`` seconds."""
    fn()
    best, spent, runs = float("inf"), 0.0, 0
    while runs < min_runs or (spent < budget and runs < max_runs):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best, spent, runs = min(best, elapsed), spent + elapsed, runs + 1
    return best


def kernel_rows(quick: bool) -> list[dict]:
    """Matmul, element-wise and reduction rows: needle's cpu() NDArray against NumPy (and torch)."""
    import needle as ndl
    import numpy as np
    from needle.backend_ndarray import NDArray
    torch = _torch()
    rng = np.random.default_rng(0)
    rows = []

    def row(name, work, needle_fn, numpy_fn, torch_fn=None, unit="GFLOP/s"):
        t_needle, t_numpy = best_time(needle_fn), best_time(numpy_fn)
        entry = {"row": name, "unit": unit, "needle": work / t_needle, "numpy": work / t_numpy,
                 "speed": t_numpy / t_needle}
        if torch_fn is not None:
            t_torch = best_time(torch_fn)
            entry.update(torch=work / t_torch, speed_vs_torch=t_torch / t_needle)
        rows.append(entry)

    def both(a):
        return NDArray(a, device=ndl.cpu()), (torch.from_numpy(a) if torch else None)

    for n in ((64, 256) if quick else (64, 256, 1024, 2048)):
        a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
        (A, ta), (B, tb) = both(a), both(b)
        row(f"matmul {n}x{n}", 2 * n ** 3 / 1e9, lambda A=A, B=B: A @ B, lambda a=a, b=b: a @ b,
            (lambda ta=ta, tb=tb: ta @ tb) if torch else None)
    batch, n = (8, 64) if quick else (32, 256)
    a = rng.standard_normal((batch, n, n), dtype=np.float32)
    b = rng.standard_normal((batch, n, n), dtype=np.float32)
    (A, ta), (B, tb) = both(a), both(b)
    row(f"batched matmul {batch}x{n}x{n}", 2 * batch * n ** 3 / 1e9, lambda: A @ B, lambda: a @ b,
        (lambda: ta @ tb) if torch else None)

    size = 10 ** 6 if quick else 10 ** 7
    label = "1e6" if quick else "1e7"
    a, b = rng.standard_normal(size, dtype=np.float32), rng.standard_normal(size, dtype=np.float32)
    (A, ta), (B, tb) = both(a), both(b)
    row(f"add {label}", size / 1e9, lambda: A + B, lambda: a + b, (lambda: ta + tb) if torch else None,
        unit="Gelem/s")
    row(f"exp {label}", size / 1e9, lambda: A.exp(), lambda: np.exp(a),
        (lambda: torch.exp(ta)) if torch else None, unit="Gelem/s")

    n = 1024 if quick else 4096
    a = rng.standard_normal((n, n), dtype=np.float32)
    A, ta = both(a)
    for op in ("sum", "max"):
        for axis in (0, 1):
            torch_fn = None
            if torch:
                torch_fn = (lambda ax=axis: ta.sum(ax)) if op == "sum" else (lambda ax=axis: ta.amax(ax))
            row(f"{op} axis {axis}, {n}x{n}", n * n / 1e9, lambda ax=axis, o=op: getattr(A, o)(axis=ax),
                lambda ax=axis, o=op: getattr(a, o)(axis=ax), torch_fn, unit="Gelem/s")
    return rows


def mlp_epoch_row(quick: bool) -> dict:
    """One SGD epoch of a 784-100-10 ReLU MLP, batch 100, in needle (cpu()) and PyTorch.

    The MNIST sample's 4,000 training images are tiled to 60,000 (the full training set's
    size); both libraries see the same batches in the same order.
    """
    import needle as ndl
    import needle.nn as nn
    import numpy as np
    from simple_ml import parse_mnist
    torch = _torch()
    images, labels = parse_mnist(str(REPO / "data" / "mnist" / "train-images-idx3-ubyte.gz"),
                                 str(REPO / "data" / "mnist" / "train-labels-idx1-ubyte.gz"))
    count = 6000 if quick else 60000
    reps = -(-count // len(labels))
    X, y = np.tile(images, (reps, 1))[:count], np.tile(labels, reps)[:count]
    batch = 100

    ndl.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 100, device=ndl.cpu()), nn.ReLU(),
                        nn.Linear(100, 10, device=ndl.cpu()))
    loss_fn, opt = nn.SoftmaxLoss(), ndl.optim.SGD(net.parameters(), lr=0.1)

    def needle_epoch():
        for i in range(0, count, batch):
            loss = loss_fn(net(ndl.Tensor(X[i:i + batch], device=ndl.cpu())),
                           ndl.Tensor(y[i:i + batch], device=ndl.cpu()))
            opt.zero_grad()
            loss.backward()
            opt.step()

    torch_epoch = None
    if torch is not None:
        tnet = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.ReLU(),
                                   torch.nn.Linear(100, 10))
        topt, tloss = torch.optim.SGD(tnet.parameters(), lr=0.1), torch.nn.CrossEntropyLoss()
        tX, ty = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))

        def torch_epoch():
            for i in range(0, count, batch):
                loss = tloss(tnet(tX[i:i + batch]), ty[i:i + batch])
                topt.zero_grad()
                loss.backward()
                topt.step()
    return _step_row("MLP epoch 784-100-10", "s/epoch", 1, needle_epoch, torch_epoch, 2)


def _torch_resnet9(torch):
    """ResNet9 (``apps/models.py``'s architecture) in PyTorch, for the epoch row."""
    nn = torch.nn

    def block(a, b, k, s):
        return nn.Sequential(nn.Conv2d(a, b, k, s, padding=k // 2), nn.BatchNorm2d(b), nn.ReLU())

    class Residual(nn.Module):
        def __init__(self, *layers):
            super().__init__()
            self.fn = nn.Sequential(*layers)

        def forward(self, x):
            return self.fn(x) + x

    return nn.Sequential(block(3, 16, 7, 4), block(16, 32, 3, 2),
                         Residual(block(32, 32, 3, 1), block(32, 32, 3, 1)),
                         block(32, 64, 3, 2), block(64, 128, 3, 2),
                         Residual(block(128, 128, 3, 1), block(128, 128, 3, 1)),
                         nn.Flatten(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))


def _step_row(name, unit, scale, needle_step, torch_step, runs: int, sync=None) -> dict:
    """Time ``needle_step`` and ``torch_step`` (fastest of ``runs`` after a warm-up), reported as
    ``scale`` times a step's seconds (ms per step, or seconds per epoch)."""
    t_needle = best_time(needle_step, budget=0, min_runs=runs)
    entry = {"row": name, "unit": unit, "needle": t_needle * scale}
    if torch_step is not None:
        def timed():
            torch_step()
            if sync:
                sync()
        t_torch = best_time(timed, budget=0, min_runs=runs)
        entry.update(torch=t_torch * scale, speed_vs_torch=t_torch / t_needle)
    return entry


def model_rows(quick: bool, device=None, prefix: str = "") -> list[dict]:
    """hw5's models, a training step each in needle (on ``device``, default cpu()) and PyTorch
    (on the CPU, or the GPU for the GPU rows), the same shapes and the same work:

    - conv2d forward and backward: two 3x3 convolutions 3 -> 16 -> 32 channels over a batch of
      32 images of 32 x 32 (the weights' gradients; the images need none);
    - an LSTM language model step (embedding, 1-layer LSTM, linear to the vocabulary, softmax
      loss, backward, SGD) at T = 35, B = 20, E = H = 100, for the news sample's vocabulary
      (3,430) and PTB's (10,000);
    - a ResNet9 CIFAR-10 epoch: 50,000 images in batches of 128 (Adam), timed over a few
      batches of random images and scaled to the 391 batches of an epoch.
    """
    import needle as ndl
    import needle.nn as nn
    import numpy as np
    from apps.models import LanguageModel, ResNet9
    torch = _torch()
    device = device or ndl.cpu()
    tdev = "cuda" if prefix else "cpu"
    sync = torch.cuda.synchronize if torch is not None and prefix else None
    rng = np.random.default_rng(0)
    runs = 2 if quick else 5
    rows = []

    x = rng.standard_normal((32, 3, 32, 32)).astype(np.float32)
    ndl.manual_seed(0)
    c1, c2 = nn.Conv(3, 16, 3, device=device), nn.Conv(16, 32, 3, device=device)

    def needle_conv():
        c2(c1(ndl.Tensor(x, device=device))).sum().backward()

    torch_conv = None
    if torch is not None:
        t1 = torch.nn.Conv2d(3, 16, 3, padding=1).to(tdev)
        t2 = torch.nn.Conv2d(16, 32, 3, padding=1).to(tdev)
        tx = torch.from_numpy(x).to(tdev)

        def torch_conv():
            t2(t1(tx)).sum().backward()
    rows.append(_step_row(f"{prefix}conv2d 3-16-32, 32x32, fwd+bwd", "ms/step", 1e3, needle_conv,
                          torch_conv, runs, sync))

    T, B, E = 35, 20, 100
    for vocab in ((3430,) if quick else (3430, 10000)):
        ids = rng.integers(0, vocab, (T + 1, B))
        ndl.manual_seed(0)
        lm = LanguageModel(E, vocab, E, seq_model="lstm", device=device)
        opt, loss_fn = ndl.optim.SGD(lm.parameters(), lr=0.1), nn.SoftmaxLoss()
        X = ndl.Tensor(ids[:-1], device=device)
        Y = ndl.Tensor(ids[1:].ravel(), device=device)

        def needle_lm(opt=opt, loss_fn=loss_fn, lm=lm, X=X, Y=Y):
            opt.zero_grad()
            loss_fn(lm(X)[0], Y).backward()
            opt.step()

        torch_lm = None
        if torch is not None:
            emb, lstm = torch.nn.Embedding(vocab, E).to(tdev), torch.nn.LSTM(E, E).to(tdev)
            out = torch.nn.Linear(E, vocab).to(tdev)
            params = [*emb.parameters(), *lstm.parameters(), *out.parameters()]
            topt = torch.optim.SGD(params, lr=0.1)
            tX, tY = torch.from_numpy(ids[:-1]).to(tdev), torch.from_numpy(ids[1:].ravel()).to(tdev)

            def torch_lm(topt=topt, lstm=lstm, emb=emb, out=out, tX=tX, tY=tY):
                topt.zero_grad()
                h, _ = lstm(emb(tX))
                torch.nn.functional.cross_entropy(out(h.reshape(-1, E)), tY).backward()
                topt.step()
        rows.append(_step_row(f"{prefix}LSTM LM step, vocab {vocab}", "ms/step", 1e3, needle_lm,
                              torch_lm, runs, sync))

    images = rng.random((128, 3, 32, 32), dtype=np.float32)
    labels = rng.integers(0, 10, 128)
    ndl.manual_seed(0)
    net = ResNet9(device=device)
    nopt = ndl.optim.Adam(net.parameters(), lr=0.001)

    def needle_batch():
        nopt.zero_grad()
        nn.SoftmaxLoss()(net(ndl.Tensor(images, device=device)),
                         ndl.Tensor(labels, device=device)).backward()
        nopt.step()

    torch_batch = None
    if torch is not None:
        tnet = _torch_resnet9(torch).to(tdev)
        tnopt = torch.optim.Adam(tnet.parameters(), lr=0.001)
        ti, tl = torch.from_numpy(images).to(tdev), torch.from_numpy(labels).to(tdev)

        def torch_batch():
            tnopt.zero_grad()
            torch.nn.functional.cross_entropy(tnet(ti), tl).backward()
            tnopt.step()
    rows.append(_step_row(f"{prefix}ResNet9 CIFAR-10 epoch (est.)", "s/epoch", 391, needle_batch,
                          torch_batch, 2 if quick else 3, sync))
    return rows


def gpu_rows() -> list[dict]:
    """The CUDA backend on a real GPU against PyTorch (cuBLAS and its own kernels), when lent.

    Each needle kernel call synchronises the device (its launch check), so wall-clock time is
    kernel time plus launch overhead; PyTorch's side synchronises explicitly.
    """
    import needle as ndl
    import numpy as np
    from needle.backend_ndarray import NDArray
    torch = _torch()
    if not ndl.cuda().enabled() or torch is None or not torch.cuda.is_available():
        return []
    rng = np.random.default_rng(0)
    rows = []

    def row(name, work, needle_fn, torch_fn, unit):
        def torch_synced():
            torch_fn()
            torch.cuda.synchronize()
        t_needle, t_torch = best_time(needle_fn), best_time(torch_synced)
        rows.append({"row": name, "unit": unit, "needle": work / t_needle, "torch": work / t_torch,
                     "speed_vs_torch": t_torch / t_needle})

    for n in (1024, 4096):
        a = rng.standard_normal((n, n), dtype=np.float32)
        A, T = NDArray(a, device=ndl.cuda()), torch.from_numpy(a).cuda()
        row(f"GPU matmul {n}x{n}", 2 * n ** 3 / 1e12, lambda A=A: A @ A, lambda T=T: T @ T, "TFLOP/s")
    a = rng.standard_normal(10 ** 7, dtype=np.float32)
    A, T = NDArray(a, device=ndl.cuda()), torch.from_numpy(a).cuda()
    row("GPU add 1e7", 1e7 / 1e9, lambda: A + A, lambda: T + T, "Gelem/s")
    row("GPU exp 1e7", 1e7 / 1e9, lambda: A.exp(), lambda: torch.exp(T), "Gelem/s")
    a = rng.standard_normal((4096, 4096), dtype=np.float32)
    A, T = NDArray(a, device=ndl.cuda()), torch.from_numpy(a).cuda()
    for axis in (0, 1):
        row(f"GPU sum axis {axis}, 4096x4096", 4096 ** 2 / 1e9, lambda ax=axis: A.sum(axis=ax),
            lambda ax=axis: T.sum(ax), "Gelem/s")
    return rows + model_rows(False, device=ndl.cuda(), prefix="GPU ")


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    return torch


def worker(threads: int, quick: bool) -> list[dict]:
    """All rows at one thread count (run in a fresh interpreter; see ``main``)."""
    import needle as ndl
    ndl.cpu().set_num_threads(threads)
    rows = kernel_rows(quick)
    rows.append(mlp_epoch_row(quick))
    rows += model_rows(quick)
    if threads == 1:  # GPU rows once: host threads do not change them
        rows += gpu_rows()
    for r in rows:
        r["threads"] = threads
    return rows


def verdict(row: dict) -> str:
    name = row["row"]
    if name not in TARGETS:
        return ""
    target, threads = TARGETS[name]
    if threads is not None and row["threads"] != threads:
        return ""
    speed = row.get("speed", row.get("speed_vs_torch"))
    if speed is None:
        return "(no reference)"
    return f"{'met' if speed >= target else 'MISSED'} (>= {target:g}x)"


def table(rows: list[dict]) -> str:
    lines = [f"{'row':30} {'thr':>3} {'unit':>8} {'needle':>9} {'numpy':>9} {'torch':>9} "
             f"{'x numpy':>8} {'x torch':>8}  target"]
    for r in rows:
        def fmt(key, spec, r=r):
            return format(r[key], spec) if key in r else "-"
        lines.append(f"{r['row']:30} {r['threads']:>3} {r['unit']:>8} {fmt('needle', '9.3f')} "
                     f"{fmt('numpy', '9.3f')} {fmt('torch', '9.3f')} {fmt('speed', '8.2f')} "
                     f"{fmt('speed_vs_torch', '8.2f')}  {verdict(r)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "cpu.json")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        json.dump(worker(args.worker, args.quick), sys.stdout)
        return 0
    rows = []
    for threads in args.threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
        command = [sys.executable, __file__, "--worker", str(threads)] + (["--quick"] if args.quick else [])
        print(f"measuring at {threads} thread(s)...", file=sys.stderr, flush=True)
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            return done.returncode
        rows += json.loads(done.stdout)
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": {"processor": platform.processor() or platform.machine(),
                                                "cpus": os.cpu_count(), "python": platform.python_version()},
                                    "rows": rows}, indent=1))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
