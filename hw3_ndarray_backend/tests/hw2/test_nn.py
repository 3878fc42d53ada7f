"""Public tests for hw2 questions 1-3: log-sum-exp, initialisers and modules, against NumPy
references and, where installed, PyTorch with the same weights copied in."""
import gc
import weakref

import needle as ndl
import needle.nn as nn
import numpy as np
import pytest
from needle_testing import assert_grads_close, check_backward, check_op_gradient
from torch_reference import needs_torch, to_torch, torch


def rand(seed, *shape, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def reference_logsumexp(z, axes):
    z_max = np.max(z, axis=axes, keepdims=True)
    return np.squeeze(np.log(np.sum(np.exp(z - z_max), axis=axes, keepdims=True)) + z_max, axis=axes)


# ---- Question 1: LogSumExp and LogSoftmax -----------------------------------------------------

@pytest.mark.question(1)
@pytest.mark.parametrize("axes", [None, 0, 1, (0, 2), (-1,)])
def test_logsumexp_matches_numpy(axes):
    z = rand(1, 2, 3, 4)
    out = ndl.logsumexp(ndl.Tensor(z), axes).numpy()
    np.testing.assert_allclose(out, reference_logsumexp(z, axes if axes is not None else (0, 1, 2)),
                               rtol=1e-10)


@pytest.mark.question(1)
def test_logsumexp_is_stable_for_large_inputs():
    z = rand(2, 3, 5) + 1e4
    out = ndl.logsumexp(ndl.Tensor(z), (1,)).numpy()
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, reference_logsumexp(z - 1e4, 1) + 1e4, rtol=1e-12)


@pytest.mark.question(1)
@pytest.mark.parametrize("axes", [None, 1, (0, 2)])
def test_logsumexp_gradient(axes):
    check_op_gradient(lambda z: ndl.logsumexp(z, axes), rand(3, 2, 3, 4) * 3)


@pytest.mark.question(1)
def test_logsoftmax_forward_and_gradient():
    z = rand(4, 5, 6) * 5
    expected = z - reference_logsumexp(z, 1)[:, None]
    np.testing.assert_allclose(ndl.logsoftmax(ndl.Tensor(z + 1e3)).numpy(), expected, rtol=1e-9, atol=1e-9)
    check_op_gradient(ndl.logsoftmax, z)


@pytest.mark.question(1)
@needs_torch
def test_logsumexp_matches_torch():
    z = rand(5, 4, 7) * 10
    x = ndl.Tensor(z, requires_grad=True)
    ndl.logsumexp(x, (1,)).sum().backward()
    t = to_torch(z, requires_grad=True)
    torch.logsumexp(t, dim=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10)


# ---- Question 2: initialisers (tested by their statistics) ------------------------------------

@pytest.mark.question(2)
@pytest.mark.parametrize("name, kwargs, bound, std", [
    ("xavier_uniform", {"gain": 2.0}, 2.0 * np.sqrt(6 / 500), 2.0 * np.sqrt(6 / 500) / np.sqrt(3)),
    ("xavier_normal", {"gain": 0.5}, None, 0.5 * np.sqrt(2 / 500)),
    ("kaiming_uniform", {}, np.sqrt(2) * np.sqrt(3 / 200), np.sqrt(2) * np.sqrt(3 / 200) / np.sqrt(3)),
    ("kaiming_normal", {}, None, np.sqrt(2) / np.sqrt(200)),
    ("uniform", {"low": -3.0, "high": 1.0}, None, 4 / np.sqrt(12)),
    ("normal", {"mean": 2.0, "std": 0.3}, None, 0.3),
])
def test_initialiser_statistics(name, kwargs, bound, std):
    w = getattr(ndl.init, name)(200, 300, rng=np.random.default_rng(0), **kwargs).numpy()
    assert w.shape == (200, 300) and w.dtype == np.float32
    if bound is not None:
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    np.testing.assert_allclose(w.std(), std, rtol=0.02)  # 60,000 samples: ~0.3% standard error
    expected_mean = {"uniform": -1.0, "normal": 2.0}.get(name, 0.0)
    assert abs(w.mean() - expected_mean) < 0.02 * max(std, 1)


@pytest.mark.question(2)
def test_kaiming_gain_follows_the_nonlinearity():
    relu = ndl.init.kaiming_normal(400, 400, rng=np.random.default_rng(1)).numpy().std()
    linear = ndl.init.kaiming_normal(400, 400, nonlinearity="linear",
                                     rng=np.random.default_rng(1)).numpy().std()
    np.testing.assert_allclose(relu / linear, np.sqrt(2), rtol=1e-5)


@pytest.mark.question(2)
@pytest.mark.parametrize("name", ["uniform", "normal", "xavier_uniform", "xavier_normal",
                                  "kaiming_uniform", "kaiming_normal"])
