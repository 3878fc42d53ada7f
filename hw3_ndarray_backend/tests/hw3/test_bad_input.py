"""hw3: bad input raises a Python exception naming the bad value, on every backend; IEEE edge
values; setitem from a view of the same buffer; compact of any strided view, against NumPy.

The checks live in given code (``src/ndarray_backend_common.h``, the bindings and allocators of
each compiled backend, and the NumPy reference), so they hold whatever your kernels do; the
NaN tests check your kernels (questions 3 and 4): they must fold with ``op`` and apply it to
every element, as the ``Maximum`` functor propagates NaN. Devices: ``cpu()`` (your C++),
``cpu_numpy()`` (the reference) and ``cuda(emulate=True)`` (hw4, skipped until it is built).

Each bad call runs in a child process, so a call that crashes (a segfault, an abort) fails its
own test instead of ending the run; the children run a device's calls one after another and
start again after the one that crashed.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from typing import NamedTuple

import needle as ndl
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from needle.backend_ndarray import NDArray

DEVICE_EXPRESSIONS = {"cpu": "ndl.cpu()", "cpu_numpy": "ndl.cpu_numpy()"}


def _device_param(name: str, question: int | None = None):
    device = eval(DEVICE_EXPRESSIONS[name], {"ndl": ndl})  # eval is safe: one of three fixed strings
    reason = f"{device!r} is not available here: {device._missing}" if not device.enabled() else ""
    # student_backend on every device: from hw3 on, the NDArray layer and the kernels are yours.
    # A question's kernels run on cpu() and cuda_emu only: cpu_numpy() runs the reference ones.
    marks = [pytest.mark.skipif(not device.enabled(), reason=reason), pytest.mark.student_backend]
    if question is not None and name != "cpu_numpy":
        marks.append(pytest.mark.question(question))
    return pytest.param(name, id=name, marks=marks)


def devices(question: int | None = None) -> list:
    """Every device as a test parameter; with ``question``, the runs of your kernels carry it."""
    return [_device_param(name, question) for name in DEVICE_EXPRESSIONS]


DEVICE_NAMES = devices()
BAD_INPUT = (ValueError, TypeError, IndexError, MemoryError)


class Case(NamedTuple):
    """A bad call (Python source run with ``ndl``, ``np``, ``nd`` and ``DEV``, the device, in
    scope) and the text its exception's message must contain: the bad value."""
    source: str
    names: str


# Small buffers to call the kernels directly with: a and b hold 4 float32 elements.
_SETUP = "a = DEV.Array(4, 'float32'); b = DEV.Array(4, 'float32')"

