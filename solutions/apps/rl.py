"""hw5: policy gradients on CartPole-v1 with needle (REINFORCE with a baseline, and A2C).

REINFORCE with a learned baseline, then advantage actor-critic (A2C), both on needle.

The agent is two small MLPs on needle's own backend: a policy ``pi(a | s)`` (logits over the two
actions) and a value function ``V(s)``. Both methods follow the policy-gradient theorem
(Sutton & Barto, *Reinforcement Learning: An Introduction*, 2nd ed., 2018, section 13.2):

    grad J(theta) = E[ sum_t grad log pi(A_t | S_t) * (G_t - b(S_t)) ]

- ``reinforce``: Monte-Carlo returns ``G_t`` of whole episodes (Williams, "Simple statistical
  gradient-following algorithms for connectionist reinforcement learning", Machine Learning 8,
  1992; Sutton & Barto 13.3) with the learned value ``V(S_t)`` as the baseline ``b`` (13.4).
- ``a2c``: the synchronous advantage actor-critic of Mnih et al., "Asynchronous methods for deep
  reinforcement learning", ICML 2016 (Sutton & Barto 13.5): ``n``-step returns bootstrapped from
  ``V``, on a batch of environments stepped in lockstep, with an entropy bonus.

CartPole-v1 (gymnasium, built in: nothing is downloaded) counts as solved at a mean return of
475 (its ``spec.reward_threshold``); an episode ends after at most 500 steps.

Usage:
    python apps/rl.py [--method a2c] [--episodes N] [--seed S] [--device cpu|cuda|cuda_emu] [--out DIR]
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script from anywhere: this homework's python/ (needle), src/ (hw0) and root (apps).
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "python"), str(ROOT / "src"), str(ROOT)]

import needle as ndl  # noqa: E402
import needle.nn as nn  # noqa: E402
import numpy as np  # noqa: E402
from needle.checkpoint import save_checkpoint  # noqa: E402

from apps.train_mnist import DEVICES, device_by_name  # noqa: E402  (given with hw1)

ENV_ID = "CartPole-v1"
SOLVED = 475.0  # CartPole-v1's spec.reward_threshold
METHODS = ("reinforce", "a2c")
LEARNING_RATES = {"reinforce": 0.005, "a2c": 0.002}  # train_cartpole's defaults


# ---- the pieces of a policy-gradient update (question 7) ----------------------------------------


def discounted_returns(rewards, gamma: float, dones=None, last_value=None) -> np.ndarray:
    """Discounted returns ``G_t = r_t + gamma * G_{t+1}``, restarting where an episode ends.

    Sutton & Barto (2nd ed.), eq. 3.9 (``G_t = R_{t+1} + gamma G_{t+1}``), computed backwards in
    time. Where ``dones[t]`` is true, step ``t`` was an episode's last: nothing after it is added
    (``G_t = r_t``). After the last step ``T - 1`` the return continues with ``last_value``
    (an estimate ``V(s_T)`` of the state reached, for ``n``-step returns; 0 by default), unless
    ``dones[T - 1]`` is true.

    Args:
        rewards: rewards ``r_t`` of shape ``(T,)`` (one environment) or ``(T, N)`` (``N``
            environments stepped together, time first: the batch axis); any real dtype.
        gamma: discount factor in ``[0, 1]``.
        dones: booleans (or 0/1) of the same shape as ``rewards``; None means no episode ends.
        last_value: the value to bootstrap from after step ``T - 1``: a scalar or an array of
            shape ``rewards.shape[1:]``; None means 0.

    Returns:
        float64 array of the shape of ``rewards``.

    Raises:
        ValueError: if ``rewards`` is not 1-D or 2-D, ``gamma`` is outside ``[0, 1]``, or
            ``dones`` / ``last_value`` have other shapes than those above.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim not in (1, 2):
        raise ValueError(f"discounted_returns: rewards has shape {rewards.shape}; expected (T,) or (T, N)")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"discounted_returns: gamma={gamma}; expected a discount in [0, 1]")
    dones = np.zeros(rewards.shape, dtype=bool) if dones is None else np.asarray(dones).astype(bool)
    if dones.shape != rewards.shape:
        raise ValueError(f"discounted_returns: dones has shape {dones.shape}; expected rewards' "
                         f"shape {rewards.shape}")
    last = np.zeros(rewards.shape[1:]) if last_value is None else np.asarray(last_value, np.float64)
    if last.shape not in ((), rewards.shape[1:]):
        raise ValueError(f"discounted_returns: last_value has shape {last.shape}; expected a scalar "
                         f"or shape {rewards.shape[1:]}")
    ### BEGIN SOLUTION hw5
    returns = np.zeros_like(rewards)
    future = np.broadcast_to(last, rewards.shape[1:]).astype(np.float64)
    for t in range(len(rewards) - 1, -1, -1):
        future = rewards[t] + gamma * np.where(dones[t], 0.0, future)
        returns[t] = future
    return returns
    ### END SOLUTION


