"""Optimiser state_dict / load_state_dict in torch.optim's layout (given code), and the round
trip after real steps (question 4, which writes the steps)."""
import needle as ndl
import numpy as np
import pytest
from torch_reference import needs_torch, torch

SHAPES = [(3, 2), (2,)]


def make_params():
    rng = np.random.default_rng(0)
    return [ndl.nn.Parameter(rng.standard_normal(shape).astype(np.float32)) for shape in SHAPES]


def set_grads(params, seed):
    rng = np.random.default_rng(seed)
    for p in params:
        p.grad = ndl.Tensor(rng.standard_normal(p.shape).astype(np.float32))


def synthetic_state(kind):
    """A state as a saved one would be, without stepping: buffers of the parameters' shapes."""
    rng = np.random.default_rng(1)
    if kind == "SGD":
        return {"state": {1: {"momentum_buffer": rng.standard_normal(2).astype(np.float32)}},
                "param_groups": [{"lr": 0.05, "momentum": 0.8, "weight_decay": 0.01, "params": [0, 1]}]}
    return {"state": {i: {"step": 3, "exp_avg": rng.standard_normal(s).astype(np.float32),
                          "exp_avg_sq": rng.random(s).astype(np.float32)} for i, s in enumerate(SHAPES)},
            "param_groups": [{"lr": 0.002, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.0,
                              "params": [0, 1]}]}


def make(kind, params):
    return ndl.optim.SGD(params, lr=0.1, momentum=0.9) if kind == "SGD" else ndl.optim.Adam(params)


# ---- given code ---------------------------------------------------------------------------

def test_fresh_state_dicts_have_torchs_layout():
    sgd = ndl.optim.SGD(make_params(), lr=0.1, momentum=0.9, weight_decay=0.01)
    assert sgd.state_dict() == {"state": {}, "param_groups": [
        {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, "params": [0, 1]}]}
    adam = ndl.optim.Adam(make_params(), lr=0.01, beta1=0.8)
    assert adam.state_dict() == {"state": {}, "param_groups": [
        {"lr": 0.01, "betas": [0.8, 0.999], "eps": 1e-8, "weight_decay": 0.0, "params": [0, 1]}]}


@pytest.mark.parametrize("kind", ["SGD", "Adam"])
def test_load_state_dict_restores_buffers_and_settings(kind):
    saved = synthetic_state(kind)
    opt = make(kind, make_params())
    opt.load_state_dict(saved)
    again = opt.state_dict()
    assert again["param_groups"] == saved["param_groups"]
    assert again["state"].keys() == saved["state"].keys()
    for i, state in saved["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(again["state"][i][key], value)
            assert np.asarray(again["state"][i][key]).dtype == np.asarray(value).dtype


def test_load_state_dict_accepts_string_keys_and_clears_old_state():
    opt = ndl.optim.SGD(make_params(), lr=0.1, momentum=0.9)
    saved = synthetic_state("SGD")
    opt.load_state_dict({"state": {str(i): s for i, s in saved["state"].items()},
                         "param_groups": saved["param_groups"]})
    assert list(opt.state_dict()["state"]) == [1]
    opt.load_state_dict({"state": {}, "param_groups": saved["param_groups"]})
    assert opt.state_dict()["state"] == {}


@pytest.mark.parametrize("kind", ["SGD", "Adam"])
def test_load_state_dict_rejects_a_mismatched_state(kind):
    saved = synthetic_state(kind)
    opt = make(kind, make_params()[:1])
    with pytest.raises(ValueError, match=f"{kind}.load_state_dict: the saved state has 2 parameters, "
                                         f"this optimiser 1"):
        opt.load_state_dict(saved)
    opt = make(kind, [ndl.nn.Parameter(np.zeros((3, 2), np.float32)),
                      ndl.nn.Parameter(np.zeros(5, np.float32))])
    with pytest.raises(ValueError, match=r"of parameter 1 has shape \(2,\), the parameter \(5,\)"):
        opt.load_state_dict(saved)
    with pytest.raises(ValueError, match="expected a dict with keys 'state' and 'param_groups'"):
        make(kind, make_params()).load_state_dict({"state": {}})


# ---- question 4: the state the steps leave -------------------------------------------------

@pytest.mark.question(4)
@pytest.mark.parametrize("kind", ["SGD", "Adam"])
def test_a_restored_optimiser_continues_bitwise(kind):
    params = make_params()
    opt = make(kind, params)
    for k in range(5):
        set_grads(params, 10 + k)
        opt.step()
    straight = [p.numpy().copy() for p in params]

    params = make_params()
    opt = make(kind, params)
    for k in range(2):
        set_grads(params, 10 + k)
        opt.step()
    saved, values = opt.state_dict(), [p.numpy().copy() for p in params]
    assert set(saved["state"]) == {0, 1}
    fresh = [ndl.nn.Parameter(v) for v in values]
    resumed = ndl.optim.SGD(fresh, lr=1.0) if kind == "SGD" else ndl.optim.Adam(fresh, lr=1.0)
    resumed.load_state_dict(saved)
    for k in range(2, 5):
        set_grads(fresh, 10 + k)
        resumed.step()
    for got, want in zip(fresh, straight, strict=True):
        np.testing.assert_array_equal(got.numpy(), want)


@needs_torch
@pytest.mark.question(4)
@pytest.mark.parametrize("kind", ["SGD", "Adam"])
def test_state_dict_matches_torchs_after_steps(kind):
    params = make_params()
    theirs = [torch.tensor(p.numpy(), requires_grad=True) for p in params]
    if kind == "SGD":
        opt, ref = ndl.optim.SGD(params, lr=0.1, momentum=0.9), torch.optim.SGD(theirs, lr=0.1, momentum=0.9)
    else:
        opt, ref = ndl.optim.Adam(params, lr=0.01), torch.optim.Adam(theirs, lr=0.01)
    for k in range(3):
        set_grads(params, 10 + k)
        for p, t in zip(params, theirs, strict=True):
            t.grad = torch.tensor(p.grad.numpy())
        opt.step()
        ref.step()
    ours, want = opt.state_dict(), ref.state_dict()
    assert list(ours["state"]) == list(want["state"]) and ours["param_groups"][0]["params"] == [0, 1]
    for i, state in want["state"].items():
        assert set(ours["state"][i]) == set(state)
        for key, value in state.items():
            np.testing.assert_allclose(np.asarray(ours["state"][i][key]), value.numpy(), rtol=1e-5, atol=1e-7)
    for key in ours["param_groups"][0]:
        if key != "params":
            np.testing.assert_allclose(ours["param_groups"][0][key], want["param_groups"][0][key])