CASES = {
    # Byte counts: 2^62 float32 elements are 2^64 bytes, which wrapped to 0.
    "ones_2_31_by_2_31": Case("ndl.init.ones(2**31, 2**31, device=DEV)", "4611686018427387904"),
    "full_2_62": Case("nd.full((2**62,), 1.0, device=DEV)[5]", "4611686018427387904"),
    "full_2_62_float64": Case("nd.full((2**62,), 1.0, dtype='float64', device=DEV)",
                              "4611686018427387904"),
    "broadcast_then_add": Case(
        "NDArray(np.ones((1, 1), 'float32'), device=DEV).broadcast_to((2**31, 2**31)) + 1",
        "4611686018427387904"),
    "broadcast_then_sum": Case(
        "NDArray(np.ones((1, 1), 'float32'), device=DEV).broadcast_to((2**31, 2**31)).sum()",
        "4611686018427387904"),
    "array_of_negative_size": Case("DEV.Array(-1, 'float32')", "-1"),
    # Views whose reach wrapped around int64, or reaches past the buffer.
    "as_strided_wrapping": Case(
        "NDArray(np.ones(8, 'float32'), device=DEV).as_strided((2, 2, 2), (2**62, 2**62, 2**40)).compact()",
        "4611686018427387904"),
    "compact_stride_2_61": Case(f"{_SETUP}; DEV.compact(a, b, [2], [2**61], 0)", "2305843009213693952"),
    "compact_negative_stride": Case(f"{_SETUP}; DEV.compact(a, b, [3], [-1], 1)", "-1..1"),
    "compact_offset_past_the_end": Case(f"{_SETUP}; DEV.compact(a, b, [1], [1], 4)", "4..4"),
    "compact_negative_offset": Case(f"{_SETUP}; DEV.compact(a, b, [2], [1], -1)", "-1"),
    "compact_negative_size": Case(f"{_SETUP}; DEV.compact(a, b, [-2], [1], 0)", "-2"),
    "as_strided_3_by_3_of_6": Case(
        "NDArray(np.ones(6, 'float32'), device=DEV).as_strided((3, 3), (3, 1)).compact()", "0..8"),
    "as_strided_stride_2_26": Case(
        "NDArray(np.ones(6, 'float32'), device=DEV).as_strided((64,), (2**26,)).compact()", "4227858432"),
    "to_numpy_past_the_end": Case(f"{_SETUP}; DEV.to_numpy(a, (2, 3), (3, 1), 0)", "0..5"),
    "ewise_setitem_past_the_end": Case(f"{_SETUP}; DEV.ewise_setitem(a, b, [3], [2], 0)", "0..4"),
    "scalar_setitem_2_32_by_2_32": Case(f"{_SETUP}; DEV.scalar_setitem(4, 1.0, b, [2**32, 2**32], [0, 0], 0)",
                                        "4294967296"),
    "scalar_setitem_wrapping_strides": Case(
        f"{_SETUP}; DEV.scalar_setitem(4, 1.0, b, [2**32, 2**32], [2**32, 1], 0)", "4294967296"),
    # Kernel sizes whose products wrapped.
    "reduce_sum_2_62": Case(f"{_SETUP}; DEV.reduce_sum(a, b, 2**62, 4, 1)", "4611686018427387904"),
    "reduce_max_2_62": Case(f"{_SETUP}; DEV.reduce_max(a, b, 1, 2**62, 4)", "4611686018427387904"),
    "reduce_negative_size": Case(f"{_SETUP}; DEV.reduce_sum(a, b, 1, -4, 1)", "-4"),
    "matmul_naive_2_32": Case(f"{_SETUP}; DEV.matmul_naive(a, a, b, 1, 2**32, 2**32, 1)", "4294967296"),
    "matmul_2_32": Case(f"{_SETUP}; DEV.matmul(a, a, b, 1, 1, 2**32, 2**32)", "4294967296"),
    "matmul_negative_size": Case(f"{_SETUP}; DEV.matmul(a, a, b, 1, -1, 2, 2)", "-1"),
    "lstm_gates_2_62": Case(f"{_SETUP}; DEV.lstm_gates(a, a, b, b, 2**62, 1)", "4611686018427387904"),
    "take_rows_outside_the_table": Case(f"{_SETUP}; DEV.take_rows(a, np.array([5]), b, 1)", "5"),
    # Dtypes and layouts.
    "ewise_add_mixed_dtypes": Case(f"{_SETUP}; DEV.ewise_add(a, DEV.Array(4, 'float64'), b)",
                                   "float64"),
    "compact_mixed_dtypes": Case(f"{_SETUP}; DEV.compact(a, DEV.Array(4, 'float64'), [4], [1], 0)",
                                 "float64"),
    "from_numpy_other_dtype": Case(f"{_SETUP}; DEV.from_numpy(np.ones(4), b)", "float64"),
    "from_numpy_non_contiguous": Case(f"{_SETUP}; DEV.from_numpy(np.ones((2, 4), 'float32')[:, ::2], b)",
                                      "C-contiguous"),
}

_CHILD = r"""
import json, sys
import numpy as np
import needle as ndl
from needle.backend_ndarray import NDArray
from needle import backend_ndarray as nd
DEV = eval(sys.argv[1])
for name, source in json.loads(sys.argv[2]):
    print(json.dumps({"case": name, "started": True}), flush=True)
    try:
        exec(source)
        result = {"case": name, "raised": None, "message": "returned without an exception"}
    except BaseException as error:
        result = {"case": name, "raised": type(error).__name__, "message": str(error)}
    print(json.dumps(result), flush=True)
"""


@functools.cache
def outcomes(device: str) -> dict[str, tuple[str | None, str]]:
    """``{case: (exception type name or None, message)}`` for every case on ``device``, from
    child processes; a case whose child crashed or hung has the type None and says so."""
    todo = [(name, case.source) for name, case in CASES.items()]
    results: dict[str, tuple[str | None, str]] = {}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    while todo:
        try:
            child = subprocess.run(
                [sys.executable, "-c", _CHILD, DEVICE_EXPRESSIONS[device], json.dumps(todo)],
                capture_output=True, text=True, timeout=120, env=env)
            stdout, failure = child.stdout, f"the child process ended with status {child.returncode}: " + \
                " | ".join(child.stderr.strip().splitlines()[-3:])
        except subprocess.TimeoutExpired as error:
            stdout = error.stdout.decode() if isinstance(error.stdout, bytes) else (error.stdout or "")
            failure = "the child process hung (killed after 120 s)"
        started = None
        for line in stdout.splitlines():
            record = json.loads(line)
            if record.get("started"):
                started = record["case"]
            else:
                results[record["case"]] = (record["raised"], record["message"])
        if started is not None and started not in results:
            results[started] = (None, failure)  # the case that crashed: the rest run again
        elif started is None:
            raise RuntimeError(f"the child process could not start: {failure}")
        todo = [(name, source) for name, source in todo if name not in results]
    return results


