"""Given code: the fused fast paths of ``nn.SoftmaxLoss`` and ``nn.Linear`` (``ops_fused.py``).

``SoftmaxCrossEntropy`` and ``LinearBias`` against NumPy (and PyTorch where installed), their
gradients by central differences, in float64 and float32, on ``ndl.cpu()`` (the C++ kernels,
with inputs big enough for their OpenMP paths) and ``ndl.cpu_numpy()`` (the NDArray fallback);
the kernels' errors; and that the modules take the fused ops only while fast paths are on (the
tests' default is off, so that the other tests grade your ``SoftmaxLoss`` and ``Linear``).
"""
import needle as ndl
import numpy as np
import pytest
from needle.ops import ops_fused
from needle_testing import check_backward
from torch_reference import needs_torch, to_torch, torch

# Given code, but every test here also runs the NDArray layer and ops you write (hw1-hw3), so in a
# handout it may fail on their stubs until you fill them in.
pytestmark = pytest.mark.student_backend

DEVICES = pytest.mark.parametrize("device", [ndl.cpu(), ndl.cpu_numpy()], ids=["cpu", "cpu_numpy"])


def xent_reference(z, y):
    """Mean cross-entropy of logits ``z`` (n, k) and int labels ``y``, and its gradient, in float64."""
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    n = z.shape[0]
    grad = np.exp(z - lse[:, None])
    grad[np.arange(n), y] -= 1
    return (lse - z[np.arange(n), y]).mean(), grad / n


def problem(n, k, seed, scale=3.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, k)) * scale, rng.integers(0, k, size=n)


@DEVICES
@pytest.mark.parametrize("n,k", [(5, 7), (3, 1), (1, 4), (6, 33)])
def test_softmax_cross_entropy_values_and_gradients(device, n, k):
    z, y = problem(n, k, seed=n * 100 + k)
    labels = ndl.Tensor(y.astype(np.float64), device=device, dtype="float64")
    out = check_backward(lambda t: ops_fused.softmax_cross_entropy(t, labels), z, device=device)
    assert isinstance(out.op, ops_fused.SoftmaxCrossEntropy) and out.shape == ()
    loss, grad = xent_reference(z, y)
    np.testing.assert_allclose(out.numpy(), loss, rtol=1e-12)
    zt = ndl.Tensor(z, device=device, dtype="float64", requires_grad=True)
    ops_fused.softmax_cross_entropy(zt, labels).backward()
    np.testing.assert_allclose(zt.grad.numpy(), grad, rtol=1e-10, atol=1e-14)


