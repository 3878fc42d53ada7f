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
        ### BEGIN SOLUTION hw5
        return array_api.flip(a, self.axes).compact()
        ### END SOLUTION

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        ### BEGIN SOLUTION hw5
        return flip(out_grad, self.axes)
        ### END SOLUTION


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
        ### BEGIN SOLUTION hw5
        step = self.dilation + 1
        shape = tuple(n * step if ax in self.axes else n for ax, n in enumerate(a.shape))
        out = array_api.full(shape, 0.0, dtype=a.dtype, device=a.device)
        out[_strided(shape, self.axes, step)] = a
        return out
        ### END SOLUTION

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        ### BEGIN SOLUTION hw5
        return undilate(out_grad, self.axes, self.dilation)
        ### END SOLUTION


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
        ### BEGIN SOLUTION hw5
        return a[_strided(a.shape, self.axes, self.dilation + 1)].compact()
        ### END SOLUTION

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        ### BEGIN SOLUTION hw5
        shape = node.inputs[0].shape
        return scatter_item(out_grad, _strided(shape, self.axes, self.dilation + 1), shape)
        ### END SOLUTION


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
        ### BEGIN SOLUTION hw5
        (ph, pw), s = self.padding, self.stride
        if ph > 0 or pw > 0:
            A = A.pad(((0, 0), (max(ph, 0),) * 2, (max(pw, 0),) * 2, (0, 0)))
        if ph < 0 or pw < 0:  # a negative padding crops
            ch, cw = max(-ph, 0), max(-pw, 0)
            A = A[:, ch:A.shape[1] - ch, cw:A.shape[2] - cw, :]
        A = A.compact()
        N, H, W, C = A.shape
        KH, KW, _, C_out = B.shape
        H_out, W_out = (H - KH) // s + 1, (W - KW) // s + 1
        sN, sH, sW, sC = A.strides
        windows = A.as_strided((N, H_out, W_out, KH, KW, C), (sN, sH * s, sW * s, sH, sW, sC))
        cols = windows.compact().reshape((N * H_out * W_out, KH * KW * C))
        out = cols @ B.compact().reshape((KH * KW * C, C_out))
        return out.reshape((N, H_out, W_out, C_out))
        ### END SOLUTION

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor | None, Tensor]:
        ### BEGIN SOLUTION hw5
        A, B = node.inputs
        H, W = A.shape[1:3]
        KH, KW = B.shape[:2]
        (ph, pw), s = self.padding, self.stride
        # Put each output's adjoint back where its window started: (N, H_out*s, W_out*s, C_out).
        G = dilate(out_grad, (1, 2), s - 1) if s > 1 else out_grad
        if A.requires_grad:
            # dA: a full correlation of G with the kernel turned 180 degrees, C_in and C_out swapped.
            B_flipped = transpose(flip(B, (0, 1)), (2, 3))
            dA = conv(G, B_flipped, padding=(KH - 1 - ph, KW - 1 - pw))
            if dA.shape[1:3] != (H, W):  # rows past the last window got no gradient
                dA = get_item(dA, (slice(None), slice(0, H), slice(0, W), slice(None)))
        else:  # the images are data: no adjoint is needed, so skip a whole convolution
            dA = None
        # dB: correlate A (batch and channels swapped) with G as the kernel, without the
        # trailing zeros of dilate: out_grad[i] sits at i * s, for i up to H_out - 1.
        H_out, W_out = out_grad.shape[1:3]
        if s > 1:
            G = get_item(G, (slice(None), slice(0, (H_out - 1) * s + 1),
                             slice(0, (W_out - 1) * s + 1), slice(None)))
        A_t = transpose(A, (0, 3))                         # (C_in, H, W, N)
        G_t = transpose(transpose(G, (0, 1)), (1, 2))      # (H', W', N, C_out)
        dB = conv(A_t, G_t, padding=(ph, pw))              # (C_in, KH + r, KW + r', C_out)
        if dB.shape[1:3] != (KH, KW):  # rows of A past the last window
            dB = get_item(dB, (slice(None), slice(0, KH), slice(0, KW), slice(None)))
        dB = transpose(transpose(dB, (0, 1)), (1, 2))      # (KH, KW, C_in, C_out)
        return dA, dB
        ### END SOLUTION


def conv(a: Tensor, b: Tensor, stride: int = 1, padding: int | tuple[int, int] = 0) -> Tensor:
    """2-d convolution of NHWC images ``a`` with a ``(K, K, C_in, C_out)`` kernel ``b`` (``Conv``)."""
    return Conv(stride, padding)(a, b)
