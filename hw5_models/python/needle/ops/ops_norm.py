"""Fused batch normalisation and ReLU backward (given code): fast paths of hw5's models.

``nn.BatchNorm1d`` and ``nn.BatchNorm2d`` take ``batch_norm`` below when needle's fast paths are
on (``fast_paths.py``) and the device has the kernels (``ndl.cpu()``: ``batch_norm_train``,
``batch_norm_eval`` and ``batch_norm_backward`` in ``src/ndarray_backend_cpu.cc``); ``ops.relu``
takes ``ReLUFast``. They compute what the course's code computes, with a few passes over memory
instead of a graph of ~15 ops (and their gradients) per normalisation:

    y = w * (x - mean) / sqrt(var + eps) + b                               per channel
    dx = w / sqrt(var + eps) * (g - mean(g) - xhat * mean(g * xhat)),  dw = sum(g * xhat),  db = sum(g)

for the output's adjoint ``g`` and ``xhat = (x - mean) / sqrt(var + eps)``, the means and sums
over every axis but the channels' (Ioffe & Szegedy, "Batch Normalization", ICML 2015, section 3).
The channel axis is axis 1 of ``x`` (``(N, C)``, or ``(N, C, H, W)`` images), read in place as
``(N, C, rest)``: no transposes. ``use_fast_paths(False)`` turns them off, as the tests do, so
that they grade your ``BatchNorm1d``, ``BatchNorm2d`` and ``ReLU``.
"""
from __future__ import annotations

import math
from typing import Any

from ..autograd import NDArray, Tensor, TensorOp, TensorTuple, TensorTupleOp
from ..backend_selection import array_api
from .fast_paths import device_kernel, fast_paths_enabled
from .ops_tuple import tuple_get_item

__all__ = ["BatchNormTrain", "BatchNormEval", "BatchNormBackward", "ReLUFast", "ReLUBackward",
           "batch_norm", "fused_batch_norm_available", "fused_relu_available"]


def _need_kernel(a: NDArray, name: str) -> Any:
    """The kernel ``name`` of ``a``'s device. Raises RuntimeError naming the device without it."""
    kernel = device_kernel(a, name)
    if kernel is None:
        raise RuntimeError(f"{name}: device {a.device} has no such kernel (the fused ops run on "
                           f"ndl.cpu(); see fused_batch_norm_available)")
    return kernel