def compute_advantages(returns, values, normalize: bool = True, eps: float = 1e-8) -> np.ndarray:
    """Advantage estimates ``Â_t = G_t - b(S_t)``: returns minus the baseline's values (Sutton &
    Barto 13.4: any baseline that does not depend on the action leaves the gradient unbiased and,
    close to ``V(S_t)``, lowers its variance). The hat keeps ``A_t`` for the action, as the
    course notation does (``docs/notation.md``, reinforcement learning).

    With ``normalize``, the advantages are then shifted and scaled to mean 0 and standard
    deviation 1 over all entries: ``(Â - mean(Â)) / (std(Â) + eps)`` (population std, NumPy's
    default ``ddof=0``), a common variance reduction (the scale of the gradient no longer
    follows the scale of the returns).

    Args:
        returns: array of any shape (e.g. ``(T, N)``).
        values: the baseline ``b(S_t)``, an array of the same shape (NumPy: the value network's
            outputs, detached; no gradient flows through an advantage).
        normalize: whether to standardise as above.
        eps: added to the standard deviation, so constant advantages give 0, not nan.

    Returns:
        float64 array of the shape of ``returns``.

    Raises:
        ValueError: if the shapes differ.
    """
    returns = np.asarray(returns, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if returns.shape != values.shape:
        raise ValueError(f"compute_advantages: values has shape {values.shape}; expected returns' "
                         f"shape {returns.shape}")
    ### BEGIN SOLUTION hw5
    advantages = returns - values
    if normalize:
        advantages = (advantages - advantages.mean()) / (advantages.std() + eps)
    return advantages
    ### END SOLUTION


def policy_gradient_loss(logits: ndl.Tensor, actions, advantages, entropy_coef: float = 0.0
                         ) -> ndl.Tensor:
    """The policy-gradient surrogate loss, whose gradient is minus the REINFORCE / actor-critic
    estimate of ``grad J`` (Williams 1992; Sutton & Barto 13.3-13.5; entropy bonus as in Mnih et
    al. 2016)::

        loss = -mean_i( log pi(a_i | s_i) * Â_i ) - entropy_coef * mean_i( H(pi(. | s_i)) )

    over the ``B`` sampled steps ``(s_i, a_i)`` with advantage estimates ``Â_i``, with ``log pi =
    logits - logsumexp(logits)`` row by row (a stable log-softmax) and the entropy ``H(pi) =
    -sum_a pi(a) log pi(a)``. Built from needle ops (``logsumexp``, ``exp``, a one-hot
    product, ``summation``), so that ``backward`` gives its gradient with respect to ``logits``;
    the advantages are constants (no gradient).

    Args:
        logits: Tensor ``(B, k)``: unnormalised log-probabilities of ``k`` actions (the
            policy's classes) for a batch of ``B`` steps.
        actions: ``B`` integer actions ``a_i`` in ``[0, k)`` (a NumPy array or a list).
        advantages: ``B`` advantage estimates ``Â_i`` (NumPy, float).
        entropy_coef: weight of the entropy bonus (0: none).

    Returns:
        A scalar Tensor (shape ``()``) of ``logits``' dtype and device.

    Raises:
        ValueError: if ``logits`` is not 2-D, ``actions`` or ``advantages`` do not have ``B``
            entries, or an action is outside ``[0, k)``.
    """
    if len(logits.shape) != 2:
        raise ValueError(f"policy_gradient_loss: logits has shape {logits.shape}; expected (B, k)")
    batch, k = logits.shape
    actions = np.asarray(actions).reshape(-1)
    advantages = np.asarray(advantages, dtype=np.float64).reshape(-1)
    if actions.shape != (batch,) or advantages.shape != (batch,):
        raise ValueError(f"policy_gradient_loss: {actions.size} actions and {advantages.size} "
                         f"advantages for {batch} rows of logits; expected {batch} of each")
    if not np.issubdtype(actions.dtype, np.integer) or actions.min() < 0 or actions.max() >= k:
        raise ValueError(f"policy_gradient_loss: actions {actions}; expected integers in [0, {k})")
    ### BEGIN SOLUTION hw5
    kw = dict(device=logits.device, dtype=logits.dtype)
    log_z = ndl.logsumexp(logits, axes=(1,)).reshape((batch, 1)).broadcast_to((batch, k))
    log_probs = logits - log_z
    chosen = (log_probs * ndl.init.one_hot(k, ndl.Tensor(actions, **kw), **kw)).sum(axes=(1,))
    loss = -(chosen * ndl.Tensor(advantages, **kw)).sum() / batch
    if entropy_coef:
        entropy = -(ndl.exp(log_probs) * log_probs).sum() / batch
        loss = loss - entropy * entropy_coef
    return loss
    ### END SOLUTION


# ---- the agent and its environment (given) -------------------------------------------------------


def value_loss(values: ndl.Tensor, returns) -> ndl.Tensor:
    """The critic's loss ``0.5 * mean((V(s_i) - G_i)^2)`` (regression of the value network on the
    returns, Sutton & Barto 13.4-13.5): ``values`` a Tensor ``(B,)`` or ``(B, 1)``, ``returns``
    ``B`` floats (NumPy); a scalar Tensor."""
    returns = np.asarray(returns, dtype=np.float64).reshape(-1)
    diff = values.reshape((returns.size,)) - ndl.Tensor(returns, device=values.device,
                                                        dtype=values.dtype)
    return (diff * diff).sum() / (2 * returns.size)


def _mlp(sizes: list[int], device, dtype: str) -> nn.Module:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out, device=device, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """A policy network and a separate value network, both ``Linear -> ReLU -> Linear -> ReLU ->
    Linear`` MLPs: ``forward(obs (B, obs_dim))`` -> ``(logits (B, n_actions), values (B,))``.

    ``act(obs, rng)`` samples actions from ``softmax(logits)`` with the NumPy generator ``rng``
    (or takes the most likely ones with ``greedy=True``) and returns them as an int64 array.
    """

    def __init__(self, obs_dim: int = 4, n_actions: int = 2, hidden: int = 64, device=None,
                 dtype: str = "float32"):
        super().__init__()
        self.obs_dim, self.n_actions = obs_dim, n_actions
        self.policy = _mlp([obs_dim, hidden, hidden, n_actions], device, dtype)
        self.value = _mlp([obs_dim, hidden, hidden, 1], device, dtype)
        self.device, self.dtype = device, dtype

    def tensor(self, obs) -> ndl.Tensor:
        """Observations ``(B, obs_dim)`` as a Tensor on the model's device."""
        return ndl.Tensor(np.asarray(obs, dtype=np.float32), device=self.device, dtype=self.dtype)

    def forward(self, obs) -> tuple[ndl.Tensor, ndl.Tensor]:
        x = obs if isinstance(obs, ndl.Tensor) else self.tensor(obs)
        return self.policy(x), self.value(x).reshape((x.shape[0],))

    def act(self, obs, rng: np.random.Generator | None = None, greedy: bool = False) -> np.ndarray:
        with ndl.no_grad():
            logits = self.policy(self.tensor(obs)).numpy().astype(np.float64)
        if greedy:
            return logits.argmax(axis=1)
        if rng is None:
            raise ValueError("ActorCritic.act: sampling needs a NumPy generator rng (or greedy=True)")
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        u = rng.random((len(probs), 1))
        return np.minimum((probs.cumsum(axis=1) < u).sum(axis=1), self.n_actions - 1).astype(np.int64)

    def values(self, obs) -> np.ndarray:
        """``V(s)`` for observations ``(B, obs_dim)``, as float64 NumPy (no graph)."""
        with ndl.no_grad():
            return self.value(self.tensor(obs)).numpy().astype(np.float64).reshape(-1)


def make_envs(num_envs: int):
    """``num_envs`` CartPole-v1 environments stepped in lockstep (gymnasium's ``SyncVectorEnv``),
    resetting an environment in the same step that ends its episode (``AutoresetMode.SAME_STEP``:
    the last observation is in ``info["final_obs"]``)."""
    import gymnasium as gym
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})


