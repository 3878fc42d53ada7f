"""hw5: convolutional modules, as ``torch.nn.Conv2d`` and ``torch.nn.BatchNorm2d``.

Images are NCHW at the module boundary, as PyTorch's; ``ops.conv`` works in NHWC, so ``Conv``
transposes on the way in and out. The kernel is stored as ``(K, K, C_in, C_out)`` (PyTorch
stores ``(C_out, C_in, K, K)``).
"""
from __future__ import annotations

import math

import needle.init as init
from needle import ops
from needle.autograd import Tensor
from needle.checks import positive_int

from .nn_basic import BatchNorm1d, Module, Parameter, _check_batch_statistics

__all__ = ["Conv", "BatchNorm2d"]


def _nchw_to_nhwc(x: Tensor) -> Tensor:
    return ops.transpose(ops.transpose(x, (1, 2)), (2, 3))


def _nhwc_to_nchw(x: Tensor) -> Tensor:
    return ops.transpose(ops.transpose(x, (2, 3)), (1, 2))


class Conv(Module):
    """2-d convolution with "same" padding ``K // 2``: ``(N, C_in, H, W)`` -> ``(N, C_out,
    ceil(H / stride), ceil(W / stride))`` for odd ``K``.

    ``weight`` ``(K, K, C_in, C_out)`` is Kaiming-uniform, ``U(-b, b)`` with ``b = sqrt(2) *
    sqrt(3 / fan_in)`` and ``fan_in = C_in * K * K`` (He et al., ICCV 2015); ``bias``
    ``(C_out,)`` is ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

    Raises:
        TypeError, ValueError: for a channel count, kernel size or stride that is not a
            positive integer, naming it; in ``forward``, ValueError for input that is not
            ``(N, in_channels, H, W)``, naming the module (``Conv(in_channels=3)``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 bias: bool = True, device=None, dtype: str = "float32"):
        super().__init__()
        self.in_channels = positive_int("Conv", "in_channels", in_channels)
        self.out_channels = positive_int("Conv", "out_channels", out_channels)
        self.kernel_size = positive_int("Conv", "kernel_size", kernel_size)
        self.stride = positive_int("Conv", "stride", stride)
        self.padding = kernel_size // 2
        # TODO (hw5, question 2): implement Conv.__init__ (Convolution)
        raise NotImplementedError("Conv.__init__: hw5")

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self._name()} expected input (N, {self.in_channels}, H, W), "
                             f"got {x.shape}")
        # TODO (hw5, question 2): implement Conv.forward (Convolution)
        raise NotImplementedError("Conv.forward: hw5")


class BatchNorm2d(BatchNorm1d):
    """Batch normalisation of each channel of ``(N, C, H, W)`` over N, H and W (Ioffe & Szegedy,
    ICML 2015), as ``torch.nn.BatchNorm2d``: ``BatchNorm1d`` on the ``(N*H*W, C)`` matrix.

    Raises:
        ValueError: in ``forward``, for input that is not ``(N, dim, H, W)``, or fewer than 2
            values per channel (``N * H * W < 2``) in training, as PyTorch.
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.dim:
            raise ValueError(f"{self._name()} expected input (N, {self.dim}, H, W), got {x.shape}")
        _check_batch_statistics(self, x, x.shape[0] * x.shape[2] * x.shape[3])
        # Given code: the fused fast path (ops/ops_norm.py) on NCHW in place, no transposes.
        params = (self.weight, self.bias, self.running_mean, self.running_var)
        if ops.fused_batch_norm_available(x, *params):
            y, self.running_mean, self.running_var = ops.batch_norm(
                x, *params, training=self.training, momentum=self.momentum, eps=self.eps)
            return y
        # TODO (hw5, question 2): implement BatchNorm2d.forward (Convolution)
        raise NotImplementedError("BatchNorm2d.forward: hw5")
