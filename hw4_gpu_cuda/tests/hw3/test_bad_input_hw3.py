"""Bad input to NDArray (issue 14): each case raises a ValueError, TypeError, IndexError or
OverflowError naming the bad value, never pybind11's "incompatible function arguments", a crash
or a wrong answer; and the valid calls once answered wrongly give NumPy's answer on every device.

The checks run in given code before any kernel or view, so the error cases pass from the
start; the value cases need the questions they are marked with (views for question 1, your
setitem kernels for question 2, your element-wise kernels for question 3).
"""
import needle as ndl
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from needle import backend_ndarray as nd
from needle.backend_ndarray import NDArray

# cpu() and (from hw4 on) cuda_emu run your kernels; cpu_numpy() runs the reference ones.
DEVICES = [pytest.param(ndl.cpu(), id="cpu", marks=pytest.mark.student_backend),
           pytest.param(ndl.cpu_numpy(), id="cpu_numpy")]
DEVICES.append(pytest.param(ndl.cuda(emulate=True), id="cuda_emu",
                            marks=pytest.mark.student_backend))


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


def devices(question: int) -> list:
    """DEVICES for a test of kernel question ``question``: the runs of your kernels (cpu,
    cuda_emu) carry the question; cpu_numpy's, which run the reference kernels through your
    NDArray layer, are marked student_backend instead (they may pass before you start)."""
    params = []
    for param in DEVICES:
        extra = pytest.mark.student_backend if param.id == "cpu_numpy" else pytest.mark.question(question)
        params.append(pytest.param(*param.values, id=param.id, marks=[*param.marks, extra]))
    return params


def arange(*shape, dtype="float32"):
    return np.arange(1, 1 + int(np.prod(shape)), dtype=dtype).reshape(shape)


# ---- shapes: checked at every entry point, before any allocation --------------------------------

@pytest.mark.parametrize("make,error,match", [
    (lambda d: nd.full((-2, -3), 1.0, device=d), ValueError, r"shape \(-2, -3\): negative"),
    (lambda d: nd.empty((-1,), device=d), ValueError, r"shape \(-1,\): negative"),
    (lambda d: d.empty((4, -1)), ValueError, r"shape \(4, -1\): negative"),
    (lambda d: ndl.init.zeros(-1, 3, device=d), ValueError, r"shape \(-1, 3\): negative"),
    (lambda d: ndl.init.randn(2, -3, device=d), ValueError, r"shape \(2, -3\): negative"),
    (lambda d: NDArray([1.0], device=d).broadcast_to((-3,)), ValueError, r"shape \(-3,\): negative"),
    (lambda d: NDArray([1.0], device=d).as_strided((2, -1), (1, 1)), ValueError, r"shape \(2, -1\)"),
    (lambda d: nd.full((2.5, 3), 1.0, device=d), TypeError, r"size 2\.5 is not an integer \(float\)"),
    (lambda d: nd.empty(("3",), device=d), TypeError, "size '3' is not an integer"),
    (lambda d: nd.empty((True, 2), device=d), TypeError, "size True is not an integer"),
    (lambda d: NDArray(arange(6), device=d).reshape((2.0, 3)), TypeError, r"size 2\.0 .* not an integer"),
    (lambda d: nd.full((2**62,), 1.0, device=d), ValueError, r"shape \(4611686018427387904,\) .* bytes"),
    (lambda d: ndl.init.ones(2**31, 2**31, device=d), ValueError, r"\(2147483648, 2147483648\) .* bytes"),
    (lambda d: nd.empty((2**32, 2**32), device=d), ValueError, "18446744073709551616 elements"),
])
def test_bad_shapes_are_refused_naming_the_shape(device, make, error, match):
    with pytest.raises(error, match=match):
        make(device)