def evaluate(policy: ActorCritic, episodes: int = 100, seed: int = 10_000, greedy: bool = True
             ) -> float:
    """Mean undiscounted return of ``policy`` over ``episodes`` CartPole-v1 episodes, the
    ``i``-th reset with seed ``seed + i`` (so the same seed gives the same episodes).

    ``greedy`` takes the most likely action (the usual evaluation of a stochastic policy);
    otherwise actions are sampled from a generator seeded with ``seed``. All episodes run
    together as one batch of environments; each counts only its first episode.

    Raises:
        ValueError: if ``episodes`` < 1.
    """
    if episodes < 1:
        raise ValueError(f"evaluate: episodes={episodes}; expected at least 1")
    envs = make_envs(episodes)
    rng = np.random.default_rng(seed)
    obs, _ = envs.reset(seed=[seed + i for i in range(episodes)])
    totals = np.zeros(episodes)
    alive = np.ones(episodes, dtype=bool)
    while alive.any():
        obs, reward, terminated, truncated, _ = envs.step(policy.act(obs, rng, greedy=greedy))
        totals += np.where(alive, reward, 0.0)
        alive &= ~(terminated | truncated)
    envs.close()
    return float(totals.mean())


def plot_returns(returns, path, window: int = 20, title: str = "") -> Path:
    """Plot per-episode returns, their moving average over ``window`` episodes and the 475
    "solved" line, as a PNG at ``path`` (matplotlib's Agg backend: no screen needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    returns = np.asarray(returns, dtype=np.float64)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, ax = plt.subplots(figsize=(7, 4))
    episodes = np.arange(1, len(returns) + 1)
    ax.plot(episodes, returns, alpha=0.35, lw=0.8, label="episode return")
    if len(returns) >= window:
        average = np.convolve(returns, np.ones(window) / window, mode="valid")
        ax.plot(episodes[window - 1:], average, lw=2, label=f"mean of last {window}")
    ax.axhline(SOLVED, color="k", ls="--", lw=1, label=f"solved ({SOLVED:.0f})")
    ax.set(xlabel="episode", ylabel="return", ylim=(0, 520), title=title or ENV_ID)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


@dataclass
class TrainResult:
    """What ``train_cartpole`` returns: the trained ``model``, every finished training episode's
    ``returns`` (in order of finishing), the environment ``steps`` taken, the wall time in
    ``seconds`` and the files written (``plot``, ``checkpoint``; None without ``out_dir``)."""

    model: ActorCritic
    returns: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    plot: Path | None = None
    checkpoint: Path | None = None


def _update(model: ActorCritic, opt, obs, actions, returns, advantages, entropy_coef: float,
            value_coef: float) -> None:
    """One gradient step on ``policy_gradient_loss + value_coef * value_loss`` for a batch."""
    logits, values = model(obs)
    loss = policy_gradient_loss(logits, actions, advantages, entropy_coef) \
        + value_loss(values, returns) * value_coef
    opt.zero_grad()
    loss.backward()
    ndl.optim.clip_grad_norm(model.parameters(), 1.0)
    opt.step()


def train_cartpole(method: str = "a2c", seed: int = 0, episodes: int = 1000,
                   max_steps: int | None = None, num_envs: int = 8, n_steps: int = 16,
                   gamma: float = 0.99, lr: float | None = None, entropy_coef: float = 0.01,
                   value_coef: float = 0.5, hidden: int = 64, stop_at: float | None = SOLVED,
                   window: int = 20, device=None, out_dir=None, progress: bool = True
                   ) -> TrainResult:
    """Train an ``ActorCritic`` on CartPole-v1 with REINFORCE with baseline or A2C, with Adam.

    - ``"reinforce"`` (Williams 1992; Sutton & Barto 13.3-13.4): each update runs ``num_envs``
      whole episodes, takes their Monte-Carlo returns, normalised advantages ``G_t - V(s_t)`` and
      one step on the policy-gradient loss plus the value regression.
    - ``"a2c"`` (Mnih et al. 2016; Sutton & Barto 13.5): each update steps ``num_envs``
      environments ``n_steps`` times and uses ``n``-step returns bootstrapped from ``V``; where
      an episode is cut off at 500 steps (truncated, not failed) the return continues with
      ``gamma * V(final state)``.

    Training stops after ``episodes`` finished episodes (a few more where several environments
    finish in the same step), or ``max_steps`` environment steps, or
    as soon as the mean return of the last ``window`` training episodes reaches ``stop_at``
    (None: never). Seeds: ``ndl.manual_seed(seed)`` for the weights, a NumPy generator for the
    actions, environment resets from ``seed``.

    Args:
        lr: Adam's learning rate; None: 0.002 for ``"a2c"``, 0.005 for ``"reinforce"`` (one update
            per ``num_envs`` episodes, so fewer updates).
        device: a needle device or its name (``"cpu"``, ``"cuda"``, ``"cuda_emu"``); None:
            needle's default.
        out_dir: folder for ``rl_<method>_returns.png`` (the return curve) and
            ``rl_<method>.npz`` (a ``needle.checkpoint``: the model, the optimiser and, as its
            ``epoch``, the number of training episodes); None writes nothing.
        progress: a tqdm bar over episodes (shown on a terminal only).

    Returns:
        A ``TrainResult``.

    Raises:
        ValueError: for an unknown ``method`` or device name, or a budget, ``num_envs`` or
            ``n_steps`` below 1.
    """
    if method not in METHODS:
        raise ValueError(f"train_cartpole: method {method!r}; expected one of {METHODS}")
    for name, value in (("episodes", episodes), ("num_envs", num_envs), ("n_steps", n_steps),
                        ("max_steps", 1 if max_steps is None else max_steps)):
        if value < 1:
            raise ValueError(f"train_cartpole: {name}={value}; expected at least 1")
    if isinstance(device, str):
        device = device_by_name(device)
    from tqdm import tqdm

    ndl.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ActorCritic(hidden=hidden, device=device)
    opt = ndl.optim.Adam(model.parameters(), lr=LEARNING_RATES[method] if lr is None else lr)
    envs = make_envs(num_envs)
    obs, _ = envs.reset(seed=seed)
    result = TrainResult(model)
    running = np.zeros(num_envs)
    start = time.perf_counter()

    def finished(reward, done) -> bool:
        """Count finished episodes; True when training should stop."""
        nonlocal running
        running += reward
        for total in running[done]:
            result.returns.append(float(total))
            bar.update(1)
        running = np.where(done, 0.0, running)
        if done.any():
            bar.set_postfix(mean=f"{np.mean(result.returns[-window:]):.0f}")
        recent = result.returns[-window:]
        return (len(result.returns) >= episodes
                or (max_steps is not None and result.steps >= max_steps)
                or (stop_at is not None and len(recent) == window and np.mean(recent) >= stop_at))

    with tqdm(total=episodes, desc=f"CartPole {method}", unit="episode", leave=False,
              disable=None if progress else True) as bar:
        done_training = False
        while not done_training:
            batch_obs, batch_actions, batch_rewards, batch_dones = [], [], [], []
            if method == "reinforce":
                # One whole episode per environment, each from a fresh reset: steps after an
                # environment's first episode ends are masked out (``alive``).
                obs, _ = envs.reset()
                alive = np.ones(num_envs, dtype=bool)
                alive_mask = []
                while alive.any():
                    actions = model.act(obs, rng)
                    next_obs, reward, terminated, truncated, _ = envs.step(actions)
                    done = terminated | truncated
                    batch_obs.append(obs)
                    batch_actions.append(actions)
                    batch_rewards.append(np.where(alive, reward, 0.0))
                    batch_dones.append(done | ~alive)
                    alive_mask.append(alive.copy())
                    result.steps += int(alive.sum())
                    done_training |= finished(np.where(alive, reward, 0.0), done & alive)
                    alive &= ~done
                    obs = next_obs
                mask = np.array(alive_mask)
                returns = discounted_returns(np.array(batch_rewards), gamma, np.array(batch_dones))
                flat_obs = np.array(batch_obs)[mask]
                flat_returns = returns[mask]
                advantages = compute_advantages(flat_returns, model.values(flat_obs), normalize=True)
                _update(model, opt, flat_obs, np.array(batch_actions)[mask], flat_returns,
                        advantages, 0.0, value_coef)
            else:
                for _ in range(n_steps):
                    actions = model.act(obs, rng)
                    next_obs, reward, terminated, truncated, info = envs.step(actions)
                    raw, reward = reward, reward.astype(np.float64)
                    done = terminated | truncated
                    cut = truncated & ~terminated
                    if cut.any():  # bootstrap a time-limit cut-off: the episode did not fail
                        final = np.stack([info["final_obs"][i] for i in np.flatnonzero(cut)])
                        reward[cut] += gamma * model.values(final)
                    batch_obs.append(obs)
                    batch_actions.append(actions)
                    batch_rewards.append(reward)
                    batch_dones.append(done)
                    result.steps += num_envs
                    done_training |= finished(raw, done)
                    obs = next_obs
                returns = discounted_returns(np.array(batch_rewards), gamma, np.array(batch_dones),
                                             last_value=model.values(obs))
                flat_obs = np.concatenate(batch_obs)
                flat_returns = returns.reshape(-1)
                advantages = compute_advantages(flat_returns, model.values(flat_obs), normalize=True)
                _update(model, opt, flat_obs, np.concatenate(batch_actions), flat_returns,
                        advantages, entropy_coef, value_coef)
    envs.close()
    result.seconds = time.perf_counter() - start
    if out_dir:
        out = Path(out_dir)
        result.plot = plot_returns(result.returns, out / f"rl_{method}_returns.png", window,
                                   f"{ENV_ID}: {method}, seed {seed}")
        result.checkpoint = out / f"rl_{method}.npz"
        save_checkpoint(result.checkpoint, model=model, optimizer=opt, epoch=len(result.returns))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="a2c", choices=METHODS)
    parser.add_argument("--episodes", type=int, default=1000,
                        help="most training episodes (training stops earlier once solved)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=DEVICES)
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    args = parser.parse_args(argv)
    try:
        device = device_by_name(args.device)
    except ValueError as error:
        parser.error(str(error))
    result = train_cartpole(args.method, seed=args.seed, episodes=args.episodes,
                            device=device, out_dir=args.out)
    score = evaluate(result.model, episodes=100)
    verdict = "solved" if score >= SOLVED else "NOT SOLVED"
    print(f"CartPole-v1 {args.method}: {len(result.returns)} training episodes, {result.steps} steps, "
          f"{result.seconds:.1f} s; mean return over 100 evaluation episodes {score:.1f} "
          f"(solved at {SOLVED:.0f}) {verdict}; curve in {result.plot}")
    return 0  # a run that falls short is a result, not a failure: the slow test asserts the target


if __name__ == "__main__":
    sys.exit(main())
