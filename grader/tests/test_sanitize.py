"""`make test SANITIZE=address,undefined`, as a student runs it, on a copy of the reference CPU
backend with an off-by-one planted in ScalarBinary (`i <= size`): a bug that passes every hw3
test without the sanitizer, since the write lands in the padding that rounds each array up to
64 bytes. Under the sanitizer the report must name the kernel and its file:line; the same build
must run the other kernels, and an exception thrown through them, without a report."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.course import SOLUTIONS

LOOP = "for (ptrdiff_t i = 0; i < size; ++i) out[i] = op(a[i], val);"
PLANTED = LOOP.replace("i < size", "i <= size")

# Tests run by the sanitized pytest: they load the module straight from the build's output folder.
PRELUDE = """\
import sys
import numpy as np
sys.path.insert(0, "python/needle/backend_ndarray")
import ndarray_backend_cpu as cpu


def array(values):
    a = cpu.Array(len(values))
    cpu.from_numpy(np.asarray(values, dtype=np.float32), a)
    return a


def values(a, n):
    return cpu.to_numpy(a, (n,), (1,), 0)
"""

PLANTED_TEST = PRELUDE + """

def test_scalar_add():
    # 10 floats: 40 bytes in a 64-byte allocation, so only the poisoned padding can catch it.
    a, out = array(np.arange(10)), cpu.Array(10)
    cpu.scalar_add(a, 1.0, out)
    assert list(values(out, 10)) == list(np.arange(10) + 1)
"""

CLEAN_TEST = PRELUDE + """
import pytest


def test_other_kernels():
    a, b, out = array(np.arange(10)), array(np.full(10, 2.0)), cpu.Array(10)
    cpu.ewise_add(a, b, out)
    assert list(values(out, 10)) == list(np.arange(10) + 2.0)
    cpu.ewise_mul(a, b, out)
    assert list(values(out, 10)) == list(np.arange(10) * 2.0)
    cpu.compact(a, out, (5,), (2,), 0)
    assert list(values(out, 5)) == [0, 2, 4, 6, 8]
    cpu.ewise_exp(array([0.0, np.nan, -np.inf, 200.0]), out)
    result = values(out, 4)
    assert result[0] == 1.0 and np.isnan(result[1]) and result[2] == 0.0 and np.isinf(result[3])


def test_an_exception_through_the_module():
    with pytest.raises(TypeError, match="dtype"):
        cpu.from_numpy(np.zeros(3, dtype=np.float64), cpu.Array(3))
"""


def asan_runtime() -> str | None:
    """The compiler's ASan runtime, or None where it has none (then nothing can be sanitized)."""
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        return None
    found = subprocess.run([compiler, "-print-file-name=libasan.so"], capture_output=True,
                           text=True).stdout.strip()
    return found if os.path.isabs(found) and os.path.exists(found) else None


needs_asan = pytest.mark.skipif(
    asan_runtime() is None,
    reason="the C++ compiler has no AddressSanitizer runtime (libasan.so; Debian/Ubuntu: "
           "apt-get install libasan8), so make SANITIZE=address cannot build here")


def make(folder: Path, env: dict[str, str], *args: str,
         timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``make ARGS`` in ``folder``, output and errors together."""
    return subprocess.run(["make", *args, f"PYTHON={sys.executable}"], cwd=folder, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def planted() -> Iterator[tuple[Path, int]]:
    """solutions' build files and src/, the bug planted; ``(folder, the planted line)``. Not
    under pytest's tmp_path: a pytest run started meanwhile may delete that (it keeps three)."""
    with tempfile.TemporaryDirectory(prefix="planted-") as name:
        yield plant(Path(name))


def plant(folder: Path) -> tuple[Path, int]:
    for name in ("Makefile", "CMakeLists.txt"):
        shutil.copy(SOLUTIONS / name, folder / name)
    shutil.copytree(SOLUTIONS / "src", folder / "src",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    (folder / "python" / "needle" / "backend_ndarray").mkdir(parents=True)
    source = folder / "src" / "ndarray_backend_cpu.cc"
    text = source.read_text()
    assert text.count(LOOP) == 1, "ScalarBinary's loop changed: update LOOP here"
    source.write_text(text.replace(LOOP, PLANTED))
    line = text[:text.index(LOOP)].count("\n") + 1
    for name, body in (("planted", PLANTED_TEST), ("clean", CLEAN_TEST)):
        (folder / "tests" / name).mkdir(parents=True)
        (folder / "tests" / name / f"test_{name}.py").write_text(body)
    return folder, line


@pytest.fixture(scope="module")
def sanitized_env(env: dict[str, str]) -> dict[str, str]:
    """The environment, less anything that would change pytest's or the sanitizers' output."""
    return {name: value for name, value in env.items()
            if name not in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LD_PRELOAD", "PYTEST_ADDOPTS")}


# Only the CPU backend: one target, one file, so one job does; BUILD_TARGET picks it.
SANITIZED = ("SANITIZE=address,undefined", "BUILD_TARGET=ndarray_backend_cpu")


@needs_asan
def test_the_sanitizer_names_the_planted_off_by_one(planted, sanitized_env):
    folder, line = planted
    run = make(folder, sanitized_env, "test", *SANITIZED, "HW=planted")
    assert run.returncode != 0, run.stdout[-3000:]
    assert "SANITIZED (address,undefined) in place" in run.stdout
    assert (folder / "build" / "in-place").read_text().strip() == "sanitize=address,undefined"
    report = run.stdout[run.stdout.find("ERROR: AddressSanitizer"):]
    # use-after-poison: the CPU backend poisons the padding past each array's end.
    assert report.startswith("ERROR: AddressSanitizer: use-after-poison"), run.stdout[-3000:]
    assert "READ of size 4" in report  # a[size], read before out[size] is written
    # The first frame is the kernel (OpenMP's outlined copy of it), at the planted line.
    first = next(frame for frame in report.splitlines() if frame.strip().startswith("#0"))
    assert re.search(r"cpu::ScalarBinary<float, needle::cpu::Add>", first), first
    assert f"src/ndarray_backend_cpu.cc:{line}" in first, (line, first)


@needs_asan
def test_the_sanitized_build_runs_the_other_kernels_without_a_report(planted, sanitized_env):
    folder, _ = planted
    run = make(folder, sanitized_env, "test", *SANITIZED, "HW=clean")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "2 passed" in run.stdout
    assert "Sanitizer" not in run.stdout and "runtime error" not in run.stdout, run.stdout[-3000:]


def test_an_unknown_sanitizer_is_named(tmp_path, env):
    shutil.copy(SOLUTIONS / "Makefile", tmp_path / "Makefile")
    run = make(tmp_path, env, "build", "SANITIZE=address,thread", timeout=60)
    assert run.returncode != 0
    assert "unknown sanitizer 'thread'; use address, undefined or address,undefined" in run.stdout
    assert not (tmp_path / "build").exists()