@pytest.mark.question(1)
def test_a_huge_broadcast_is_a_view_but_its_result_is_refused(device):
    view = NDArray([1.0], device=device).broadcast_to((2**31, 2**31))  # no copy: stride 0
    assert view.shape == (2**31, 2**31) and view.strides == (0, 0)
    with pytest.raises(ValueError, match=r"shape \(2147483648, 2147483648\) .* bytes"):
        view + 1
    with pytest.raises(ValueError, match=r"shape \(2147483648, 2147483648\) .* bytes"):
        view.sum(axis=0)


def test_an_int_shape_is_one_axis(device):
    assert nd.empty(3, device=device).shape == (3,)
    assert nd.full(0, 1.0, device=device).shape == (0,)


# ---- axes and indices ---------------------------------------------------------------------------

@pytest.mark.parametrize("axes,error,match", [
    ((5, 0), ValueError, "axis 5 is out of range for 2 axes"),
    ((0, -3), ValueError, "axis -3 is out of range for 2 axes"),
    ((0.5, 0), TypeError, r"axis 0\.5 is not an integer"),
])
def test_swapaxes_checks_its_axes(device, axes, error, match):
    with pytest.raises(error, match=match):
        nd.swapaxes(NDArray(arange(2, 3), device=device), *axes)


@pytest.mark.question(1)
@pytest.mark.parametrize("axes", [(0, 1), (-1, 0), (2, -3), (1, 1)])
def test_swapaxes_takes_negative_axes_as_numpy(device, axes):
    x = arange(2, 3, 4)
    np.testing.assert_array_equal(nd.swapaxes(NDArray(x, device=device), *axes).numpy(),
                                  np.swapaxes(x, *axes))


@pytest.mark.parametrize("index,error,match", [
    (np.array([0, 1]), IndexError, r"array of shape \(2,\).*take_rows"),
    ([0, 1], IndexError, r"array of shape \(2,\)"),
    ((0, np.array([1])), IndexError, r"array of shape \(1,\)"),
    (None, IndexError, "None"),
    (slice(0.5, None), TypeError, r"slice\(0\.5, None, None\) on axis 0: slice bounds must be ints"),
    (slice(None, None, 0), ValueError, "slice step cannot be zero"),
])
def test_advanced_and_malformed_indices_are_refused_by_name(device, index, error, match):
    with pytest.raises(error, match=match):
        NDArray(arange(3, 2), device=device)[index]


@pytest.mark.question(1)
def test_numpy_integers_index_as_ints(device):
    x = arange(3, 2)
    a = NDArray(x, device=device)
    np.testing.assert_array_equal(a[np.int64(1)].numpy(), x[1])
    np.testing.assert_array_equal(a[np.array(2), np.int32(-1)].numpy(), x[2, -1])


# ---- scalars and operands -----------------------------------------------------------------------

@pytest.mark.parametrize("call,error,match", [
    (lambda a: a.fill("x"), TypeError, r"fill: expected a real number, got 'x' \(str\)"),
    (lambda a: nd.full((2,), "x", device=a.device), TypeError, "got 'x'"),
    (lambda a: a + 1j, TypeError, r"1j \(complex\)"),
    (lambda a: a * None, TypeError, r"None \(NoneType\)"),
    (lambda a: a - "x", TypeError, "got 'x'"),
    (lambda a: "x" - a, TypeError, "'x'"),
    (lambda a: a < "x", TypeError, "got 'x'"),
    (lambda a: a + 10**400, OverflowError, r"100000000000\.\.\. \(401 digits\) is too large"),
    (lambda a: a.maximum(-(10**400)), OverflowError, "401 digits"),
    (lambda a: a.__setitem__(0, "x"), TypeError, r"cannot assign 'x' \(str\)"),
    (lambda a: a.__setitem__(0, 2 + 0j), TypeError, r"\(2\+0j\)"),
    (lambda a: a + np.array([1.0, 2.0, 3.0]), TypeError, r"NumPy array of shape \(3,\)"),
    (lambda a: np.array([1.0, 2.0, 3.0]) + a, TypeError, r"NumPy array of shape \(3,\)"),
])
def test_bad_operands_are_refused_by_name(device, call, error, match):
    with pytest.raises(error, match=match):
        call(NDArray([1.0, 2.0, 3.0], device=device))