@pytest.mark.parametrize("device", DEVICE_NAMES)
@pytest.mark.parametrize("case", list(CASES))
def test_bad_call_raises_naming_the_bad_value(device, case):
    raised, message = outcomes(device)[case]
    source = f"{CASES[case].source} on {device}"
    if raised == "NotImplementedError" or (raised == "RuntimeError"
                                           and message.startswith("not implemented: ")):
        stub_error = {"NotImplementedError": NotImplementedError, "RuntimeError": RuntimeError}[raised]
        raise stub_error(message)
    assert raised in {error.__name__ for error in BAD_INPUT}, \
        f"{source}: expected a {'/'.join(e.__name__ for e in BAD_INPUT)}; {raised}: {message}"
    assert CASES[case].names in message, \
        f"{source}: the message does not name {CASES[case].names}: {raised}: {message}"


# ---- IEEE semantics: NaN propagates, comparisons with NaN are false, C99 pow -----------------

def device_of(name: str):
    return eval(DEVICE_EXPRESSIONS[name], {"ndl": ndl})  # eval is safe: one of three fixed strings


SPECIALS = np.array([np.nan, 1.0, -2.0, np.inf, -np.inf, 0.0, -0.0, 3.5])


@pytest.mark.parametrize("device", devices(question=3))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_maximum_propagates_nan_as_numpy(device, dtype):
    dev = device_of(device)
    a = SPECIALS.astype(dtype)
    b = np.roll(a, 3)  # every special meets every other somewhere
    x, y = NDArray(a, device=dev), NDArray(b, device=dev)
    np.testing.assert_array_equal(x.maximum(y).numpy(), np.maximum(a, b))
    np.testing.assert_array_equal(y.maximum(x).numpy(), np.maximum(b, a))
    np.testing.assert_array_equal(x.maximum(0.0).numpy(), np.maximum(a, 0))
    np.testing.assert_array_equal(x.maximum(float("nan")).numpy(), np.full_like(a, np.nan))


@pytest.mark.parametrize("device", devices(question=3))
def test_relu_of_nan_is_nan(device):
    x = ndl.Tensor(NDArray(np.array([np.nan, -1.0, 2.0], "float32"), device=device_of(device)))
    np.testing.assert_array_equal(ndl.ops.relu(x).numpy(), [np.nan, 0.0, 2.0])


@pytest.mark.parametrize("device", devices(question=3))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_eq_and_ge_with_nan_are_false(device, dtype):
    dev = device_of(device)
    a = SPECIALS.astype(dtype)
    b = np.roll(a, 3)
    x, y = NDArray(a, device=dev), NDArray(b, device=dev)
    for got, expected in [(x == y, a == b), (x == x, a == a), (x >= y, a >= b), (x >= 1.0, a >= 1),
                          (x == float("nan"), a == np.nan), (x >= float("nan"), a >= np.nan)]:
        np.testing.assert_array_equal(got.numpy(), expected.astype(dtype))


@pytest.mark.parametrize("device", devices(question=3))
def test_lt_and_le_with_nan_are_false(device):
    a = np.array([np.nan, 1.0, 2.0], "float32")
    x = NDArray(a, device=device_of(device))
    np.testing.assert_array_equal((x < 1.5).numpy(), (a < 1.5).astype("float32"))
    np.testing.assert_array_equal((x <= 1.5).numpy(), (a <= 1.5).astype("float32"))


@pytest.mark.parametrize("device", devices(question=3))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pow_at_the_edges_is_c99_pow(device, dtype):
    """One rule on every device, for arrays and scalars: C99's pow, as ``np.power`` with an
    array exponent ((-inf) ** 0.5 = inf; NumPy's ``x ** 0.5`` takes sqrt and gives nan)."""
    dev = device_of(device)
    base = np.array([-np.inf, -np.inf, -np.inf, np.inf, -0.0, 0.0, -1.0, np.nan, 1.0, -8.0, -1.0, np.nan],
                    dtype)
    exponent = np.array([0.5, 2, 3, 0.5, -1, -1, 0.5, 0, np.nan, 1 / 3, np.inf, np.nan], dtype)
    with np.errstate(all="ignore"):
        expected = np.power(base, exponent)
        np.testing.assert_array_equal(
            (NDArray(base, device=dev) ** NDArray(exponent, device=dev)).numpy(), expected)
        for scalar in (0.5, 2.0, -1.0, 0.0):
            np.testing.assert_array_equal((NDArray(base, device=dev) ** scalar).numpy(),
                                          np.power(base, np.full_like(base, scalar)), err_msg=f"** {scalar}")


