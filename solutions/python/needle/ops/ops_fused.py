"""hw5 (given code): fused fast paths for ``nn.SoftmaxLoss`` and ``nn.Linear``.

Nothing to implement here. ``nn.SoftmaxLoss`` written with the course's ops makes some ten
passes over the ``(N, k)`` logits forward and backward (max, subtract, exp, sum, log, a one-hot
product, and each one's gradient); for a language model's ``(T * B, vocab)`` logits those passes
are most of a training step. ``SoftmaxCrossEntropy`` computes the same mean loss in one pass
forward and one backward, as PyTorch's fused ``log_softmax`` + ``nll_loss``, and ``LinearBias``
adds ``nn.Linear``'s bias into the product in place instead of broadcasting it into a copy.

On ``ndl.cpu()`` the work is the C++ backend's kernels ``softmax_xent_forward``,
``softmax_xent_backward`` and ``add_row_bias``; on a device without them each op computes the
same values with NDArray operations. From hw5 on, ``SoftmaxLoss`` and ``Linear`` take these ops
while ``fast_paths_enabled()`` and the device has the kernels (``fused_kernels``); the tests turn
the fast paths off to grade your own ``SoftmaxLoss`` and ``Linear`` (see ``fast_paths.py``).
"""
from __future__ import annotations

from ..autograd import NDArray, Tensor, TensorOp
from ..checks import integer_ids
from .fast_paths import device_kernel
from .ops_logarithmic import logsumexp
from .ops_mathematic import broadcast_to, exp, matmul, reshape, summation, transpose

__all__ = ["SoftmaxCrossEntropy", "SoftmaxCrossEntropyBackward", "LinearBias", "fused_kernels",
           "softmax_cross_entropy", "linear_bias"]


def fused_kernels(x: Tensor, *names: str) -> bool:
    """Whether ``x``'s values live on a device whose backend has every kernel in ``names``
    (``ndl.cpu()``'s C++ backend has ``softmax_xent_forward``, ``softmax_xent_backward`` and
    ``add_row_bias``); False on the NumPy backend and on devices without them."""
    return all(device_kernel(x, name) is not None for name in names)


def _labels_like(Z: NDArray, y: NDArray) -> NDArray:
    """The labels ``y`` (N,) compact, on ``Z``'s device and in its dtype, as the kernels take them."""
    if y.device != Z.device or y.dtype != Z.dtype:
        y = NDArray(y.numpy().astype(Z.dtype), device=Z.device)
    return y.compact()


def _softmax_minus_one_hot(Z: NDArray, y: NDArray, lse: NDArray) -> NDArray:
    """``exp(Z - lse[:, None]) - one_hot(y)`` with NDArray operations (devices without kernels)."""
    n, k = Z.shape
    one_hot = Z.device.one_hot(k, integer_ids("SoftmaxCrossEntropy", "label", y.numpy(), k),
                               dtype=str(Z.dtype))
    return (Z - lse.reshape((n, 1)).broadcast_to(Z.shape)).exp() - one_hot


class SoftmaxCrossEntropy(TensorOp):
    """Mean cross-entropy of logits ``Z`` (N, k) against whole-number labels ``y`` (N,), stored
    as floats (a Tensor of ``Z``'s dtype): ``mean_i logsumexp(Z_i) - Z_i,y_i``, a scalar of
    shape ``()`` -- ``nn.SoftmaxLoss``'s value (``torch.nn.functional.cross_entropy``).

    Forward keeps each row's logsumexp; the gradient is ``SoftmaxCrossEntropyBackward``, one
    pass ``(softmax(Z) - one_hot(y)) * g / N`` (Goodfellow, Bengio & Courville, *Deep Learning*,
    section 6.2.2.3); the labels get no gradient. float32 or float64, the loss in ``Z``'s dtype.
    A NaN logit gives a NaN loss, as PyTorch's.

    Raises:
        ValueError: for logits that are not 2-d, labels not of shape ``(N,)``, or a label that
            is not a whole number in ``0..k-1`` (naming it and its row).
    """

    lse: NDArray | None = None  # each row's logsumexp (N,), from the forward, for the gradient

    def __call__(self, Z: Tensor, y: Tensor) -> Tensor:
        if len(Z.shape) != 2:
            raise ValueError(f"SoftmaxCrossEntropy: expected logits (N, k), got shape {Z.shape}")
        if tuple(y.shape) != tuple(Z.shape[:1]):
            raise ValueError(f"SoftmaxCrossEntropy: expected labels of shape {tuple(Z.shape[:1])} "
                             f"for logits {tuple(Z.shape)}, got {tuple(y.shape)}")
        return Tensor.make_from_op(self, (Z, y))

    def compute(self, Z: NDArray, y: NDArray) -> NDArray:
        n, k = Z.shape
        kernel = device_kernel(Z, "softmax_xent_forward")
        if kernel is not None:
            Z = Z.compact()
            rows = NDArray.make((n,), device=Z.device, dtype=Z.dtype)
            self.lse = NDArray.make((n,), device=Z.device, dtype=Z.dtype)
            kernel(Z._handle, _labels_like(Z, y)._handle, rows._handle, self.lse._handle, n, k)
        else:
            labels = integer_ids("SoftmaxCrossEntropy", "label", y.numpy(), k)
            one_hot = Z.device.one_hot(k, labels, dtype=str(Z.dtype))
            Z_max = Z.max(axis=1, keepdims=True)
            shifted = Z - Z_max.broadcast_to(Z.shape)
            self.lse = (shifted.exp().sum(axis=1, keepdims=True).log() + Z_max).reshape((n,))
            rows = self.lse - (Z * one_hot).sum(axis=1)
        return rows.sum() / n

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor, None]:
        Z, y = node.inputs
        return SoftmaxCrossEntropyBackward(self.lse)(Z, y, out_grad), None


