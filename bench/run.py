"""``make bench``: needle's reference backends against NumPy and PyTorch, measured in one run.

Every row times needle and its reference on the same inputs and reports
their ratio, so the figures say how needle compares on *this* machine rather than in absolute
seconds. Each thread count runs in fresh interpreters with ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` set before NumPy loads (BLAS libraries read
them once), and with PyTorch and needle's backend told the same: one for the kernel rows (needle,
NumPy and PyTorch side by side), one per framework for the model rows, and one per framework for
the peak-memory row. Every one runs with the same ``GLIBC_TUNABLES`` (``MALLOC_TUNABLES``, stated
in the table), and the model rows report minor page faults per step, so that no ratio depends on
which framework ran first in a process.

Ratios: for throughput rows (matmul, element-wise, reductions) ``speed`` is needle's throughput
over the reference's (>= 1 means needle is as fast or faster); for training steps and epochs it
is the reference's time over needle's (per-op rows: time per op; the peak-memory row:
PyTorch's MiB over needle's), the same reading. The targets are the course's
performance targets, kept in ``TARGETS`` below (a target of "at most 2x PyTorch's time" for a
model row reads as speed >= 0.5).

Peers: with the optional ``peers`` extra installed (``pip install -e '.[peers]'``, or
``make venv EXTRAS=dev,torch,peers``), tinygrad and JAX run the same model rows (``bench/peers.py``:
the same models, data and work, one jitted training step each), each in its own worker under the
same threads and ``GLIBC_TUNABLES``; a second table gives each peer's time, its time over
PyTorch's, and its jit compile seconds (apart from the steady-state time), and the JSON has them
per row (``tinygrad``, ``tinygrad_over_torch``, ``tinygrad_compile_s``, or ``tinygrad_absent``
with the reason; the same for ``jax``). Without the extra the output says so once.

Usage::

    python bench/run.py                      # 1 and 2 threads, table + bench-results/cpu.json
    python bench/run.py --threads 2 --quick  # fewer, smaller rows (a smoke test)
    python bench/run.py --profile            # bench/profiler.py: where needle's time goes

With a GPU and the CUDA backend built, GPU rows (matmul 1024 and 4096, add, exp, sums, and the
model rows, both frameworks in one process) compare ``ndl.cuda()`` with PyTorch on the same GPU.
"""
from __future__ import annotations

import argparse
import importlib.util
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

# row -> (target on speed, the thread count it applies at, or None for every count). The model
# rows' targets are the course's promise of speed near PyTorch's (issue 19): an MLP epoch and an
# LSTM LM step as fast as PyTorch's, a convolution step at >= 0.7x and a ResNet9 epoch at >= 0.5x,
# and a 64x64 matmul at >= 0.7x NumPy's (where per-call overhead shows).
TARGETS = {
    "matmul 64x64": (0.7, None),
    "matmul 1024x1024": (0.7, 2),
    "add 1e7": (1.0, None), "exp 1e7": (1.0, None),
    "sum axis 0, 4096x4096": (1.0, None), "sum axis 1, 4096x4096": (1.0, None),
    "max axis 0, 4096x4096": (1.0, None), "max axis 1, 4096x4096": (1.0, None),
    "MLP epoch 784-100-10": (1.0, None), "MLP epoch 784-100-10, captured": (1.0, None),
    "conv2d 3-16-32, 32x32, fwd+bwd": (0.7, None),
    "LSTM LM step, vocab 3430": (1.0, None),
    "LSTM LM step, vocab 10000": (1.0, None),
    "LSTM LM step, vocab 3430, captured": (1.0, None), "LSTM LM step, vocab 10000, captured": (1.0, None),
    "ResNet9 epoch, 5000 CIFAR imgs": (0.5, None),
    # On a GPU, against PyTorch on the same GPU (cuBLAS for the matmuls).
    "GPU matmul 1024x1024": (0.6, None), "GPU matmul 4096x4096": (0.5, None),
    "GPU add 1e7": (0.9, None), "GPU exp 1e7": (0.9, None),
    "GPU ResNet9 epoch, 5000 CIFAR imgs": (0.5, None),
}


