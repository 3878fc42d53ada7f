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
from .fast_paths import device_kernel, fast_paths_enabled

__all__ = ["Flip", "Dilate", "UnDilate", "Conv", "ConvIm2col", "ConvBackwardData", "ConvBackwardWeight",
           "flip", "dilate", "undilate", "conv"]


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


# ---- The im2col fast path (given code) ----------------------------------------------------------
#
# ``Conv`` above is the course's: a strided view, a compact and a matmul forward, two more
# convolutions (with flip and dilate) backward. The fast path below, which ``conv`` takes by
# default, computes the same values with fewer passes over memory. On cpu() two given kernels
# read the padded NHWC images in place, never writing a patch matrix: ``conv_direct`` for the
# forward and for the stride-1 image gradient (a full correlation with the flipped kernel), and
# ``conv_direct_weight_grad`` for the kernel's. On other devices, and for the image gradient at a
# stride > 1, it is im2col: the patch matrix times the kernel, dB = cols^T @ G and dA =
# col2im(G @ B^T), col2im adding each patch entry back to its pixel (Chellapilla, Puri & Simard,
# "High performance convolutional neural networks for document processing", 2006).
# ``use_fast_paths(False)`` (``fast_paths.py``) turns it off, as the tests do, to grade ``Conv``.

def _geometry(image_shape: tuple[int, ...], kernel_shape: tuple[int, ...], stride: int,
              padding: tuple[int, ...]) -> tuple[int, int, list[int]]:
    """``(H_out, W_out, dims)`` with ``dims = [N, H, W, C_in, KH, KW, stride, p_h, p_w]``."""
    N, H, W, C = image_shape
    KH, KW = kernel_shape[:2]
    ph, pw = padding
    return ((H + 2 * ph - KH) // stride + 1, (W + 2 * pw - KW) // stride + 1,
            [N, H, W, C, KH, KW, stride, ph, pw])


def _padded(A: NDArray, ph: int, pw: int) -> NDArray:
    """``A`` (N, H, W, C) with ``p_h``/``p_w`` zeros around H/W (cropped where negative)."""
    if ph > 0 or pw > 0:
        A = A.pad(((0, 0), (max(ph, 0),) * 2, (max(pw, 0),) * 2, (0, 0)))
    if ph < 0 or pw < 0:
        ch, cw = max(-ph, 0), max(-pw, 0)
        A = A[:, ch:A.shape[1] - ch, cw:A.shape[2] - cw, :]
    return A


def im2col(A: NDArray, kernel_shape: tuple[int, ...], stride: int,
           padding: tuple[int, ...]) -> NDArray:
    """The patch matrix of NHWC images ``A`` (N, H, W, C) for a ``(KH, KW, C, ...)`` kernel:
    ``(N * H_out * W_out, KH * KW * C)``, row ``(n, i, j)`` holding ``A_pad[n, i*s:i*s+KH,
    j*s:j*s+KW, :]`` flattened, so that the convolution is this matrix times the kernel as a
    ``(KH * KW * C, C_out)`` matrix. One pass on cpu() (its ``im2col`` kernel), a padded strided
    view compacted elsewhere."""
    H_out, W_out, dims = _geometry(A.shape, kernel_shape, stride, padding)
    N, _, _, C, KH, KW = dims[:6]
    shape = (N * H_out * W_out, KH * KW * C)
    kernel = device_kernel(A, "im2col")
    if kernel is not None:
        cols = NDArray.make(shape, device=A.device, dtype=A.dtype)
        kernel(A.compact()._handle, cols._handle, dims)
        return cols
    P = _padded(A, *padding).compact()
    sN, sH, sW, sC = P.strides
    view = P.as_strided((N, H_out, W_out, KH, KW, C), (sN, sH * stride, sW * stride, sH, sW, sC))
    return view.compact().reshape(shape)


