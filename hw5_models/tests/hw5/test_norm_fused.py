"""Given code: the fused batch normalisation and ReLU backward (``ops/ops_norm.py`` and their
kernels in ``src/ndarray_backend_cpu.cc``), the fast paths of ``nn.BatchNorm1d``,
``nn.BatchNorm2d`` and ``ops.relu``.

Checked against NumPy, PyTorch (where installed), the course's own modules (the same outputs,
gradients and running statistics step after step) and central differences, in float32 and
float64, with inputs big enough for the kernels' OpenMP paths. The tests run with the fast
paths off (``tests/conftest.py``); each test here turns them on where it means to.
"""
import needle as ndl
import numpy as np
import pytest
from needle.ops import ops_norm
from needle_testing import check_backward
from test_ops_hw5 import random
from torch_reference import needs_torch, to_torch, torch

CPU = ndl.cpu()
# Every test runs on cpu(): given code, on the C++ backend and NDArray layer you write (hw3).
pytestmark = pytest.mark.student_backend


def reference(x, w, b, eps, mean=None, var=None):
    """Batch normalisation of ``x`` (N, C, ...) over every axis but 1, in float64: ``(y, mean,
    biased var)``, with the batch's statistics unless ``mean`` and ``var`` are given."""
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if mean is None:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * w.reshape(shape) + b.reshape(shape)
    return y, mean, var


def reference_gradients(x, w, g, eps):
    """``(dx, dw, db)`` of ``<g, y>`` for training-mode batch normalisation (the batch's
    statistics), from the formula of Ioffe & Szegedy (2015)."""
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    invstd = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * invstd
    dw, db = (g * xhat).sum(axis=axes), g.sum(axis=axes)
    dx = w.reshape(shape) * invstd * (g - db.reshape(shape) / m - xhat * dw.reshape(shape) / m)
    return dx, dw, db


def tensor(a, dtype="float64", requires_grad=False):
    return ndl.Tensor(a, device=CPU, dtype=dtype, requires_grad=requires_grad)


def module(shape, dtype, seed=0):
    """A BatchNorm1d for (N, C), BatchNorm2d for (N, C, H, W), on cpu(), with random weights."""
    c = shape[1]
    bn = (ndl.nn.BatchNorm1d if len(shape) == 2 else ndl.nn.BatchNorm2d)(c, device=CPU, dtype=dtype)
    bn.weight = ndl.nn.Parameter(tensor(random((c,), seed) + 1, dtype))
    bn.bias = ndl.nn.Parameter(tensor(random((c,), seed + 1), dtype))
    return bn


# The kernels go by rows for short runs of H*W (and (N, C) matrices), by channels for long ones
# (H*W >= 32 and C*H*W > 8192): (2, 3, 64, 50) is the second kind, the others the first.
SHAPES = [(6, 4), (37, 3), (3, 5, 4, 3), (2, 3, 1, 1), (4, 2, 1, 7), (2, 3, 64, 50)]


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 2e-5)])
@pytest.mark.parametrize("shape", SHAPES)
def test_fused_batch_norm_op_matches_numpy(shape, dtype, tol):
    x, w, b = random(shape, 0) * 3 + 2, random((shape[1],), 1), random((shape[1],), 2)
    rm, rv = random((shape[1],), 3), random((shape[1],), 4) ** 2 + 0.5
    xt = tensor(x, dtype, requires_grad=True)  # so that the outputs record their op
    with ndl.ops.use_fast_paths(True):
        y, mean, var = ndl.ops.batch_norm(xt, tensor(w, dtype), tensor(b, dtype),
                                          tensor(rm, dtype), tensor(rv, dtype), training=True,
                                          momentum=0.1, eps=1e-5)
        y_eval, rm2, rv2 = ndl.ops.batch_norm(xt, tensor(w, dtype), tensor(b, dtype),
                                              tensor(rm, dtype), tensor(rv, dtype), training=False,
                                              momentum=0.1, eps=1e-5)
    assert isinstance(y.op, ops_norm.BatchNormTrain) and isinstance(y_eval.op, ops_norm.BatchNormEval)
    expected, batch_mean, batch_var = reference(x, w, b, 1e-5)
    n = x.size // shape[1]
    np.testing.assert_allclose(y.numpy(), expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(mean.numpy(), 0.9 * rm + 0.1 * batch_mean, rtol=tol, atol=tol)
    np.testing.assert_allclose(var.numpy(), 0.9 * rv + 0.1 * batch_var * n / (n - 1), rtol=tol, atol=tol)
    np.testing.assert_allclose(y_eval.numpy(), reference(x, w, b, 1e-5, rm, rv)[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(rm2.numpy(), rm, rtol=tol)
    np.testing.assert_allclose(rv2.numpy(), rv, rtol=tol)
    assert y.dtype == mean.dtype == var.dtype == y_eval.dtype == dtype
    assert mean.op is None and var.op is None and not mean.requires_grad  # constants, as .detach()


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 3, 2), (2, 2, 1, 1)])
def test_fused_batch_norm_gradients_by_central_differences(shape, training):
    rm, rv = tensor(random((shape[1],), 3)), tensor(random((shape[1],), 4) ** 2 + 0.5)
    x, w, b = random(shape, 0) * 2 + 1, random((shape[1],), 1), random((shape[1],), 2)

    def fn(x, w, b):
        return ndl.ops.batch_norm(x, w, b, rm, rv, training=training, momentum=0.1, eps=1e-3)[0]

    with ndl.ops.use_fast_paths(True):
        # a plain backward() first, whose errors (a stub of an earlier homework's) surface as they are
        fn(tensor(x, requires_grad=True), tensor(w), tensor(b)).backward(tensor(np.ones(shape)))
        out = check_backward(fn, x, w, b, device=CPU)
    assert isinstance(out.op, ops_norm.BatchNormTrain if training else ops_norm.BatchNormEval)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-9), ("float32", 1e-4)])