@DEVICES
def test_softmax_cross_entropy_gradient_op_differentiates(device):
    # second order: SoftmaxCrossEntropyBackward's own gradient (ordinary ops) in Z and in g
    z, y = problem(4, 6, seed=3)
    labels = ndl.Tensor(y.astype(np.float64), device=device, dtype="float64")
    out = check_backward(lambda t, g: ops_fused.SoftmaxCrossEntropyBackward()(t, labels, g), z,
                         np.array(1.7), device=device)
    np.testing.assert_allclose(out.numpy(), 1.7 * xent_reference(z, y)[1], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype,rtol", [("float32", 2e-5), ("float64", 1e-12)])
def test_softmax_cross_entropy_large_on_every_thread(dtype, rtol):
    # 700 x 3000 logits (a language model's): the kernels' OpenMP paths; one far-off row of
    # logits near 1e4 (float32) that a naive exp would overflow
    z, y = problem(700, 3000, seed=7, scale=4.0)
    z[3] += 1e4
    zt = ndl.Tensor(z, device=ndl.cpu(), dtype=dtype, requires_grad=True)
    labels = ndl.Tensor(y, device=ndl.cpu(), dtype=dtype)
    out = ops_fused.softmax_cross_entropy(zt, labels)
    out.backward()
    loss, grad = xent_reference(zt.numpy(), y)
    assert out.dtype == np.dtype(dtype) and zt.grad.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out.numpy(), loss, rtol=rtol)
    atol = 1e-9 if dtype == "float32" else 1e-16
    np.testing.assert_allclose(np.delete(zt.grad.numpy(), 3, axis=0), np.delete(grad, 3, axis=0),
                               rtol=rtol * 10, atol=atol)
    # row 3's logsumexp near 1e4 is rounded to float32's spacing there (1e-3): exp(z - lse) within 1e-3
    np.testing.assert_allclose(zt.grad.numpy()[3], grad[3], rtol=1e-3 if dtype == "float32" else 1e-11,
                               atol=atol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_cross_entropy_nan_logit_gives_nan_loss(dtype):
    z, y = problem(64, 1000, seed=8)
    z[5, 17] = np.nan
    zt = ndl.Tensor(z, device=ndl.cpu(), dtype=dtype, requires_grad=True)
    out = ops_fused.softmax_cross_entropy(zt, ndl.Tensor(y, device=ndl.cpu(), dtype=dtype))
    assert np.isnan(out.numpy())
    out.backward()
    grad = zt.grad.numpy()
    assert np.isnan(grad).any()
    _, expected = xent_reference(np.delete(z, 5, axis=0), np.delete(y, 5))
    np.testing.assert_allclose(np.delete(grad, 5, axis=0), expected * 63 / 64, rtol=1e-4, atol=1e-8)


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_cross_entropy_matches_torch(dtype):
    z, y = problem(200, 500, seed=9)
    zt = ndl.Tensor(z, device=ndl.cpu(), dtype=dtype, requires_grad=True)
    out = ops_fused.softmax_cross_entropy(zt, ndl.Tensor(y, device=ndl.cpu(), dtype=dtype))
    out.backward()
    ref_z = to_torch(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(ref_z, torch.tensor(y))
    ref.backward()
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out.numpy(), ref.item(), rtol=tol)
    np.testing.assert_allclose(zt.grad.numpy(), ref_z.grad.numpy(), rtol=tol * 10, atol=tol / 100)


def test_softmax_cross_entropy_rejects_bad_shapes_and_labels():
    z = ndl.Tensor(np.zeros((3, 4)), device=ndl.cpu())
    with pytest.raises(ValueError, match=r"expected logits \(N, k\), got shape \(12,\)"):
        ops_fused.softmax_cross_entropy(z.reshape((12,)), ndl.Tensor(np.zeros(12), device=ndl.cpu()))
    with pytest.raises(ValueError, match=r"expected labels of shape \(3,\) for logits \(3, 4\), got \(2,\)"):
        ops_fused.softmax_cross_entropy(z, ndl.Tensor(np.zeros(2), device=ndl.cpu()))
    for bad, shown in [(4.0, "4"), (-1.0, "-1"), (2.5, "2.5"), (np.nan, "nan")]:
        with pytest.raises(ValueError, match=f"softmax_xent_forward: label {shown} at row 1 is not an "
                                             r"integer in 0\.\.3"):
            ops_fused.softmax_cross_entropy(z, ndl.Tensor(np.array([0.0, bad, 1.0]), device=ndl.cpu()))


def test_cpu_fused_kernels_check_their_arguments():
    from needle.backend_ndarray import NDArray
    mod = ndl.cpu().mod
    z, y = NDArray(np.zeros((3, 4)), device=ndl.cpu()), NDArray(np.array([0.0, 1.0, 3.0]), device=ndl.cpu())
    short = NDArray(np.zeros(2), device=ndl.cpu())
    out, lse = NDArray(np.zeros(3), device=ndl.cpu()), NDArray(np.zeros(3), device=ndl.cpu())
    with pytest.raises(ValueError, match="softmax_xent_forward: lse holds 2 elements, expected at least 3"):
        mod.softmax_xent_forward(z._handle, y._handle, out._handle, short._handle, 3, 4)
    with pytest.raises(ValueError, match="softmax_xent_forward: logits holds 12 elements, expected at least"):
        mod.softmax_xent_forward(z._handle, y._handle, out._handle, lse._handle, 3, 5)
    with pytest.raises(ValueError, match="softmax_xent_forward: k must be positive"):
        mod.softmax_xent_forward(z._handle, y._handle, out._handle, lse._handle, 3, 0)
    with pytest.raises(ValueError, match=r"softmax_xent_backward: label 3 at row 2 is not an integer in "
                                         r"0\.\.2"):
        mod.softmax_xent_backward(z._handle, y._handle, lse._handle, lse._handle, 1.0, z._handle, 3, 3)
    with pytest.raises(TypeError, match="dtypes float64 and float32 differ"):
        mod.softmax_xent_forward(z._handle, NDArray(np.zeros(3), device=ndl.cpu(), dtype="float32")._handle,
                                 out._handle, lse._handle, 3, 4)
    with pytest.raises(ValueError, match="add_row_bias: b holds 2 elements, expected at least 4"):
        mod.add_row_bias(z._handle, short._handle, 3, 4)
    with pytest.raises(ValueError, match="add_row_bias: out holds 12 elements, expected at least 15"):
        mod.add_row_bias(z._handle, lse._handle, 5, 3)


@DEVICES
@pytest.mark.parametrize("n,i,o", [(4, 3, 5), (1, 2, 1), (7, 9, 33)])
def test_linear_bias_values_and_gradients(device, n, i, o):
    rng = np.random.default_rng(n * i * o)
    x, w, b = rng.standard_normal((n, i)), rng.standard_normal((i, o)), rng.standard_normal(o)
    out = check_backward(ops_fused.linear_bias, x, w, b, device=device)
    assert isinstance(out.op, ops_fused.LinearBias)
    np.testing.assert_allclose(out.numpy(), x @ w + b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype,tol", [("float32", 1e-4), ("float64", 1e-11)])
def test_linear_bias_large_on_every_thread(dtype, tol):
    # 300 x 400 outputs: add_row_bias's OpenMP path
    rng = np.random.default_rng(10)
    x, w, b, g = (rng.standard_normal((300, 64)), rng.standard_normal((64, 400)), rng.standard_normal(400),
                  rng.standard_normal((300, 400)))
    ts = [ndl.Tensor(a, device=ndl.cpu(), dtype=dtype, requires_grad=True) for a in (x, w, b)]
    out = ops_fused.linear_bias(*ts)
    out.backward(ndl.Tensor(g, device=ndl.cpu(), dtype=dtype))
    np.testing.assert_allclose(out.numpy(), x @ w + b, rtol=tol, atol=tol)
    for t, expected in zip(ts, (g @ w.T, x.T @ g, g.sum(axis=0)), strict=True):
        np.testing.assert_allclose(t.grad.numpy(), expected, rtol=tol, atol=tol * 10)


def test_linear_bias_rejects_bad_shapes():
    x, w = ndl.Tensor(np.zeros((2, 3))), ndl.Tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"got shapes \(2, 3\), \(3, 4\) and \(3,\)"):
        ops_fused.linear_bias(x, w, ndl.Tensor(np.zeros(3)))
    with pytest.raises(ValueError, match=r"got shapes \(2, 3\), \(2, 3\) and \(3,\)"):
        ops_fused.linear_bias(x, x, ndl.Tensor(np.zeros(3)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_modules_take_the_fused_ops_only_with_fast_paths_on(dtype):
    # conftest turns fast paths off: the modules run your ops; on, the fused ones, same values
    assert not ndl.ops.fast_paths_enabled()
    rng = np.random.default_rng(11)
    x, y, w, b = (rng.standard_normal((8, 5)), rng.integers(0, 6, size=8), rng.standard_normal((5, 6)),
                  rng.standard_normal(6))
    results = {}
    for fast in (False, True):
        with ndl.ops.use_fast_paths(fast):
            layer = ndl.nn.Linear(5, 6, device=ndl.cpu(), dtype=dtype)
            layer.weight = ndl.nn.Parameter(w, device=ndl.cpu(), dtype=dtype)
            layer.bias = ndl.nn.Parameter(b, device=ndl.cpu(), dtype=dtype)
            logits = layer(ndl.Tensor(x, device=ndl.cpu(), dtype=dtype))
            assert (type(logits.op) is ops_fused.LinearBias) == fast
            for labels in (list(y), y, ndl.Tensor(y, device=ndl.cpu(), dtype=dtype)):
                loss = ndl.nn.SoftmaxLoss()(logits, labels)
                assert (type(loss.op) is ops_fused.SoftmaxCrossEntropy) == fast
            loss.backward()
            results[fast] = (loss.numpy(), layer.weight.grad.numpy(), layer.bias.grad.numpy())
    assert not ndl.ops.fast_paths_enabled()
    tol = 1e-5 if dtype == "float32" else 1e-12
    for slow, quick in zip(results[False], results[True], strict=True):
        np.testing.assert_allclose(quick, slow, rtol=tol, atol=tol)


def test_modules_keep_the_course_ops_without_the_kernels():
    # cpu_numpy() has no fused kernels: the modules run the course's ops even with fast paths on
    with ndl.ops.use_fast_paths(True):
        layer = ndl.nn.Linear(3, 4, device=ndl.cpu_numpy())
        logits = layer(ndl.Tensor(np.ones((2, 3)), device=ndl.cpu_numpy()))
        loss = ndl.nn.SoftmaxLoss()(logits, ndl.Tensor([1, 3], device=ndl.cpu_numpy()))
    assert type(logits.op) is not ops_fused.LinearBias
    assert type(loss.op) is not ops_fused.SoftmaxCrossEntropy


def test_a_captured_step_with_the_fused_ops_equals_eager_bit_for_bit():
    # ndl.capture replays the fused kernels too: the labels are a device argument, the loss's
    # adjoint stays on the device (no host read), so every replay computes what eager steps do
    rng = np.random.default_rng(12)
    data = [(rng.standard_normal((8, 6)), rng.integers(0, 5, size=8)) for _ in range(6)]
    runs = []
    with ndl.ops.use_fast_paths(True):
        for captured in (False, True):
            ndl.manual_seed(0)
            net = ndl.nn.Sequential(ndl.nn.Linear(6, 16), ndl.nn.ReLU(), ndl.nn.Linear(16, 5))
            opt, loss_fn = ndl.optim.SGD(net.parameters(), lr=0.1), ndl.nn.SoftmaxLoss()

            def step(x, t, net=net, opt=opt, loss_fn=loss_fn):
                opt.zero_grad()
                loss = loss_fn(net(x), t)
                assert type(loss.op) is ops_fused.SoftmaxCrossEntropy
                loss.backward()
                opt.step()
                return loss
            run = ndl.capture(step, state=(net, opt)) if captured else step
            losses = [run(ndl.Tensor(x, dtype="float32"), ndl.Tensor(t, dtype="float32")).numpy().item()
                      for x, t in data]
            runs.append((losses, {k: np.array(v) for k, v in net.state_dict().items()}))
    assert run.replayed == 3 and run.reason is None
    assert runs[0][0] == runs[1][0] and runs[0][0][-1] != runs[0][0][-2]
    for name in runs[0][1]:
        np.testing.assert_array_equal(runs[1][1][name], runs[0][1][name], err_msg=name)
