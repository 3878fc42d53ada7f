"""Given code: ``ndl.capture``, a training step recorded and replayed without Python dispatch.

Each test trains two copies of one model from the same seed on the same batches, one eagerly
and one captured, and requires the same losses and parameters after every step, bit for bit:
a replay runs the very kernels, in the same order, on the same values. The steps that a replay
would get wrong (a number or a host array that changes from step to step) must stay eager, with
a warning that names the kernel call that differs.
"""
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import needle as ndl
import needle.nn as nn
import numpy as np
import pytest

# Given code, but it trains with the student's modules, ops and NDArray layer: a raw handout
# fails these tests on its stubs.
pytestmark = pytest.mark.student_backend


@contextmanager
def warns(pattern: str) -> Iterator[None]:
    """``pytest.warns(RuntimeWarning, match=pattern)``, except that an exception raised in the
    block (a stub's NotImplementedError) comes out as itself: pytest.warns reports it as "DID NOT
    WARN", which would hide which function to write."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert any(re.search(pattern, m) for m in messages), \
        f"no RuntimeWarning matching {pattern!r}; the RuntimeWarnings were {messages}"


def batches(count, n, d_in, d_out, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n, d_in)).astype(np.float32),
             rng.standard_normal((n, d_out)).astype(np.float32)) for _ in range(count)]


def trainer(optimizer, *, dropout=0.0, batchnorm=False, **options):
    """A fresh 6-16-3 MLP (seed 0), its optimizer, and a step returning the mean squared error."""
    ndl.manual_seed(0)
    layers = [nn.Linear(6, 16), *([nn.BatchNorm1d(16)] if batchnorm else []), nn.ReLU(),
              *([nn.Dropout(dropout)] if dropout else []), nn.Linear(16, 3)]
    net = nn.Sequential(*layers)
    opt = optimizer(net.parameters(), **options)

    def step(x, t):
        opt.zero_grad()
        d = net(x) - t
        loss = (d * d).sum() / x.shape[0]
        loss.backward()
        opt.step()
        return loss
    return net, opt, step


def train_both(optimizer, data, **options):
    """Eager and captured training on ``data``; returns the captured step and both runs'
    (losses, parameters, module buffers)."""
    runs = []
    for captured in (False, True):
        net, opt, step = trainer(optimizer, **options)
        if captured:
            step = ndl.capture(step, state=(net, opt))
        losses = [step(ndl.Tensor(x), ndl.Tensor(t)).numpy().item() for x, t in data]
        state = {k: np.array(v) for k, v in net.state_dict().items()}
        runs.append((losses, state))
    return step, runs


@pytest.mark.parametrize("optimizer,options", [
    (ndl.optim.SGD, {"lr": 0.1}),
    (ndl.optim.SGD, {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
])
def test_captured_training_equals_eager_bit_for_bit(optimizer, options):
    step, (eager, captured) = train_both(optimizer, batches(7, 8, 6, 3), **options)
    assert step.replayed == 4 and step.reason is None  # calls 1-3 eager, 4-7 replayed
    assert step.shared_bytes >= 8 * 16 * 4  # intermediates of one shape share buffers
    assert captured[0] == eager[0]
    assert captured[1].keys() == eager[1].keys()
    for name in eager[1]:
        np.testing.assert_array_equal(captured[1][name], eager[1][name], err_msg=name)
    assert eager[0][-1] != eager[0][-2]  # the steps did change something


def test_module_buffers_are_state_too():
    # BatchNorm1d's running statistics are updated by every step (and read by none in training)
    step, (eager, captured) = train_both(ndl.optim.SGD, batches(6, 8, 6, 3), lr=0.1, batchnorm=True)
    assert step.replayed == 3
    assert captured[0] == eager[0]
    for name in eager[1]:
        np.testing.assert_array_equal(captured[1][name], eager[1][name], err_msg=name)
    assert not np.allclose(eager[1]["modules_.1.running_mean"], 0)


def test_a_step_whose_numbers_change_stays_eager_and_says_why():
    # Adam's bias correction 1 - beta^t is a new number at every step: a replay would freeze it
    with warns(r"runs eagerly .*kernel call \d+ \(scalar_\w+\): argument "
               r"\d+ was .* at the first step and .* at the second"):
        step, (eager, captured) = train_both(ndl.optim.Adam, batches(5, 8, 6, 3), lr=0.01)
    assert step.replayed == 0 and "argument" in step.reason
    assert captured[0] == eager[0]


def test_a_step_with_a_random_mask_stays_eager():
    # Dropout's mask is drawn on the host at every step: a host array that differs
    with warns("a host array of shape"):
        step, _ = train_both(ndl.optim.SGD, batches(4, 8, 6, 3), lr=0.1, dropout=0.5)
    assert step.replayed == 0


def test_each_signature_is_recorded_apart_and_replays_return_fresh_constants():
    net, opt, step = trainer(ndl.optim.SGD, lr=0.1)
    twin_net, _, twin = trainer(ndl.optim.SGD, lr=0.1)
    captured = ndl.capture(step, state=(net, opt))
    for n in (8, 5, 8, 5, 8, 5, 8, 5):  # two batch sizes, interleaved
        x, t = batches(1, n, 6, 3, seed=n)[0]
        loss = captured(ndl.Tensor(x), ndl.Tensor(t))
        expected = twin(ndl.Tensor(x), ndl.Tensor(t))
        assert loss.numpy().item() == expected.numpy().item()
    assert captured.replayed == 2  # the fourth call of each size
    assert loss.op is None and not loss.requires_grad
    for p, q in zip(net.parameters(), twin_net.parameters(), strict=True):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_bad_steps_and_arguments_are_refused_by_name():
    with pytest.raises(TypeError, match="step must be a function, got int"):
        ndl.capture(3)
    net, opt, step = trainer(ndl.optim.SGD, lr=0.1)
    captured = ndl.capture(step, state=(net, opt))
    x, t = batches(1, 4, 6, 3)[0]
    with pytest.raises(TypeError, match="argument 0 is a ndarray; a captured step takes Tensors"):
        captured(x, ndl.Tensor(t))
    returns_float = ndl.capture(lambda x: (x * 2).sum().numpy().item())
    with pytest.raises(TypeError, match=r"return None, a Tensor, or a tuple or list of Tensors.*float"):
        returns_float(ndl.Tensor(x))


def embedding_trainer():
    """A fresh embedding (10 ids, 4 wide) and 4-2 linear layer (seed 0), SGD, and a step taking
    ids (3, 5) and targets (15, 2); the ids reach the kernels as a host array."""
    ndl.manual_seed(0)
    emb, lin = nn.Embedding(10, 4), nn.Linear(4, 2)
    opt = ndl.optim.SGD([*emb.parameters(), *lin.parameters()], lr=0.05)

    def step(ids, t):
        opt.zero_grad()
        d = lin(emb(ids).reshape((15, 4))) - t
        loss = (d * d).sum() / 15
        loss.backward()
        opt.step()
        return loss
    return (emb, lin, opt), step


def test_ids_read_on_the_host_are_the_new_arguments_at_each_replay():
    rng = np.random.default_rng(1)
    data = [(rng.integers(0, 10, (3, 5)).astype(np.float32), rng.standard_normal((15, 2)))
            for _ in range(6)]
    (emb, lin, _), eager = embedding_trainer()
    state, step = embedding_trainer()
    captured = ndl.capture(step, state=state)
    for ids, t in data:
        expected = eager(ndl.Tensor(ids), ndl.Tensor(t, dtype="float32")).numpy().item()
        assert captured(ndl.Tensor(ids), ndl.Tensor(t, dtype="float32")).numpy().item() == expected
    assert captured.replayed == 3
    np.testing.assert_array_equal(state[0].weight.numpy(), emb.weight.numpy())
    np.testing.assert_array_equal(state[1].weight.numpy(), lin.weight.numpy())
    ids[0, 0] = 2.5
    with pytest.raises(ValueError, match=r"argument 0 holds 2\.5, where the step reads whole numbers"):
        captured(ndl.Tensor(ids), ndl.Tensor(t, dtype="float32"))
    ids[0, 0] = 10
    with pytest.raises(IndexError):  # the kernel's own check of the range
        captured(ndl.Tensor(ids), ndl.Tensor(t, dtype="float32"))