def col2im(cols: NDArray, image_shape: tuple[int, ...], kernel_shape: tuple[int, ...], stride: int,
           padding: tuple[int, ...]) -> NDArray:
    """``im2col``'s adjoint: images of ``image_shape`` (N, H, W, C) where each pixel is the sum of
    the entries of ``cols`` (``N * H_out * W_out, KH * KW * C``) that ``im2col`` copied from it."""
    H_out, W_out, dims = _geometry(image_shape, kernel_shape, stride, padding)
    N, H, W, C, KH, KW = dims[:6]
    kernel = device_kernel(cols, "col2im")
    if kernel is not None:
        out = NDArray.make(tuple(image_shape), device=cols.device, dtype=cols.dtype)
        kernel(cols.compact()._handle, out._handle, dims)
        return out
    ph, pw = padding
    Hp, Wp = H + 2 * ph, W + 2 * pw
    P = array_api.full((N, Hp, Wp, C), 0.0, dtype=cols.dtype, device=cols.device)
    c6 = cols.compact().reshape((N, H_out, W_out, KH, KW, C))
    for p in range(KH):
        for q in range(KW):
            idx = (slice(None), slice(p, p + (H_out - 1) * stride + 1, stride),
                   slice(q, q + (W_out - 1) * stride + 1, stride), slice(None))
            P[idx] = P[idx] + c6[:, :, :, p, q, :].compact().reshape((N, H_out, W_out, C))
    if ph >= 0 and pw >= 0:
        return P[:, ph:ph + H, pw:pw + W, :].compact()
    out = array_api.full(tuple(image_shape), 0.0, dtype=cols.dtype, device=cols.device)
    ch, cw, ah, aw = max(-ph, 0), max(-pw, 0), max(ph, 0), max(pw, 0)  # pixels cropped: no gradient
    out[:, ch:H - ch, cw:W - cw, :] = P[:, ah:ah + H - 2 * ch, aw:aw + W - 2 * cw, :]
    return out


def _correlate(A: NDArray, B: NDArray, stride: int, padding: tuple[int, ...],
               P: NDArray | None = None) -> NDArray:
    """``conv``'s forward on NDArrays: images ``A`` (N, H, W, C) with kernel ``B`` (KH, KW, C,
    C_out). On cpu() its ``conv_direct`` kernel reads the padded images in place (``P``, compact,
    when the caller has them already); elsewhere the patch matrix times the kernel as a matrix."""
    H_out, W_out, _ = _geometry(A.shape, B.shape, stride, padding)
    KH, KW, C, C_out = B.shape
    kernel = device_kernel(A, "conv_direct")
    if kernel is not None:
        P = _padded(A, *padding).compact() if P is None else P
        out = NDArray.make((A.shape[0], H_out, W_out, C_out), device=A.device, dtype=A.dtype)
        kernel(P._handle, B.compact()._handle, out._handle, [*P.shape, KH, KW, stride, C_out])
        return out
    out = im2col(A, B.shape, stride, padding) @ B.compact().reshape((KH * KW * C, C_out))
    return out.reshape((A.shape[0], H_out, W_out, C_out))


class ConvIm2col(Conv):
    """``Conv``'s fast path (given code; ``conv``'s default, see ``fast_paths.py``): the same values,
    shapes and checks; forward ``_correlate`` (cpu()'s direct kernel, or ``im2col(A) @ B`` as a
    matrix), backward ``ConvBackwardData`` and ``ConvBackwardWeight``."""

    padded: tuple[NDArray, NDArray] | None = None  # (A, A padded), kept for the weight gradient

    def compute(self, A: NDArray, B: NDArray) -> NDArray:
        if device_kernel(A, "conv_direct") is None:
            return _correlate(A, B, self.stride, self.padding)
        self.padded = (A, _padded(A, *self.padding).compact())
        return _correlate(A, B, self.stride, self.padding, self.padded[1])

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor | None, Tensor]:
        A, B = node.inputs
        dA = ConvBackwardData(self.stride, self.padding, A.shape)(out_grad, B) \
            if A.requires_grad else None
        padded, self.padded = self.padded, None
        return dA, ConvBackwardWeight(self.stride, self.padding, B.shape, padded)(A, out_grad)