def test_initialiser_shape_keyword_sets_the_layout_and_the_fans_the_scale(name):
    """CMU needle's ``shape=``: the same 24 draws as ``(fan_in, fan_out) = (6, 4)``, laid out as
    ``(2, 3, 4)`` (so the scale still comes from the fans)."""
    init = getattr(ndl.init, name)
    flat = init(6, 4, rng=np.random.default_rng(3)).numpy()
    shaped = init(6, 4, shape=(2, 3, 4), rng=np.random.default_rng(3)).numpy()
    assert shaped.shape == (2, 3, 4) and shaped.dtype == np.float32
    np.testing.assert_array_equal(shaped, flat.reshape(2, 3, 4))


@pytest.mark.parametrize("shape, error, message", [
    ((2, 0), ValueError, r"shape\[1\] must be a positive integer, got 0"),
    ((2, 1.5), TypeError, r"shape\[1\] must be a positive integer, got 1.5"),
    (6, TypeError, "shape must be a tuple of ints, got int"),
])
def test_initialiser_shape_keyword_rejects_bad_shapes(shape, error, message):
    with pytest.raises(error, match=message):
        ndl.init.kaiming_uniform(6, 4, shape=shape)


def test_calculate_gain_names_an_unknown_nonlinearity():
    with pytest.raises(ValueError, match="unknown nonlinearity 'gelu'"):
        ndl.init.calculate_gain("gelu")


# ---- Question 3: modules ----------------------------------------------------------------------