def _dims(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``(outer, channels, inner)``: ``shape`` seen as ``(N, C, prod(rest))``."""
    return shape[0], shape[1], math.prod(shape[2:])


def fused_batch_norm_available(x: Tensor, *others: Tensor) -> bool:
    """Whether ``batch_norm`` may run on ``x`` (``(N, C, ...)``) with ``others`` (weight, bias,
    running statistics): fast paths on, a device with the kernels, one device and one dtype."""
    if not fast_paths_enabled() or x.ndim < 2 or device_kernel(x, "batch_norm_train") is None:
        return False
    return all(t.device == x.device and t.dtype == x.dtype for t in others)


def fused_relu_available(a: Tensor) -> bool:
    """Whether ``ops.relu`` may take ``ReLUFast`` for ``a``: fast paths on and the kernel there."""
    return fast_paths_enabled() and device_kernel(a, "relu_backward") is not None


class BatchNormTrain(TensorOp):
    """Batch normalisation with the batch's statistics: ``(x, weight, bias) -> y``, ``x`` of
    shape ``(N, C, ...)`` (float32 or float64), ``weight`` and ``bias`` ``(C,)``.

    ``y = weight * (x - mean) / sqrt(var + eps) + bias``, ``mean`` and the biased ``var`` of each
    channel over every axis but 1. After ``compute``, ``mean``, ``var`` and ``invstd`` (``1 /
    sqrt(var + eps)``) hold the ``(C,)`` statistics, for the running ones and the gradient
    (``BatchNormBackward``).
    """

    def __init__(self, eps: float):
        self.eps = eps
        self.mean: NDArray | None = None
        self.var: NDArray | None = None
        self.invstd: NDArray | None = None

    def compute(self, x: NDArray, weight: NDArray, bias: NDArray) -> NDArray:
        outer, channels, inner = _dims(x.shape)
        x = x.compact()
        y = NDArray.make(x.shape, device=x.device, dtype=x.dtype)
        self.mean, self.var, self.invstd = (NDArray.make((channels,), device=x.device, dtype=x.dtype)
                                            for _ in range(3))
        kernel = _need_kernel(x, "batch_norm_train")
        kernel(x._handle, weight.compact()._handle, bias.compact()._handle, y._handle,
               self.mean._handle, self.var._handle, self.invstd._handle, outer, channels, inner,
               float(self.eps))
        return y

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        assert self.mean is not None and self.invstd is not None
        x, weight, _ = node.inputs
        grads = BatchNormBackward(self.mean, self.invstd, batch_stats=True)(x, weight, out_grad)
        return tuple_get_item(grads, 0), tuple_get_item(grads, 1), tuple_get_item(grads, 2)


class BatchNormEval(TensorOp):
    """Batch normalisation with fixed statistics (evaluation): ``(x, weight, bias) -> y =
    weight * (x - mean) / sqrt(var + eps) + bias``, ``mean`` and ``var`` the ``(C,)`` running
    statistics (constants: no gradient reaches them)."""

    def __init__(self, mean: NDArray, var: NDArray, eps: float):
        self.mean, self.var, self.eps = mean, var, eps
        self.invstd: NDArray | None = None

    def compute(self, x: NDArray, weight: NDArray, bias: NDArray) -> NDArray:
        outer, channels, inner = _dims(x.shape)
        x = x.compact()
        y = NDArray.make(x.shape, device=x.device, dtype=x.dtype)
        self.invstd = NDArray.make((channels,), device=x.device, dtype=x.dtype)
        kernel = _need_kernel(x, "batch_norm_eval")
        kernel(x._handle, weight.compact()._handle, bias.compact()._handle,
               self.mean.compact()._handle, self.var.compact()._handle, y._handle,
               self.invstd._handle, outer, channels, inner, float(self.eps))
        return y

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        assert self.invstd is not None
        x, weight, _ = node.inputs
        grads = BatchNormBackward(self.mean, self.invstd, batch_stats=False)(x, weight, out_grad)
        return tuple_get_item(grads, 0), tuple_get_item(grads, 1), tuple_get_item(grads, 2)


class BatchNormBackward(TensorTupleOp):
    """The adjoints ``(dx, dweight, dbias)`` of batch normalisation, from ``(x, weight, g)``,
    ``g`` the output's adjoint, and the ``(C,)`` statistics ``mean`` and ``invstd`` it used:
    ``dweight = sum(g * xhat)``, ``dbias = sum(g)`` with ``xhat = (x - mean) * invstd``, and
    ``dx = weight * invstd * (g - mean(g) - xhat * mean(g * xhat))`` for the batch's own
    statistics (``batch_stats``), ``weight * invstd * g`` for fixed ones. Its own gradient (a
    second derivative) is not provided."""

    def __init__(self, mean: NDArray, invstd: NDArray, batch_stats: bool):
        self.mean, self.invstd, self.batch_stats = mean, invstd, batch_stats

    def compute(self, x: NDArray, weight: NDArray, g: NDArray) -> tuple[NDArray, ...]:
        outer, channels, inner = _dims(x.shape)
        x = x.compact()
        dx = NDArray.make(x.shape, device=x.device, dtype=x.dtype)
        dweight, dbias = (NDArray.make((channels,), device=x.device, dtype=x.dtype) for _ in range(2))
        kernel = _need_kernel(x, "batch_norm_backward")
        kernel(x._handle, g.compact()._handle, weight.compact()._handle,
               self.mean.compact()._handle, self.invstd.compact()._handle, dx._handle,
               dweight._handle, dbias._handle, outer, channels, inner, self.batch_stats)
        return dx, dweight, dbias

    def gradient(self, out_grad: TensorTuple, node: TensorTuple) -> tuple[Tensor, ...]:
        raise NotImplementedError("BatchNormBackward: the fused batch normalisation has no second "
                                  "derivative; run it with ops.use_fast_paths(False)")


def batch_norm(x: Tensor, weight: Tensor, bias: Tensor, running_mean: Tensor, running_var: Tensor,
               *, training: bool, momentum: float, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """Batch normalisation of ``x`` ``(N, C, ...)`` over every axis but 1, as ``nn.BatchNorm1d``
    and ``BatchNorm2d``: ``(y, running_mean, running_var)``, the running statistics updated in
    training (the same expressions as the modules': ``(1 - momentum) * running + momentum *
    batch``, the variance unbiased, constants), returned as given in evaluation, where they
    normalise ``x``. Needs the device's kernels (``fused_batch_norm_available``).

    Example:
        >>> import numpy as np, needle as ndl
        >>> x = ndl.Tensor(np.array([[1.0, 2.0], [3.0, 6.0]], dtype="float32"), device=ndl.cpu())
        >>> ones, zeros = ndl.init.ones(2, device=ndl.cpu()), ndl.init.zeros(2, device=ndl.cpu())
        >>> y, mean, var = ndl.ops.batch_norm(x, ones, zeros, zeros, ones, training=True,
        ...                                   momentum=0.1, eps=0.0)
        >>> y.numpy().tolist()
        [[-1.0, -1.0], [1.0, 1.0]]
        >>> [round(float(v), 6) for v in mean.numpy()], [round(float(v), 6) for v in var.numpy()]
        ([0.2, 0.4], [1.1, 1.7])
    """
    if not training:
        op = BatchNormEval(running_mean.realize_cached_data(), running_var.realize_cached_data(), eps)
        return op(x, weight, bias), running_mean, running_var
    train = BatchNormTrain(eps)
    y = train(x, weight, bias)
    assert train.mean is not None and train.var is not None
    n = math.prod(x.shape) // x.shape[1]  # values per channel
    m = momentum
    # The modules' update, on the arrays: no graph, as .detach() gives there.
    new_mean = running_mean.realize_cached_data() * (1 - m) + train.mean * m
    unbiased = train.var * (n / max(n - 1, 1))
    new_var = running_var.realize_cached_data() * (1 - m) + unbiased * m
    return y, Tensor.make_const(new_mean), Tensor.make_const(new_var)


class ReLUFast(TensorOp):
    """``ReLU``'s fast path (given code; ``ops.relu`` from hw5 on, where the device has the
    kernel): ``max(a, 0)``, with the one-pass gradient ``ReLUBackward``."""

    def compute(self, a: NDArray) -> NDArray:
        return array_api.maximum(a, 0)

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        return ReLUBackward()(node.inputs[0], out_grad)


class ReLUBackward(TensorOp):
    """``(a, g) -> g where a > 0, else 0`` in one pass (the ``relu_backward`` kernel): ReLU's
    adjoint. Its gradient: zero for ``a`` (almost everywhere), the same mask for ``g``."""

    def compute(self, a: NDArray, g: NDArray) -> NDArray:
        a, g = a.compact(), g.compact()
        out = NDArray.make(a.shape, device=a.device, dtype=a.dtype)
        _need_kernel(a, "relu_backward")(a._handle, g._handle, out._handle, a.size)
        return out

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor, Tensor]:
        a = node.inputs[0]
        data = out_grad.realize_cached_data()
        zero = array_api.full((1,) * a.ndim, 0.0, dtype=data.dtype, device=data.device)
        return Tensor.make_const(array_api.broadcast_to(zero, a.shape)), ReLUBackward()(a, out_grad)