def test_devices_are_taken_by_name_or_refused_by_name(device):
    a = NDArray([1.0], device=device.name)
    assert a.device == device and a.to(device.name).device == device
    assert nd.full((2,), 1.0, device=device.name).device == device
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        NDArray([1.0], device="gpu")
    with pytest.raises(TypeError, match=r"device 3 \(int\) is not a needle device"):
        NDArray([1.0], device=3)


def test_truth_value_is_ambiguous_unless_one_element(device):
    with pytest.raises(ValueError, match="truth value of an array with more than one element"):
        bool(NDArray([1.0, 2.0], device=device))
    with pytest.raises(ValueError, match="truth value of an empty array"):
        bool(NDArray(np.zeros(0), device=device))
    assert bool(NDArray([0.0], device=device)) is False
    assert bool(NDArray([[2.0]], device=device)) is True


@pytest.mark.parametrize("device", devices(3))
def test_equality_of_arrays_is_not_a_truth_value(device):
    with pytest.raises(ValueError, match="more than one element"):
        bool(NDArray([1.0, 2.0], device=device) == NDArray([3.0, 4.0], device=device))


# ---- dtypes -------------------------------------------------------------------------------------

def test_lists_and_python_numbers_become_float32_numpy_floats_keep_their_dtype(device):
    assert NDArray([1.0], device=device).dtype == np.float32
    assert NDArray([[1.5, 2.5]], device=device).dtype == np.float32
    assert NDArray(1.5, device=device).dtype == np.float32
    assert NDArray(np.array([1.0]), device=device).dtype == np.float64
    assert NDArray(np.float64(1.5), device=device).dtype == np.float64
    assert NDArray([1.0], device=device, dtype="float64").dtype == np.float64


@pytest.mark.parametrize("device", devices(2))
def test_stack_promotes_mixed_dtypes_as_numpy(device):
    x32, x64 = np.array([1.1, 2.2], np.float32), np.array([1.1, 2.2], np.float64)
    out = nd.stack([NDArray(x32, device=device), NDArray(x64, device=device)], axis=1)
    expected = np.stack([x32, x64], axis=1)
    assert out.dtype == expected.dtype == np.float64
    np.testing.assert_array_equal(out.numpy(), expected)


@pytest.mark.parametrize("device", devices(3))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scalar", [np.float64(1.1), np.float32(1.1), 1.1, np.int64(3)])
def test_a_scalar_keeps_the_arrays_dtype_as_pytorch(device, dtype, scalar):
    # PyTorch: torch.ones(2) + np.float64(1.1) is float32 (NumPy 2 would widen it to float64).
    x = np.array([0.5, 2.0], dtype)
    a = NDArray(x, device=device)
    for name, ours, theirs in [("+", a + scalar, x + x.dtype.type(scalar)),
                               ("-", scalar - a, x.dtype.type(scalar) - x),
                               ("*", a * scalar, x * x.dtype.type(scalar))]:
        assert ours.dtype == np.dtype(dtype), name
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-6, err_msg=name)


# ---- comparisons with NaN, and NumPy on the left ------------------------------------------------

SPECIAL = np.array([np.nan, 1.0, 2.0, -np.inf, np.inf, -0.0, 0.0, -1.0], np.float32)
COMPARISONS = {"<": lambda x, y: x < y, "<=": lambda x, y: x <= y, ">": lambda x, y: x > y,
               ">=": lambda x, y: x >= y, "==": lambda x, y: x == y, "!=": lambda x, y: x != y}


@pytest.mark.parametrize("device", devices(3))
@pytest.mark.parametrize("op", list(COMPARISONS))
@pytest.mark.parametrize("scalar", [1.0, 0.0, -np.inf, np.nan])
def test_comparisons_with_nan_are_false_as_numpy(device, op, scalar):
    compare = COMPARISONS[op]
    a, b = NDArray(SPECIAL, device=device), NDArray(SPECIAL[::-1].copy(), device=device)
    np.testing.assert_array_equal(compare(a, scalar).numpy(), compare(SPECIAL, scalar), err_msg=op)
    np.testing.assert_array_equal(compare(a, b).numpy(), compare(SPECIAL, SPECIAL[::-1]),
                                  err_msg=op)