@pytest.mark.parametrize("device", devices(question=3))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unary_ops_of_specials_match_numpy(device, dtype):
    dev = device_of(device)
    a = SPECIALS.astype(dtype)
    x = NDArray(a, device=dev)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(x.exp().numpy(), np.exp(a), rtol=1e-6)  # inf, 0 and NaN exactly
        np.testing.assert_allclose(x.log().numpy(), np.log(a), rtol=1e-6)
        np.testing.assert_allclose(x.tanh().numpy(), np.tanh(a), rtol=1e-6)
        np.testing.assert_allclose(x.sigmoid().numpy(), 1 / (1 + np.exp(-a)), rtol=1e-6)


@pytest.mark.parametrize("device", devices(question=4))
@pytest.mark.parametrize("shape", [(7,), (3, 40), (40, 3), (300, 5), (5, 300)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_propagates_nan_as_numpy(device, shape, dtype):
    """A NaN anywhere in a reduced row or column makes that result NaN, on every path of your
    reduction (rows, columns, one block or many)."""
    rng = np.random.default_rng(sum(shape))
    a = rng.standard_normal(shape).astype(dtype)
    a.flat[rng.choice(a.size, size=max(1, a.size // 50), replace=False)] = np.nan
    x = NDArray(a, device=device_of(device))
    for axis in range(len(shape)):
        np.testing.assert_array_equal(x.max(axis=axis).numpy(), a.max(axis=axis), err_msg=f"axis {axis}")
    np.testing.assert_array_equal(x.max().numpy().ravel(), [np.nan])
    np.testing.assert_array_equal(x.sum().numpy().ravel(), [np.nan])


@pytest.mark.parametrize("device", devices(question=2))
def test_setitem_from_the_same_buffer_reads_before_it_writes(device):
    a = np.array([1.0, 2.0, 3.0, 4.0], "float32")
    x = NDArray(a, device=device_of(device))
    x[::-1] = x
    np.testing.assert_array_equal(x.numpy(), a[::-1])  # NumPy: [4, 3, 2, 1], not [4, 3, 3, 4]


# ---- views against NumPy, property-based ------------------------------------------------------

@st.composite
def strided_views(draw):
    """(buffer size, shape, strides, offset) of a view inside its buffer, strides of any sign."""
    ndim = draw(st.integers(0, 4))
    shape = draw(st.lists(st.integers(0, 4), min_size=ndim, max_size=ndim))
    strides = draw(st.lists(st.integers(-6, 6), min_size=ndim, max_size=ndim))
    low = sum((n - 1) * s for n, s in zip(shape, strides, strict=True) if s < 0 and n > 0)
    high = sum((n - 1) * s for n, s in zip(shape, strides, strict=True) if s > 0 and n > 0)
    size = high - low + 1 + draw(st.integers(0, 5))
    offset = draw(st.integers(-low, size - 1 - high))
    return size, tuple(shape), tuple(strides), offset


def numpy_view(buffer: np.ndarray, shape, strides, offset) -> np.ndarray:
    return np.lib.stride_tricks.as_strided(buffer[offset:], shape, [s * buffer.itemsize for s in strides])


@pytest.mark.parametrize("device", devices(question=2))
@settings(max_examples=60, deadline=None, report_multiple_bugs=False)
@given(view=strided_views())
def test_compact_and_scalar_setitem_of_any_view_match_numpy(device, view):
    size, shape, strides, offset = view
    dev = device_of(device)
    base = np.arange(size, dtype="float32")
    x = NDArray(base, device=dev)
    count = int(np.prod(shape))
    out = dev.Array(count, "float32")
    dev.compact(x._handle, out, shape, strides, offset)
    compact_strides = tuple(int(np.prod(shape[d + 1:])) for d in range(len(shape)))
    np.testing.assert_array_equal(dev.to_numpy(out, shape, compact_strides, 0),
                                  numpy_view(base, shape, strides, offset))
    dev.scalar_setitem(count, -1.0, x._handle, shape, strides, offset)
    expected = base.copy()
    numpy_view(expected, shape, strides, offset)[...] = -1.0
    np.testing.assert_array_equal(x.numpy(), expected)
