"""Hidden tests for hw5 question 7 (policy gradients, apps/rl.py): discounted returns across
episode ends, advantages, and the policy-gradient loss with its gradient, on inputs drawn from
the per-student ``seed``; values returned, not asserted (the grader compares them with the key).

No test trains an agent: training depends on the order of random draws, which is the
submission's to choose; the public slow test checks that the agent solves CartPole.
"""
import numpy as np
import pytest

# ---- Question 7: policy gradients (10 points) ---------------------------------------------------

@pytest.mark.question(7)
@pytest.mark.points(3)
def test_discounted_returns_across_episode_ends(seed):
    from apps.rl import discounted_returns
    rng = np.random.default_rng(seed)
    rewards = rng.uniform(-1, 2, size=(11, 4))
    dones = rng.random((11, 4)) < 0.25
    last = rng.standard_normal(4)
    single = rng.uniform(0, 1, size=7)
    return {"batch": discounted_returns(rewards, 0.9, dones, last_value=last),
            "no_bootstrap": discounted_returns(rewards, 0.97, dones),
            "single": discounted_returns(single, 0.5),
            "undiscounted": discounted_returns(single, 1.0, single > 0.6, last_value=2.0)}


@pytest.mark.question(7)
@pytest.mark.points(2)
def test_advantages_raw_and_normalised(seed):
    from apps.rl import compute_advantages
    rng = np.random.default_rng(seed)
    returns = rng.uniform(0, 50, size=(6, 3))
    values = returns + rng.standard_normal((6, 3)) * 5
    return {"raw": compute_advantages(returns, values, normalize=False),
            "normalised": compute_advantages(returns, values, normalize=True),
            "constant": compute_advantages(np.full(5, 3.0), np.ones(5), normalize=True)}


@pytest.mark.question(7)
@pytest.mark.points(5)
@pytest.mark.tolerance(rtol=1e-7, atol=1e-10)
def test_policy_gradient_loss_values_and_gradients(seed):
    import needle as ndl
    from apps.rl import policy_gradient_loss
    rng = np.random.default_rng(seed)
    out = {}
    for name, (batch, k, coef) in {"plain": (7, 3, 0.0), "entropy": (5, 4, 0.05)}.items():
        logits = ndl.Tensor(rng.standard_normal((batch, k)) * 2, dtype="float64", requires_grad=True)
        actions = rng.integers(0, k, size=batch)
        advantages = rng.standard_normal(batch)
        loss = policy_gradient_loss(logits, actions, advantages, entropy_coef=coef)
        loss.backward()
        out[f"{name}_loss"] = loss.numpy()
        out[f"{name}_grad"] = logits.grad.numpy()
    return out
