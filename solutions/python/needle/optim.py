"""hw2: optimisers, gradient clipping and a learning-rate schedule, as ``torch.optim``.

Updates follow PyTorch's rules exactly, so a step can be checked against ``torch.optim``. They
run under ``no_grad`` and replace each parameter's data: they never change ``.grad`` in place
and never add to the graph.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

from .autograd import Tensor, no_grad
from .checks import in_unit_interval, non_negative, positive_int

__all__ = ["Optimizer", "SGD", "Adam", "clip_grad_norm", "StepLR"]


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


class SGD(Optimizer):
    """Stochastic gradient descent with momentum and L2 weight decay (``torch.optim.SGD``):

    ``g = grad + weight_decay * p``; ``v = momentum * v + g`` (v = g on the first step);
    ``p = p - lr * v``. Sutskever et al., ICML 2013, in PyTorch's formulation.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.momentum = non_negative("SGD", "momentum", momentum)
        self.weight_decay = non_negative("SGD", "weight_decay", weight_decay)
        self.u: dict[int, Tensor] = {}

    def step(self) -> None:
        """One SGD update of every parameter with a gradient, as ``Optimizer.step`` requires."""
        ### BEGIN SOLUTION hw2
        with no_grad():
            for p in self.params:
                if p.grad is None:
                    continue
                g = p.grad + p.data * self.weight_decay if self.weight_decay else p.grad
                if self.momentum:
                    previous = self.u.get(id(p))
                    g = g if previous is None else previous * self.momentum + g
                    self.u[id(p)] = g
                p.data = Tensor(p.data - g * self.lr, dtype=p.dtype)
        ### END SOLUTION


class Adam(Optimizer):
    """Adam with bias correction and L2 weight decay (Kingma & Ba, ICLR 2015; ``torch.optim.Adam``):

    ``g = grad + weight_decay * p``; ``m = beta1 m + (1 - beta1) g``;
    ``v = beta2 v + (1 - beta2) g^2``; ``p = p - lr * m_hat / (sqrt(v_hat) + eps)`` with
    ``m_hat = m / (1 - beta1^t)``, ``v_hat = v / (1 - beta2^t)``.
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
        """One Adam update of every parameter with a gradient, as ``Optimizer.step`` requires."""
        ### BEGIN SOLUTION hw2
        self.t += 1
        with no_grad():
            for p in self.params:
                if p.grad is None:
                    continue
                g = p.grad + p.data * self.weight_decay if self.weight_decay else p.grad
                m = g * (1 - self.beta1) if id(p) not in self.m else \
                    self.m[id(p)] * self.beta1 + g * (1 - self.beta1)
                v = g * g * (1 - self.beta2) if id(p) not in self.v else \
                    self.v[id(p)] * self.beta2 + g * g * (1 - self.beta2)
                self.m[id(p)], self.v[id(p)] = m, v
                m_hat = m / (1 - self.beta1 ** self.t)
                v_hat = v / (1 - self.beta2 ** self.t)
                p.data = Tensor(p.data - m_hat * self.lr / (v_hat ** 0.5 + self.eps), dtype=p.dtype)
        ### END SOLUTION


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
    ### BEGIN SOLUTION hw2
    grads = [(p, p.grad) for p in parameters if p.grad is not None]
    total = math.sqrt(sum(float((grad.numpy().astype("float64") ** 2).sum()) for _, grad in grads))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        with no_grad():
            for p, grad in grads:
                p.grad = grad * scale
    return total
    ### END SOLUTION


class StepLR:
    """Multiply the optimiser's ``lr`` by ``gamma`` every ``step_size`` calls to ``step()``
    (``torch.optim.lr_scheduler.StepLR``); call it once per epoch.

    Raises:
        TypeError: if ``optimizer`` is not an Optimizer.
        TypeError, ValueError: for a ``step_size`` that is not a positive integer, or a
            negative ``gamma``.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"StepLR: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.step_size = positive_int("StepLR", "step_size", step_size)
        self.gamma = non_negative("StepLR", "gamma", gamma)
        self.base_lr, self.epoch = optimizer.lr, 0

    def step(self) -> None:
        ### BEGIN SOLUTION hw2
        self.epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma ** (self.epoch // self.step_size)
        ### END SOLUTION
