"""hw5 question 7: policy gradients (apps/rl.py).

The pieces are checked against plain NumPy: discounted returns (a step-by-step loop and a
hand-computed case, across episode ends and with a bootstrap value), advantages, and the
policy-gradient loss with its gradient by central differences. The slow test trains A2C on
CartPole-v1 and requires a mean return of at least 475 over 100 evaluation episodes.
"""
import needle as ndl
import numpy as np
import pytest
from apps.rl import (
    SOLVED,
    ActorCritic,
    compute_advantages,
    discounted_returns,
    evaluate,
    policy_gradient_loss,
    train_cartpole,
)
from gradcheck import numerical_gradient
from needle.checkpoint import load_checkpoint


def returns_loop(rewards, gamma, dones, last):
    """Reference: G_t = r_t + gamma * (1 - done_t) * G_{t+1}, G_T = last, one env at a time."""
    rewards = np.asarray(rewards, dtype=np.float64).reshape(len(rewards), -1)
    dones = np.asarray(dones, dtype=bool).reshape(rewards.shape)
    last = np.broadcast_to(np.asarray(last, dtype=np.float64), rewards.shape[1:])
    out = np.zeros_like(rewards)
    for n in range(rewards.shape[1]):
        future = last[n]
        for t in reversed(range(len(rewards))):
            future = rewards[t, n] + (0.0 if dones[t, n] else gamma * future)
            out[t, n] = future
    return out


def softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def pg_loss_numpy(logits, actions, advantages, coef):
    log_p = np.log(softmax_rows(logits))
    chosen = log_p[np.arange(len(actions)), actions]
    entropy = -(np.exp(log_p) * log_p).sum(axis=1)
    return -np.mean(chosen * advantages) - coef * np.mean(entropy)


@pytest.mark.question(7)
def test_discounted_returns_hand_computed():
    # gamma 0.5; the episode ends at t=1; after t=2 the return continues with V = 4:
    # G_2 = 1 + 0.5 * 4 = 3, G_1 = 2 (its episode ends), G_0 = 1 + 0.5 * 2 = 2
    got = discounted_returns([1.0, 2.0, 1.0], 0.5, dones=[False, True, False], last_value=4.0)
    np.testing.assert_allclose(got, [2.0, 2.0, 3.0])
    np.testing.assert_allclose(discounted_returns([1.0, 1.0, 1.0], 0.9), [2.71, 1.9, 1.0])
    np.testing.assert_allclose(discounted_returns([1.0, 1.0], 0.9, dones=[False, True], last_value=9.0),
                               [1.9, 1.0])


@pytest.mark.question(7)
@pytest.mark.parametrize("gamma", [0.0, 0.9, 1.0])
def test_discounted_returns_match_a_loop_across_episode_ends(gamma):
    rng = np.random.default_rng(0)
    rewards = rng.uniform(-1, 2, size=(13, 5))
    dones = rng.random((13, 5)) < 0.3
    last = rng.standard_normal(5)
    got = discounted_returns(rewards, gamma, dones, last_value=last)
    assert got.shape == (13, 5) and got.dtype == np.float64
    np.testing.assert_allclose(got, returns_loop(rewards, gamma, dones, last), rtol=1e-12)
    np.testing.assert_allclose(discounted_returns(rewards, gamma, dones),
                               returns_loop(rewards, gamma, dones, 0.0), rtol=1e-12)
    np.testing.assert_allclose(discounted_returns(rewards[:, 0], gamma),
                               returns_loop(rewards[:, 0], gamma, np.zeros(13), 0.0)[:, 0], rtol=1e-12)


def test_discounted_returns_reject_bad_input():
    with pytest.raises(ValueError, match=r"gamma=1\.5"):
        discounted_returns([1.0, 2.0], 1.5)
    with pytest.raises(ValueError, match="dones has shape"):
        discounted_returns(np.ones((3, 2)), 0.9, dones=np.zeros(3))
    with pytest.raises(ValueError, match="rewards has shape"):
        discounted_returns(np.ones((2, 2, 2)), 0.9)


@pytest.mark.question(7)
def test_advantages_raw_and_normalised():
    rng = np.random.default_rng(1)
    returns, values = rng.uniform(0, 30, size=(4, 3)), rng.uniform(0, 30, size=(4, 3))
    np.testing.assert_allclose(compute_advantages(returns, values, normalize=False), returns - values)
    diff = returns - values
    got = compute_advantages(returns, values)  # normalize=True by default
    np.testing.assert_allclose(got, (diff - diff.mean()) / (diff.std() + 1e-8), rtol=1e-12)
    np.testing.assert_allclose([got.mean(), got.std()], [0.0, 1.0], atol=1e-7)
    # constant advantages normalise to 0, not nan
    np.testing.assert_array_equal(compute_advantages(np.full(4, 5.0), np.ones(4)), np.zeros(4))


