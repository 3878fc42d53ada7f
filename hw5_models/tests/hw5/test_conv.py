"""hw5 question 2: convolution (the op, ``nn.Conv``) and ``BatchNorm2d``.

The op's gradients are checked by central differences; ``nn.Conv`` and ``BatchNorm2d`` against
PyTorch with the same weights, forward and backward. The questions grade ``Conv``, the course's
convolution, so ``conv``'s fast path (``ConvIm2col``, given code) is off in this file except in
its own tests at the end.
"""
import needle as ndl
import numpy as np
import pytest
from needle.ops import ops_conv
from needle_testing import check_backward
from test_ops_hw5 import random
from torch_reference import needs_torch, to_torch, torch


@pytest.fixture(autouse=True)
def course_conv():
    """``conv`` is ``Conv`` (the course's, which the questions grade) in each test of this file."""
    with ndl.ops.use_fast_paths(False):
        yield


def pad_or_crop(a, padding):
    """NHWC ``a`` with ``p`` zeros around H and W for each ``p`` of ``padding`` (an int or an
    ``(p_h, p_w)`` pair), cropped where ``p`` is negative."""
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    a = np.pad(a, ((0, 0), (max(ph, 0),) * 2, (max(pw, 0),) * 2, (0, 0)))
    ch, cw = max(-ph, 0), max(-pw, 0)
    return a[:, ch:a.shape[1] - ch, cw:a.shape[2] - cw, :]


def conv_reference(a, b, stride, padding):
    """Direct loops: NHWC images, (K, K, C_in, C_out) kernel."""
    a = pad_or_crop(a, padding)
    N, H, W, _ = a.shape
    K, _, _, C_out = b.shape
    Ho, Wo = (H - K) // stride + 1, (W - K) // stride + 1
    out = np.zeros((N, Ho, Wo, C_out))
    for i in range(Ho):
        for j in range(Wo):
            window = a[:, i * stride:i * stride + K, j * stride:j * stride + K, :]
            out[:, i, j, :] = np.tensordot(window, b, axes=([1, 2, 3], [0, 1, 2]))
    return out


@pytest.mark.parametrize("shape,k,stride,padding", [
    ((2, 5, 5, 3), 3, 1, 1), ((1, 6, 7, 2), 3, 2, 1), ((2, 7, 7, 1), 5, 2, 0),
    ((1, 8, 8, 2), 3, 3, 2), ((3, 4, 4, 2), 1, 1, 0), ((1, 9, 6, 2), 4, 2, 1)])
@pytest.mark.question(2)
def test_conv_op_forward_and_gradients(shape, k, stride, padding):
    a, b = random(shape, 0), random((k, k, shape[3], 3), 1)
    out = check_backward(lambda x, w: ndl.conv(x, w, stride=stride, padding=padding), a, b,
                          device=ndl.cpu())
    np.testing.assert_allclose(out.numpy(), conv_reference(a, b, stride, padding), rtol=1e-10,
                               atol=1e-10)


# Given code: the shape checks of Conv.__call__ (no question).
def test_conv_op_rejects_mismatched_shapes():
    x = ndl.Tensor(random((1, 5, 5, 3)))
    with pytest.raises(ValueError, match="matching C_in"):
        ndl.conv(x, ndl.Tensor(random((3, 3, 2, 4))))
    with pytest.raises(ValueError, match="does not fit"):
        ndl.conv(x, ndl.Tensor(random((7, 7, 3, 4))))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        ndl.conv(x, ndl.Tensor(random((3, 3, 3, 4))), stride=0)


@pytest.mark.question(2)
def test_conv_module_shapes_init_and_parameters():
    ndl.manual_seed(0)
    conv = ndl.nn.Conv(16, 32, 3, stride=2)
    assert conv.weight.shape == (3, 3, 16, 32) and conv.bias.shape == (32,)
    assert sum(p.numpy().size for p in conv.parameters()) == 3 * 3 * 16 * 32 + 32
    bound = np.sqrt(2) * np.sqrt(3 / (16 * 9))  # Kaiming uniform, fan_in = C_in * K * K
    w = conv.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound
    assert np.abs(conv.bias.numpy()).max() <= 1 / np.sqrt(16 * 9)
    assert conv(ndl.Tensor(random((2, 16, 9, 9)), dtype="float32")).shape == (2, 32, 5, 5)
    with pytest.raises(ValueError, match=r"expected input \(N, 16, H, W\)"):
        conv(ndl.Tensor(random((2, 3, 9, 9))))


@needs_torch
@pytest.mark.parametrize("c_in,c_out,k,stride,bias", [(3, 4, 3, 1, True), (2, 5, 5, 2, True),
                                                      (4, 3, 1, 1, False), (3, 2, 4, 2, True)])