class SoftmaxCrossEntropyBackward(TensorOp):
    """``SoftmaxCrossEntropy``'s gradient with respect to the logits: ``(softmax(Z) - one_hot(y))
    * g / N`` (N, k) for logits ``Z`` (N, k), labels ``y`` (N,) and the loss's adjoint ``g``
    (shape ``()``), in one pass from the forward's per-row logsumexp ``lse`` (recomputed when
    None or not on ``Z``'s device).

    Its own gradient (second order) is built from ordinary ops: with ``P = softmax(Z)`` and the
    adjoint ``V``, ``dZ = g / N * (P * V - P * sum_j(P * V))`` and ``dg = sum((P - one_hot) * V) / N``.
    """

    def __init__(self, lse: NDArray | None = None):
        self.lse = lse

    def compute(self, Z: NDArray, y: NDArray, g: NDArray) -> NDArray:
        n, k = Z.shape
        lse = self.lse
        self.lse = None  # used once: the op may outlive the step, its (N,) array need not
        if lse is None or lse.shape != (n,) or lse.device != Z.device or lse.dtype != Z.dtype:
            Z_max = Z.max(axis=1, keepdims=True)
            shifted = Z - Z_max.broadcast_to(Z.shape)
            lse = (shifted.exp().sum(axis=1, keepdims=True).log() + Z_max).reshape((n,))
        kernel = device_kernel(Z, "softmax_xent_backward")
        if kernel is not None:
            Z = Z.compact()
            dZ = NDArray.make((n, k), device=Z.device, dtype=Z.dtype)
            # g stays on the device (no host read), so that a captured step replays any g
            kernel(Z._handle, _labels_like(Z, y)._handle, lse.compact()._handle, g.compact()._handle, 1.0 / n,
                   dZ._handle, n, k)
            return dZ
        return _softmax_minus_one_hot(Z, y, lse) * g.reshape((1, 1)).broadcast_to(Z.shape) / n

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor, None, Tensor]:
        Z, y, g = node.inputs
        n, k = Z.shape
        P = exp(Z - broadcast_to(reshape(logsumexp(Z, (1,)), (n, 1)), Z.shape))
        PV = P * out_grad
        row = broadcast_to(reshape(summation(PV, (1,)), (n, 1)), Z.shape)
        g_full = broadcast_to(reshape(g, (1, 1)), Z.shape)
        dZ = g_full * (PV - P * row) / n
        one_hot = Tensor(Z.device.one_hot(k, integer_ids("SoftmaxCrossEntropy", "label", y.numpy(), k),
                                          dtype=str(Z.dtype)), device=Z.device)
        dg = reshape(summation((P - one_hot) * out_grad), g.shape) / n
        return dZ, None, dg


class LinearBias(TensorOp):
    """``X @ W + b`` for ``X`` (N, in), ``W`` (in, out) and ``b`` (out,): ``nn.Linear``'s value,
    with the bias added into the product in place (cpu()'s ``add_row_bias``) instead of through
    a broadcast copy. Gradients: ``dX = G W^T``, ``dW = X^T G``, ``db = sum_0 G``, as ordinary
    ops (so they have gradients too).

    Raises:
        ValueError: for ``X`` or ``W`` not 2-d, inner sizes that differ, or ``b`` not ``(out,)``.
    """

    def __call__(self, X: Tensor, W: Tensor, b: Tensor) -> Tensor:
        if len(X.shape) != 2 or len(W.shape) != 2 or X.shape[1] != W.shape[0] \
                or tuple(b.shape) != (W.shape[1],):
            raise ValueError(f"LinearBias: expected X (N, in), W (in, out) and b (out,), got "
                             f"shapes {tuple(X.shape)}, {tuple(W.shape)} and {tuple(b.shape)}")
        return Tensor.make_from_op(self, (X, W, b))

    def compute(self, X: NDArray, W: NDArray, b: NDArray) -> NDArray:
        out = X @ W
        n, k = out.shape
        kernel = device_kernel(out, "add_row_bias")
        if kernel is not None and out.is_compact():
            kernel(out._handle, b.compact()._handle, n, k)
            return out
        return out + b.reshape((1, k)).broadcast_to(out.shape)

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        X, W, b = node.inputs
        return (matmul(out_grad, transpose(W)) if X.requires_grad else None,
                matmul(transpose(X), out_grad) if W.requires_grad else None,
                summation(out_grad, (0,)) if b.requires_grad else None)


def softmax_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy of ``logits`` (N, k) against ``labels`` (N,): ``SoftmaxCrossEntropy``."""
    return SoftmaxCrossEntropy()(logits, labels)


def linear_bias(X: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """``X @ W + b`` with the bias added in place: ``LinearBias``."""
    return LinearBias()(X, W, b)