# Every worker runs with the same glibc allocator settings: a fixed mmap threshold of 32 MiB (the
# most glibc allows) and a trim threshold of twice it. By default glibc raises its mmap threshold
# after the first large buffer is freed, so a framework's buffers came from fresh mmaps (thousands
# of page faults a step) or from the heap depending on what ran before it in the process; fixed,
# no ratio depends on run order.
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864"


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


def _case(name: str, unit: str, scale: float, step, runs: int, steps: int = 1, warmup=None,
          sync=None) -> dict:
    """A model row's work for one framework: ``step()`` does ``steps`` training steps (or ops),
    timed as the fastest of ``runs`` calls after ``warmup()`` (default: one call of ``step``) and
    reported as ``scale`` times its seconds."""
    return {"name": name, "unit": unit, "scale": scale, "step": step, "runs": runs, "steps": steps,
            "warmup": warmup, "sync": sync}


def per_op_cases(framework: str) -> list[dict]:
    """Per-op overhead: ``a + b`` and ``a @ b`` on 2x2 float32 tensors (``ndl.Tensor`` on cpu(),
    ``torch.Tensor``), no gradients; the work is nil, so the time is the framework's dispatch."""
    import numpy as np
    a = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    b = np.array([[0.5, -1.0], [2.0, 0.25]], dtype=np.float32)
    if framework == "needle":
        import needle as ndl
        A, B = ndl.Tensor(a, device=ndl.cpu()), ndl.Tensor(b, device=ndl.cpu())
    else:
        torch = _torch()
        A, B = torch.from_numpy(a), torch.from_numpy(b)
    reps = 2000

    def add():
        for _ in range(reps):
            A + B

    def mm():
        for _ in range(reps):
            A @ B
    return [_case("per-op a + b, 2x2", "us/op", 1e6 / reps, add, 5, reps),
            _case("per-op a @ b, 2x2", "us/op", 1e6 / reps, mm, 5, reps)]


def mnist_epoch_data(quick: bool):
    """The MLP epoch's data: ``(X (count, 784) float32, y (count,) uint8, count)``, the MNIST
    sample's 4,000 training images tiled to 60,000 (6,000 with ``quick``)."""
    import numpy as np
    from simple_ml import parse_mnist
    images, labels = parse_mnist(str(REPO / "data" / "mnist" / "train-images-idx3-ubyte.gz"),
                                 str(REPO / "data" / "mnist" / "train-labels-idx1-ubyte.gz"))
    count = 6000 if quick else 60000
    reps = -(-count // len(labels))
    return np.tile(images, (reps, 1))[:count], np.tile(labels, reps)[:count], count


def mlp_epoch_case(framework: str, quick: bool, captured: bool = False) -> dict:
    """One SGD epoch of a 784-100-10 ReLU MLP, batch 100.

    The MNIST sample's 4,000 training images are tiled to 60,000 (the full training set's
    size; ``mnist_epoch_data``); every framework sees the same batches in the same order. With
    ``captured``, needle's step is ``ndl.capture``'d (recorded, then replayed without Python
    dispatch) and the row is named "..., captured"; PyTorch's is its eager step either way.
    """
    import numpy as np
    X, y, count = mnist_epoch_data(quick)
    batch = 100

    if framework == "needle":
        import needle as ndl
        import needle.nn as nn
        ndl.manual_seed(0)
        net = nn.Sequential(nn.Linear(784, 100, device=ndl.cpu()), nn.ReLU(),
                            nn.Linear(100, 10, device=ndl.cpu()))
        loss_fn, opt = nn.SoftmaxLoss(), ndl.optim.SGD(net.parameters(), lr=0.1)

        def train_step(x, t):
            loss = loss_fn(net(x), t)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        step = ndl.capture(train_step, state=(net, opt)) if captured else train_step

        def epoch():
            for i in range(0, count, batch):
                step(ndl.Tensor(X[i:i + batch], device=ndl.cpu()),
                     ndl.Tensor(y[i:i + batch], device=ndl.cpu()))
    else:
        torch = _torch()
        torch.manual_seed(0)
        tnet = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.ReLU(),
                                   torch.nn.Linear(100, 10))
        topt, tloss = torch.optim.SGD(tnet.parameters(), lr=0.1), torch.nn.CrossEntropyLoss()
        tX, ty = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))

        def epoch():
            for i in range(0, count, batch):
                loss = tloss(tnet(tX[i:i + batch]), ty[i:i + batch])
                topt.zero_grad()
                loss.backward()
                topt.step()
    return _case("MLP epoch 784-100-10" + (", captured" if captured else ""), "s/epoch", 1, epoch,
                 2, count // batch)


def _torch_resnet9(torch):
    """ResNet9 (``apps/models.py``'s architecture) in PyTorch, for the ResNet9 rows."""
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


def resnet9_trainer(framework: str, device=None):
    """A function ``step(images, labels)`` doing one Adam training step of ResNet9 on NumPy
    ``(N, 3, 32, 32)`` float32 images and int labels (needle on ``device``, default cpu(); PyTorch
    on the CPU, or on the GPU when ``device`` is needle's cuda())."""
    if framework == "needle":
        import needle as ndl
        import needle.nn as nn
        from apps.models import ResNet9
        device = device or ndl.cpu()
        ndl.manual_seed(0)
        net = ResNet9(device=device)
        opt, loss_fn = ndl.optim.Adam(net.parameters(), lr=0.001), nn.SoftmaxLoss()

        def step(images, labels):
            opt.zero_grad()
            loss_fn(net(ndl.Tensor(images, device=device)), ndl.Tensor(labels, device=device)).backward()
            opt.step()
        return step
    torch = _torch()
    tdev = "cuda" if device is not None and device.name == "cuda" else "cpu"
    torch.manual_seed(0)
    tnet = _torch_resnet9(torch).to(tdev)
    topt = torch.optim.Adam(tnet.parameters(), lr=0.001)

    def tstep(images, labels):
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tnet(torch.from_numpy(images).to(tdev)),
                                          torch.from_numpy(labels).to(tdev)).backward()
        topt.step()
    return tstep