@pytest.mark.question(2)
def test_conv_module_matches_torch(c_in, c_out, k, stride, bias):
    conv = ndl.nn.Conv(c_in, c_out, k, stride=stride, bias=bias, dtype="float64")
    ref = torch.nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=bias).double()
    ref.weight.data = to_torch(conv.weight.numpy().transpose(3, 2, 0, 1))
    if bias:
        ref.bias.data = to_torch(conv.bias.numpy())
    x = random((2, c_in, 10, 9))
    out = conv(ndl.Tensor(x, dtype="float64", requires_grad=True))
    expected = ref(to_torch(x))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-10)
    g = random(out.shape, 3)
    out.backward(ndl.Tensor(g, dtype="float64"))
    expected.backward(to_torch(g))
    np.testing.assert_allclose(conv.weight.grad.numpy(),
                               ref.weight.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-9, atol=1e-9)
    if bias:
        np.testing.assert_allclose(conv.bias.grad.numpy(), ref.bias.grad.numpy(), rtol=1e-9)


@pytest.mark.question(2)
@needs_torch
def test_batchnorm2d_matches_torch_in_training_and_evaluation():
    bn = ndl.nn.BatchNorm2d(3, dtype="float64")
    ref = torch.nn.BatchNorm2d(3).double()
    for seed in range(2):
        x = random((4, 3, 5, 6), seed) * 2 + 1
        xt = to_torch(x, requires_grad=True)
        xn = ndl.Tensor(x, dtype="float64", requires_grad=True)
        out, expected = bn(xn), ref(xt)
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-9, atol=1e-9)
        g = random(x.shape, 10 + seed)
        out.backward(ndl.Tensor(g, dtype="float64"))
        expected.backward(to_torch(g))
        np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(bn.running_mean.numpy(), ref.running_mean.numpy(), rtol=1e-9)
    np.testing.assert_allclose(bn.running_var.numpy(), ref.running_var.numpy(), rtol=1e-9)
    bn.eval(), ref.eval()
    x = random((2, 3, 4, 4), 5)
    np.testing.assert_allclose(bn(ndl.Tensor(x, dtype="float64")).numpy(),
                               ref(to_torch(x)).detach().numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.question(2)
def test_batchnorm2d_normalises_each_channel():
    x = random((8, 2, 4, 4)) * np.array([1.0, 5.0]).reshape(1, 2, 1, 1) + 3
    out = ndl.nn.BatchNorm2d(2, dtype="float64")(ndl.Tensor(x, dtype="float64")).numpy()
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, rtol=1e-4)


# Given code: conv's fast path, ConvIm2col (cpu()'s direct kernels, the patch matrix elsewhere),
# against the loops above and central differences, each kernel's edge cases included: a stride,
# a crop, a width not a multiple of 8 pixels, output channels not a multiple of 32 (and, in
# float32, more than 4 panels of 32).
FAST_CASES = [((2, 5, 5, 3), 3, 4, 1, 1), ((1, 6, 7, 2), 3, 3, 2, 1), ((1, 9, 6, 2), 4, 2, 2, 1),
              ((2, 6, 5, 3), 3, 2, 1, (-1, 1)), ((1, 4, 5, 2), 2, 35, 1, 1)]


@pytest.mark.student_backend  # given code, on the student's NDArray layer and ops
@pytest.mark.parametrize("device", [ndl.cpu(), ndl.cpu_numpy()], ids=["cpu", "cpu_numpy"])
@pytest.mark.parametrize("shape,k,c_out,stride,padding", FAST_CASES)
def test_conv_fast_path_values_and_gradients(device, shape, k, c_out, stride, padding):
    a, b = random(shape, 0), random((k, k, shape[3], c_out), 1)
    with ndl.ops.use_fast_paths(True):
        out = check_backward(lambda x, w: ndl.conv(x, w, stride=stride, padding=padding), a, b,
                             device=device)
    assert isinstance(out.op, ops_conv.ConvIm2col)
    np.testing.assert_allclose(out.numpy(), conv_reference(a, b, stride, padding), rtol=1e-10,
                               atol=1e-10)


def conv_reference_gradients(a, b, g, stride, padding):
    """The adjoints of ``a`` and ``b`` for ``<g, conv(a, b)>``, by the same loops."""
    ap = pad_or_crop(a, padding)
    K = b.shape[0]
    dap, db = np.zeros_like(ap), np.zeros_like(b)
    for i in range(g.shape[1]):
        for j in range(g.shape[2]):
            window = (slice(None), slice(i * stride, i * stride + K), slice(j * stride, j * stride + K))
            db += np.tensordot(ap[window], g[:, i, j, :], axes=([0], [0]))
            dap[window] += np.tensordot(g[:, i, j, :], b, axes=([1], [3]))
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    da = np.zeros_like(a)
    ch, cw = max(-ph, 0), max(-pw, 0)
    da[:, ch:a.shape[1] - ch, cw:a.shape[2] - cw] = dap[:, max(ph, 0):max(ph, 0) + a.shape[1] - 2 * ch,
                                                        max(pw, 0):max(pw, 0) + a.shape[2] - 2 * cw]
    return da, db


