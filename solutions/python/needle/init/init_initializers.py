"""hw2: weight initialisers, with the gains and fan conventions of PyTorch's ``torch.nn.init``.

Each initialiser returns a tensor of shape ``(fan_in, fan_out)``, the layout of needle's
``Linear`` weight, or of the keyword ``shape`` when given (CMU needle's keyword, e.g. a
convolution kernel's ``(k, k, in_channels, out_channels)`` with ``fan_in = k * k * in_channels``):
the fans set the scale, ``shape`` only the layout. Each raises TypeError or ValueError, naming
it, for a fan or a ``shape`` entry that is not a positive integer.

The fans are the course's ``n_in`` and ``n_out`` (``docs/notation.md#optimisation``). Xavier
keeps ``Var(W) = gain^2 * 2 / (fan_in + fan_out)``, the compromise between the forward
(``fan_in * Var(W) = 1``) and backward (``fan_out * Var(W) = 1``) conditions; Kaiming keeps
``Var(W) = gain^2 / fan_in``, with ``gain^2 = 2`` for a ReLU, which zeroes half of its
input's second moment. A uniform ``U(-a, a)`` has variance ``a^2 / 3``. Sources:
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


def uniform(fan_in: int, fan_out: int, low: float = 0.0, high: float = 1.0, *,
            shape: tuple[int, ...] | None = None, **kwargs):
    """Samples from U(low, high).

    Of shape ``shape`` (default ``(fan_in, fan_out)``).
    """
    shape = _shape("uniform", fan_in, fan_out, shape)
    ### BEGIN SOLUTION hw2
    return rand(*shape, low=low, high=high, **kwargs)
    ### END SOLUTION


def normal(fan_in: int, fan_out: int, mean: float = 0.0, std: float = 1.0, *,
           shape: tuple[int, ...] | None = None, **kwargs):
    """Samples from N(mean, std^2).

    Of shape ``shape`` (default ``(fan_in, fan_out)``).
    """
    shape = _shape("normal", fan_in, fan_out, shape)
    ### BEGIN SOLUTION hw2
    return randn(*shape, mean=mean, std=std, **kwargs)
    ### END SOLUTION


def xavier_uniform(fan_in: int, fan_out: int, gain: float = 1.0, *,
                   shape: tuple[int, ...] | None = None, **kwargs):
    """U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Of shape ``shape`` (default ``(fan_in, fan_out)``).
    """
    shape = _shape("xavier_uniform", fan_in, fan_out, shape)
    ### BEGIN SOLUTION hw2
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return rand(*shape, low=-a, high=a, **kwargs)
    ### END SOLUTION


def xavier_normal(fan_in: int, fan_out: int, gain: float = 1.0, *,
                  shape: tuple[int, ...] | None = None, **kwargs):
    """N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Of shape ``shape`` (default ``(fan_in, fan_out)``).
    """
    shape = _shape("xavier_normal", fan_in, fan_out, shape)
    ### BEGIN SOLUTION hw2
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return randn(*shape, std=std, **kwargs)
    ### END SOLUTION


def kaiming_uniform(fan_in: int, fan_out: int, nonlinearity: str = "relu", *,
                    shape: tuple[int, ...] | None = None, **kwargs):
    """U(-b, b) with ``b = gain * sqrt(3 / fan_in)`` (fan_in mode).

    Of shape ``shape`` (default ``(fan_in, fan_out)``).
    """
    shape = _shape("kaiming_uniform", fan_in, fan_out, shape)
    ### BEGIN SOLUTION hw2
    bound = calculate_gain(nonlinearity) * math.sqrt(3.0 / fan_in)
    return rand(*shape, low=-bound, high=bound, **kwargs)
    ### END SOLUTION


def kaiming_normal(fan_in: int, fan_out: int, nonlinearity: str = "relu", *,
                   shape: tuple[int, ...] | None = None, **kwargs):
    """N(0, std^2) with ``std = gain / sqrt(fan_in)`` (fan_in mode).

    Of shape ``shape`` (default ``(fan_in, fan_out)``).
    """
    shape = _shape("kaiming_normal", fan_in, fan_out, shape)
    ### BEGIN SOLUTION hw2
    std = calculate_gain(nonlinearity) / math.sqrt(fan_in)
    return randn(*shape, std=std, **kwargs)
    ### END SOLUTION


def _shape(name: str, fan_in, fan_out, shape) -> tuple[int, ...]:
    """The checked output shape: ``shape``, or ``(fan_in, fan_out)`` when it is None."""
    positive_int(name, "fan_in", fan_in)
    positive_int(name, "fan_out", fan_out)
    if shape is None:
        return (fan_in, fan_out)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{name}: shape must be a tuple of ints, got {type(shape).__name__}")
    return tuple(positive_int(name, f"shape[{axis}]", n) for axis, n in enumerate(shape))
