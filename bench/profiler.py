"""``make bench-profile``: where needle's time goes in each model row of ``make bench``.

For each row (per-op ``a + b`` and ``a @ b`` on 2x2 tensors, the MLP epoch, conv2d forward and
backward, a ResNet9 training step at batch 128, the LSTM LM step) it runs needle's step once
unprofiled (the fastest of a few runs) and once under ``cProfile``, and splits the profiled time
by where it was spent (each function's own time, ``tottime``):

- ``kernels``: inside the compiled backend's functions (pybind11 builtins, listed by name);
  their time includes pybind11's argument conversion, which is small next to a kernel;
- ``copies``: the backend's ``compact``, ``ewise_setitem``/``scalar_setitem``, ``to_numpy`` and
  ``from_numpy``;
- ``allocation``: constructing the backend's ``Array`` buffers (timed through a one-line
  Python shim installed on the device for the run, since cProfile does not see a type's call);
- ``NDArray layer``: ``needle/backend_ndarray``'s Python (strides, broadcasting, dispatch);
- ``ops + autograd``: ``needle/autograd.py`` and ``needle/ops`` (Tensor, graph, gradients);
- ``nn, optim, models``: the rest of needle and ``apps/`` (modules, optimizers, init);
- ``NumPy (host)``: NumPy's Python and C functions called on the host (e.g. index arithmetic);
- ``other``: everything else (the bench's loop, the standard library).

Builtins that are not the backend's (``len``, ``isinstance``, ``tuple``...) are charged to the
category of the Python function that called them. cProfile slows Python calls several times
and compiled calls hardly at all, so the percentages overstate Python's share; each row also
prints the compiled backend's profiled seconds against the unprofiled step time, a truer view
of "dispatch versus kernels".

Usage::

    python bench/profiler.py                  # every row, table + bench-results/profile.json
    python bench/profiler.py --quick --rows conv2d  # a smoke test (rows: substrings of names)
    make bench-profile   (or make bench ARGS=--profile)

(Not ``bench/profile.py``: run as a script, this folder is first on ``sys.path``, and a
``profile.py`` in it would shadow the standard library's ``profile``, which ``cProfile`` imports,
as do PyTorch's optimizers, breaking ``bench/run.py`` too.)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

BACKEND = "<built-in method needle.backend_ndarray.ndarray_backend_"
COPIES = frozenset({"compact", "ewise_setitem", "scalar_setitem", "to_numpy", "from_numpy"})
CATEGORIES = ("kernels", "copies", "allocation", "NDArray layer", "ops + autograd",
              "nn, optim, models", "NumPy (host)", "other")


def _allocate_shim(device):
    """Replace ``device.Array`` by a Python function calling it, so that cProfile times buffer
    construction as the function ``_allocate``; returns a function undoing it."""
    real = device.mod.Array

    def _allocate(*args):
        return real(*args)
    device.Array = _allocate

    def undo():
        device.Array = real
    return undo


def classify(key: tuple[str, int, str]) -> tuple[str, str] | None:
    """``(category, kernel name or "")`` for a pstats function key, or None for a builtin that
    is charged to its callers."""
    filename, _, name = key
    if filename == "~":
        if name.startswith(BACKEND):
            kernel = name[len(BACKEND):].split(".", 1)[-1].rstrip(">")
            return ("copies" if kernel in COPIES else "kernels"), kernel
        if "numpy" in name:
            return "NumPy (host)", ""
        return None
    path = filename.replace("\\", "/")
    if name == "_allocate" and path.endswith("bench/profiler.py"):
        return "allocation", "Array"
    if "/needle/backend_ndarray/" in path:
        return "NDArray layer", ""
    if path.endswith("/needle/autograd.py") or "/needle/ops/" in path:
        return "ops + autograd", ""
    if "/needle/" in path or "/apps/" in path:
        return "nn, optim, models", ""
    if "/numpy/" in path:
        return "NumPy (host)", ""
    return "other", ""


def attribute(stats: dict) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per category and per backend function (kernels and copies) from a
    ``pstats.Stats(...).stats`` dict; the categories' seconds sum to the profile's total."""
    per_category = dict.fromkeys(CATEGORIES, 0.0)
    per_kernel: dict[str, float] = {}

    def owner(key, depth=0) -> str:
        found = classify(key)
        if found is not None:
            return found[0]
        callers = stats.get(key, (0, 0, 0, 0, {}))[4]
        if depth > 5 or not callers:
            return "other"
        caller = max(callers, key=lambda k: callers[k][2])
        return owner(caller, depth + 1)

    for key, (_, _, tottime, _, callers) in stats.items():
        found = classify(key)
        if found is not None:
            per_category[found[0]] += tottime
            if found[0] in ("kernels", "copies"):
                per_kernel[found[1]] = per_kernel.get(found[1], 0.0) + tottime
            continue
        # Another builtin: split its time over its callers in proportion to each call edge's.
        edges = {caller: edge[2] for caller, edge in callers.items()}
        total = sum(edges.values())
        if total <= 0:
            per_category["other"] += tottime
            continue
        for caller, share in edges.items():
            per_category[owner(caller)] += tottime * share / total
    return per_category, per_kernel