class ConvBackwardData(TensorOp):
    """The adjoint of ``conv``'s images: ``col2im(G @ B^T)`` for the output's adjoint ``G``
    (N, H_out, W_out, C_out) and kernel ``B``, as images of ``image_shape``. Linear in both, so its
    own gradients are a convolution and a weight gradient."""

    def __init__(self, stride: int, padding: tuple[int, ...], image_shape: tuple[int, ...]):
        self.stride, self.image_shape = stride, tuple(image_shape)
        self.padding: tuple[int, int] = (padding[0], padding[1])

    def compute(self, G: NDArray, B: NDArray) -> NDArray:
        KH, KW, C, C_out = B.shape
        ph, pw = self.padding
        if self.stride == 1:
            # A full correlation of G with the kernel turned 180 degrees, C_in and C_out swapped:
            # the patch matrix of G has KH*KW*C_out columns, cheaper than col2im's KH*KW*C_in
            # when C_out <= 2 * C_in, and is written once instead of read back and added.
            flipped = B.flip((0, 1)).permute((0, 1, 3, 2)).compact()
            return _correlate(G, flipped, 1, (KH - 1 - ph, KW - 1 - pw))
        G2 = G.compact().reshape((G.size // C_out, C_out))
        BT = B.compact().reshape((KH * KW * C, C_out)).permute((1, 0)).compact()
        return col2im(G2 @ BT, self.image_shape, B.shape, self.stride, self.padding)

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor, Tensor]:
        G, B = node.inputs
        return (ConvIm2col(self.stride, self.padding)(out_grad, B),
                ConvBackwardWeight(self.stride, self.padding, B.shape)(out_grad, G))


class ConvBackwardWeight(TensorOp):
    """The adjoint of ``conv``'s kernel: ``im2col(A)^T @ G`` as a kernel of ``kernel_shape``
    (KH, KW, C_in, C_out), for images ``A`` and the output's adjoint ``G``."""

    def __init__(self, stride: int, padding: tuple[int, ...], kernel_shape: tuple[int, ...],
                 padded: tuple[NDArray, NDArray] | None = None):
        self.stride, self.kernel_shape = stride, tuple(kernel_shape)
        self.padding: tuple[int, int] = (padding[0], padding[1])
        self.padded = padded  # (A, A padded) from the forward, or None

    def compute(self, A: NDArray, G: NDArray) -> NDArray:
        KH, KW, _, C_out = self.kernel_shape
        kernel = device_kernel(A, "conv_direct_weight_grad")
        if kernel is not None:  # cpu(): the padded images read in place, no patch matrix
            if self.padded is not None and self.padded[0] is A:
                P = self.padded[1]
            else:
                P = _padded(A, *self.padding).compact()
            self.padded = None
            dB = NDArray.make(self.kernel_shape, device=A.device, dtype=A.dtype)
            kernel(P._handle, G.compact()._handle, dB._handle, [*P.shape, KH, KW, self.stride, C_out])
            return dB
        cols = im2col(A, self.kernel_shape, self.stride, self.padding)
        # dB^T = G^T @ cols: transposing G (C_out columns) moves less memory than cols.
        GT = G.compact().reshape((G.size // C_out, C_out)).permute((1, 0)).compact()
        return (GT @ cols).permute((1, 0)).compact().reshape(self.kernel_shape)

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor, Tensor]:
        A, G = node.inputs
        return (ConvBackwardData(self.stride, self.padding, A.shape)(G, out_grad),
                ConvIm2col(self.stride, self.padding)(A, out_grad))


def conv(a: Tensor, b: Tensor, stride: int = 1, padding: int | tuple[int, int] = 0) -> Tensor:
    """2-d convolution of NHWC images ``a`` with a ``(K, K, C_in, C_out)`` kernel ``b``: ``Conv``,
    or by default its im2col fast path ``ConvIm2col`` (the same values; see ``fast_paths.py``)."""
    return (ConvIm2col if fast_paths_enabled() else Conv)(stride, padding)(a, b)