def test_advantages_reject_mismatched_shapes():
    with pytest.raises(ValueError, match=r"values has shape \(3,\)"):
        compute_advantages(np.ones(4), np.ones(3))


@pytest.mark.question(7)
@pytest.mark.parametrize("coef", [0.0, 0.1])
def test_policy_gradient_loss_value_and_gradient(coef):
    rng = np.random.default_rng(2)
    z = rng.standard_normal((6, 3)) * 2
    actions = rng.integers(0, 3, size=6)
    advantages = rng.standard_normal(6)
    logits = ndl.Tensor(z, dtype="float64", requires_grad=True)
    loss = policy_gradient_loss(logits, actions, advantages, entropy_coef=coef)
    assert loss.shape == (), f"the loss must be a scalar Tensor of shape (), got {loss.shape}"
    np.testing.assert_allclose(loss.numpy(), pg_loss_numpy(z, actions, advantages, coef), rtol=1e-10)
    loss.backward()
    expected = numerical_gradient(lambda x: pg_loss_numpy(x, actions, advantages, coef), z)
    np.testing.assert_allclose(logits.grad.numpy(), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.question(7)
def test_policy_gradient_loss_pushes_up_actions_with_positive_advantage():
    # d loss / d logit of the chosen action = -(1 - pi(a)) * A / B: negative when A > 0, so a
    # gradient step raises that action's probability (and lowers it when A < 0)
    logits = ndl.Tensor(np.zeros((2, 2)), dtype="float64", requires_grad=True)
    policy_gradient_loss(logits, np.array([0, 1]), np.array([1.0, -1.0])).backward()
    np.testing.assert_allclose(logits.grad.numpy(), [[-0.25, 0.25], [-0.25, 0.25]])


def test_policy_gradient_loss_rejects_bad_actions():
    logits = ndl.Tensor(np.zeros((2, 3)), dtype="float64")
    with pytest.raises(ValueError, match=r"expected integers in \[0, 3\)"):
        policy_gradient_loss(logits, np.array([0, 3]), np.ones(2))
    with pytest.raises(ValueError, match="expected 2 of each"):
        policy_gradient_loss(logits, np.array([0, 1, 2]), np.ones(3))


def test_train_cartpole_rejects_unknown_method_and_budget():
    with pytest.raises(ValueError, match="method 'dqn'"):
        train_cartpole("dqn")
    with pytest.raises(ValueError, match="episodes=0"):
        train_cartpole("a2c", episodes=0)


@pytest.mark.question(7)
@pytest.mark.parametrize("method", ["reinforce", "a2c"])
def test_a_short_run_records_whole_episodes(method):
    """Each recorded return is one whole episode from a reset (CartPole pays 1 a step, so the
    returns add up to the steps counted; a REINFORCE batch starts every environment afresh)."""
    result = train_cartpole(method, seed=1, episodes=8, num_envs=4, progress=False, stop_at=None)
    assert 8 <= len(result.returns) <= 8 + 3
    assert all(8 <= r <= 500 for r in result.returns), result.returns
    if method == "reinforce":
        assert sum(result.returns) == result.steps


@pytest.mark.question(7)
def test_every_reinforce_batch_starts_each_environment_from_a_reset(monkeypatch):
    import apps.rl as rl
    first_states = []
    update = rl._update

    def recording_update(model, opt, obs, *args):
        first_states.append(obs[:4])  # time-major rows: the first num_envs are step 0
        return update(model, opt, obs, *args)

    monkeypatch.setattr(rl, "_update", recording_update)
    train_cartpole("reinforce", seed=1, episodes=16, num_envs=4, progress=False, stop_at=None)
    assert len(first_states) >= 3
    for states in first_states:  # CartPole-v1 resets to uniform(-0.05, 0.05) in each coordinate
        assert np.abs(states).max() <= 0.05, states


@pytest.mark.question(7)
@pytest.mark.slow
@pytest.mark.timeout(900)  # a training run: about a minute on a 2-core machine
def test_a2c_solves_cartpole(tmp_path):
    result = train_cartpole("a2c", seed=0, episodes=3000, out_dir=tmp_path, progress=False)
    score = evaluate(result.model, episodes=100, seed=10_000)
    assert score >= SOLVED, (score, len(result.returns))
    assert result.plot.exists() and result.checkpoint.exists()
    restored = ActorCritic()
    assert load_checkpoint(result.checkpoint, restored) == len(result.returns)
    for name, value in result.model.state_dict().items():
        np.testing.assert_array_equal(restored.state_dict()[name], value)