class TwoParams(nn.Module):
    """A test-local module (given code only): parameters in attributes and in a list."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(np.ones((2, 3), dtype=np.float32))
        self.inner = [nn.Identity(), Holder()]
        self.register_buffer("count", ndl.Tensor(np.zeros(1, dtype=np.float32)))


class Holder(nn.Module):
    def __init__(self):
        super().__init__()
        self.b = nn.Parameter(np.full(4, 2.0, dtype=np.float32))


def test_module_finds_parameters_buffers_and_modes():
    module = TwoParams()
    assert [name for name, _ in module.named_parameters()] == ["a", "inner.1.b"]
    assert len(module.parameters()) == 2 and all(p.requires_grad for p in module.parameters())
    module.eval()
    assert not any(m.training for m in module.modules())
    module.train()
    assert all(m.training for m in module.modules())


def test_state_dict_round_trip_and_errors():
    source, target = TwoParams(), TwoParams()
    source.a.data = ndl.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    state = source.state_dict()
    assert list(state) == ["a", "inner.1.b", "count"]
    target.load_state_dict(state)
    np.testing.assert_array_equal(target.a.numpy(), np.arange(6).reshape(2, 3))
    with pytest.raises(KeyError, match=r"missing keys \['count'\]"):
        target.load_state_dict({"a": state["a"], "inner.1.b": state["inner.1.b"]})
    with pytest.raises(ValueError, match=r"a has shape \(3, 2\), expected \(2, 3\)"):
        target.load_state_dict({**state, "a": np.zeros((3, 2))})


@pytest.mark.question(3)
def test_a_wrong_op_inside_a_module_is_named_by_its_gradient_test(monkeypatch):
    def doubled(self, out_grad, node):  # a planted bug: the weight's adjoint twice too big
        a, b = node.inputs
        return out_grad @ ndl.transpose(b), (ndl.transpose(a) @ out_grad) * 2.0
    monkeypatch.setattr(ndl.ops.MatMul, "gradient", doubled)
    ndl.manual_seed(0)
    layer = nn.Linear(4, 3)
    x = rand(1, 5, 4).astype(np.float32)
    loss = layer(ndl.Tensor(x)).sum()
    loss.backward()
    with pytest.raises(AssertionError, match=r"MatMul\.gradient.* is wrong: the adjoint of input 1 "
                                             r"differs .*; input shapes: \(5, 4\), \(4, 3\)"):
        assert_grads_close(loss, [layer.weight], [np.repeat(x.sum(0)[:, None], 3, 1)], rtol=1e-5,
                           names=["weight"])


@pytest.mark.question(3)
def test_linear_forward_backward_and_initialisation():
    ndl.manual_seed(0)
    layer = nn.Linear(7, 5)
    assert layer.weight.shape == (7, 5) and layer.bias.shape == (5,)
    assert np.abs(layer.weight.numpy()).max() <= np.sqrt(6 / 7)
    assert np.abs(layer.bias.numpy()).max() <= 1 / np.sqrt(7)
    x = rand(2, 4, 7).astype(np.float32)
    out = layer(ndl.Tensor(x))
    # float32 sums of 7 terms: near zero only an absolute tolerance holds
    expected = x @ layer.weight.numpy() + layer.bias.numpy()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    loss = out.sum()
    loss.backward()
    # On a mismatch the message names the first op of the graph whose gradient is wrong.
    assert_grads_close(loss, [layer.bias], [np.full(5, 4.0)], names=["bias"])
    assert_grads_close(loss, [layer.weight], [np.repeat(x.sum(0)[:, None], 5, 1)], rtol=1e-5,
                       names=["weight"])


@pytest.mark.question(3)
def test_batchnorm1d_training_and_running_statistics():
    bn = nn.BatchNorm1d(4, momentum=0.2)
    running_mean, running_var = np.zeros(4), np.ones(4)
    for seed in range(3):
        x = rand(seed, 6, 4, scale=2.0) + seed
        out = bn(ndl.Tensor(x)).numpy()
        mean, var = x.mean(0), x.var(0)
        np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-6, atol=1e-6)
        running_mean = 0.8 * running_mean + 0.2 * mean
        running_var = 0.8 * running_var + 0.2 * x.var(0, ddof=1)  # unbiased, as PyTorch
    np.testing.assert_allclose(bn.running_mean.numpy(), running_mean, rtol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), running_var, rtol=1e-6)
    bn.eval()
    x = rand(9, 3, 4)
    np.testing.assert_allclose(bn(ndl.Tensor(x)).numpy(), (x - running_mean) / np.sqrt(running_var + 1e-5),
                               rtol=1e-6)
    assert set(bn.state_dict()) == {"weight", "bias", "running_mean", "running_var"}


@pytest.mark.question(3)
def test_layernorm1d_forward_and_gradient():
    ln = nn.LayerNorm1d(6)
    x = rand(3, 5, 6) * 3 + 1
    expected = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(ln(ndl.Tensor(x)).numpy(), expected, rtol=1e-6, atol=1e-7)
    check_backward(ln, x)


@pytest.mark.question(3)
def test_dropout_rate_scaling_and_evaluation():
    ndl.manual_seed(3)
    drop = nn.Dropout(0.3)
    out = drop(ndl.Tensor(np.ones((400, 500), dtype=np.float32))).numpy()
    zero = out == 0
    assert abs(zero.mean() - 0.3) < 0.005  # 200,000 draws: standard error 0.001
    np.testing.assert_allclose(out[~zero], 1 / 0.7, rtol=1e-6)
    drop.eval()
    np.testing.assert_array_equal(drop(ndl.Tensor(np.ones((3, 3)))).numpy(), np.ones((3, 3)))


@pytest.mark.question(3)
def test_softmax_loss_flatten_sequential_residual():
    logits, y = rand(5, 6, 4) * 3, np.array([0, 3, 1, 2, 3, 0])
    loss = nn.SoftmaxLoss()(ndl.Tensor(logits), ndl.Tensor(y))
    expected = np.mean(reference_logsumexp(logits, 1) - logits[np.arange(6), y])
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-10)
    x = ndl.Tensor(rand(6, 2, 3, 4))
    assert nn.Flatten()(x).shape == (2, 12)
    model = nn.Sequential(nn.Flatten(), nn.ReLU(), nn.Residual(nn.ReLU()))
    np.testing.assert_allclose(model(x).numpy(), 2 * np.maximum(x.numpy().reshape(2, 12), 0))


@pytest.mark.question(3)
def test_a_training_step_leaves_no_graph_alive():
    ndl.manual_seed(4)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 3))
    opt = ndl.optim.Adam(model.parameters(), lr=0.01)
    x, y = ndl.Tensor(rand(7, 10, 5).astype(np.float32)), ndl.Tensor(np.arange(10) % 3)
    for _ in range(2):
        opt.zero_grad()
        loss = nn.SoftmaxLoss()(model(x), y)
        loss.backward()
        opt.step()
    alive = weakref.ref(loss)
    del loss
    gc.collect()
    assert alive() is None, "something still holds the last step's graph"
    for p in model.parameters():
        assert p.is_leaf() and p.inputs == [] and p.grad.op is None
    bn = model.modules_[1]
    assert bn.running_mean.op is None and bn.running_var.op is None


@needs_torch
@pytest.mark.question(3)
def test_modules_match_torch_with_copied_weights():
    ndl.manual_seed(5)
    x = rand(8, 6, 5)
    ours = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 4), nn.LayerNorm1d(4))
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
                                 torch.nn.Linear(4, 4), torch.nn.LayerNorm(4)).double()
    with torch.no_grad():
        for i in (0, 3):
            theirs[i].weight.copy_(torch.tensor(ours.modules_[i].weight.numpy().T))
            theirs[i].bias.copy_(torch.tensor(ours.modules_[i].bias.numpy()))
    X, T = ndl.Tensor(x.astype(np.float32)), to_torch(x)
    y = np.array([0, 1, 2, 3, 0, 1])
    loss = nn.SoftmaxLoss()(ours(X), ndl.Tensor(y))
    torch_loss = torch.nn.functional.cross_entropy(theirs(T), torch.tensor(y))
    np.testing.assert_allclose(loss.numpy(), torch_loss.item(), rtol=1e-5)
    loss.backward()
    torch_loss.backward()
    assert_grads_close(loss, [ours.modules_[i].weight for i in (0, 3)],
                       [theirs[i].weight.grad.numpy().T for i in (0, 3)], rtol=1e-4, atol=1e-6,
                       names=["Linear 0's weight", "Linear 3's weight"])
    np.testing.assert_allclose(ours.modules_[1].running_var.numpy(), theirs[1].running_var.numpy(), rtol=1e-5)