@pytest.mark.parametrize("shape", [(6, 8, 12, 12), (2, 5, 1, 1), (64, 7), (3, 4, 48, 48)])
def test_modules_match_the_course_path_step_after_step(shape, dtype, tol):
    # the same module run with the fast path and with the course's code: outputs, the gradients
    # of input, weight and bias, and the running statistics after each of three training steps,
    # then evaluation with those statistics
    fast, course = module(shape, dtype), module(shape, dtype)
    for step in range(3):
        x = random(shape, 10 + step) * (step + 1) + step
        g = random(shape, 20 + step)
        outs = []
        for bn, on in ((fast, True), (course, False)):
            xt = tensor(x, dtype, requires_grad=True)
            with ndl.ops.use_fast_paths(on):
                y = bn(xt)
                y.backward(tensor(g, dtype))
            outs.append((y, xt.grad.numpy(), bn.weight.grad.numpy(), bn.bias.grad.numpy()))
        assert isinstance(outs[0][0].op, ops_norm.BatchNormTrain)
        assert not isinstance(outs[1][0].op, ops_norm.BatchNormTrain)
        for got, expected in zip((outs[0][0].numpy(), *outs[0][1:]), (outs[1][0].numpy(), *outs[1][1:]),
                                 strict=True):
            np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
        np.testing.assert_allclose(fast.running_mean.numpy(), course.running_mean.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(fast.running_var.numpy(), course.running_var.numpy(), rtol=tol, atol=tol)
        assert fast.running_mean.op is None and fast.running_var.op is None
        assert fast.running_mean.dtype == fast.running_var.dtype == dtype
    fast.eval(), course.eval()
    x = random(shape, 30)
    with ndl.ops.use_fast_paths(True):
        y = fast(tensor(x, dtype))
    assert isinstance(y.op, ops_norm.BatchNormEval)
    np.testing.assert_allclose(y.numpy(), course(tensor(x, dtype)).numpy(), rtol=tol, atol=tol)


@needs_torch
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 6)])
def test_fused_modules_match_torch_in_training_and_evaluation(shape):
    bn = module(shape, "float64")
    ref = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(shape[1]).double()
    with torch.no_grad():
        ref.weight.copy_(to_torch(bn.weight.numpy()))
        ref.bias.copy_(to_torch(bn.bias.numpy()))
    with ndl.ops.use_fast_paths(True):
        for seed in range(3):
            x = random(shape, seed) * 2 + 1
            xt, xn = to_torch(x, requires_grad=True), tensor(x, requires_grad=True)
            out, expected = bn(xn), ref(xt)
            assert isinstance(out.op, ops_norm.BatchNormTrain)
            np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-9, atol=1e-9)
            g = random(shape, 10 + seed)
            out.backward(tensor(g))
            ref.zero_grad()
            expected.backward(to_torch(g))
            np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-8, atol=1e-9)
            np.testing.assert_allclose(bn.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-8, atol=1e-9)
            np.testing.assert_allclose(bn.bias.grad.numpy(), ref.bias.grad.numpy(), rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(bn.running_mean.numpy(), ref.running_mean.numpy(), rtol=1e-9)
        np.testing.assert_allclose(bn.running_var.numpy(), ref.running_var.numpy(), rtol=1e-9)
        bn.eval(), ref.eval()
        x = random(shape, 5)
        np.testing.assert_allclose(bn(tensor(x)).numpy(), ref(to_torch(x)).detach().numpy(),
                                   rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("shape", [(32, 16, 16, 16), (4096, 24), (3, 40, 50, 7)])
def test_fused_batch_norm_float32_on_every_thread(shape):
    # over 2^15 values: the kernels' OpenMP paths (channels across threads for H*W > 1, rows
    # across threads with per-thread sums for (N, C)); a large mean tests the two-pass variance
    x, g = random(shape, 0) * 0.5 + 100, random(shape, 3)
    w, b = random((shape[1],), 1), random((shape[1],), 2)
    xt, wt, bt = (tensor(a, "float32", requires_grad=True) for a in (x, w, b))
    with ndl.ops.use_fast_paths(True):
        y, _, _ = ndl.ops.batch_norm(xt, wt, bt, tensor(np.zeros(shape[1]), "float32"),
                                     tensor(np.ones(shape[1]), "float32"), training=True,
                                     momentum=0.1, eps=1e-5)
    y.backward(tensor(g, "float32"))
    np.testing.assert_allclose(y.numpy(), reference(x, w, b, 1e-5)[0], rtol=1e-3, atol=1e-3)
    for got, expected in zip((xt.grad, wt.grad, bt.grad), reference_gradients(x, w, g, 1e-5), strict=True):
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-3, atol=2e-3 * np.abs(expected).max())


def test_fast_path_only_where_it_applies():
    x = random((6, 3, 2, 2))
    bn = module(x.shape, "float64")
    with ndl.ops.use_fast_paths(False):  # the course's code, as every other test
        assert not isinstance(bn(tensor(x)).op, ops_norm.BatchNormTrain)
        assert not isinstance(ndl.ops.relu(tensor(x, requires_grad=True)).op, ops_norm.ReLUFast)
    with ndl.ops.use_fast_paths(True):
        # NumPy's device has no kernel; nor mixed dtypes: the course's code there
        numpy_bn = ndl.nn.BatchNorm2d(3, device=ndl.cpu_numpy(), dtype="float64")
        assert not isinstance(numpy_bn(ndl.Tensor(x, device=ndl.cpu_numpy())).op, ops_norm.BatchNormTrain)
        assert not isinstance(bn(tensor(x, "float32")).op, ops_norm.BatchNormTrain)
        assert not isinstance(ndl.ops.relu(ndl.Tensor(x, device=ndl.cpu_numpy(), requires_grad=True)).op,
                              ops_norm.ReLUFast)
        assert isinstance(ndl.nn.ReLU()(tensor(x, requires_grad=True)).op, ops_norm.ReLUFast)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(3, 5), (64, 40, 30)])
