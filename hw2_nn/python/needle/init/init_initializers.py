"""hw2: weight initialisers, with the gains and fan conventions of PyTorch's ``torch.nn.init``.

Shapes are ``(fan_in, fan_out)``, the layout of needle's ``Linear`` weight; each initialiser
raises TypeError or ValueError, naming it, for a fan that is not a positive integer. Sources:
Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural networks"
(AISTATS 2010) for Xavier; He et al., "Delving Deep into Rectifiers" (ICCV 2015) for Kaiming.
"""
from __future__ import annotations

import math

from needle.checks import positive_int

from .init_basic import rand, randn

__all__ = ["uniform", "normal", "xavier_uniform", "xavier_normal", "kaiming_uniform",
           "kaiming_normal", "calculate_gain"]


def calculate_gain(nonlinearity: str) -> float:
    """The recommended gain for a nonlinearity, as ``torch.nn.init.calculate_gain``.

    Raises:
        ValueError: for a nonlinearity other than "linear", "sigmoid", "tanh" or "relu".
    """
    gains = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0)}
    if nonlinearity not in gains:
        raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; expected one of "
                         f"{sorted(gains)}")
    return gains[nonlinearity]


def uniform(fan_in: int, fan_out: int, low: float = 0.0, high: float = 1.0, **kwargs):
    """Samples from U(low, high), shape ``(fan_in, fan_out)``."""
    _check_fans("uniform", fan_in, fan_out)
    # TODO (hw2, question 2): implement uniform (Weight initialisers)
    raise NotImplementedError("uniform: hw2")


def normal(fan_in: int, fan_out: int, mean: float = 0.0, std: float = 1.0, **kwargs):
    """Samples from N(mean, std^2), shape ``(fan_in, fan_out)``."""
    _check_fans("normal", fan_in, fan_out)
    # TODO (hw2, question 2): implement normal (Weight initialisers)
    raise NotImplementedError("normal: hw2")


def xavier_uniform(fan_in: int, fan_out: int, gain: float = 1.0, **kwargs):
    """U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``, shape ``(fan_in, fan_out)``."""
    _check_fans("xavier_uniform", fan_in, fan_out)
    # TODO (hw2, question 2): implement xavier_uniform (Weight initialisers)
    raise NotImplementedError("xavier_uniform: hw2")


def xavier_normal(fan_in: int, fan_out: int, gain: float = 1.0, **kwargs):
    """N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``, shape ``(fan_in, fan_out)``."""
    _check_fans("xavier_normal", fan_in, fan_out)
    # TODO (hw2, question 2): implement xavier_normal (Weight initialisers)
    raise NotImplementedError("xavier_normal: hw2")


def kaiming_uniform(fan_in: int, fan_out: int, nonlinearity: str = "relu", **kwargs):
    """U(-b, b) with ``b = gain * sqrt(3 / fan_in)`` (fan_in mode), shape ``(fan_in, fan_out)``."""
    _check_fans("kaiming_uniform", fan_in, fan_out)
    # TODO (hw2, question 2): implement kaiming_uniform (Weight initialisers)
    raise NotImplementedError("kaiming_uniform: hw2")


def kaiming_normal(fan_in: int, fan_out: int, nonlinearity: str = "relu", **kwargs):
    """N(0, std^2) with ``std = gain / sqrt(fan_in)`` (fan_in mode), shape ``(fan_in, fan_out)``."""
    _check_fans("kaiming_normal", fan_in, fan_out)
    # TODO (hw2, question 2): implement kaiming_normal (Weight initialisers)
    raise NotImplementedError("kaiming_normal: hw2")


def _check_fans(name: str, fan_in, fan_out) -> None:
    positive_int(name, "fan_in", fan_in)
    positive_int(name, "fan_out", fan_out)