@pytest.mark.parametrize("device", devices(3))
@pytest.mark.parametrize("scalar", [np.float32(1.5), np.float64(2.0), np.int64(3), 2.5])
def test_numpy_scalars_on_the_left_give_an_ndarray(device, scalar):
    x = np.array([0.5, 1.0, 2.0], np.float32)
    a = NDArray(x, device=device)
    for name, ours, theirs in [("+", scalar + a, scalar + x), ("-", scalar - a, scalar - x),
                               ("*", scalar * a, scalar * x), ("/", scalar / a, scalar / x),
                               ("**", scalar ** a, scalar ** x), ("<", scalar < a, scalar < x)]:
        assert isinstance(ours, NDArray), name
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-6, err_msg=name)


# ---- take_rows and index_add_rows ---------------------------------------------------------------

def test_rows_of_no_columns(device):
    table = NDArray(np.zeros((3, 0)), device=device)
    assert nd.take_rows(table, [[0, 2]]).shape == (1, 2, 0)
    assert nd.index_add_rows(NDArray(np.zeros((2, 0)), device=device), [0, 2], 3).shape == (3, 0)
    with pytest.raises(IndexError, match=r"take_rows: row 5 is outside 0\.\.2"):
        nd.take_rows(table, [0, 5])
    with pytest.raises(IndexError, match=r"index_add_rows: row -1 is outside 0\.\.2"):
        nd.index_add_rows(NDArray(np.zeros((2, 0)), device=device), [0, -1], 3)


@pytest.mark.parametrize("ids,match", [([1.5], r"id 1\.5 is not an integer"),
                                       ([0.0, np.nan], "id nan is not an integer")])
def test_fractional_row_ids_are_refused_by_name(device, ids, match):
    with pytest.raises(ValueError, match=match):
        nd.take_rows(NDArray(np.zeros((3, 2)), device=device), np.array(ids))


# ---- setitem from a view of the same buffer -----------------------------------------------------

@pytest.mark.parametrize("device", devices(2))
@pytest.mark.parametrize("assign", [
    lambda a: a.__setitem__(slice(None, None, -1), a),              # a[::-1] = a
    lambda a: a.__setitem__(slice(1, None), a[:-1]),                # a[1:] = a[:-1]
    lambda a: a.__setitem__(slice(None, -1), a[1:]),                # a[:-1] = a[1:]
    lambda a: a.__setitem__(slice(None, None, 2), a[:2]),           # a[::2] = a[:2]
], ids=["reversed", "shift-right", "shift-left", "strided"])
def test_setitem_from_an_overlapping_view_reads_before_writing(device, assign):
    x = arange(4)
    a, expected = NDArray(x, device=device), x.copy()
    assign(expected)
    assign(a)
    np.testing.assert_array_equal(a.numpy(), expected)


@pytest.mark.parametrize("device", devices(2))
def test_setitem_of_a_square_array_from_its_own_transpose_and_flips(device):
    x = arange(3, 3)
    a, expected = NDArray(x, device=device), x.copy()
    a[:, ::-1] = a
    expected[:, ::-1] = expected.copy()
    np.testing.assert_array_equal(a.numpy(), expected)
    a[...] = a.permute((1, 0))
    expected[...] = expected.T.copy()
    np.testing.assert_array_equal(a.numpy(), expected)


@st.composite
def slice_of_length(draw, n, length):
    """A slice of ``range(n)`` with ``length`` elements, any step in -3..3 (not 0)."""
    if length == 0:
        start = draw(st.integers(0, n))
        return slice(start, start)
    step = draw(st.sampled_from([s for s in (1, 2, 3) if (length - 1) * s < n]))
    span = (length - 1) * step + 1
    low = draw(st.integers(0, n - span))
    if draw(st.booleans()):
        return slice(low, low + span, step)
    return slice(low + span - 1, low - 1 if low else None, -step)


