"""hw2: log-softmax and log-sum-exp, stable for large inputs (forward and backward)."""
from __future__ import annotations

from typing import Sequence

from ..autograd import NDArray, Tensor, TensorOp
from ..backend_selection import array_api
from .ops_mathematic import broadcast_to, exp, reshape, summation

__all__ = ["LogSumExp", "LogSoftmax", "logsumexp", "logsoftmax"]


class LogSumExp(TensorOp):
    """``log sum_axes exp(z)`` over ``axes`` (an int, a tuple, or None for all), computed as
    ``max z + log sum exp(z - max z)`` so that it never overflows.

    Shape ``(2, 3, 4)`` over ``axes=(1,)`` is ``(2, 4)``. Its gradient is the softmax of ``z``
    along ``axes``, times ``out_grad`` broadcast back (Goodfellow et al., *Deep Learning*,
    section 4.1, for the stable form).
    """

    def __init__(self, axes: int | Sequence[int] | None = None):
        self.axes = (axes,) if isinstance(axes, int) else (tuple(axes) if axes is not None else None)

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
    """``z - logsumexp(z)`` along the last axis, for logits of shape ``(batch, k)``.

    Gradient: ``out_grad - softmax(z) * sum(out_grad)`` row by row.
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


def _reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    if axes is None:
        return ()
    axes = {ax % len(shape) for ax in axes}
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    axes = range(len(shape)) if axes is None else {ax % len(shape) for ax in axes}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))
