"""bench/profiler.py (make bench-profile): a smoke test of a tiny configuration, and its
attribution of cProfile's times to categories on a hand-made profile. Benchmarks themselves
never run as tests, and nothing here asserts a speed."""
import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BACKEND = "<built-in method needle.backend_ndarray.ndarray_backend_cpu."


def load_bench(filename: str) -> types.ModuleType:
    """``bench/<filename>`` loaded as a module (``bench/`` holds scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{filename.removesuffix('.py')}",
                                                  REPO / "bench" / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def profile():
    return load_bench("profiler.py")


def test_attribute_charges_builtins_to_callers_and_sums_to_the_total(profile):
    ndarray = ("/x/needle/backend_ndarray/ndarray.py", 10, "make")
    autograd = ("/x/needle/autograd.py", 5, "make_from_op")
    matmul, compact = ("~", 0, BACKEND + "matmul>"), ("~", 0, BACKEND + "compact>")
    length = ("~", 0, "<built-in method builtins.len>")
    allocate = ("/x/bench/profiler.py", 60, "_allocate")
    # pstats: key -> (primitive calls, calls, tottime, cumtime, {caller: (.., .., tottime, ..)})
    stats = {
        ndarray: (1, 1, 0.5, 0, {}), autograd: (1, 1, 0.25, 0, {}),
        matmul: (1, 1, 2.0, 0, {ndarray: (1, 1, 2.0, 0)}),
        compact: (1, 1, 1.0, 0, {ndarray: (1, 1, 1.0, 0)}),
        allocate: (1, 1, 0.125, 0, {ndarray: (1, 1, 0.125, 0)}),
        length: (4, 4, 0.4, 0, {ndarray: (3, 3, 0.3, 0), autograd: (1, 1, 0.1, 0)}),
    }
    per_category, per_kernel = profile.attribute(stats)
    assert per_category["kernels"] == 2.0 and per_category["copies"] == 1.0
    assert per_category["allocation"] == 0.125
    assert per_category["NDArray layer"] == pytest.approx(0.5 + 0.3)
    assert per_category["ops + autograd"] == pytest.approx(0.25 + 0.1)
    assert sum(per_category.values()) == pytest.approx(0.5 + 0.25 + 2 + 1 + 0.125 + 0.4)
    assert per_kernel == {"matmul": 2.0, "compact": 1.0}


def test_quick_profile_prints_a_table_whose_percentages_sum_to_100(tmp_path):
    out = tmp_path / "profile.json"
    done = subprocess.run([sys.executable, str(REPO / "bench" / "profiler.py"), "--quick",
                           "--rows", "a @ b", "conv2d", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [r["row"] for r in rows] == ["per-op a @ b, 2x2", "conv2d 3-16-32, 32x32, fwd+bwd"]
    for r in rows:
        assert sum(r["percent"].values()) == pytest.approx(100, abs=0.01)
        assert r["unprofiled"] > 0 and r["profiled"] > 0
        assert r["percent"]["kernels"] > 0
        assert f"{r['row']}:" in done.stdout
    assert "matmul" in rows[0]["kernels"]
    # conv2d on cpu(): the direct convolution kernels (ops_conv's fast path) and the copies
    assert {"conv_direct", "conv_direct_weight_grad", "compact"} <= set(rows[1]["kernels"])
    assert done.stdout.count("  total") == 2