@st.composite
def overlapping_assignments(draw):
    """An array shape, a destination index and a source index of the same selection shape;
    half of the time whole axes, where the source may be the array itself (compact, so the
    kernel would read it in place) and the destination its flips."""
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=2)))
    whole = draw(st.booleans())
    lengths = shape if whole else [draw(st.integers(0, n)) for n in shape]
    dest = tuple(draw(slice_of_length(n, k)) for n, k in zip(shape, lengths, strict=True))
    src = tuple(draw(slice_of_length(n, k)) for n, k in zip(shape, lengths, strict=True))
    return shape, dest, src


@pytest.mark.parametrize("device", devices(2))  # (not the fixture: Hypothesis reruns the body)
@settings(max_examples=50, deadline=None, report_multiple_bugs=False)
@given(case=overlapping_assignments(), dtype=st.sampled_from(["float32", "float64"]))
def test_setitem_between_views_of_one_buffer_matches_numpy(device, case, dtype):
    shape, dest, src = case
    x = arange(*shape, dtype=dtype)
    a, expected = NDArray(x, device=device), x.copy()
    expected[dest] = expected[src]
    a[dest] = a[src]
    np.testing.assert_array_equal(a.numpy(), expected, err_msg=f"a[{dest}] = a[{src}]")


# ---- reductions and matmul against NumPy, on strided views too --------------------------------

@st.composite
def strided_arrays(draw, max_dims=3):
    """A float array (values in [-4, 4]) and a view of it to take: transposed, flipped
    along an axis or sliced with a step, as NDArray views are made."""
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=max_dims)))
    seed = draw(st.integers(0, 2**32 - 1))
    values = np.random.default_rng(seed).uniform(-4, 4, shape).astype("float32")
    view = draw(st.sampled_from(["plain", "transpose", "flip", "step"]))
    return values, view


def _view(array, view):
    """The same view of ``array`` for NumPy arrays and NDArrays."""
    if view == "transpose":
        return array.permute(tuple(reversed(range(array.ndim)))) if isinstance(array, NDArray) \
            else array.transpose()
    if view == "flip":
        return array.flip((0,)) if isinstance(array, NDArray) else array[::-1]
    if view == "step":
        return array[::2]
    return array


@pytest.mark.parametrize("device", devices(4))  # (not the fixture: Hypothesis reruns the body)
@settings(max_examples=40, deadline=None, report_multiple_bugs=False)
@given(case=strided_arrays(), reduce=st.sampled_from(["sum", "max"]), data=st.data())
def test_reductions_of_strided_views_match_numpy(device, case, reduce, data):
    values, view = case
    expected_input = _view(values, view)
    axis = data.draw(st.integers(0, expected_input.ndim - 1), label="axis")
    keepdims = data.draw(st.booleans(), label="keepdims")
    got = getattr(_view(NDArray(values, device=device), view), reduce)(axis=axis, keepdims=keepdims)
    expected = getattr(expected_input, reduce)(axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("device", devices(5))
@settings(max_examples=40, deadline=None, report_multiple_bugs=False)
@given(m=st.integers(1, 40), k=st.integers(1, 40), n=st.integers(1, 40),
       seed=st.integers(0, 2**32 - 1), transposed=st.booleans())
def test_matmul_of_any_size_and_a_transposed_operand_matches_numpy(device, m, k, n, seed,
                                                                   transposed):
    """Sizes on both sides of the tiled kernel's tile (and not multiples of it); ``transposed``
    makes the left operand a permuted (non-compact) view."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (k, m) if transposed else (m, k)).astype("float32")
    b = rng.uniform(-1, 1, (k, n)).astype("float32")
    left = NDArray(a, device=device)
    if transposed:
        left, a = left.permute((1, 0)), a.T
    np.testing.assert_allclose((left @ NDArray(b, device=device)).numpy(), a @ b,
                               rtol=1e-4, atol=1e-4)
