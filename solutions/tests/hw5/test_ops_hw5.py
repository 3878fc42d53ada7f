"""hw5 question 1: the new ops, forward against NumPy and backward by central differences.

Every gradient check runs in float64 on both NDArray devices: ``loss = sum(R * f(x))`` for a
fixed random ``R``, needle's adjoints against central differences of that loss.
"""
import needle as ndl
import numpy as np
import pytest
from needle_testing import check_backward

DEVICES = [pytest.param("cpu", marks=pytest.mark.student_backend), "cpu_numpy"]


@pytest.fixture(params=DEVICES)
def device(request):
    return getattr(ndl, request.param)()


def random(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.question(1)
def test_tanh_and_sigmoid_forward_and_backward(device):
    a = random((3, 5)) * 3
    out = check_backward(ndl.tanh, a, device=device)
    np.testing.assert_allclose(out.numpy(), np.tanh(a), rtol=1e-12)
    out = check_backward(ndl.sigmoid, a, device=device)
    np.testing.assert_allclose(out.numpy(), 1 / (1 + np.exp(-a)), rtol=1e-12)


@pytest.mark.question(1)
def test_sigmoid_saturates_without_nan(device):
    x = ndl.Tensor([-200.0, 0.0, 200.0], device=device, requires_grad=True)
    y = ndl.sigmoid(x)
    y.sum().backward()
    np.testing.assert_allclose(y.numpy(), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.25, 0.0])


@pytest.mark.question(1)
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack_matches_numpy_and_splits_its_gradient(device, axis):
    arrays = [random((2, 3), seed) for seed in range(4)]
    out = check_backward(lambda *xs: ndl.stack(xs, axis), *arrays, device=device)
    np.testing.assert_array_equal(out.numpy(), np.stack(arrays, axis))


@pytest.mark.question(1)
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_split_gives_a_tensor_tuple_whose_pieces_differentiate(device, axis):
    a = random((3, 4, 2))
    x = ndl.Tensor(a, device=device, dtype="float64")
    pieces = ndl.split(x, axis)
    assert isinstance(pieces, ndl.autograd.TensorTuple) and len(pieces) == a.shape[axis]
    for i, piece in enumerate(pieces):
        np.testing.assert_array_equal(piece.numpy(), np.take(a, i, axis=axis))
    # use two pieces, one twice: the other pieces' adjoints are zero
    check_backward(lambda t: ndl.split(t, axis)[0] * ndl.split(t, axis)[-1] + ndl.split(t, axis)[0],
                    a, device=device)


@pytest.mark.question(1)
def test_stack_of_split_round_trips_and_bad_calls_raise(device):
    x = ndl.Tensor(random((2, 3)), device=device)
    np.testing.assert_array_equal(ndl.stack(ndl.split(x, 1), 1).numpy(), x.numpy())
    with pytest.raises(ValueError, match="shapes differ"):
        ndl.stack([x, ndl.Tensor(random((3, 2)), device=device)], 0)
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        ndl.stack([x, x], 3)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        ndl.split(x, 2)


@pytest.mark.question(1)
@pytest.mark.parametrize("axes", [(0,), (1, 2), (0, 1, 2, 3)])
def test_flip_matches_numpy_and_is_its_own_gradient(device, axes):
    a = random((2, 3, 4, 2))
    out = check_backward(lambda t: ndl.flip(t, axes), a, device=device)
    np.testing.assert_array_equal(out.numpy(), np.flip(a, axes))


@pytest.mark.question(1)
@pytest.mark.parametrize("axes,dilation", [((0,), 1), ((1, 2), 2), ((2,), 0)])
def test_dilate_inserts_zeros_and_undilate_undoes_it(device, axes, dilation):
    a = random((2, 3, 4))
    out = check_backward(lambda t: ndl.dilate(t, axes, dilation), a, device=device)
    expected_shape = tuple(n * (dilation + 1) if ax in axes else n for ax, n in enumerate(a.shape))
    assert out.shape == expected_shape
    index = tuple(slice(None, None, dilation + 1) if ax in axes else slice(None) for ax in range(3))
    expected = np.zeros(expected_shape)
    expected[index] = a
    np.testing.assert_array_equal(out.numpy(), expected)
    back = check_backward(lambda t: ndl.undilate(t, axes, dilation), expected, device=device)
    np.testing.assert_array_equal(back.numpy(), a)


@pytest.mark.question(1)
def test_undilate_of_a_length_that_is_not_a_multiple(device):
    a = random((7, 2))
    out = check_backward(lambda t: ndl.undilate(t, 0, 2), a, device=device)
    np.testing.assert_array_equal(out.numpy(), a[::3])


@pytest.mark.parametrize("index", [
    (1,), (slice(1, 3),), (slice(None), 2), (slice(None, None, 2), slice(1, None), 0),
    (Ellipsis, 1), (-1, slice(None, None, -1)), (slice(3, 0, -2),)])