@pytest.mark.student_backend  # given code, on the student's NDArray layer and ops
@pytest.mark.parametrize("stride", [1, 2])
def test_conv_fast_path_float32_on_every_thread(stride):
    # big enough for the kernels' OpenMP paths (over 2M multiply-adds), on all the threads there are
    a, b = random((4, 13, 12, 16), 2), random((3, 3, 16, 130), 3)
    x = ndl.Tensor(a, device=ndl.cpu(), dtype="float32", requires_grad=True)
    w = ndl.Tensor(b, device=ndl.cpu(), dtype="float32", requires_grad=True)
    with ndl.ops.use_fast_paths(True):
        out = ndl.conv(x, w, stride=stride, padding=1)
    g = random(out.shape, 4)
    out.backward(ndl.Tensor(g, device=ndl.cpu(), dtype="float32"))
    da, db = conv_reference_gradients(a, b, g, stride, 1)
    np.testing.assert_allclose(out.numpy(), conv_reference(a, b, stride, 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(x.grad.numpy(), da, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w.grad.numpy(), db, rtol=1e-4, atol=1e-3)


@pytest.mark.student_backend  # given code, on the student's NDArray layer and ops
@pytest.mark.parametrize("device", [ndl.cpu(), ndl.cpu_numpy()], ids=["cpu", "cpu_numpy"])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv_fast_path_adjoint_ops_differentiate(device, stride):
    # ConvBackwardData and ConvBackwardWeight are linear in each input: their own gradients
    # (a convolution and each other) by central differences
    a, b = random((2, 6, 5, 3), 5), random((3, 3, 3, 4), 6)
    g = random((2, (6 + 2 - 3) // stride + 1, (5 + 2 - 3) // stride + 1, 4), 7)
    data = ops_conv.ConvBackwardData(stride, (1, 1), a.shape)
    weight = ops_conv.ConvBackwardWeight(stride, (1, 1), b.shape)
    da, db = conv_reference_gradients(a, b, g, stride, 1)
    out = check_backward(lambda gt, bt: data(gt, bt), g, b, device=device)
    np.testing.assert_allclose(out.numpy(), da, rtol=1e-10, atol=1e-10)
    out = check_backward(lambda at, gt: weight(at, gt), a, g, device=device)
    np.testing.assert_allclose(out.numpy(), db, rtol=1e-10, atol=1e-10)


@pytest.mark.student_backend  # given code, on the student's NDArray layer and ops
@pytest.mark.parametrize("shape,kernel,stride,padding", [
    ((2, 5, 6, 3), (3, 3, 3), 1, (1, 1)), ((1, 7, 6, 2), (3, 2, 2), 2, (1, 0)),
    ((2, 6, 5, 4), (3, 3, 4), 1, (-1, 2))])
def test_cpu_im2col_and_col2im_kernels_match_the_strided_views(shape, kernel, stride, padding):
    # cpu()'s im2col/col2im kernels against the padded strided view (cpu_numpy()) and the loops
    from needle.backend_ndarray import NDArray
    a = random(shape, 8)
    fast = ops_conv.im2col(NDArray(a, device=ndl.cpu()), kernel, stride, padding)
    view = ops_conv.im2col(NDArray(a, device=ndl.cpu_numpy()), kernel, stride, padding)
    np.testing.assert_array_equal(fast.numpy(), view.numpy())
    ap = pad_or_crop(a, padding)
    ho, wo = (ap.shape[1] - kernel[0]) // stride + 1, (ap.shape[2] - kernel[1]) // stride + 1
    first = ap[:, :kernel[0], stride:stride + kernel[1], :].reshape(shape[0], -1)  # window (0, 1)
    np.testing.assert_array_equal(fast.numpy().reshape(shape[0], ho * wo, -1)[:, 1], first)
    cols = random(fast.shape, 9)
    back = [ops_conv.col2im(NDArray(cols, device=d), shape, kernel, stride, padding).numpy()
            for d in (ndl.cpu(), ndl.cpu_numpy())]
    np.testing.assert_allclose(back[0], back[1], rtol=1e-12, atol=1e-12)
    # the adjoint: <im2col(a), cols> = <a, col2im(cols)>
    np.testing.assert_allclose((fast.numpy() * cols).sum(), (a * back[0]).sum(), rtol=1e-10)


@pytest.mark.student_backend  # given code, on the student's NDArray layer and ops
def test_fast_paths_are_off_in_the_tests_and_the_switch_restores_its_setting():
    # tests/conftest.py sets NEEDLE_FAST_PATHS=0 before needle loads, so the tests grade Conv
    assert not ndl.ops.fast_paths_enabled()
    a, b = random((1, 4, 4, 2), 5), random((3, 3, 2, 3), 6)
    x = ndl.Tensor(a, device=ndl.cpu(), requires_grad=True)
    w = ndl.Tensor(b, device=ndl.cpu(), requires_grad=True)
    assert type(ndl.conv(x, w, padding=1).op) is ops_conv.Conv
    with pytest.raises(RuntimeError, match="inside"), ndl.ops.use_fast_paths(True):
        out = ndl.conv(x, w, padding=1)
        raise RuntimeError("inside")
    assert type(out.op) is ops_conv.ConvIm2col
    assert not ndl.ops.fast_paths_enabled()
    with pytest.raises(TypeError, match="expected True or False, got '0'"):
        ndl.ops.use_fast_paths("0")
    assert not ndl.ops.fast_paths_enabled()
