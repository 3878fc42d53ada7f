"""Learning-rate schedules step by step against torch.optim.lr_scheduler (given code, except
StepLR.get_lr, question 4), and their state_dict round trips."""
import math

import needle as ndl
import numpy as np
import pytest
from needle.optim import SGD, CosineAnnealingLR, LinearLR, OneCycleLR, StepLR
from torch_reference import needs_torch, torch


def sgd(lr=0.5):
    return SGD([ndl.nn.Parameter(np.zeros(2, np.float32))], lr=lr)


def rates(make, steps, lr=0.5):
    """The optimiser's lr on construction and after each of ``steps`` calls to step()."""
    opt = sgd(lr)
    scheduler = make(opt)
    out = [opt.lr]
    for _ in range(steps):
        scheduler.step()
        out.append(opt.lr)
        assert scheduler.get_last_lr() == [opt.lr]
    return out


def torch_rates(make, steps, lr=0.5):
    opt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=lr)
    scheduler = make(opt)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()
        scheduler.step()
        out.append(opt.param_groups[0]["lr"])
    return out


# ---- closed forms (given code) --------------------------------------------------------------

def test_cosine_annealing_follows_sgdr_eq5():
    got = rates(lambda o: CosineAnnealingLR(o, T_max=6, eta_min=0.05), 12)
    want = [0.05 + 0.45 * (1 + math.cos(math.pi * t / 6)) / 2 for t in range(13)]
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_linear_warm_up_then_holds():
    got = rates(lambda o: LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=4), 6)
    np.testing.assert_allclose(got, [0.125, 0.21875, 0.3125, 0.40625, 0.5, 0.5, 0.5], rtol=1e-13)


def test_one_cycle_endpoints():
    got = rates(lambda o: OneCycleLR(o, max_lr=2.0, total_steps=10), 9)
    assert got[0] == pytest.approx(2.0 / 25) and max(got) == pytest.approx(2.0)
    assert got[-1] == pytest.approx(2.0 / 25 / 1e4) and int(np.argmax(got)) == 2


# ---- against PyTorch, step by step ----------------------------------------------------------

SCHEDULES = {
    "cosine": (lambda o: CosineAnnealingLR(o, T_max=7, eta_min=0.01),
               lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.01), 20),
    "cosine_default": (lambda o: CosineAnnealingLR(o, T_max=10),
                       lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10), 10),
    "linear_default": (lambda o: LinearLR(o), lambda o: torch.optim.lr_scheduler.LinearLR(o), 8),
    "linear_decay": (lambda o: LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=6),
                     lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=1.0, end_factor=0.1,
                                                                 total_iters=6), 9),
    "one_cycle": (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=20),
                  lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=20,
                                                                cycle_momentum=False), 20),
    "one_cycle_linear_three_phase": (
        lambda o: OneCycleLR(o, max_lr=0.8, epochs=3, steps_per_epoch=7, pct_start=0.25,
                             anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0,
                             three_phase=True),
        lambda o: torch.optim.lr_scheduler.OneCycleLR(
            o, max_lr=0.8, epochs=3, steps_per_epoch=7, pct_start=0.25, anneal_strategy="linear",
            div_factor=10.0, final_div_factor=100.0, three_phase=True, cycle_momentum=False), 21),
}


@needs_torch
@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_matches_torch_step_by_step(name):
    ours, theirs, steps = SCHEDULES[name]
    np.testing.assert_allclose(rates(ours, steps), torch_rates(theirs, steps), rtol=1e-12, atol=1e-15)


@needs_torch
@pytest.mark.question(4)
def test_step_lr_matches_torch_step_by_step():
    np.testing.assert_allclose(
        rates(lambda o: StepLR(o, step_size=3, gamma=0.5), 10),
        torch_rates(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 10), rtol=1e-13)


def test_one_cycle_refuses_to_step_past_its_end():
    opt = sgd()
    scheduler = OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        scheduler.step()
    with pytest.raises(ValueError, match=r"OneCycleLR: tried to step 4 times\. The specified number "
                                         r"of total steps is 3"):
        scheduler.step()


@pytest.mark.parametrize("make,error,match", [
    (lambda o: OneCycleLR(o, max_lr=1.0), ValueError,
     "give total_steps, or both epochs and steps_per_epoch"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=0), ValueError,
     "total_steps must be a positive integer"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=5, pct_start=1.5), ValueError,
     r"pct_start must be in \[0, 1\], got 1.5"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=5, anneal_strategy="exp"), ValueError,
     "anneal_strategy must be 'cos' or 'linear', got 'exp'"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=5, div_factor=0), ValueError, "div_factor must be > 0"),
    (lambda o: LinearLR(o, start_factor=0), ValueError, r"LinearLR: start_factor must be in \(0, 1\], got 0"),
    (lambda o: LinearLR(o, end_factor=1.5), ValueError, r"LinearLR: end_factor must be in \[0, 1\], got 1.5"),
    (lambda o: CosineAnnealingLR(o, T_max=0), ValueError,
     "CosineAnnealingLR: T_max must be a positive integer"),
    (lambda o: CosineAnnealingLR(o, T_max=3, eta_min=-1), ValueError, "eta_min must be >= 0"),
    (lambda o: CosineAnnealingLR([o], T_max=3), TypeError,
     "CosineAnnealingLR: expected an Optimizer, got list"),
])
def test_schedulers_reject_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make(sgd())


# ---- state_dict: a restored schedule continues exactly ---------------------------------------

@pytest.mark.parametrize("make", [
    lambda o: CosineAnnealingLR(o, T_max=9, eta_min=0.01),
    lambda o: LinearLR(o, start_factor=0.1, total_iters=7),
    lambda o: OneCycleLR(o, max_lr=1.0, total_steps=12, three_phase=True),
], ids=["cosine", "linear", "one_cycle"])
def test_a_restored_scheduler_continues_exactly(make):
    straight = rates(make, 10)
    opt = sgd()
    scheduler = make(opt)
    for _ in range(4):
        scheduler.step()
    saved, lr = scheduler.state_dict(), opt.lr
    assert "optimizer" not in saved and saved["last_epoch"] == 4
    fresh_opt = sgd(lr=0.123)
    fresh = make(fresh_opt)
    fresh.load_state_dict(saved)
    fresh_opt.lr = lr  # the optimiser's own state_dict restores its lr
    assert fresh.get_last_lr() == [straight[4]]
    resumed = [fresh_opt.lr]
    for _ in range(6):
        fresh.step()
        resumed.append(fresh_opt.lr)
    assert resumed == straight[4:]


def test_load_state_dict_rejects_another_schedulers_state():
    saved = CosineAnnealingLR(sgd(), T_max=3).state_dict()
    with pytest.raises(ValueError, match=r"LinearLR.load_state_dict: unknown keys \['T_max', 'eta_min'\]"):
        LinearLR(sgd()).load_state_dict(saved)


@pytest.mark.parametrize("change,message", [
    ({"T_max": "10"}, r"T_max='10'; expected a number like 10"),
    ({"T_max": 0}, r"the saved values give no learning rate \(ZeroDivisionError"),
])
def test_load_state_dict_rejects_values_that_cannot_schedule(change, message):
    scheduler = CosineAnnealingLR(sgd(), T_max=10)
    scheduler.step()
    before = scheduler.state_dict()
    with pytest.raises(ValueError, match=message):
        scheduler.load_state_dict({**before, **change})
    assert scheduler.state_dict() == before  # left as it was
