"""hw2: optimisers, gradient clipping and learning-rate schedules, as ``torch.optim``.

Updates follow PyTorch's rules exactly, so a step can be checked against ``torch.optim``. They
run under ``no_grad`` and replace each parameter's data: they never change ``.grad`` in place
and never add to the graph.

Optimisers and schedulers save and restore their state with ``state_dict()`` and
``load_state_dict()`` in PyTorch's layout, with NumPy arrays in place of tensors, so that
``needle.checkpoint`` can write them without pickle.
"""
from __future__ import annotations

import numbers

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .autograd import Tensor, no_grad
from .checks import in_unit_interval, non_negative, positive_int

__all__ = ["Optimizer", "SGD", "Adam", "clip_grad_norm", "LRScheduler", "StepLR",
           "CosineAnnealingLR", "LinearLR", "OneCycleLR"]


class Optimizer:
    """Base class: holds the parameters and the learning rate ``lr``.

    Raises:
        TypeError: if ``params`` is a Tensor or holds something other than Tensors (as
            PyTorch: pass ``module.parameters()`` or a list of Tensors).
        ValueError: for an empty parameter list or a negative ``lr``; the subclasses check their
            own settings likewise, with PyTorch's bounds.
    """

    def __init__(self, params: Iterable[Tensor], lr: float):
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of Tensors, got a Tensor of "
                            f"shape {params.shape}; pass [tensor] or module.parameters()")
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{name}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: params must hold Tensors, but item {i} is of type "
                                f"{type(p).__name__}")
        self.lr = non_negative(name, "lr", lr)

    def step(self) -> None:
        """Update every parameter that has a gradient (one whose ``grad`` is None is skipped).

        What the tests check, beyond the updated values: each parameter is given new data
        (``p.data = ...``, computed under ``no_grad``) and stays a leaf with
        ``requires_grad`` True and its dtype; ``p.grad`` is left as it was, the same Tensor
        with the same values; and nothing is added to the graph.
        """
        raise NotImplementedError()

    def zero_grad(self) -> None:
        """Forget the gradients (``p.grad = None``), as ``torch.optim.Optimizer.zero_grad``."""
        for p in self.params:
            p.grad = None

    reset_grad = zero_grad  # CMU needle's name

    # ---- saving and restoring (given code) ----------------------------------------------

    def hyperparameters(self) -> dict[str, Any]:
        """The settings saved in ``state_dict()["param_groups"][0]`` (``lr`` and the
        subclass's own, under PyTorch's names)."""
        return {"lr": self.lr}

    def parameter_state(self, p: Tensor) -> dict[str, Any]:
        """The state this optimiser keeps for parameter ``p`` (empty before its first update),
        as NumPy arrays and numbers under PyTorch's names."""
        return {}

    def set_parameter_state(self, p: Tensor, state: dict[str, Any]) -> None:
        """Restore what ``parameter_state(p)`` gave (arrays already checked against ``p``)."""

    def set_hyperparameters(self, group: dict[str, Any]) -> None:
        """Restore what ``hyperparameters()`` gave."""
        self.lr = non_negative(type(self).__name__, "lr", group["lr"])

    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state in ``torch.optim.Optimizer.state_dict``'s layout:
        ``{"state": {i: {name: value}}, "param_groups": [{"lr": ..., ..., "params": [0, 1, ...]}]}``,
        where ``i`` is a parameter's index in ``params``, each array a NumPy copy (of the
        parameter's shape and dtype), and a parameter without state (not yet updated) absent.
        Holds no Tensors, so ``needle.checkpoint`` can save it without pickle.
        """
        state = {i: st for i, p in enumerate(self.params) if (st := self.parameter_state(p))}
        group = {**self.hyperparameters(), "params": list(range(len(self.params)))}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` (this optimiser's class, the same parameters' shapes, in
        the same order), settings included, as ``torch.optim.Optimizer.load_state_dict``. The
        parameters' values are the model's to restore, not the optimiser's. Keys of ``state``
        may be ints or their strings (as JSON writes them).

        Raises:
            ValueError: if ``state_dict`` lacks ``state`` or ``param_groups``, has other than
                one parameter group, a different number of parameters, or an array whose shape
                differs from its parameter's (the message names the index and both shapes).
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            got = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{name}.load_state_dict: expected a dict with keys 'state' and "
                             f"'param_groups', got {got}")
        groups = state_dict["param_groups"]
        if len(groups) != 1:
            raise ValueError(f"{name}.load_state_dict: expected 1 parameter group, got {len(groups)}")
        if len(groups[0]["params"]) != len(self.params):
            raise ValueError(f"{name}.load_state_dict: the saved state has {len(groups[0]['params'])} "
                             f"parameters, this optimiser {len(self.params)}")
        state = {int(i): st for i, st in state_dict["state"].items()}
        for i, st in state.items():
            if not 0 <= i < len(self.params):
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, but there are "
                                 f"{len(self.params)} parameters")
            for key, value in st.items():
                if isinstance(value, np.ndarray) and value.shape != self.params[i].shape:
                    raise ValueError(f"{name}.load_state_dict: {key} of parameter {i} has shape "
                                     f"{value.shape}, the parameter {self.params[i].shape}")
        self.set_hyperparameters(groups[0])
        for i, p in enumerate(self.params):
            self.set_parameter_state(p, state.get(i, {}))


class SGD(Optimizer):
    """Stochastic gradient descent with momentum and L2 weight decay (``torch.optim.SGD``):

    ``g = grad + weight_decay * p``; ``u = momentum * u + g`` (u = g on the first step);
    ``p = p - lr * u``. Sutskever et al., ICML 2013, in PyTorch's formulation; the course's
    ``u_t = beta u_{t-1} + g_t``, ``theta_t = theta_{t-1} - eta u_t``
    (``docs/notation.md#optimisation``).

    The momentum buffer ``u`` of parameter ``p`` lives in ``self.u[id(p)]`` (a Tensor of ``p``'s
    shape); ``state_dict()`` saves it as PyTorch's ``momentum_buffer``.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.momentum = non_negative("SGD", "momentum", momentum)
        self.weight_decay = non_negative("SGD", "weight_decay", weight_decay)
        self.u: dict[int, Tensor] = {}

    def step(self) -> None:
        """One SGD update of every parameter with a gradient, as ``Optimizer.step`` requires;
        with ``momentum``, each parameter's buffer is read from and stored in ``self.u[id(p)]``."""
        # TODO (hw2, question 4): implement SGD.step (Optimisers)
        raise NotImplementedError("SGD.step: hw2")

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay}

    def set_hyperparameters(self, group: dict[str, Any]) -> None:
        super().set_hyperparameters(group)
        self.momentum = non_negative("SGD", "momentum", group["momentum"])
        self.weight_decay = non_negative("SGD", "weight_decay", group["weight_decay"])

    def parameter_state(self, p: Tensor) -> dict[str, Any]:
        return {"momentum_buffer": self.u[id(p)].numpy().copy()} if id(p) in self.u else {}

    def set_parameter_state(self, p: Tensor, state: dict[str, Any]) -> None:
        self.u.pop(id(p), None)
        if "momentum_buffer" in state:
            self.u[id(p)] = Tensor(state["momentum_buffer"], device=p.device)


