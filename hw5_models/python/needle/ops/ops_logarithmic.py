"""hw2: log-softmax and log-sum-exp, stable for large inputs (forward and backward)."""
from __future__ import annotations

import sys
from collections.abc import Sequence

from ..autograd import NDArray, Tensor, TensorOp
from ..backend_selection import array_api
from ..checks import axes_tuple, normalize_axes
from .ops_mathematic import broadcast_to, exp, reshape, summation

__all__ = ["LogSumExp", "LogSoftmax", "logsumexp", "logsoftmax"]


class LogSumExp(TensorOp):
    """``log sum_axes exp(z)`` over ``axes`` (an int, a tuple, or None for all), computed as
    ``max z + log sum exp(z - max z)`` so that it never overflows.

    Shape ``(2, 3, 4)`` over ``axes=(1,)`` is ``(2, 4)``. Its gradient is the softmax of ``z``
    along ``axes``, times ``out_grad`` broadcast back (Goodfellow et al., *Deep Learning*,
    section 4.1, for the stable form).

    The edges, as ``torch.logsumexp``: a sum of no terms (an axis of length 0) is 0, so its
    log is ``-inf``; a slice holding ``+inf`` gives ``+inf``, and one of only ``-inf``s gives
    ``-inf`` (shifting by an infinite max would give ``inf - inf = nan``: shift by a finite
    number there, ``largest_finite(dtype)`` with the max's sign).
    """

    def __init__(self, axes: int | Sequence[int] | None = None):
        self.axes = axes_tuple("LogSumExp", axes)

    def __call__(self, a: Tensor) -> Tensor:
        if isinstance(a, Tensor):
            normalize_axes("LogSumExp", self.axes, a.ndim)  # raises for a bad axis
        return super().__call__(a)

    def compute(self, Z: NDArray) -> NDArray:
        # TODO (hw2, question 1): implement LogSumExp.compute (Log-softmax and log-sum-exp)
        raise NotImplementedError("LogSumExp.compute: hw2")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw2, question 1): implement LogSumExp.gradient (Log-softmax and log-sum-exp)
        raise NotImplementedError("LogSumExp.gradient: hw2")


def logsumexp(a: Tensor, axes: int | Sequence[int] | None = None) -> Tensor:
    """``log sum exp(a)`` over ``axes``, stable for large inputs (``LogSumExp``)."""
    return LogSumExp(axes)(a)


class LogSoftmax(TensorOp):
    """``z - logsumexp(z)`` along the last axis, for logits of shape ``(N, k)`` (``N`` the
    batch size, the course's ``B``).

    Gradient: ``out_grad - softmax(z) * sum(out_grad)`` row by row, where
    ``softmax(z) = exp(z - logsumexp(z))`` is the forward output's ``exp``.
    """

    def compute(self, Z: NDArray) -> NDArray:
        # TODO (hw2, question 1): implement LogSoftmax.compute (Log-softmax and log-sum-exp)
        raise NotImplementedError("LogSoftmax.compute: hw2")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw2, question 1): implement LogSoftmax.gradient (Log-softmax and log-sum-exp)
        raise NotImplementedError("LogSoftmax.gradient: hw2")


def logsoftmax(a: Tensor) -> Tensor:
    """Log-softmax along the last axis (``LogSoftmax``)."""
    return LogSoftmax()(a)


def largest_finite(dtype) -> float:
    """The largest finite value of a float ``dtype`` (``numpy.finfo(dtype).max``).

    Example:
        >>> largest_finite("float32")
        3.4028234663852886e+38
    """
    return _LARGEST_FINITE.get(str(dtype), sys.float_info.max)


_LARGEST_FINITE = {"float16": 65504.0, "float32": 3.4028234663852886e38}  # else float64's


def _reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    if axes is None:
        return ()
    reduced = {ax % len(shape) for ax in axes}
    return tuple(n for i, n in enumerate(shape) if i not in reduced)


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    reduced = range(len(shape)) if axes is None else {ax % len(shape) for ax in axes}
    return tuple(1 if i in reduced else n for i, n in enumerate(shape))