def cifar_sample(count: int):
    """``count`` random images and labels written in CIFAR-10's python batch format (10,000 a
    file) by ``needle.data.write_cifar10_batch``, the tests' generator, into a temporary folder,
    and read back by ``CIFAR10Dataset``: ``(X (count, 3, 32, 32) float32 in [0, 1], y int64)``."""
    import tempfile

    import needle as ndl
    import numpy as np
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        for number, start in enumerate(range(0, count, 10000), start=1):
            n = min(10000, count - start)
            ndl.data.write_cifar10_batch(Path(folder) / f"data_batch_{number}",
                                         rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8),
                                         rng.integers(0, 10, n))
        data = ndl.data.CIFAR10Dataset(folder, train=True)
        return data.X, data.y


def resnet9_epoch_case(framework: str, quick: bool, device=None, prefix: str = "", sync=None) -> dict:
    """A measured ResNet9 epoch (Adam, batches of 128, in order) over a CIFAR-format sample of
    5,000 images (1,280 with ``quick``); both frameworks read the same decoded arrays, so data
    loading is not timed. The warm-up is one batch."""
    count = 1280 if quick else 5000
    X, y = cifar_sample(count)
    step, batch = resnet9_trainer(framework, device), 128

    def epoch():
        for i in range(0, count, batch):
            step(X[i:i + batch], y[i:i + batch])
    return _case(f"{prefix}ResNet9 epoch, {count} CIFAR imgs", "s/epoch", 1, epoch, 1 if quick else 2,
                 -(-count // batch), warmup=lambda: step(X[:batch], y[:batch]), sync=sync)


def model_cases(framework: str, quick: bool, device=None, prefix: str = "",
                epoch: bool = True) -> list[dict]:
    """hw5's models, a training step each for ``framework`` ("needle" on ``device``, default
    cpu(), or "torch" on the CPU, or the GPU for the GPU rows), the same shapes and the same work:

    - per-op overhead: ``a + b`` and ``a @ b`` on 2x2 tensors (CPU rows only);
    - an MLP epoch, eager and captured (CPU rows only; see ``mlp_epoch_case``);
    - conv2d forward and backward: two 3x3 convolutions 3 -> 16 -> 32 channels over a batch of
      32 images of 32 x 32 (the weights' gradients; the images need none);
    - an LSTM language model step (embedding, 1-layer LSTM, linear to the vocabulary, softmax
      loss, backward, SGD) at T = 35, B = 20, E = H = 100, for the news sample's vocabulary
      (3,430) and PTB's (10,000); on the CPU also with needle's step captured (``ndl.capture``);
    - a ResNet9 epoch over a CIFAR-format sample (``resnet9_epoch_case``; not when ``epoch`` is
      False).
    """
    import numpy as np
    gpu = bool(prefix)
    runs = 2 if quick else 5
    cases = [] if gpu else [*per_op_cases(framework), mlp_epoch_case(framework, quick),
                            mlp_epoch_case(framework, quick, captured=True)]
    needle = framework == "needle"
    if needle:
        import needle as ndl
        import needle.nn as nn
        from apps.models import LanguageModel
        device = device or ndl.cpu()
        sync = None
    else:
        torch = _torch()
        tdev = "cuda" if gpu else "cpu"
        sync = torch.cuda.synchronize if gpu else None

    x = np.random.default_rng(0).standard_normal((32, 3, 32, 32)).astype(np.float32)
    if needle:
        ndl.manual_seed(0)
        c1, c2 = nn.Conv(3, 16, 3, device=device), nn.Conv(16, 32, 3, device=device)

        def conv():
            c2(c1(ndl.Tensor(x, device=device))).sum().backward()
    else:
        torch.manual_seed(0)
        t1 = torch.nn.Conv2d(3, 16, 3, padding=1).to(tdev)
        t2 = torch.nn.Conv2d(16, 32, 3, padding=1).to(tdev)
        tx = torch.from_numpy(x).to(tdev)

        def conv():
            t2(t1(tx)).sum().backward()
    cases.append(_case(f"{prefix}conv2d 3-16-32, 32x32, fwd+bwd", "ms/step", 1e3, conv, runs, sync=sync))

    T, B, E = 35, 20, 100
    for vocab in ((3430,) if quick else (3430, 10000)):
        ids = np.random.default_rng(vocab).integers(0, vocab, (T + 1, B))
        if needle:
            ndl.manual_seed(0)
            lm = LanguageModel(E, vocab, E, seq_model="lstm", device=device)
            opt, loss_fn = ndl.optim.SGD(lm.parameters(), lr=0.1), nn.SoftmaxLoss()
            X = ndl.Tensor(ids[:-1], device=device)
            Y = ndl.Tensor(ids[1:].ravel(), device=device)

            def train_step(X, Y, opt=opt, loss_fn=loss_fn, lm=lm):
                opt.zero_grad()
                loss = loss_fn(lm(X)[0], Y)
                loss.backward()
                opt.step()
                return loss
            captured = ndl.capture(train_step, state=(lm, opt)) if not gpu else None

            def lm_step(X=X, Y=Y, train_step=train_step):
                train_step(X, Y)

            def lm_step_captured(X=X, Y=Y, captured=captured):
                captured(X, Y)
        else:
            torch.manual_seed(0)
            emb, lstm = torch.nn.Embedding(vocab, E).to(tdev), torch.nn.LSTM(E, E).to(tdev)
            out = torch.nn.Linear(E, vocab).to(tdev)
            params = [*emb.parameters(), *lstm.parameters(), *out.parameters()]
            topt = torch.optim.SGD(params, lr=0.1)
            tX, tY = torch.from_numpy(ids[:-1]).to(tdev), torch.from_numpy(ids[1:].ravel()).to(tdev)

            def lm_step(topt=topt, lstm=lstm, emb=emb, out=out, tX=tX, tY=tY):
                topt.zero_grad()
                h, _ = lstm(emb(tX))
                torch.nn.functional.cross_entropy(out(h.reshape(-1, E)), tY).backward()
                topt.step()
        cases.append(_case(f"{prefix}LSTM LM step, vocab {vocab}", "ms/step", 1e3, lm_step, runs,
                           sync=sync))
        if not gpu:  # needle's step captured (ndl.capture: replays from the 4th call), PyTorch's eager
            step = lm_step_captured if needle else lm_step
            cases.append(_case(f"LSTM LM step, vocab {vocab}, captured", "ms/step", 1e3, step, runs,
                               warmup=lambda step=step: [step() for _ in range(3)]))
    if epoch:
        cases.append(resnet9_epoch_case(framework, quick, device, prefix, sync))
    return cases


def measure(cases: list[dict]) -> list[dict]:
    """Each case's time (fastest of its runs, in its unit) and minor page faults per step
    (``getrusage``'s ``ru_minflt`` over the timed runs, all threads, divided by runs x steps)."""
    import resource
    rows = []
    for c in cases:
        def fn(c=c):
            c["step"]()
            if c["sync"]:
                c["sync"]()
        (c["warmup"] or fn)()
        before, best = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, float("inf")
        for _ in range(c["runs"]):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        rows.append({"row": c["name"], "unit": c["unit"], "time": best * c["scale"],
                     "faults": faults / (c["runs"] * c["steps"])})
    return rows


def pair(needle_rows: list[dict], torch_rows: list[dict] | None) -> list[dict]:
    """One row per model row: needle's and PyTorch's figures, their ratio (PyTorch's time over
    needle's) and page faults per step."""
    torch_by_name = {r["row"]: r for r in torch_rows or []}
    rows = []
    for n in needle_rows:
        entry = {"row": n["row"], "unit": n["unit"], "needle": n["time"]}
        if "faults" in n:
            entry["faults_needle"] = n["faults"]
        t = torch_by_name.get(n["row"])
        if t is not None:
            entry.update(torch=t["time"], speed_vs_torch=t["time"] / n["time"])
            if "faults" in t:
                entry["faults_torch"] = t["faults"]
        rows.append(entry)
    return rows


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_memory(framework: str) -> dict:
    """Peak resident memory added by two ResNet9 training steps at batch 128 on the CPU (the
    first allocates the gradients and Adam's moments), in MiB: VmHWM after the steps minus VmRSS
    before them, with the high-water mark reset first (``/proc/self/clear_refs``); run in a fresh
    interpreter per framework. Linux only."""
    import gc

    import numpy as np
    rng = np.random.default_rng(0)
    images = rng.random((128, 3, 32, 32), dtype=np.float32)
    labels = rng.integers(0, 10, 128)
    step = resnet9_trainer(framework)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:  # "5": reset the peak RSS to the current RSS
        f.write("5")
    base = _status_kib("VmRSS")
    step(images, labels)
    step(images, labels)
    return {"row": "ResNet9 step b128, peak RSS", "unit": "MiB", "time": (_status_kib("VmHWM") - base) / 1024}


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
    return rows + pair(measure(model_cases("needle", False, ndl.cuda(), "GPU ")),
                       measure(model_cases("torch", False, ndl.cuda(), "GPU ")))


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    return torch


def worker(threads: int, part: str, quick: bool) -> list[dict]:
    """One part of the rows at one thread count, in a fresh interpreter (see ``main``):
    "kernels" (needle's NDArray against NumPy and PyTorch, in one process, and the GPU rows),
    "needle" or "torch" (that framework's model rows alone), "memory-needle" or "memory-torch"
    (the peak-memory row)."""
    import needle as ndl
    ndl.cpu().set_num_threads(threads)
    if part == "kernels":
        rows = kernel_rows(quick)
        if threads == 1:  # GPU rows once: host threads do not change them
            rows += gpu_rows()
        return rows
    if part in ("needle", "torch"):
        return measure(model_cases(part, quick))
    if part in ("tinygrad", "jax"):  # bench/peers.py: the same model rows in a peer
        return _peers().peer_rows(part, quick, threads)
    if part.startswith("memory-"):
        return [peak_memory(part.removeprefix("memory-"))]
    raise ValueError(f"worker: unknown part {part!r}")


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


def table(rows: list[dict], tunables: str) -> str:
    lines = [f"Model rows: each framework in its own interpreter, GLIBC_TUNABLES={tunables or '(unset)'}; "
             "pf = minor page faults per step (per op for per-op rows)",
             f"{'row':38} {'thr':>3} {'unit':>8} {'needle':>9} {'numpy':>9} {'torch':>9} "
             f"{'x numpy':>8} {'x torch':>8} {'pf needle':>9} {'pf torch':>9}  target"]
    for r in rows:
        def fmt(key, spec, r=r):
            return format(r[key], spec) if key in r else f"{'-':>{int(spec.split('.')[0])}}"
        lines.append(f"{r['row']:38} {r['threads']:>3} {r['unit']:>8} {fmt('needle', '9.3f')} "
                     f"{fmt('numpy', '9.3f')} {fmt('torch', '9.3f')} {fmt('speed', '8.2f')} "
                     f"{fmt('speed_vs_torch', '8.2f')} {fmt('faults_needle', '9.1f')} "
                     f"{fmt('faults_torch', '9.1f')}  {verdict(r)}")
    return "\n".join(lines)


def _run_worker(threads: int, part: str, quick: bool, tunables: str) -> list[dict]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    if tunables:
        env["GLIBC_TUNABLES"] = tunables
    else:
        env.pop("GLIBC_TUNABLES", None)
    command = [sys.executable, __file__, "--worker", str(threads), "--part", part]
    done = subprocess.run(command + (["--quick"] if quick else []), env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(done.returncode)
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", help="thread counts (default: 1 2)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    parser.add_argument("--out", type=Path, help="the JSON file (default: bench-results/cpu.json)")
    parser.add_argument("--malloc", default=MALLOC_TUNABLES, metavar="TUNABLES",
                        help=f"GLIBC_TUNABLES for every worker (default {MALLOC_TUNABLES}; '' for "
                             "glibc's dynamic defaults)")
    parser.add_argument("--profile", action="store_true",
                        help="run bench/profiler.py instead: where needle's time goes per model row")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--part", default="kernels", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.profile:
        command = [sys.executable, str(Path(__file__).with_name("profiler.py")), *rest]
        command += ["--quick"] if args.quick else []
        command += ["--out", str(args.out)] if args.out else []
        if args.threads:
            if len(args.threads) != 1:
                parser.error("--profile measures at one thread count: give --threads N")
            command += ["--threads", str(args.threads[0])]
        return subprocess.run(command).returncode
    args.threads = args.threads or [1, 2]
    args.out = args.out or REPO / "bench-results" / "cpu.json"
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.worker:
        json.dump(worker(args.worker, args.part, args.quick), sys.stdout)
        return 0
    has_torch = importlib.util.find_spec("torch") is not None
    present = _peers().installed()
    rows = []
    for threads in args.threads:
        print(f"measuring at {threads} thread(s)...", file=sys.stderr, flush=True)
        part = _run_worker(threads, "kernels", args.quick, args.malloc)
        models = pair(*(_run_worker(threads, name, args.quick, args.malloc) if name == "needle"
                        or has_torch else None for name in ("needle", "torch")))
        memory = pair(*(_run_worker(threads, f"memory-{name}", args.quick, args.malloc)
                        if name == "needle" or has_torch else None for name in ("needle", "torch")))
        _join_peers(models, present, threads, args.quick, args.malloc)
        gpu = [r for r in part if r["row"].startswith("GPU ")]
        part = [r for r in part if not r["row"].startswith("GPU ")] + models + memory + gpu
        for r in part:
            r["threads"] = threads
        rows += part
    print(table(rows, args.malloc))
    print(_peers().peer_table(rows, present))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": {"processor": platform.processor() or platform.machine(),
                                                "cpus": os.cpu_count(), "python": platform.python_version()},
                                    "glibc_tunables": args.malloc, "peers": _peer_versions(present),
                                    "rows": rows}, indent=1))
    print(f"saved {args.out}")
    return 0


