"""hw4: the CUDA backend, each kernel checked against NumPy.

Every test runs on two devices: ``cuda_emu`` (the kernels compiled for the CPU and run by
``src/cuda_emulation.h``, on any machine) and ``cuda`` (a real GPU). Without a GPU the ``cuda``
runs skip and say how to run them; with one, the same assertions hold on the device. Shapes are
odd on purpose: sizes that are not multiples of a block (256 threads), a reduction block or a
matmul tile (128 x 128 x 8), so every bounds check is exercised.
"""
import needle as ndl
import numpy as np
import pytest
from needle.backend_ndarray import NDArray, matmul


def _cuda_param(emulate: bool):
    device = ndl.cuda(emulate=emulate)
    reason = (f"{device!r} is not available here: {device._missing}" if not device.enabled() else "")
    return pytest.param(device, id=device.name, marks=pytest.mark.skipif(not device.enabled(), reason=reason))


DEVICES = [_cuda_param(True), _cuda_param(False)]


def random(shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


def nd(a, device, dtype=None):
    return NDArray(np.asarray(a), device=device, dtype=dtype)


# ---- given code: memory, copies and bad input ------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_and_strided_reads_need_no_kernel(device, dtype):
    a = random((4, 5), dtype=dtype)
    x = nd(a, device)
    assert x.device == device and x.dtype == dtype
    np.testing.assert_array_equal(x.numpy(), a)
    transposed_rows = x.as_strided((3, 4), (2, 5))  # rows 0, 2, 4 of the transpose
    np.testing.assert_array_equal(transposed_rows.numpy(), a.T[::2])  # to_numpy walks views


def test_bad_calls_raise_python_exceptions_naming_the_problem(device):
    x = nd(random(6), device)
    with pytest.raises(TypeError, match="dtypes float32 and float64 differ"):
        device.ewise_add(x._handle, nd(random(6), device, "float64")._handle, x._handle)
    with pytest.raises(IndexError, match=r"reaches elements 0\.\.9 of a buffer of 6"):
        device.compact(x._handle, x._handle, (10,), (1,), 0)
    with pytest.raises(ValueError, match="up to 8 axes"):
        device.compact(x._handle, x._handle, (1,) * 9, (1,) * 9, 0)
    with pytest.raises(ValueError, match="dtype float16 is not supported"):
        device.Array(3, "float16")


def test_devices_report_whether_they_can_run():
    assert ndl.cuda(emulate=True).name == "cuda_emu" and ndl.cuda(emulate=False).name == "cuda"
    assert ndl.cuda(emulate=True) in ndl.all_devices() and ndl.cuda(emulate=False) in ndl.all_devices()
    real = ndl.cuda(emulate=False)
    if not real.enabled():
        with pytest.raises(RuntimeError, match=r"cuda\(emulate=True\)"):
            NDArray([1.0], device=real)


def test_environment_switch_selects_the_emulated_device(monkeypatch):
    monkeypatch.setenv("NEEDLE_CUDA_EMULATE", "1")
    assert ndl.cuda() == ndl.cuda(emulate=True)
    monkeypatch.setenv("NEEDLE_CUDA_EMULATE", "0")
    assert ndl.cuda() == ndl.cuda(emulate=False)


# ---- question 1: compact and setitem ---------------------------------------------------------

def views(a, device):
    """(name, NumPy view, needle view) for non-compact views of the 3-D array ``a``."""
    x = nd(a, device)
    yield "permuted", a.transpose(2, 0, 1), x.permute((2, 0, 1))
    yield "stepped", a[1::2, ::-3, 1:], x[1::2, ::-3, 1:]
    broadcast = (3, *a[:, :1].shape)
    yield "broadcast", np.broadcast_to(a[:, :1], broadcast), x[:, :1].broadcast_to(broadcast)
    yield "flipped", np.flip(a, (0, 2)), x.flip((0, 2))
    yield "int-indexed", a[3], x[3]


@pytest.mark.question(1)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compact_of_every_kind_of_view(device, dtype):
    a = random((5, 67, 9), dtype=dtype)  # 3015 elements: 12 blocks, the last one partial
    for name, expected, view in views(a, device):
        out = view.compact()
        assert out.is_compact(), name
        np.testing.assert_array_equal(device.to_numpy(out._handle, out.shape, out.strides, 0), expected,
                                      err_msg=name)


@pytest.mark.question(1)
def test_setitem_through_views(device):
    a = random((7, 300))
    x = nd(a, device)
    x[1:6:2, ::-7] = nd(np.arange(129.0).reshape(3, 43), device)
    a[1:6:2, ::-7] = np.arange(129.0).reshape(3, 43)
    x[0] = 7.5
    a[0] = 7.5
    x.permute((1, 0))[250:, 4:] = -1.0
    a.T[250:, 4:] = -1.0
    x[:, 1:3] = nd(random((3, 7), 1), device).permute((1, 0))[:, 1:]
    a[:, 1:3] = random((3, 7), 1).T[:, 1:]
    np.testing.assert_array_equal(x.numpy(), a)


# ---- question 2: element-wise kernels --------------------------------------------------------

BINARY = {"+": (lambda x, y: x + y, np.add), "*": (lambda x, y: x * y, np.multiply),
          "/": (lambda x, y: x / y, np.divide), "maximum": (lambda x, y: x.maximum(y), np.maximum),
          "==": (lambda x, y: x == y, lambda x, y: (x == y).astype(x.dtype)),
          ">=": (lambda x, y: x >= y, lambda x, y: (x >= y).astype(x.dtype))}


@pytest.mark.question(2)
@pytest.mark.parametrize("op", BINARY, ids=str)
@pytest.mark.parametrize("size", [1, 255, 257, 10007])
def test_ewise_and_scalar_ops(device, op, size):
    ours, theirs = BINARY[op]
    a, b = random(size, 1), random(size, 2)
    b[::4] = a[::4]
    np.testing.assert_allclose(ours(nd(a, device), nd(b, device)).numpy(), theirs(a, b), rtol=1e-6)
    np.testing.assert_allclose(ours(nd(a, device), 0.5).numpy(), theirs(a, np.float32(0.5)), rtol=1e-6)


@pytest.mark.question(2)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unary_ops_and_power(device, dtype):
    a = random(3001, 3, dtype)
    positive = np.abs(a) + 0.1
    rtol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(nd(a, device).exp().numpy(), np.exp(a), rtol=rtol)
    np.testing.assert_allclose(nd(positive, device).log().numpy(), np.log(positive), rtol=rtol)
    np.testing.assert_allclose(nd(a, device).tanh().numpy(), np.tanh(a), rtol=rtol, atol=rtol / 10)
    np.testing.assert_allclose((nd(positive, device) ** 1.5).numpy(), positive ** 1.5, rtol=rtol)
    np.testing.assert_allclose((nd(positive, device) ** nd(a, device)).numpy(), positive ** a, rtol=10 * rtol)


# ---- question 3: reductions ------------------------------------------------------------------

@pytest.mark.question(3)
@pytest.mark.parametrize("shape, axis", [((7, 1000), 1), ((1, 3), 1), ((5, 513), -1), ((300, 7), 0),
                                         ((4, 9, 6), 1), ((3, 5, 7), (0, 2)), ((6, 70), None)])
def test_sum_and_max(device, shape, axis):
    a = random(shape, 4) - 5.0  # all negative: a maximum that starts from 0 shows
    x = nd(a, device)
    np.testing.assert_allclose(x.sum(axis=axis).numpy(), a.sum(axis=axis), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(x.max(axis=axis).numpy(), a.max(axis=axis))
    np.testing.assert_array_equal(x.max(axis=axis, keepdims=True).numpy(), a.max(axis=axis, keepdims=True))


@pytest.mark.question(3)
def test_reductions_in_float64_and_of_views(device):
    a = random((40, 30), 5, "float64")
    x = nd(a, device)
    np.testing.assert_allclose(x.permute((1, 0)).sum(axis=1).numpy(), a.T.sum(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(x[::3, 1::2].max(axis=0).numpy(), a[::3, 1::2].max(axis=0))


# ---- question 4: matrix multiplication -------------------------------------------------------

SHAPES = [(1, 1, 1), (3, 5, 2), (17, 1, 19), (63, 16, 65), (128, 8, 128), (129, 33, 127), (130, 17, 257)]


@pytest.mark.question(4)
@pytest.mark.parametrize("m, n, p", SHAPES[:5])
def test_naive_matmul(device, m, n, p):
    a, b = random((m, n), 6), random((n, p), 7)
    np.testing.assert_allclose(matmul(nd(a, device), nd(b, device), naive=True).numpy(), a @ b,
                               rtol=1e-4, atol=1e-4)


@pytest.mark.question(4)
@pytest.mark.parametrize("m, n, p", SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tiled_matmul(device, m, n, p, dtype):
    a, b = random((m, n), 8, dtype), random((n, p), 9, dtype)
    tol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose((nd(a, device) @ nd(b, device)).numpy(), a @ b, rtol=tol, atol=tol)


@pytest.mark.question(4)
def test_batched_and_non_compact_matmul(device):
    a, b = random((3, 20, 33), 10), random((33, 21), 11)
    np.testing.assert_allclose((nd(a, device) @ nd(b, device)).numpy(), a @ b, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose((nd(b, device).permute((1, 0)) @ nd(a[0], device).permute((1, 0))).numpy(),
                               b.T @ a[0].T, rtol=1e-4, atol=1e-4)


@pytest.mark.question(4)
def test_a_training_step_on_the_device_matches_the_cpu(device):
    import needle.nn as nn
    X, y = random((50, 20), 12), np.arange(50) % 5
    losses, grads = [], []
    for dev in (device, ndl.cpu()):
        ndl.manual_seed(3)
        net = nn.Sequential(nn.Linear(20, 70, device=dev), nn.ReLU(), nn.Linear(70, 5, device=dev))
        loss = nn.SoftmaxLoss()(net(ndl.Tensor(X, device=dev)), ndl.Tensor(y, device=dev))
        loss.backward()
        losses.append(loss.numpy())
        grads.append([p.grad.numpy() for p in net.parameters()])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    for ours, theirs in zip(*grads, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