def test_relu_fast_path_values_and_gradients(shape, dtype):
    a = random(shape, 0)
    a[np.abs(a) < 1e-3] = 0.5  # away from the kink, for central differences
    g = random(shape, 1)
    at = tensor(a, dtype, requires_grad=True)
    with ndl.ops.use_fast_paths(True):
        out = ndl.ops.relu(at)
    assert isinstance(out.op, ops_norm.ReLUFast)
    out.backward(tensor(g, dtype))
    np.testing.assert_array_equal(out.numpy(), np.maximum(a, 0).astype(dtype))
    np.testing.assert_array_equal(at.grad.numpy(), np.where(a > 0, g, 0).astype(dtype))
    if a.size < 100:
        with ndl.ops.use_fast_paths(True):
            check_backward(ndl.ops.relu, a, device=CPU)
            # ReLUBackward's own gradient: the mask for g, zero for a
            check_backward(lambda x, y: ops_norm.ReLUBackward()(x, y), a, g, device=CPU)


def test_relu_backward_kernel_gives_zero_where_x_is_not_positive():
    x = np.array([np.nan, -1.0, 0.0, 2.0, -0.0, np.inf])
    g = np.array([1.0, np.inf, np.nan, 3.0, 4.0, 5.0])
    out = ops_norm.ReLUBackward()(tensor(x), tensor(g))
    np.testing.assert_array_equal(out.numpy(), [0.0, 0.0, 0.0, 3.0, 0.0, 5.0])