def _peers():
    """bench/peers.py (tinygrad and JAX in the model rows), imported by path: run.py may itself
    be loaded by path, as the tests do."""
    if "bench_peers" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_peers", Path(__file__).with_name("peers.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_peers"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_peers"]


def _join_peers(models: list[dict], present: dict[str, bool], threads: int, quick: bool,
                tunables: str) -> None:
    """Each installed peer's model rows, from its own worker (same threads and GLIBC_TUNABLES),
    joined to ``models`` by name; a worker that fails marks its peer absent on every row."""
    results = {}
    for peer in (p for p, ok in present.items() if ok):
        try:
            results[peer] = _run_worker(threads, peer, quick, tunables)
        except SystemExit as failed:
            results[peer] = [{"row": "*", "absent": f"its worker exited with status {failed.code}"}]
    _peers().join(models, results)


def _peer_versions(present: dict[str, bool]) -> dict[str, str | None]:
    """Each peer's installed version (None when not installed), for the JSON."""
    from importlib.metadata import PackageNotFoundError, version
    versions: dict[str, str | None] = {}
    for peer, ok in present.items():
        try:
            versions[peer] = version(peer) if ok else None
        except PackageNotFoundError:
            versions[peer] = None
    return versions


if __name__ == "__main__":
    sys.exit(main())
