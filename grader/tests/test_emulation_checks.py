"""The CUDA emulation's access checks (solutions/src/cuda_emulation.cc) fire on planted bugs.

One build of the emulated backend from a copy of the reference kernels with four bugs planted,
the kind students write: a one-thread-too-many bound in a reading kernel (``gid <= size``) and
in a writing one, the tiled matmul without its second ``__syncthreads()``, and a row reduction
whose thread 0 never stores its partial result. Each must be raised as a RuntimeError naming
the kernel, the thread and the place; the same calls on the reference build (the one every
``cuda_emu`` test runs on) are correct and quiet.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader.course import REPO

SOLUTIONS = REPO / "solutions"

# (kernel source before, after): each bug, planted by an exact replacement, so that a change to
# the kernels that moves these lines fails here rather than testing nothing.
PLANTS = {
    "read past the end": ("  if (gid < size) out[gid] = op(a[gid], b[gid]);",
                          "  if (gid <= size) out[gid] = op(a[gid], b[gid]);"),
    "write past the end": ("  if (gid < size) out[gid] = val;\n}",
                           "  if (gid <= size) out[gid] = val;\n}"),
    "missing barrier": ("        for (unsigned int j = 0; j < kTN; ++j) acc[i][j] += a_reg[i] * b_reg[j];\n"
                        "    }\n    __syncthreads();\n",
                        "        for (unsigned int j = 0; j < kTN; ++j) acc[i][j] += a_reg[i] * b_reg[j];\n"
                        "    }\n"),
    "uninitialised shared": ("  partial[threadIdx.x] = acc;\n  __syncthreads();",
                             "  if (threadIdx.x > 0) partial[threadIdx.x] = acc;\n  __syncthreads();"),
}

# Each planted bug's trigger: a call of the module's kernels (`m`), with arrays made by `arr`.
CALLS = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import ndarray_backend_cuda_emu as m

def arr(x):
    a = m.Array(x.size, str(x.dtype))
    m.from_numpy(np.ascontiguousarray(x), a)
    return a

def run(call, out, shape):
    try:
        call()
    except Exception as error:
        return {"error": type(error).__name__ + ": " + str(error)}
    return {"value": m.to_numpy(out, shape, [shape[-1], 1][-len(shape):], 0).tolist()}

x = np.arange(6, dtype=np.float32)
out = m.Array(6, "float32")
product = m.Array(5 * 3, "float32")
sums = m.Array(2, "float32")
results = {
    "read past the end": run(lambda: m.ewise_add(arr(x), arr(x), out), out, (6,)),
    "write past the end": run(lambda: m.fill(out, 1.0), out, (6,)),
    "missing barrier": run(lambda: m.matmul(arr(np.ones((5, 20), np.float32)),
                                            arr(np.ones((20, 3), np.float32)), product, 1, 5, 20, 3),
                           product, (5, 3)),
    "uninitialised shared": run(lambda: m.reduce_sum(arr(np.ones((2, 7), np.float32)), sums, 2, 7, 1),
                                sums, (2,)),
    "checks": [m.__checks_built__, m.checks_enabled()],
}
print(json.dumps(results))
"""

EXPECTED_VALUES = {  # what the reference computes for CALLS
    "read past the end": 2 * np.arange(6),
    "write past the end": np.ones(6),
    "missing barrier": np.full((5, 3), 20.0),
    "uninitialised shared": np.full(2, 7.0),
}