def test_second_derivative_is_refused_with_a_clear_error():
    x = tensor(random((4, 3)), requires_grad=True)
    w, b = tensor(np.ones(3), requires_grad=True), tensor(np.zeros(3), requires_grad=True)
    with ndl.ops.use_fast_paths(True):
        y, _, _ = ndl.ops.batch_norm(x, w, b, tensor(np.zeros(3)), tensor(np.ones(3)), training=True,
                                     momentum=0.1, eps=1e-5)
        with pytest.raises(NotImplementedError, match="use_fast_paths"):
            (y * y).sum().backward(create_graph=True)
            x.grad.sum().backward()


def arrays(*sizes, dtype="float32"):
    return [CPU.mod.Array(n, dtype) for n in sizes]


def test_kernels_reject_bad_arguments_naming_them():
    mod = CPU.mod
    x, out, w, b, mean, var, inv = arrays(24, 24, 3, 3, 3, 3, 3)
    mod.batch_norm_train(x, w, b, out, mean, var, inv, 2, 3, 4, 1e-5)  # fine
    with pytest.raises(ValueError, match="eps"):
        mod.batch_norm_train(x, w, b, out, mean, var, inv, 2, 3, 4, -1.0)
    with pytest.raises(ValueError, match="eps"):
        mod.batch_norm_eval(x, w, b, mean, var, out, inv, 2, 3, 4, float("nan"))
    with pytest.raises(ValueError, match="outer -1 is negative"):
        mod.batch_norm_train(x, w, b, out, mean, var, inv, -1, 3, 4, 1e-5)
    with pytest.raises(ValueError, match="x holds 24 elements, expected at least 30"):
        mod.batch_norm_train(x, w, b, out, mean, var, inv, 2, 3, 5, 1e-5)
    with pytest.raises(ValueError, match="weight holds 3 elements, expected at least 4"):
        mod.batch_norm_train(*arrays(32, 3), b, *arrays(32, 4, 4, 4), 2, 4, 4, 1e-5)
    with pytest.raises(ValueError, match="no values"):
        mod.batch_norm_train(x, w, b, out, mean, var, inv, 0, 3, 4, 1e-5)
    (x64,) = arrays(24, dtype="float64")
    with pytest.raises(TypeError, match="float32 and float64"):
        mod.batch_norm_train(x, w, b, x64, mean, var, inv, 2, 3, 4, 1e-5)
    with pytest.raises(ValueError, match="dbias holds 3 elements, expected at least 6"):
        mod.batch_norm_backward(*arrays(24, 24, 6, 6, 6, 24, 6, 3), 2, 6, 2, True)
    with pytest.raises(TypeError, match="differ"):
        mod.relu_backward(x, x64, out, 24)
    with pytest.raises(ValueError, match="out holds 24 elements, expected at least 25"):
        mod.relu_backward(*arrays(25, 25), out, 25)
    with pytest.raises(ValueError, match="size -2 is negative"):
        mod.relu_backward(x, x, out, -2)


def test_captured_steps_with_the_fused_ops_equal_eager_ones():
    # ndl.capture replays the fused kernels (BatchNorm1d's running statistics included), bit for bit
    import test_capture
    with ndl.ops.use_fast_paths(True):
        net, _, _ = test_capture.trainer(ndl.optim.SGD, lr=0.1, batchnorm=True)
        assert isinstance(net.modules_[1](ndl.Tensor(random((8, 16)), dtype="float32")).op,
                          ops_norm.BatchNormTrain)
        step, (eager, captured) = test_capture.train_both(ndl.optim.SGD, test_capture.batches(6, 8, 6, 3),
                                                          lr=0.1, batchnorm=True)
    assert step.replayed == 3 and step.reason is None
    assert captured[0] == eager[0]
    for name in eager[1]:
        np.testing.assert_array_equal(captured[1][name], eager[1][name], err_msg=name)
