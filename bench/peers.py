"""Peers for ``make bench``'s model rows: the same models in tinygrad and JAX, timed the same way.

With the optional ``peers`` extra installed (``pip install -e '.[peers]'``: tinygrad and JAX on
the CPU), ``bench/run.py`` runs this module's rows in one fresh worker process per peer, under
the same ``GLIBC_TUNABLES`` and thread variables as needle's and PyTorch's workers, and joins
them to needle's model rows by name (``join``; ``peer_table`` prints them). Each row is the same
model doing the same work as ``bench/run.py``'s ``model_cases`` on the same data:

- ``MLP epoch 784-100-10``: one SGD (lr 0.1) epoch of a 784-100-10 ReLU MLP, softmax cross
  entropy, batches of 100 of ``run.mnist_epoch_data``'s tiled MNIST sample, in order;
- ``conv2d 3-16-32, 32x32, fwd+bwd``: two 3x3 convolutions (padding 1, with bias) 3 -> 16 -> 32
  channels over the same 32 x 32 x 3 x 32 batch, forward, sum, and the weights' gradients;
- ``LSTM LM step, vocab V`` (V = 3,430 and 10,000): embedding, 1-layer LSTM (T = 35, B = 20,
  E = H = 100, zero initial state), linear to the vocabulary, softmax cross entropy, backward,
  SGD (lr 0.1), on the same token ids;
- ``ResNet9 epoch, N CIFAR imgs``: ``run._torch_resnet9``'s architecture (conv-BatchNorm-ReLU
  blocks, training-mode batch statistics and running averages), Adam (lr 1e-3), batches of 128
  of ``run.cifar_sample``'s images, in order.

JAX runs each as one ``jax.jit`` of ``value_and_grad`` and the parameter update; tinygrad as one
``TinyJit`` per input shape (the ResNet9 epoch's last, short batch has its own). The warm-up calls
until the jit is warm (JAX: 2 calls per input shape, tracing and XLA compilation in the first;
tinygrad: 3, TinyJit runs eagerly, then captures, then replays) are timed apart: ``compile_s`` is
their wall time less the same number of steady-state steps. ``time`` is then the fastest of the
row's runs, as ``run.measure`` times needle's and PyTorch's. A row a peer cannot build or run,
or not within ``BENCH_PEER_ROW_LIMIT_S`` seconds (default 120: tinygrad's CPU compile of the
unrolled LSTM step takes minutes), comes back as ``{"row": name, "absent": reason}``, never as a
failed bench.

Threads: ``NUM_CPU_THREADS`` for tinygrad; for JAX, XLA's intra-op thread count
(``XLA_FLAGS``) and the process's CPU affinity limited to that many cores (XLA sizes its pool
from the affinity mask). tinygrad's CPU device compiles kernels with clang (``apt-get install
clang``); without it, its rows come back absent with that reason.

Usage (run.py does this itself)::

    python bench/peers.py --framework jax --quick --rows MLP
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PEERS = ("tinygrad", "jax")
INSTALL_HINT = "pip install -e '.[peers]'"
# calls until each peer's jit is warm, per input shape (see the module docstring)
WARM_CALLS = {"tinygrad": 3, "jax": 2}


def installed() -> dict[str, bool]:
    """Which peers are importable here, without importing them: ``{"tinygrad": bool, "jax": bool}``."""
    return {name: importlib.util.find_spec(name) is not None for name in PEERS}


def _run_module():
    """bench/run.py as a module (its data and architecture are the rows' source of truth)."""
    if "bench_run" in sys.modules:
        return sys.modules["bench_run"]
    spec = importlib.util.spec_from_file_location("bench_run", Path(__file__).with_name("run.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


def limit_threads(framework: str, threads: int) -> None:
    """Tell ``framework`` to use ``threads`` CPU threads; before it is imported (both read their
    settings once). Raises ValueError for an unknown framework or a thread count below 1."""
    if framework not in PEERS:
        raise ValueError(f"limit_threads: unknown peer {framework!r} (expected one of {PEERS})")
    if threads < 1:
        raise ValueError(f"limit_threads: threads must be >= 1, got {threads}")
    if framework == "tinygrad":
        os.environ["NUM_CPU_THREADS"] = str(threads)
        os.environ.setdefault("DEV", "CPU")
        return
    os.environ["JAX_PLATFORMS"] = "cpu"
    flags = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} " \
            f"intra_op_parallelism_threads={threads}"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()
    if hasattr(os, "sched_getaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, cpus[:threads])


# ---- the models' initial weights: NumPy, the same for both peers ------------------------------

def _uniform(rng, shape: tuple[int, ...], fan_in: int):
    """PyTorch's default initialisation of Linear, Conv2d and LSTM weights: U(-1/sqrt(fan_in), ..)."""
    import numpy as np
    bound = 1 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape).astype(np.float32)


# the eight conv-BatchNorm-ReLU blocks of run._torch_resnet9: (in, out, kernel, stride); blocks
# 2-3 and 6-7 are the two residual branches
RESNET9_BLOCKS = ((3, 16, 7, 4), (16, 32, 3, 2), (32, 32, 3, 1), (32, 32, 3, 1),
                  (32, 64, 3, 2), (64, 128, 3, 2), (128, 128, 3, 1), (128, 128, 3, 1))


def _mlp_weights():
    import numpy as np
    rng = np.random.default_rng(0)
    return {"w1": _uniform(rng, (784, 100), 784), "b1": _uniform(rng, (100,), 784),
            "w2": _uniform(rng, (100, 10), 100), "b2": _uniform(rng, (10,), 100)}


def _lm_weights(vocab: int, E: int):
    import numpy as np
    rng = np.random.default_rng(1)
    return {"emb": rng.standard_normal((vocab, E)).astype(np.float32),
            "w_ih": _uniform(rng, (4 * E, E), E), "w_hh": _uniform(rng, (4 * E, E), E),
            "b_ih": _uniform(rng, (4 * E,), E), "b_hh": _uniform(rng, (4 * E,), E),
            "out_w": _uniform(rng, (vocab, E), E), "out_b": _uniform(rng, (vocab,), E)}


def _resnet9_weights():
    import numpy as np
    rng = np.random.default_rng(2)
    weights: dict[str, Any] = {}
    for i, (a, b, k, _) in enumerate(RESNET9_BLOCKS):
        weights[f"c{i}_w"] = _uniform(rng, (b, a, k, k), a * k * k)
        weights[f"c{i}_b"] = _uniform(rng, (b,), a * k * k)
        weights[f"bn{i}_g"], weights[f"bn{i}_b"] = np.ones(b, np.float32), np.zeros(b, np.float32)
    weights.update(fc1_w=_uniform(rng, (128, 128), 128), fc1_b=_uniform(rng, (128,), 128),
                   fc2_w=_uniform(rng, (10, 128), 128), fc2_b=_uniform(rng, (10,), 128))
    return weights


# ---- rows: one builder per row, per peer ------------------------------------------------------

def _case(name: str, unit: str, scale: float, step: Callable[[], Any], warm: Callable[[], Any],
          warm_steps: int, runs: int, steps: int, sync: Callable[[], None],
          loss: Callable[[Any], float] | None = None) -> dict:
    """A peer's row: ``warm()`` makes the jit warm (``warm_steps`` training steps' work) and
    returns the first loss as a float (None for a row without one); ``step()`` is the timed unit
    (``steps`` steps), reported as ``scale`` times its seconds; ``sync()`` waits for queued work;
    ``loss(handle)`` reads the loss handle ``step()`` returns as a float."""
    return {"name": name, "unit": unit, "scale": scale, "step": step, "warm": warm,
            "warm_steps": warm_steps, "runs": runs, "steps": steps, "sync": sync, "loss": loss}


def _epoch(name: str, unit: str, X, y, batch: int, train: Callable, sync, loss, runs: int,
           warm_calls: int) -> dict:
    """A row that trains over ``X, y`` in batches: ``train(x, y)`` is one step returning a loss
    handle; every distinct batch size is warmed ``warm_calls`` times first."""
    starts = list(range(0, len(X), batch))
    sizes = sorted({min(batch, len(X) - s) for s in starts}, reverse=True)

    def warm():
        first = None
        for size in sizes:
            s = next(s for s in starts if min(batch, len(X) - s) == size)
            for _ in range(warm_calls):
                handle = train(X[s:s + size], y[s:s + size])
                if first is None:  # read now: a jit may reuse the handle's buffer later
                    first = loss(handle)
        return first

    def epoch():
        handle = None
        for s in starts:
            handle = train(X[s:s + batch], y[s:s + batch])
        return handle
    return _case(name, unit, 1, epoch, warm, warm_calls * len(sizes), runs, len(starts), sync, loss)


def jax_cases(quick: bool, only: list[str] | None = None) -> list[tuple[str, Callable[[], dict]]]:
    """The rows for JAX: ``(name, build)`` pairs, ``build()`` returning a ``_case``."""
    run = _run_module()
    runs = 2 if quick else 5
    warm_calls = WARM_CALLS["jax"]

    def setup():
        import jax
        import jax.numpy as jnp
        return jax, jnp

    def ce(jax, jnp, logits, labels):
        picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)

    def sgd_step(jax, loss_fn, lr):
        @jax.jit
        def step(params, *batch):
            value, grads = jax.value_and_grad(loss_fn)(params, *batch)
            return jax.tree.map(lambda p, g: p - lr * g, params, grads), value
        return step

    def mlp():
        jax, jnp = setup()
        X, y, _ = run.mnist_epoch_data(quick)
        y = y.astype("int32")

        def loss_fn(p, x, labels):
            h = jax.nn.relu(x @ p["w1"] + p["b1"])
            return ce(jax, jnp, h @ p["w2"] + p["b2"], labels)
        step, state = sgd_step(jax, loss_fn, 0.1), {"p": jax.tree.map(jnp.asarray, _mlp_weights())}

        def train(x, labels):
            state["p"], value = step(state["p"], x, labels)
            return value
        return _epoch("MLP epoch 784-100-10", "s/epoch", X, y, 100, train,
                      lambda: jax.block_until_ready(state["p"]), float, 2, warm_calls)

    def conv():
        import numpy as np
        jax, jnp = setup()
        x = jnp.asarray(np.random.default_rng(0).standard_normal((32, 3, 32, 32)).astype(np.float32))
        rng = np.random.default_rng(3)
        p = {"w1": _uniform(rng, (16, 3, 3, 3), 27), "b1": _uniform(rng, (16,), 27),
             "w2": _uniform(rng, (32, 16, 3, 3), 144), "b2": _uniform(rng, (32,), 144)}
        p = jax.tree.map(jnp.asarray, p)

        def conv2d(v, w, b):
            out = jax.lax.conv_general_dilated(v, w, (1, 1), ((1, 1), (1, 1)),
                                               dimension_numbers=("NCHW", "OIHW", "NCHW"))
            return out + b[None, :, None, None]

        grad = jax.jit(jax.grad(lambda p, v: conv2d(conv2d(v, p["w1"], p["b1"]), p["w2"], p["b2"]).sum()))
        out: dict[str, Any] = {}

        def step():
            out["g"] = grad(p, x)

        def warm():
            for _ in range(warm_calls):
                step()
        return _case("conv2d 3-16-32, 32x32, fwd+bwd", "ms/step", 1e3, step, warm, warm_calls, runs, 1,
                     lambda: jax.block_until_ready(out["g"]))

    def lstm(vocab: int):
        import numpy as np
        jax, jnp = setup()
        T, B, E = 35, 20, 100
        ids = np.random.default_rng(vocab).integers(0, vocab, (T + 1, B))
        X, Y = jnp.asarray(ids[:-1], dtype=jnp.int32), jnp.asarray(ids[1:].ravel(), dtype=jnp.int32)

        def loss_fn(p, tokens, targets):
            def cell(carry, xt):
                h, c = carry
                gates = xt @ p["w_ih"].T + p["b_ih"] + h @ p["w_hh"].T + p["b_hh"]
                i, f, g, o = jnp.split(gates, 4, axis=1)
                c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
                h = jax.nn.sigmoid(o) * jnp.tanh(c)
                return (h, c), h
            zeros = jnp.zeros((B, E), jnp.float32)
            _, hs = jax.lax.scan(cell, (zeros, zeros), p["emb"][tokens])
            return ce(jax, jnp, hs.reshape(-1, E) @ p["out_w"].T + p["out_b"], targets)
        step, state = sgd_step(jax, loss_fn, 0.1), {"p": jax.tree.map(jnp.asarray, _lm_weights(vocab, E))}
        out: dict[str, Any] = {}

        def one():
            state["p"], out["loss"] = step(state["p"], X, Y)
            return out["loss"]

        def warm():
            first = float(one())
            for _ in range(warm_calls - 1):
                one()
            return first
        return _case(f"LSTM LM step, vocab {vocab}", "ms/step", 1e3, one, warm, warm_calls, runs, 1,
                     lambda: jax.block_until_ready(state["p"]), float)

    def resnet9():
        jax, jnp = setup()
        count = 1280 if quick else 5000
        X, y = run.cifar_sample(count)
        y = y.astype("int32")

        def block(p, i, v, stats):
            _, _, k, s = RESNET9_BLOCKS[i]
            out = jax.lax.conv_general_dilated(v, p[f"c{i}_w"], (s, s), ((k // 2, k // 2),) * 2,
                                               dimension_numbers=("NCHW", "OIHW", "NCHW"))
            out = out + p[f"c{i}_b"][None, :, None, None]
            mean, var = out.mean(axis=(0, 2, 3)), out.var(axis=(0, 2, 3))
            n = out.size / out.shape[1]
            stats[f"rm{i}"] = 0.9 * stats[f"rm{i}"] + 0.1 * jax.lax.stop_gradient(mean)
            stats[f"rv{i}"] = 0.9 * stats[f"rv{i}"] + 0.1 * jax.lax.stop_gradient(var) * n / (n - 1)
            norm = (out - mean[None, :, None, None]) * jax.lax.rsqrt(var + 1e-5)[None, :, None, None]
            return jax.nn.relu(norm * p[f"bn{i}_g"][None, :, None, None] + p[f"bn{i}_b"][None, :, None, None])

        def loss_fn(p, stats, images, labels):
            stats = dict(stats)
            v = block(p, 1, block(p, 0, images, stats), stats)
            v = block(p, 3, block(p, 2, v, stats), stats) + v
            v = block(p, 5, block(p, 4, v, stats), stats)
            v = block(p, 7, block(p, 6, v, stats), stats) + v
            v = jax.nn.relu(v.reshape(v.shape[0], -1) @ p["fc1_w"].T + p["fc1_b"])
            return ce(jax, jnp, v @ p["fc2_w"].T + p["fc2_b"], labels), stats

        @jax.jit
        def step(p, m, s, t, stats, images, labels):
            (value, stats), g = jax.value_and_grad(loss_fn, has_aux=True)(p, stats, images, labels)
            m = jax.tree.map(lambda a, b: 0.9 * a + 0.1 * b, m, g)
            s = jax.tree.map(lambda a, b: 0.999 * a + 0.001 * b * b, s, g)
            t = t + 1
            c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
            p = jax.tree.map(lambda w, a, b: w - 1e-3 * (a / c1) / (jnp.sqrt(b / c2) + 1e-8), p, m, s)
            return p, m, s, t, stats, value

        p = jax.tree.map(jnp.asarray, _resnet9_weights())
        zeros = jax.tree.map(jnp.zeros_like, p)
        stats = {}
        for i, (_, b, _, _) in enumerate(RESNET9_BLOCKS):
            stats[f"rm{i}"], stats[f"rv{i}"] = jnp.zeros(b), jnp.ones(b)
        state = {"a": (p, zeros, zeros, jnp.float32(0), stats)}

        def train(images, labels):
            *new, value = step(*state["a"], images, labels)
            state["a"] = tuple(new)
            return value
        return _epoch(f"ResNet9 epoch, {count} CIFAR imgs", "s/epoch", X, y, 128, train,
                      lambda: jax.block_until_ready(state["a"]), float, 1 if quick else 2, warm_calls)

    return _select([("MLP epoch 784-100-10", mlp), ("conv2d 3-16-32, 32x32, fwd+bwd", conv),
                    *((f"LSTM LM step, vocab {v}", lambda v=v: lstm(v)) for v in _vocabs(quick)),
                    (f"ResNet9 epoch, {1280 if quick else 5000} CIFAR imgs", resnet9)], only)


def tinygrad_cases(quick: bool, only: list[str] | None = None) -> list[tuple[str, Callable[[], dict]]]:
    """The rows for tinygrad: ``(name, build)`` pairs, ``build()`` returning a ``_case``."""
    run = _run_module()
    runs = 2 if quick else 5
    warm_calls = WARM_CALLS["tinygrad"]

    def setup():
        from tinygrad import Device, Tensor, TinyJit
        from tinygrad.helpers import TRAINING
        TRAINING.value = 1  # BatchNorm's batch statistics, and the optimizers refuse otherwise
        Device[Device.DEFAULT].synchronize()  # opens the device now: no clang fails here, named
        return Tensor, TinyJit, lambda: Device[Device.DEFAULT].synchronize()

    def tensors(weights: dict) -> dict:
        from tinygrad import Tensor
        out = {k: Tensor(v) for k, v in weights.items()}
        Tensor.realize(*out.values())
        return out

    def epoch_trainer(TinyJit, Tensor, forward, params: list, opt):
        def train_step(x, labels):
            opt.zero_grad()
            loss = forward(x).sparse_categorical_crossentropy(labels).backward()
            opt.step()
            return loss.realize()
        jits: dict[int, Any] = {}

        def train(x, labels):
            if len(x) not in jits:
                jits[len(x)] = TinyJit(train_step)
            return jits[len(x)](Tensor(x), Tensor(labels.astype("int32")))
        return train

    def mlp():
        Tensor, TinyJit, sync = setup()
        from tinygrad.nn.optim import SGD
        X, y, _ = run.mnist_epoch_data(quick)
        p = tensors(_mlp_weights())
        opt = SGD(list(p.values()), lr=0.1)

        def forward(x):
            return (x @ p["w1"] + p["b1"]).relu() @ p["w2"] + p["b2"]
        train = epoch_trainer(TinyJit, Tensor, forward, list(p.values()), opt)
        return _epoch("MLP epoch 784-100-10", "s/epoch", X, y, 100, train, sync,
                      lambda t: float(t.item()), 2, warm_calls)

    def conv():
        import numpy as np
        Tensor, TinyJit, sync = setup()
        x = Tensor(np.random.default_rng(0).standard_normal((32, 3, 32, 32)).astype(np.float32)).realize()
        rng = np.random.default_rng(3)
        p = tensors({"w1": _uniform(rng, (16, 3, 3, 3), 27), "b1": _uniform(rng, (16,), 27),
                     "w2": _uniform(rng, (32, 16, 3, 3), 144), "b2": _uniform(rng, (32,), 144)})
        params = list(p.values())

        @TinyJit
        def grad(v):
            out = v.conv2d(p["w1"], p["b1"], padding=1).conv2d(p["w2"], p["b2"], padding=1).sum()
            return Tensor.realize(*out.gradient(*params))

        def warm():
            for _ in range(warm_calls):
                grad(x)
        return _case("conv2d 3-16-32, 32x32, fwd+bwd", "ms/step", 1e3, lambda: grad(x), warm,
                     warm_calls, runs, 1, sync)

    def lstm(vocab: int):
        import numpy as np
        Tensor, TinyJit, sync = setup()
        from tinygrad.nn.optim import SGD
        T, B, E = 35, 20, 100
        ids = np.random.default_rng(vocab).integers(0, vocab, (T + 1, B)).astype(np.int32)
        X, Y = Tensor(ids[:-1]).realize(), Tensor(ids[1:].ravel()).realize()
        p = tensors(_lm_weights(vocab, E))
        opt = SGD(list(p.values()), lr=0.1)

        @TinyJit
        def step(tokens, targets):
            opt.zero_grad()
            x = p["emb"][tokens]  # (T, B, E)
            h = c = Tensor.zeros(B, E)
            hs = []
            for t in range(T):
                gates = x[t] @ p["w_ih"].T + p["b_ih"] + h @ p["w_hh"].T + p["b_hh"]
                i, f, g, o = gates.chunk(4, dim=1)
                c = f.sigmoid() * c + i.sigmoid() * g.tanh()
                h = o.sigmoid() * c.tanh()
                hs.append(h)
            logits = Tensor.stack(*hs).reshape(-1, E) @ p["out_w"].T + p["out_b"]
            loss = logits.sparse_categorical_crossentropy(targets).backward()
            opt.step()
            return loss.realize()

        def warm():
            first = float(step(X, Y).item())
            for _ in range(warm_calls - 1):
                step(X, Y)
            return first
        out: dict[str, Any] = {}

        def one():
            out["loss"] = step(X, Y)
            return out["loss"]
        return _case(f"LSTM LM step, vocab {vocab}", "ms/step", 1e3, one, warm, warm_calls, runs, 1,
                     sync, lambda t: float(t.item()))

    def resnet9():
        Tensor, TinyJit, sync = setup()
        from tinygrad.nn import BatchNorm
        from tinygrad.nn.optim import Adam
        count = 1280 if quick else 5000
        X, y = run.cifar_sample(count)
        p = tensors({k: v for k, v in _resnet9_weights().items() if not k.startswith("bn")})
        norms = [BatchNorm(b) for _, b, _, _ in RESNET9_BLOCKS]
        params = list(p.values())
        for bn in norms:
            params += [bn.weight, bn.bias]
        opt = Adam(params, lr=1e-3)

        def block(i, v):
            _, _, k, s = RESNET9_BLOCKS[i]
            return norms[i](v.conv2d(p[f"c{i}_w"], p[f"c{i}_b"], stride=s, padding=k // 2)).relu()

        def forward(v):
            v = block(1, block(0, v))
            v = block(3, block(2, v)) + v
            v = block(5, block(4, v))
            v = block(7, block(6, v)) + v
            return (v.flatten(1) @ p["fc1_w"].T + p["fc1_b"]).relu() @ p["fc2_w"].T + p["fc2_b"]
        train = epoch_trainer(TinyJit, Tensor, forward, params, opt)
        return _epoch(f"ResNet9 epoch, {count} CIFAR imgs", "s/epoch", X, y, 128, train, sync,
                      lambda t: float(t.item()), 1 if quick else 2, warm_calls)

    return _select([("MLP epoch 784-100-10", mlp), ("conv2d 3-16-32, 32x32, fwd+bwd", conv),
                    *((f"LSTM LM step, vocab {v}", lambda v=v: lstm(v)) for v in _vocabs(quick)),
                    (f"ResNet9 epoch, {1280 if quick else 5000} CIFAR imgs", resnet9)], only)


def _vocabs(quick: bool) -> tuple[int, ...]:
    return (3430,) if quick else (3430, 10000)


def _select(cases: list, only: list[str] | None) -> list:
    """The cases whose names contain one of ``only``'s strings (all when ``only`` is None)."""
    return [c for c in cases if only is None or any(s in c[0] for s in only)]


def measure_peer(case: dict) -> dict:
    """A case's row: ``time`` (fastest of its runs, in its unit), ``compile_s`` (the warm-up's
    wall time less ``warm_steps`` steady-state steps, at least 0), and for training rows the
    first warm-up batch's loss (``warm()`` returns it as a float) and the last timed batch's
    (``loss_first``, ``loss_last``)."""
    start = time.perf_counter()
    first = case["warm"]()
    case["sync"]()
    warm = time.perf_counter() - start
    best, last = float("inf"), None
    for _ in range(case["runs"]):
        start = time.perf_counter()
        last = case["step"]()
        case["sync"]()
        best = min(best, time.perf_counter() - start)
    per_step = best / case["steps"]
    row = {"row": case["name"], "unit": case["unit"], "time": best * case["scale"],
           "compile_s": max(0.0, warm - case["warm_steps"] * per_step)}
    if case["loss"] is not None and first is not None and last is not None:
        row.update(loss_first=float(first), loss_last=case["loss"](last))
    return row


def row_limit_s() -> int:
    """Seconds one peer row may take, building, compiling and timed runs together
    (``BENCH_PEER_ROW_LIMIT_S``, default 120): tinygrad's CPU compile of an unrolled LSTM step
    takes minutes. Raises ValueError for a value that is not a positive integer."""
    text = os.environ.get("BENCH_PEER_ROW_LIMIT_S", "120")
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"BENCH_PEER_ROW_LIMIT_S must be a positive integer of seconds, got {text!r}")
    return int(text)


class RowTimeout(Exception):
    """A peer row ran past ``row_limit_s()``."""


def peer_rows(framework: str, quick: bool, threads: int = 1, only: list[str] | None = None) -> list[dict]:
    """Every row of ``framework`` ("tinygrad" or "jax") measured, or ``{"row", "absent": reason}``
    for each row it could not build or run, or not within ``row_limit_s()`` (SIGALRM, where the
    platform has it); ``only`` keeps the rows whose names contain one of its strings. Raises
    ValueError for an unknown framework or a bad ``BENCH_PEER_ROW_LIMIT_S``."""
    import signal
    limit_threads(framework, threads)
    limit = row_limit_s()
    cases = (jax_cases if framework == "jax" else tinygrad_cases)(quick, only)
    alarm = hasattr(signal, "SIGALRM")

    def expire(signum, frame):
        raise RowTimeout(f"over the {limit} s limit for one row (BENCH_PEER_ROW_LIMIT_S), "
                         "building, compiling and timing together")
    if alarm:
        signal.signal(signal.SIGALRM, expire)
    rows = []
    for name, build in cases:
        try:
            if alarm:
                signal.alarm(limit)
            rows.append(measure_peer(build()))
        except Exception as error:  # a peer's missing op or device: the row is absent, named
            reason = f"{type(error).__name__}: {error}".strip().splitlines()[0][:200]
            rows.append({"row": name, "absent": reason})
        finally:
            if alarm:
                signal.alarm(0)
    return rows


# ---- joining and printing (run.py's side) -----------------------------------------------------

def join(rows: list[dict], peer_results: dict[str, list[dict]]) -> list[dict]:
    """Add each peer's figures to the model rows of one thread count, by row name, in place:
    ``<peer>`` (its time, in the row's unit), ``<peer>_compile_s``, ``<peer>_over_torch`` (its time
    over PyTorch's: below 1, faster than PyTorch) or ``<peer>_absent`` (the reason). A peer row
    named ``"*"`` (its worker failed) marks every row. Returns ``rows``."""
    for peer, results in peer_results.items():
        by_name = {r["row"]: r for r in results}
        for row in rows:
            found = by_name.get(row["row"], by_name.get("*"))
            if found is None:
                continue
            if "absent" in found:
                row[f"{peer}_absent"] = found["absent"]
                continue
            row[peer] = found["time"]
            row[f"{peer}_compile_s"] = found["compile_s"]
            if "torch" in row and row["torch"] > 0:
                row[f"{peer}_over_torch"] = found["time"] / row["torch"]
    return rows


def peer_table(rows: list[dict], present: dict[str, bool]) -> str:
    """The peers' columns for the rows they joined: per peer, its time, its time over PyTorch's
    (``t/torch``) and its compile seconds; "absent" with the reasons listed below. A peer that is
    not installed is said once; with none installed, only that line."""
    missing = [p for p in PEERS if not present.get(p)]
    if len(missing) == len(PEERS):
        return f"peers: not installed ({INSTALL_HINT})"
    shown = [p for p in PEERS if present.get(p)]
    lines = ["Peers (model rows, each peer in its own interpreter, same threads and GLIBC_TUNABLES); "
             "t/torch = peer's time over PyTorch's (< 1: faster); compile = jit warm-up seconds, apart"]
    head = f"{'row':38} {'thr':>3} {'unit':>8} {'torch':>9}"
    for p in shown:
        head += f" {p:>9} {'t/torch':>7} {'compile':>7}"
    lines.append(head)
    reasons = []
    for r in rows:
        if not any(p in r or f"{p}_absent" in r for p in shown):
            continue
        line = f"{r['row']:38} {r.get('threads', ''):>3} {r['unit']:>8} " + \
               (f"{r['torch']:9.3f}" if "torch" in r else f"{'-':>9}")
        for p in shown:
            if p in r:
                ratio = f"{r[p + '_over_torch']:7.2f}" if p + "_over_torch" in r else f"{'-':>7}"
                line += f" {r[p]:9.3f} {ratio} {r[p + '_compile_s']:7.1f}"
            elif p + "_absent" in r:
                line += f" {'absent':>9} {'-':>7} {'-':>7}"
                reasons.append(f"  {p} absent from {r['row']!r}: {r[p + '_absent']}")
            else:
                line += f" {'-':>9} {'-':>7} {'-':>7}"
        lines.append(line)
    lines += list(dict.fromkeys(reasons))
    lines += [f"peers: {p} not installed ({INSTALL_HINT})" for p in missing]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=PEERS, required=True)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, as run.py --quick")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", nargs="+", help="only rows whose names contain one of these")
    args = parser.parse_args(argv)
    json.dump(peer_rows(args.framework, args.quick, args.threads, args.rows), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