@pytest.mark.question(1)
def test_getitem_matches_numpy_and_scatters_its_gradient(device, index):
    a = random((4, 5, 3))
    out = check_backward(lambda t: t[index], a, device=device)
    np.testing.assert_array_equal(out.numpy(), a[index])


# Given code: the index checks of GetItem.__call__ (no question).
def test_getitem_rejects_bad_indices(device):
    x = ndl.Tensor(random((2, 3)), device=device)
    with pytest.raises(IndexError, match="index 2 is out of range for axis 0"):
        x[2]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(TypeError, match="expected an int, a slice"):
        x[0.5]


# ---- given code: the backend kernels behind Embedding, Sigmoid and the fused LSTM cell ------

# cpu() and cuda_emu also run the student's hw3 and hw4 kernels (compact, the unary maps).
BACKENDS = [pytest.param("cpu", marks=pytest.mark.student_backend), "cpu_numpy",
            pytest.param("cuda_emu", marks=pytest.mark.student_backend)]


def backend(name):
    device = ndl.cuda(emulate=True) if name == "cuda_emu" else getattr(ndl, name)()
    if not device.enabled():
        pytest.skip(f"{device!r} is not built here")
    return device


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_take_rows_index_add_rows_and_sigmoid_kernels(name, dtype):
    from needle.backend_ndarray import NDArray, index_add_rows, take_rows
    device = backend(name)
    table = random((7, 3)).astype(dtype)
    ids = np.array([[1, 6], [1, 0]])
    np.testing.assert_array_equal(take_rows(NDArray(table, device=device), ids).numpy(), table[ids])
    values = random((2, 2, 3), 1).astype(dtype)
    expected = np.zeros((7, 3), dtype)
    np.add.at(expected, ids, values)  # row 1 twice: both added
    np.testing.assert_allclose(index_add_rows(NDArray(values, device=device), ids, 7).numpy(),
                               expected, rtol=1e-6)
    with pytest.raises(IndexError, match=r"row 7 is outside 0\.\.6"):
        take_rows(NDArray(table, device=device), [0, 7])
    x = np.array([-200.0, -30.0, -1.0, 0.0, 2.5, 100.0], dtype)
    np.testing.assert_allclose(NDArray(x, device=device).sigmoid().numpy(),
                               1 / (1 + np.exp(-x.astype(np.float64))), rtol=1e-6, atol=1e-30)


def lstm_reference(pre, c, dh, dc):
    """The gates and their adjoints in float64 NumPy, written out."""
    H = c.shape[1]
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    i, f, g, o = sig(pre[:, :H]), sig(pre[:, H:2 * H]), np.tanh(pre[:, 2 * H:3 * H]), sig(pre[:, 3 * H:])
    c2 = f * c + i * g
    t = np.tanh(c2)
    dc2 = dc + dh * o * (1 - t ** 2)
    d_pre = np.concatenate([dc2 * g * i * (1 - i), dc2 * c * f * (1 - f), dc2 * i * (1 - g ** 2),
                            dh * t * o * (1 - o)], axis=1)
    return o * t, c2, d_pre, dc2 * f


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("dtype,rtol", [("float32", 2e-6), ("float64", 1e-13)])
def test_fused_lstm_gate_kernels(name, dtype, rtol):
    from needle.backend_ndarray import NDArray, lstm_gates, lstm_gates_backward
    device = backend(name)
    # pre-activations across tanh's series/exp switch at 0.0625 and into saturation
    pre = np.concatenate([random((3, 20), 0) * 4, random((3, 20), 1) * 0.05], axis=1)
    c, dh, dc = random((3, 10), 2), random((3, 10), 3), random((3, 10), 4)
    arrays = [NDArray(a.astype(dtype), device=device) for a in (pre, c, dh, dc)]
    h2, c2 = lstm_gates(*arrays[:2])
    d_pre, d_c = lstm_gates_backward(*arrays)
    for got, want in zip((h2, c2, d_pre, d_c), lstm_reference(pre, c, dh, dc), strict=True):
        np.testing.assert_allclose(got.numpy(), want, rtol=rtol, atol=rtol)
    with pytest.raises(ValueError, match=r"expected pre \(B, 4H\)"):
        lstm_gates(arrays[0], NDArray(random((3, 9)).astype(dtype), device=device))


@pytest.mark.question(1)
def test_a_flip_applied_twice_reads_each_input_afresh(device):
    flip = ndl.ops.Flip((-1,))
    a, b = random((2, 3)), random((2, 3, 4))
    np.testing.assert_array_equal(flip(ndl.Tensor(a, device=device)).numpy(), np.flip(a, -1))
    np.testing.assert_array_equal(flip(ndl.Tensor(b, device=device)).numpy(), np.flip(b, -1))