class Adam(Optimizer):
    """Adam with bias correction and L2 weight decay (Kingma & Ba, ICLR 2015; ``torch.optim.Adam``):

    ``g = grad + weight_decay * p``; ``m = beta1 m + (1 - beta1) g``;
    ``v = beta2 v + (1 - beta2) g * g`` (elementwise); ``p = p - lr * m_hat / (sqrt(v_hat) + eps)``
    with ``m_hat = m / (1 - beta1^t)``, ``v_hat = v / (1 - beta2^t)``: the course's
    ``m_t``, ``v_t`` (``docs/notation.md#optimisation``).

    The step count ``t`` lives in ``self.t`` (one count for all parameters), the moments of
    parameter ``p`` in ``self.m[id(p)]`` and ``self.v[id(p)]`` (Tensors of ``p``'s shape);
    ``state_dict()`` saves them as PyTorch's ``step``, ``exp_avg`` and ``exp_avg_sq``, and
    ``betas`` for ``(beta1, beta2)``.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 0.001, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.beta1 = in_unit_interval("Adam", "beta1", beta1)
        self.beta2 = in_unit_interval("Adam", "beta2", beta2)
        self.eps = non_negative("Adam", "eps", eps)
        self.weight_decay = non_negative("Adam", "weight_decay", weight_decay)
        self.t = 0
        self.m: dict[int, Tensor] = {}
        self.v: dict[int, Tensor] = {}

    def step(self) -> None:
        """One Adam update of every parameter with a gradient, as ``Optimizer.step`` requires;
        ``self.t`` counts the calls, and each parameter's moments are read from and stored in
        ``self.m[id(p)]`` and ``self.v[id(p)]``."""
        # TODO (hw2, question 4): implement Adam.step (Optimisers)
        raise NotImplementedError("Adam.step: hw2")

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "betas": [self.beta1, self.beta2], "eps": self.eps,
                "weight_decay": self.weight_decay}

    def set_hyperparameters(self, group: dict[str, Any]) -> None:
        super().set_hyperparameters(group)
        self.beta1 = in_unit_interval("Adam", "beta1", group["betas"][0])
        self.beta2 = in_unit_interval("Adam", "beta2", group["betas"][1])
        self.eps = non_negative("Adam", "eps", group["eps"])
        self.weight_decay = non_negative("Adam", "weight_decay", group["weight_decay"])

    def parameter_state(self, p: Tensor) -> dict[str, Any]:
        if id(p) not in self.m:
            return {}
        return {"step": self.t, "exp_avg": self.m[id(p)].numpy().copy(),
                "exp_avg_sq": self.v[id(p)].numpy().copy()}

    def set_parameter_state(self, p: Tensor, state: dict[str, Any]) -> None:
        self.m.pop(id(p), None)
        self.v.pop(id(p), None)
        if state:
            self.t = int(state["step"])  # one count for all: each parameter saved the same
            self.m[id(p)] = Tensor(state["exp_avg"], device=p.device)
            self.v[id(p)] = Tensor(state["exp_avg_sq"], device=p.device)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.t = 0  # a saved state with no moments is one before the first step
        super().load_state_dict(state_dict)


def clip_grad_norm(parameters: Iterable[Tensor], max_norm: float) -> float:
    """Scale the gradients so that their joint L2 norm is at most ``max_norm``, as
    ``torch.nn.utils.clip_grad_norm_`` (scale ``max_norm / (norm + 1e-6)`` when the norm is larger).

    Each ``.grad`` is replaced by a new scaled Tensor, never changed in place.

    Returns:
        The norm before clipping, a float.

    Raises:
        ValueError: for a negative ``max_norm``.
    """
    non_negative("clip_grad_norm", "max_norm", max_norm)
    # TODO (hw2, question 4): implement clip_grad_norm (Optimisers)
    raise NotImplementedError("clip_grad_norm: hw2")


class LRScheduler:
    """Base class of the learning-rate schedules (``torch.optim.lr_scheduler.LRScheduler``):
    ``step()`` advances ``last_epoch`` by one and sets the optimiser's ``lr`` to ``get_lr()``,
    the schedule's rate at ``last_epoch``. Call ``step()`` after ``optimizer.step()``: once per
    epoch for ``StepLR`` and ``CosineAnnealingLR`` as usually used, once per batch for
    ``OneCycleLR``.

    A schedule starts at ``last_epoch = 0`` with ``base_lr``, the optimiser's ``lr`` when the
    scheduler is made; a schedule whose rate at epoch 0 differs from it (``LinearLR``,
    ``OneCycleLR``) sets it at once, as PyTorch's do. The rates are computed in closed form from
    ``last_epoch``, so a schedule restored by ``load_state_dict`` continues exactly.

    Raises:
        TypeError: if ``optimizer`` is not an Optimizer.
    """

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr, self.last_epoch = optimizer.lr, 0

    def get_lr(self) -> float:
        """The learning rate at ``self.last_epoch``."""
        raise NotImplementedError()

    def step(self) -> None:
        """Advance one epoch (or batch) and set the optimiser's ``lr`` to the schedule's."""
        self.last_epoch += 1
        self.optimizer.lr = self.get_lr()

    def get_last_lr(self) -> list[float]:
        """The learning rate the schedule last set, one per parameter group (needle has one),
        as ``torch.optim.lr_scheduler.LRScheduler.get_last_lr``."""
        return [self.optimizer.lr]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimiser, as PyTorch: numbers and strings, JSON-ready."""
        return {key: value for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` of this class (it does not change the optimiser's ``lr``,
        which the optimiser's own state restores).

        Raises:
            ValueError: for keys this scheduler does not have (another class's state), a value
                of another kind than this scheduler's (a string for a number), or values with
                which ``get_lr`` fails (``T_max = 0``); the scheduler is left as it was.
        """
        name, current = type(self).__name__, self.state_dict()
        unknown = sorted(set(state_dict) - set(current))
        if unknown:
            raise ValueError(f"{name}.load_state_dict: unknown keys {unknown}; "
                             f"expected {sorted(current)}")
        for key, value in state_dict.items():
            if _kind(value) != _kind(current[key]):
                raise ValueError(f"{name}.load_state_dict: {key}={value!r}; expected a "
                                 f"{_kind(current[key])} like {current[key]!r}")
        self.__dict__.update(state_dict)
        try:
            self.get_lr()
        except (ArithmeticError, ValueError, TypeError, KeyError) as error:
            self.__dict__.update(current)
            raise ValueError(f"{name}.load_state_dict: the saved values give no learning rate "
                             f"({type(error).__name__}: {error})") from None


def _kind(value: Any) -> str:
    """"number" (bool excepted), "string", "list" or the type's name: what a state value must keep."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return "number"
    kinds: dict[type, str] = {str: "string", list: "list", tuple: "list"}
    return kinds.get(type(value), type(value).__name__)


class StepLR(LRScheduler):
    """Multiply the optimiser's ``lr`` by ``gamma`` every ``step_size`` calls to ``step()``
    (``torch.optim.lr_scheduler.StepLR``); call it once per epoch.

    Raises:
        TypeError: if ``optimizer`` is not an Optimizer.
        TypeError, ValueError: for a ``step_size`` that is not a positive integer, or a
            negative ``gamma``.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        super().__init__(optimizer)
        self.step_size = positive_int("StepLR", "step_size", step_size)
        self.gamma = non_negative("StepLR", "gamma", gamma)

    def get_lr(self) -> float:
        """``base_lr * gamma ** (last_epoch // step_size)``, the rate after ``last_epoch`` calls
        to ``step()`` (``LRScheduler.step`` calls this and sets the optimiser's ``lr``)."""
        # TODO (hw2, question 4): implement StepLR.get_lr (Optimisers)
        raise NotImplementedError("StepLR.get_lr: hw2")


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from ``base_lr`` down to ``eta_min`` over ``T_max`` steps
    (``torch.optim.lr_scheduler.CosineAnnealingLR``; Loshchilov & Hutter, "SGDR: Stochastic
    Gradient Descent with Warm Restarts", ICLR 2017, eq. 5, without the restarts):

    ``lr_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2``.

    Past ``T_max`` the cosine continues, so the rate rises again, as PyTorch's does.

    Example:
        >>> opt = SGD([Tensor([1.0])], lr=1.0)
        >>> scheduler = CosineAnnealingLR(opt, T_max=4)
        >>> [round((scheduler.step(), opt.lr)[1], 4) for _ in range(4)]
        [0.8536, 0.5, 0.1464, 0.0]

    Raises:
        TypeError: if ``optimizer`` is not an Optimizer.
        TypeError, ValueError: for a ``T_max`` that is not a positive integer, or a negative
            ``eta_min``.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        super().__init__(optimizer)
        self.T_max = positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = non_negative("CosineAnnealingLR", "eta_min", eta_min)

    def get_lr(self) -> float:
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return self.eta_min + (self.base_lr - self.eta_min) * cosine


class LinearLR(LRScheduler):
    """Scale ``base_lr`` by a factor moving linearly from ``start_factor`` to ``end_factor``
    over ``total_iters`` steps, then holding (``torch.optim.lr_scheduler.LinearLR``; a linear
    warm-up with the defaults, as Goyal et al. 2017, "Accurate, Large Minibatch SGD", sec. 2.2):

    ``lr_t = base_lr * (start_factor + (end_factor - start_factor) * min(t, total_iters) / total_iters)``.

    Example:
        >>> opt = SGD([Tensor([1.0])], lr=0.3)
        >>> scheduler = LinearLR(opt, start_factor=0.5, total_iters=2)
        >>> [round(opt.lr, 4)] + [round((scheduler.step(), opt.lr)[1], 4) for _ in range(3)]
        [0.15, 0.225, 0.3, 0.3]

    Raises:
        TypeError: if ``optimizer`` is not an Optimizer.
        ValueError: for a ``start_factor`` outside ``(0, 1]`` or an ``end_factor`` outside
            ``[0, 1]`` (PyTorch's bounds).
        TypeError, ValueError: for a ``total_iters`` that is not a positive integer.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5):
        super().__init__(optimizer)
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor}")
        self.start_factor = float(start_factor)
        self.end_factor = in_unit_interval("LinearLR", "end_factor", end_factor, closed=True)
        self.total_iters = positive_int("LinearLR", "total_iters", total_iters)
        self.optimizer.lr = self.get_lr()

    def get_lr(self) -> float:
        progress = min(self.last_epoch, self.total_iters) / self.total_iters
        return self.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class OneCycleLR(LRScheduler):
    """The one-cycle policy (Smith & Topin, "Super-Convergence: Very Fast Training of Neural
    Networks Using Large Learning Rates", 2019; ``torch.optim.lr_scheduler.OneCycleLR``):
    the rate rises from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of
    ``total_steps``, then falls to ``max_lr / (div_factor * final_div_factor)`` at the last
    step. With ``three_phase`` it falls back to the initial rate over a second, equal phase
    before the final descent. Each phase anneals by ``anneal_strategy``: ``"cos"``,
    ``end + (start - end) * (1 + cos(pi * pct)) / 2``, or ``"linear"``, with ``pct`` the
    fraction of the phase done, as PyTorch computes it. Call ``step()`` once per batch.

    It sets the learning rate only: the momentum cycling of the paper (PyTorch's
    ``cycle_momentum=True``) is left out, so it matches PyTorch with ``cycle_momentum=False``.
    The optimiser's ``lr`` is replaced by ``max_lr / div_factor`` on construction.

    Args:
        total_steps: steps in the cycle; or give ``epochs`` and ``steps_per_epoch``, whose
            product it then is.

    Example:
        >>> opt = SGD([Tensor([1.0])], lr=0.1)
        >>> scheduler = OneCycleLR(opt, max_lr=1.0, total_steps=5, pct_start=0.4, div_factor=10,
        ...                        final_div_factor=100, anneal_strategy="linear")
        >>> [round(opt.lr, 4)] + [round((scheduler.step(), opt.lr)[1], 4) for _ in range(4)]
        [0.1, 1.0, 0.667, 0.334, 0.001]

    Raises:
        TypeError: if ``optimizer`` is not an Optimizer.
        TypeError, ValueError: for a ``total_steps``, ``epochs`` or ``steps_per_epoch`` that
            is not a positive integer, or neither ``total_steps`` nor both of the others.
        ValueError: for a ``pct_start`` outside ``[0, 1]``, an ``anneal_strategy`` other than
            "cos" or "linear", a negative ``max_lr`` or a non-positive divisor; and from
            ``step()``, for stepping past ``total_steps`` (PyTorch's message).
    """

    def __init__(self, optimizer: Optimizer, max_lr: float, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos", div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False):
        super().__init__(optimizer)
        if total_steps is not None:
            self.total_steps = positive_int("OneCycleLR", "total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (positive_int("OneCycleLR", "epochs", epochs)
                                * positive_int("OneCycleLR", "steps_per_epoch", steps_per_epoch))
        else:
            raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
        self.pct_start = in_unit_interval("OneCycleLR", "pct_start", pct_start, closed=True)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', "
                             f"got {anneal_strategy!r}")
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if non_negative("OneCycleLR", name, value) == 0:
                raise ValueError(f"OneCycleLR: {name} must be > 0, got {value}")
        self.anneal_strategy, self.three_phase = anneal_strategy, bool(three_phase)
        self.max_lr = non_negative("OneCycleLR", "max_lr", max_lr)
        self.initial_lr = self.max_lr / div_factor
        self.min_lr = self.initial_lr / final_div_factor
        self.optimizer.lr = self.base_lr = self.initial_lr

    def phases(self) -> list[tuple[float, float, float]]:
        """``(end_step, start_lr, end_lr)`` of each phase, PyTorch's boundaries."""
        rise = float(self.pct_start * self.total_steps) - 1
        last = float(self.total_steps - 1)
        if self.three_phase:
            return [(rise, self.initial_lr, self.max_lr),
                    (float(2 * self.pct_start * self.total_steps) - 2, self.max_lr, self.initial_lr),
                    (last, self.initial_lr, self.min_lr)]
        return [(rise, self.initial_lr, self.max_lr), (last, self.max_lr, self.min_lr)]

    def get_lr(self) -> float:
        if self.last_epoch > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {self.last_epoch} times. The specified "
                             f"number of total steps is {self.total_steps}")
        phases, start_step = self.phases(), 0.0
        for i, (end_step, start, end) in enumerate(phases):
            if self.last_epoch <= end_step or i == len(phases) - 1:
                pct = (self.last_epoch - start_step) / (end_step - start_step)
                if self.anneal_strategy == "linear":
                    return (end - start) * pct + start
                return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
            start_step = end_step
        raise AssertionError("unreachable: the last phase always matches")
