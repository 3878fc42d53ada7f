"""hw5: the ops behind convolution: ``flip``, ``dilate``/``undilate`` and ``conv`` itself.

``conv`` works on NHWC images and ``(K, K, C_in, C_out)`` kernels (CMU needle's layout): it pads,
takes every ``K x K x C_in`` window as one row of a matrix through strides alone (im2col without
a Python loop), and multiplies by the kernel as a ``(K*K*C_in, C_out)`` matrix. Its gradient is
two more convolutions, written with ``flip`` and ``dilate`` (Dumoulin & Visin, "A guide to
convolution arithmetic for deep learning", 2016, section 4).
"""
from __future__ import annotations

from collections.abc import Sequence

from ..autograd import NDArray, Tensor, TensorOp
from ..backend_selection import array_api
from ..checks import normalize_axes
from .ops_mathematic import get_item, scatter_item, transpose

__all__ = ["Flip", "Dilate", "UnDilate", "Conv", "flip", "dilate", "undilate", "conv"]


class Flip(TensorOp):
    """Reverse the order of elements along ``axes`` (``torch.flip``); its own gradient."""

    def __init__(self, axes: int | Sequence[int]):
        self.given_axes = axes
        self.axes: tuple[int, ...] = ()  # given_axes made non-negative for the input, by __call__

    def __call__(self, a: Tensor) -> Tensor:
        self.axes = normalize_axes("flip", self.given_axes, a.ndim)
        return super().__call__(a)

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw5, question 1): implement Flip.compute (New ops)
        raise NotImplementedError("Flip.compute: hw5")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw5, question 1): implement Flip.gradient (New ops)
        raise NotImplementedError("Flip.gradient: hw5")


def flip(a: Tensor, axes: int | Sequence[int]) -> Tensor:
    """``a`` reversed along ``axes`` (``Flip``)."""
    return Flip(axes)(a)


def _strided(shape: tuple[int, ...], axes: tuple[int, ...], step: int) -> tuple[slice, ...]:
    """The index that takes every ``step``-th element along ``axes`` and all of the others."""
    return tuple(slice(0, n, step) if ax in axes else slice(0, n) for ax, n in enumerate(shape))


class Dilate(TensorOp):
    """Insert ``dilation`` zeros after each element along ``axes`` (CMU needle's ``dilate``).

    An axis of length ``n`` becomes ``n * (dilation + 1)``: ``[1, 2]`` dilated by 1 is
    ``[1, 0, 2, 0]``. Element ``i`` moves to ``i * (dilation + 1)``; the gradient takes those
    positions back (``undilate``).
    """

    def __init__(self, axes: int | Sequence[int], dilation: int):
        if dilation < 0:
            raise ValueError(f"dilate: dilation must be >= 0, got {dilation}")
        self.given_axes, self.dilation = axes, dilation
        self.axes: tuple[int, ...] = ()  # given_axes made non-negative for the input, by __call__

    def __call__(self, a: Tensor) -> Tensor:
        self.axes = normalize_axes("dilate", self.given_axes, a.ndim)
        return super().__call__(a)

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw5, question 1): implement Dilate.compute (New ops)
        raise NotImplementedError("Dilate.compute: hw5")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw5, question 1): implement Dilate.gradient (New ops)
        raise NotImplementedError("Dilate.gradient: hw5")


def dilate(a: Tensor, axes: int | Sequence[int], dilation: int) -> Tensor:
    """``a`` with ``dilation`` zeros after each element along ``axes`` (``Dilate``)."""
    return Dilate(axes, dilation)(a)


class UnDilate(TensorOp):
    """Keep every ``(dilation + 1)``-th element along ``axes``, starting with the first: an axis of
    length ``n`` becomes ``ceil(n / (dilation + 1))``. Undoes ``dilate``; the gradient puts the
    adjoint back at those positions, with zeros between.
    """

    def __init__(self, axes: int | Sequence[int], dilation: int):
        if dilation < 0:
            raise ValueError(f"undilate: dilation must be >= 0, got {dilation}")
        self.given_axes, self.dilation = axes, dilation
        self.axes: tuple[int, ...] = ()  # given_axes made non-negative for the input, by __call__

    def __call__(self, a: Tensor) -> Tensor:
        self.axes = normalize_axes("undilate", self.given_axes, a.ndim)
        return super().__call__(a)

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw5, question 1): implement UnDilate.compute (New ops)
        raise NotImplementedError("UnDilate.compute: hw5")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw5, question 1): implement UnDilate.gradient (New ops)
        raise NotImplementedError("UnDilate.gradient: hw5")


def undilate(a: Tensor, axes: int | Sequence[int], dilation: int) -> Tensor:
    """Every ``(dilation + 1)``-th element of ``a`` along ``axes`` (``UnDilate``)."""
    return UnDilate(axes, dilation)(a)


class Conv(TensorOp):
    """2-d convolution (cross-correlation, as every deep-learning library) of NHWC images.

    ``A`` ``(N, H, W, C_in)`` and kernel ``B`` ``(K, K, C_in, C_out)`` give ``(N, H_out, W_out,
    C_out)`` with ``H_out = (H + 2 * padding - K) // stride + 1``:

        out[n, i, j, o] = sum_{p, q, c} A_pad[n, i * stride + p, j * stride + q, c] * B[p, q, c, o]

    where ``A_pad`` has ``padding`` zeros around H and W (a negative padding crops). Forward is
    im2col through strides: a ``(N, H_out, W_out, K, K, C_in)`` view of ``A_pad``, compacted and
    multiplied by ``B`` reshaped to ``(K*K*C_in, C_out)``. (The gradient also convolves with
    rectangular kernels and a padding pair ``(p_h, p_w)``, which ``conv`` accepts as well.)
    """

    def __init__(self, stride: int = 1, padding: int | tuple[int, int] = 0):
        if stride < 1:
            raise ValueError(f"conv: stride must be >= 1, got {stride}")
        self.stride = stride
        self.padding = (padding, padding) if isinstance(padding, int) else tuple(padding)

    def __call__(self, A: Tensor, B: Tensor) -> Tensor:
        if A.ndim != 4 or B.ndim != 4 or A.shape[3] != B.shape[2]:
            raise ValueError(f"conv: expected images (N, H, W, C_in) and a kernel (K, K, C_in, "
                             f"C_out) with matching C_in, got shapes {A.shape} and {B.shape}")
        (ph, pw), (kh, kw) = self.padding, B.shape[:2]
        if A.shape[1] + 2 * ph < kh or A.shape[2] + 2 * pw < kw:
            raise ValueError(f"conv: a {kh}x{kw} kernel does not fit images of shape {A.shape} "
                             f"with padding {self.padding}")
        return super().__call__(A, B)

    def compute(self, A: NDArray, B: NDArray) -> NDArray:
        # TODO (hw5, question 2): implement Conv.compute (Convolution)
        raise NotImplementedError("Conv.compute: hw5")

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor | None, Tensor]:
        # TODO (hw5, question 2): implement Conv.gradient (Convolution)
        raise NotImplementedError("Conv.gradient: hw5")


def conv(a: Tensor, b: Tensor, stride: int = 1, padding: int | tuple[int, int] = 0) -> Tensor:
    """2-d convolution of NHWC images ``a`` with a ``(K, K, C_in, C_out)`` kernel ``b`` (``Conv``)."""
    return Conv(stride, padding)(a, b)