THREAD = r"thread blockIdx \(0, 0, 0\) threadIdx \({}, 0, 0\)"
ANY_THREAD = THREAD.format(r"\d+")
SIX = r"element 6 \(byte offset 24\) of argument {}, a buffer of 24 bytes \(6 elements\)"
EXPECTED_REPORTS = {
    "read past the end": (rf"RuntimeError: kernel EwiseBinaryKernel: {THREAD.format(6)} reads 4 bytes "
                          rf"out of bounds, at {SIX.format('[12]')}"),
    "write past the end": (rf"RuntimeError: kernel FillKernel: {THREAD.format(6)} writes 4 bytes "
                           rf"out of bounds, at {SIX.format(1)}"),
    "missing barrier": rf"RuntimeError: kernel MatmulKernel: {ANY_THREAD} (reads|writes) 4 bytes (of|to) "
                       r"__shared__ [ab]_tile of MatmulKernel<float>, element \d+ .*which "
                       rf"{ANY_THREAD} (wrote|read) with no __syncthreads\(\) between: "
                       r"a (read-after-write|write-after-read|write-after-write) race",
    "uninitialised shared": rf"RuntimeError: kernel ReduceRowsKernel: {THREAD.format(0)} reads 4 bytes of "
                            r"__shared__ partial of ReduceRowsKernel<float, needle::cuda::Add>, element 0 .*"
                            r"which no thread of this block has written: uninitialised __shared__ memory",
}


def build_emulation(source: Path, build: Path) -> Path:
    """Build only the emulated CUDA backend of the tree at ``source``, as its CMakeLists.txt
    does; returns the folder holding the module."""
    configure = subprocess.run(
        ["cmake", "-S", str(source), "-B", str(build), f"-DPython_EXECUTABLE={sys.executable}",
         "-DNEEDLE_NO_CUDA=ON", "-DCMAKE_BUILD_TYPE=Release"], capture_output=True, text=True)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    made = subprocess.run(["cmake", "--build", str(build), "--target", "ndarray_backend_cuda_emu", "-j", "2"],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stdout[-4000:] + made.stderr[-4000:]
    return source / "python" / "needle" / "backend_ndarray"


def run_calls(module_dir: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CALLS, str(module_dir)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "NEEDLE_EMULATION_CHECKS": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict:
    """CALLS' results on the emulated backend built from the reference with PLANTS applied."""
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed: the emulation checks cannot be built")
    tree = tmp_path_factory.mktemp("planted")
    shutil.copy(SOLUTIONS / "CMakeLists.txt", tree)
    shutil.copytree(SOLUTIONS / "src", tree / "src", ignore=shutil.ignore_patterns("*.so"))
    kernels = tree / "src" / "ndarray_backend_cuda.cu"
    text = kernels.read_text()
    for name, (before, after) in PLANTS.items():
        assert text.count(before) == 1, f"{name}: the line to plant the bug in is not in the kernels once"
        text = text.replace(before, after)
    kernels.write_text(text)
    return run_calls(build_emulation(tree, tree / "build"))


@pytest.mark.parametrize("bug", sorted(PLANTS))
def test_a_planted_bug_is_reported_naming_the_kernel_the_thread_and_the_place(planted, bug):
    assert planted["checks"] == [True, True], "the emulation was built without its checks"
    assert "error" in planted[bug], f"{bug}: no report; the kernel returned {planted[bug]}"
    assert re.fullmatch(EXPECTED_REPORTS[bug], planted[bug]["error"]), planted[bug]["error"]


def test_the_reference_kernels_run_the_same_calls_quietly_and_correctly():
    reference = run_calls(SOLUTIONS / "python" / "needle" / "backend_ndarray")
    assert reference["checks"] == [True, True], "the emulation was built without its checks"
    for bug, expected in EXPECTED_VALUES.items():
        assert "error" not in reference[bug], reference[bug]
        np.testing.assert_array_equal(np.array(reference[bug]["value"]), expected, err_msg=bug)


def test_the_checks_can_be_switched_off_and_on_in_a_process():
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import ndarray_backend_cuda_emu as m; "
              "print(m.set_checks(False), m.checks_enabled(), m.set_checks(True), m.checks_enabled())")
    modules = SOLUTIONS / "python" / "needle" / "backend_ndarray"
    done = subprocess.run([sys.executable, "-c", script, str(modules)], capture_output=True, text=True,
                          env={**os.environ, "NEEDLE_EMULATION_CHECKS": "1"})
    assert done.stdout.split() == ["True", "False", "False", "True"], done.stdout + done.stderr