def profile_rows(quick: bool, selected: list[str] | None = None) -> list[dict]:
    """Profile each of needle's model rows on cpu(); returns one dict per row."""
    import cProfile
    import pstats

    import needle as ndl
    import numpy as np
    import run

    cases = run.model_cases("needle", quick, epoch=False)
    rng = np.random.default_rng(0)
    images, labels = rng.random((128, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, 128)
    step = run.resnet9_trainer("needle")
    cases.append(run._case("ResNet9 step, batch 128", "ms/step", 1e3, lambda: step(images, labels),
                           2 if quick else 3))
    if selected:
        cases = [c for c in cases if any(s.lower() in c["name"].lower() for s in selected)]
    undo = _allocate_shim(ndl.cpu())
    results = []
    try:
        for case in cases:
            measured = run.measure([case])[0]
            profiler = cProfile.Profile()
            profiler.enable()
            case["step"]()
            profiler.disable()
            stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
            per_category, per_kernel = attribute(stats)
            total = sum(per_category.values())
            results.append({
                "row": case["name"], "unit": case["unit"], "steps": case["steps"],
                "unprofiled": measured["time"], "profiled": total * case["scale"],
                "percent": {k: 100 * v / total for k, v in per_category.items()},
                "kernels": {k: 100 * v / total for k, v in
                            sorted(per_kernel.items(), key=lambda kv: -kv[1])},
                "compiled": (per_category["kernels"] + per_category["copies"]
                             + per_category["allocation"]) * case["scale"],
            })
    finally:
        undo()
    return results


def table(results: list[dict]) -> str:
    lines = []
    for r in results:
        unit = r["unit"]
        lines.append(f"{r['row']}: {r['unprofiled']:.3f} {unit} unprofiled, {r['profiled']:.3f} "
                     f"{unit} profiled; compiled backend {r['compiled']:.3f} {unit} = "
                     f"{100 * r['compiled'] / r['unprofiled']:.0f}% of the unprofiled time")
        for category in CATEGORIES:
            detail = ""
            if category in ("kernels", "copies"):
                names = [(k, v) for k, v in r["kernels"].items() if (k in COPIES) == (category == "copies")]
                detail = ", ".join(f"{k} {v:.1f}" for k, v in names[:6] if v >= 0.05)
            lines.append(f"  {category:18} {r['percent'][category]:6.1f}%  {detail}".rstrip())
        lines.append(f"  {'total':18} {sum(r['percent'].values()):6.1f}%")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller rows, for a smoke test")
    parser.add_argument("--threads", type=int, default=1, help="needle's and BLAS's threads")
    parser.add_argument("--rows", nargs="+", help="only rows whose names contain one of these")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent
                        / "bench-results" / "profile.json")
    parser.add_argument("--malloc", metavar="TUNABLES", help="GLIBC_TUNABLES to run under (default: "
                        "bench/run.py's, the same as make bench's model rows)")
    args = parser.parse_args(argv)
    import run
    tunables = run.MALLOC_TUNABLES if args.malloc is None else args.malloc
    threads = str(args.threads)
    if os.environ.get("GLIBC_TUNABLES", "") != tunables or os.environ.get("OMP_NUM_THREADS") != threads:
        # glibc and the BLAS libraries read these once, at start: run again with them set.
        env = dict(os.environ, GLIBC_TUNABLES=tunables, OMP_NUM_THREADS=threads,
                   OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        command = [sys.executable, str(Path(__file__).resolve()),
                   *(sys.argv[1:] if argv is None else argv)]
        return subprocess.run(command, env=env).returncode
    import needle as ndl
    ndl.cpu().set_num_threads(args.threads)
    results = profile_rows(args.quick, args.rows)
    print(f"needle on cpu(), {args.threads} thread(s), GLIBC_TUNABLES="
          f"{os.environ.get('GLIBC_TUNABLES', '(unset)')}; % of the profiled time (cProfile "
          "tottime); kernels: % each")
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"threads": args.threads, "rows": results}, indent=1))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
