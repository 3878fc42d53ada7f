"""Argument checks for needle's public surface, given to students.

Modules, initialisers, optimisers and data loaders call these before doing any work, so that a
bad argument fails at once with an error naming it, the value it got and what was expected
(as PyTorch's checks do), rather than later as a ZeroDivisionError, a NaN or a wrong answer.
Each check returns the value in its normal form (an ``int``, a ``float``, an int64 array).

Example:
    >>> positive_int("Linear", "in_features", 4)
    4
    >>> positive_int("Linear", "in_features", 0)
    Traceback (most recent call last):
    ...
    ValueError: Linear: in_features must be a positive integer, got 0
    >>> integer_ids("Embedding", "id", [[1.0, 2.7]])
    Traceback (most recent call last):
    ...
    ValueError: Embedding: id 2.7 is not an integer
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["positive_int", "non_negative", "in_unit_interval", "integer_ids", "axes_tuple",
           "normalize_axes", "normalize_axis"]


def positive_int(owner: str, name: str, value) -> int:
    """``value`` as an int, which must be an integer >= 1 (a size, a count, a step).

    Raises:
        TypeError: if ``value`` is not an integer (a float such as 2.5 or 2.0, a bool, None).
        ValueError: if it is below 1.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be a positive integer, got {value!r} "
                        f"({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value}")
    return int(value)


def non_negative(owner: str, name: str, value) -> float:
    """``value`` as a float, which must be a real number >= 0 (a learning rate, a decay).

    Raises:
        TypeError: if ``value`` is not a real number.
        ValueError: if it is negative or NaN.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number >= 0, got {value!r} "
                        f"({type(value).__name__})")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{owner}: {name} must be >= 0, got {value}")
    return float(value)


def in_unit_interval(owner: str, name: str, value, *, closed: bool = False) -> float:
    """``value`` as a float in ``[0, 1)`` (Adam's betas, a momentum coefficient's range), or
    in ``[0, 1]`` when ``closed`` (a fraction of a schedule).

    Raises:
        TypeError: if ``value`` is not a real number.
        ValueError: if it is outside the interval or NaN.
    """
    value = non_negative(owner, name, value)
    if value > 1 or (value == 1 and not closed):
        raise ValueError(f"{owner}: {name} must be in [0, 1{']' if closed else ')'}, got {value}")
    return value


def integer_ids(owner: str, what: str, ids, num: int | None = None) -> np.ndarray:
    """Integer ids or labels (a Tensor, an array, a list or a number) as an int64 array of the
    same shape, checked to hold whole numbers (a float array of whole numbers is fine, as
    Tensors are float) and, with ``num``, to lie in ``0 .. num - 1``.

    Raises:
        ValueError: for a fractional, NaN or infinite value, or one outside ``0 .. num - 1``
            (naming the first such value).
    """
    values = np.asarray(ids.numpy() if hasattr(ids, "numpy") else ids)
    if values.dtype == object or not (np.issubdtype(values.dtype, np.integer)
                                      or np.issubdtype(values.dtype, np.floating)
                                      or values.dtype == np.bool_):
        raise TypeError(f"{owner}: {what}s must be integers, got an array of {values.dtype}")
    if np.issubdtype(values.dtype, np.floating):
        fractional = ~np.isfinite(values) | (values != np.round(values))
        if fractional.any():
            raise ValueError(f"{owner}: {what} {_show(values[fractional].flat[0])} is not an "
                             f"integer")
    if num is not None:
        outside = (values < 0) | (values >= num)
        if outside.any():
            raise ValueError(f"{owner}: {what} {_show(values[outside].flat[0])} is outside "
                             f"0..{num - 1}")
    return values.astype(np.int64)


def axes_tuple(owner: str, axes) -> tuple[int, ...] | None:
    """``axes`` (None, an integer such as 1 or ``np.int64(1)``, or a sequence of them) as a
    tuple of ints, or None; checked for type only (an op's constructor does not know the shape).

    Raises:
        TypeError: for an axis that is not an integer (a float, a bool, None), naming it.
    """
    if axes is None:
        return None
    if isinstance(axes, numbers.Integral):
        axes = (axes,)
    try:
        axes = tuple(axes)
    except TypeError:
        raise TypeError(f"{owner}: axes must be an int, a sequence of ints or None, "
                        f"got {axes!r}") from None
    return tuple(_integer_axis(owner, axis) for axis in axes)


def _integer_axis(owner: str, axis) -> int:
    """``axis`` as an int (from a NumPy integer too), or a TypeError naming it."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{owner}: axis {axis!r} is not an integer ({type(axis).__name__})")
    return int(axis)


def normalize_axes(owner: str, axes, ndim: int) -> tuple[int, ...]:
    """``axes`` of an ``ndim``-d array, in increasing order and made non-negative (``-1`` is
    ``ndim - 1``), as NumPy's reductions read them. None means every axis.

    The one axis check of needle: Tensor ops (``Summation``, ``LogSumExp``, ``Flip``, ...) and
    NDArray (``flip``, ``sum``, ``max``) call it, so an axis is refused with one message wherever
    it is given.

    Raises:
        TypeError: for an axis that is not an integer, naming it.
        ValueError: for an axis outside ``-ndim .. ndim - 1``, or one given twice, naming it.

    Example:
        >>> normalize_axes("sum", (-1, 0), 3)
        (0, 2)
        >>> normalize_axes("sum", (0, -3), 3)
        Traceback (most recent call last):
        ...
        ValueError: sum: axes (0, -3) repeat axis 0
    """
    if axes is None:
        return tuple(range(ndim))
    if type(axes) is int:  # the common cases, without the checks' calls: one int axis,
        if -ndim <= axes < ndim:
            return (axes % ndim,)
    elif type(axes) is tuple and all(type(ax) is int and -ndim <= ax < ndim for ax in axes):
        normal = sorted({ax % ndim for ax in axes})  # or a tuple of them in range
        if len(normal) == len(axes):  # (a repeated axis: the message below)
            return tuple(normal)
    given = axes_tuple(owner, axes)
    if given is None:
        return tuple(range(ndim))
    normal = [normalize_axis(owner, axis, ndim) for axis in given]
    repeated = [ax for at, ax in enumerate(normal) if ax in normal[:at]]
    if repeated:
        raise ValueError(f"{owner}: axes {given} repeat axis {repeated[0]}")
    return tuple(sorted(normal))


def normalize_axis(owner: str, axis, ndim: int) -> int:
    """One axis of an ``ndim``-d array made non-negative: ``-1`` is ``ndim - 1``.

    Raises:
        TypeError: if ``axis`` is not an integer, naming it.
        ValueError: if ``axis`` is outside ``-ndim .. ndim - 1``, naming it.

    Example:
        >>> normalize_axis("swapaxes", -1, 2)
        1
        >>> normalize_axis("swapaxes", 2, 2)
        Traceback (most recent call last):
        ...
        ValueError: swapaxes: axis 2 is out of range for 2 axes
    """
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, without a call
        return axis % ndim
    axis = _integer_axis(owner, axis)
    if not -ndim <= axis < ndim:
        axes = "no axes" if ndim == 0 else "1 axis" if ndim == 1 else f"{ndim} axes"
        raise ValueError(f"{owner}: axis {axis} is out of range for {axes}")
    return axis % ndim


def _show(value) -> str:
    """A value for a message: 3 for 3.0, else as Python prints it (1.7, nan, inf)."""
    value = value.item()
    return str(int(value)) if isinstance(value, float) and math.isfinite(value) \
        and value == int(value) else repr(value)
