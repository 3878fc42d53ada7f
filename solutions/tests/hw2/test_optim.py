"""Public tests for hw2 question 4: optimisers step by step against NumPy references of
PyTorch's update rules, and against torch.optim itself where installed."""
import needle as ndl
import numpy as np
import pytest
from torch_reference import needs_torch, torch

W0 = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
TARGET = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)


def run_needle(make_optimizer, steps):
    """Minimise sum((w - target)^4) for ``steps`` steps; the weights after each step."""
    w = ndl.nn.Parameter(W0.copy())
    opt = make_optimizer([w])
    trajectory = []
    for _ in range(steps):
        opt.zero_grad()
        ((w - ndl.Tensor(TARGET)) ** 4).sum().backward()
        opt.step()
        trajectory.append(w.numpy().copy())
    return trajectory


def grad(w):
    return 4 * (w - TARGET) ** 3


def reference_sgd(lr, momentum, weight_decay, steps):
    w, v, out = W0.astype(np.float64), None, []
    for _ in range(steps):
        g = grad(w) + weight_decay * w
        v = g if v is None or not momentum else momentum * v + g
        w = w - lr * v
        out.append(w)
    return out


def reference_adam(lr, b1, b2, eps, weight_decay, steps):
    w, m, v, out = W0.astype(np.float64), 0.0, 0.0, []
    for t in range(1, steps + 1):
        g = grad(w) + weight_decay * w
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        out.append(w)
    return out


@pytest.mark.question(4)
@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.5, 0.01)])
def test_sgd_follows_pytorchs_update_rule(momentum, weight_decay):
    ours = run_needle(lambda p: ndl.optim.SGD(p, lr=0.01, momentum=momentum, weight_decay=weight_decay), 4)
    for got, want in zip(ours, reference_sgd(0.01, momentum, weight_decay, 4), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.question(4)
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_follows_the_paper_with_bias_correction(weight_decay):
    ours = run_needle(lambda p: ndl.optim.Adam(p, lr=0.05, weight_decay=weight_decay), 5)
    for got, want in zip(ours, reference_adam(0.05, 0.9, 0.999, 1e-8, weight_decay, 5), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.question(4)
@pytest.mark.parametrize("make", [lambda p: ndl.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1),
                                  lambda p: ndl.optim.Adam(p, lr=0.1, weight_decay=0.1)])
def test_step_neither_changes_grad_nor_grows_the_graph(make):
    w = ndl.nn.Parameter(W0.copy())
    opt = make([w])
    (w * w).sum().backward()
    grad_before, values = w.grad, w.grad.numpy().copy()
    opt.step()
    assert w.grad is grad_before
    np.testing.assert_array_equal(w.grad.numpy(), values)
    assert w.is_leaf() and w.inputs == [] and w.requires_grad and w.dtype == np.float32


@pytest.mark.question(4)
def test_clip_grad_norm_scales_to_the_bound_and_returns_the_norm():
    a, b = ndl.nn.Parameter(np.ones((2, 2), np.float32)), ndl.nn.Parameter(np.ones(3, np.float32))
    (a * 3.0).sum().backward()
    (b * 4.0).sum().backward()
    old = a.grad
    norm = ndl.optim.clip_grad_norm([a, b], max_norm=2.0)
    np.testing.assert_allclose(norm, np.sqrt(4 * 9 + 3 * 16), rtol=1e-6)
    total = np.sqrt((a.grad.numpy() ** 2).sum() + (b.grad.numpy() ** 2).sum())
    np.testing.assert_allclose(total, 2.0, rtol=1e-5)
    np.testing.assert_array_equal(old.numpy(), np.full((2, 2), 3.0))  # replaced, not changed
    assert ndl.optim.clip_grad_norm([a, b], max_norm=100.0) == pytest.approx(2.0, rel=1e-5)


@pytest.mark.question(4)
def test_step_lr_schedule():
    opt = ndl.optim.SGD([ndl.nn.Parameter(np.zeros(1, np.float32))], lr=1.0)
    scheduler = ndl.optim.StepLR(opt, step_size=2, gamma=0.5)
    rates = []
    for _ in range(5):
        scheduler.step()
        rates.append(opt.lr)
    assert rates == [1.0, 0.5, 0.5, 0.25, 0.25]


def test_optimizers_reject_bad_arguments():
    with pytest.raises(ValueError, match="empty parameter list"):
        ndl.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="lr must be >= 0, got -1"):
        ndl.optim.Adam([ndl.nn.Parameter(np.zeros(1))], lr=-1)


@needs_torch
@pytest.mark.question(4)
def test_optimizers_match_torch_optim():
    for ours_make, theirs_make in [
            (lambda p: ndl.optim.SGD(p, lr=0.01, momentum=0.9, weight_decay=0.01),
             lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, weight_decay=0.01)),
            (lambda p: ndl.optim.Adam(p, lr=0.05, weight_decay=0.01),
             lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.01))]:
        ours = run_needle(ours_make, 5)
        w = torch.tensor(W0.astype(np.float64), requires_grad=True)
        opt = theirs_make([w])
        for step in range(5):
            opt.zero_grad()
            ((w - torch.tensor(TARGET.astype(np.float64))) ** 4).sum().backward()
            opt.step()
            np.testing.assert_allclose(ours[step], w.detach().numpy(), rtol=1e-4, atol=1e-5)
