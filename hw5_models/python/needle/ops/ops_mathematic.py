"""needle's elementwise, shape and linear-algebra ops: forward (``compute``) beside backward
(``gradient``).

``compute`` works on backend arrays (``NDArray``) through ``array_api``; ``gradient`` works on
Tensors with needle's own ops, so every gradient is itself differentiable. Binary elementwise
ops need operands of one shape: broadcast explicitly with ``broadcast_to`` first (as CMU
needle does), so that a shape bug is an error rather than a silently broadcast result.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy

from ..autograd import NDArray, Tensor, TensorOp, scalar_operand, with_numpy_shape
from ..backend_selection import array_api
from ..checks import axes_tuple, normalize_axes, normalize_axis
from .fast_paths import fast_paths_enabled

__all__ = [
    "EWiseAdd", "AddScalar", "EWiseMul", "MulScalar", "EWisePow", "PowerScalar", "EWiseDiv",
    "DivScalar", "Negate", "Log", "Exp", "ReLU", "Transpose", "Reshape", "BroadcastTo",
    "Summation", "MatMul",
    "add", "add_scalar", "multiply", "mul_scalar", "power", "power_scalar", "divide",
    "divide_scalar", "negate", "log", "exp", "relu", "transpose", "reshape", "broadcast_to",
    "summation", "matmul", "sum_to_shape",
]


def _scalar_op(op: type[TensorOp], a: Tensor, scalar, name: str) -> Tensor:
    """``op(scalar)(a)``, taking a NumPy scalar or one-element array as a number, the result
    shaped as NumPy's broadcasting would shape it (``autograd.scalar_operand``: CMU needle
    passes ``numpy.random.randn(1)``)."""
    if isinstance(a, Tensor) and isinstance(scalar, (numpy.generic, numpy.ndarray)):
        return with_numpy_shape(op(scalar_operand(scalar, name, a))(a), scalar)  # type: ignore[call-arg]
    return op(scalar)(a)  # type: ignore[call-arg]


class EWiseBinaryOp(TensorOp):
    """Base of the binary elementwise ops: checks that both operands have one shape."""

    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        if isinstance(a, Tensor) and isinstance(b, Tensor) \
                and a.cached_data.shape != b.cached_data.shape:
            raise ValueError(f"{type(self).__name__}: operand shapes {a.shape} and {b.shape} "
                             f"differ; use broadcast_to to match them")
        return Tensor.make_from_op(self, (a, b))  # (TensorOp.__call__, one call fewer)


class EWiseAdd(EWiseBinaryOp):
    """``a + b`` elementwise. d/da = d/db = 1."""

    def compute(self, a: NDArray, b: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement EWiseAdd.compute (Forward computation)
        raise NotImplementedError("EWiseAdd.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor, Tensor]:
        # TODO (hw1, question 2): implement EWiseAdd.gradient (Backward computation)
        raise NotImplementedError("EWiseAdd.gradient: hw1")


def add(a: Tensor, b: Tensor) -> Tensor:
    """``a + b`` elementwise, for Tensors of one shape (``EWiseAdd``)."""
    return EWiseAdd()(a, b)


class AddScalar(TensorOp):
    """``a + scalar``. d/da = 1."""

    def __init__(self, scalar: float):
        self.scalar = scalar

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement AddScalar.compute (Forward computation)
        raise NotImplementedError("AddScalar.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw1, question 2): implement AddScalar.gradient (Backward computation)
        raise NotImplementedError("AddScalar.gradient: hw1")


def add_scalar(a: Tensor, scalar: float) -> Tensor:
    """``a + scalar`` (``AddScalar``)."""
    return _scalar_op(AddScalar, a, scalar, "add_scalar")


class EWiseMul(EWiseBinaryOp):
    """``a * b`` elementwise. d/da = b, d/db = a."""

    def compute(self, a: NDArray, b: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement EWiseMul.compute (Forward computation)
        raise NotImplementedError("EWiseMul.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor | None, Tensor | None]:
        # TODO (hw1, question 2): implement EWiseMul.gradient (Backward computation)
        raise NotImplementedError("EWiseMul.gradient: hw1")


def multiply(a: Tensor, b: Tensor) -> Tensor:
    """``a * b`` elementwise, for Tensors of one shape (``EWiseMul``)."""
    return EWiseMul()(a, b)


class MulScalar(TensorOp):
    """``a * scalar``. d/da = scalar."""

    def __init__(self, scalar: float):
        self.scalar = scalar

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement MulScalar.compute (Forward computation)
        raise NotImplementedError("MulScalar.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw1, question 2): implement MulScalar.gradient (Backward computation)
        raise NotImplementedError("MulScalar.gradient: hw1")


def mul_scalar(a: Tensor, scalar: float) -> Tensor:
    """``a * scalar`` (``MulScalar``)."""
    return _scalar_op(MulScalar, a, scalar, "mul_scalar")


class EWisePow(EWiseBinaryOp):
    """``a ** b`` elementwise. d/da = b a^(b-1), d/db = a^b ln a (defined for a > 0)."""

    def compute(self, a: NDArray, b: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement EWisePow.compute (Forward computation)
        raise NotImplementedError("EWisePow.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor, Tensor]:
        # TODO (hw1, question 2): implement EWisePow.gradient (Backward computation)
        raise NotImplementedError("EWisePow.gradient: hw1")


def power(a: Tensor, b: Tensor) -> Tensor:
    """``a ** b`` elementwise, for Tensors of one shape (``EWisePow``)."""
    return EWisePow()(a, b)


class PowerScalar(TensorOp):
    """``a ** scalar`` for a number ``scalar``. d/da = scalar a^(scalar-1)."""

    def __init__(self, scalar: float):
        self.scalar = scalar

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement PowerScalar.compute (Forward computation)
        raise NotImplementedError("PowerScalar.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw1, question 2): implement PowerScalar.gradient (Backward computation)
        raise NotImplementedError("PowerScalar.gradient: hw1")


def power_scalar(a: Tensor, scalar: float) -> Tensor:
    """``a ** scalar`` (``PowerScalar``)."""
    return _scalar_op(PowerScalar, a, scalar, "power_scalar")


class EWiseDiv(EWiseBinaryOp):
    """``a / b`` elementwise. d/da = 1/b, d/db = -a/b^2."""

    def compute(self, a: NDArray, b: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement EWiseDiv.compute (Forward computation)
        raise NotImplementedError("EWiseDiv.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor, Tensor]:
        # TODO (hw1, question 2): implement EWiseDiv.gradient (Backward computation)
        raise NotImplementedError("EWiseDiv.gradient: hw1")


def divide(a: Tensor, b: Tensor) -> Tensor:
    """``a / b`` elementwise, for Tensors of one shape (``EWiseDiv``)."""
    return EWiseDiv()(a, b)


class DivScalar(TensorOp):
    """``a / scalar``. d/da = 1/scalar."""

    def __init__(self, scalar: float):
        self.scalar = scalar

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement DivScalar.compute (Forward computation)
        raise NotImplementedError("DivScalar.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw1, question 2): implement DivScalar.gradient (Backward computation)
        raise NotImplementedError("DivScalar.gradient: hw1")


def divide_scalar(a: Tensor, scalar: float) -> Tensor:
    """``a / scalar`` (``DivScalar``)."""
    return _scalar_op(DivScalar, a, scalar, "divide_scalar")


class Negate(TensorOp):
    """``-a``. d/da = -1. Its own op (not ``mul_scalar(a, -1)``) so graphs read naturally."""

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement Negate.compute (Forward computation)
        raise NotImplementedError("Negate.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw1, question 2): implement Negate.gradient (Backward computation)
        raise NotImplementedError("Negate.gradient: hw1")


def negate(a: Tensor) -> Tensor:
    """``-a`` (``Negate``)."""
    return Negate()(a)


class Log(TensorOp):
    """Natural logarithm ``ln a``. d/da = 1/a."""

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement Log.compute (Forward computation)
        raise NotImplementedError("Log.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw1, question 2): implement Log.gradient (Backward computation)
        raise NotImplementedError("Log.gradient: hw1")


def log(a: Tensor) -> Tensor:
    """Natural logarithm, elementwise (``Log``)."""
    return Log()(a)


class Exp(TensorOp):
    """``e ** a``. d/da = e^a, the output itself."""

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement Exp.compute (Forward computation)
        raise NotImplementedError("Exp.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw1, question 2): implement Exp.gradient (Backward computation)
        raise NotImplementedError("Exp.gradient: hw1")


def exp(a: Tensor) -> Tensor:
    """``e ** a``, elementwise (``Exp``)."""
    return Exp()(a)


class ReLU(TensorOp):
    """``max(a, 0)``. d/da = 1 where a > 0, else 0 (the subgradient 0 at a = 0, as PyTorch)."""

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement ReLU.compute (Forward computation)
        raise NotImplementedError("ReLU.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw1, question 2): implement ReLU.gradient (Backward computation)
        raise NotImplementedError("ReLU.gradient: hw1")


def relu(a: Tensor) -> Tensor:
    """``max(a, 0)``, elementwise (``ReLU``)."""
    # Given code: ReLU's fast path, with a one-pass gradient kernel (ops_norm.py, fast_paths.py).
    # (Fast paths first: the hidden tests of hw1-hw4 run this file with them off, and no ops_norm.)
    if fast_paths_enabled():
        from .ops_norm import ReLUFast, fused_relu_available
        if fused_relu_available(a):
            return ReLUFast()(a)
    return ReLU()(a)


class Transpose(TensorOp):
    """Swap two axes: ``axes=(i, j)``, or the last two when ``axes`` is None.

    Shape ``(..., m, n) -> (..., n, m)`` for the default. Swapping is its own inverse, so the
    gradient swaps the same axes back. (CMU needle's semantics; ``torch.transpose(a, i, j)``.)
    """

    def __init__(self, axes: tuple[int, int] | None = None):
        self.axes = axes

    def __call__(self, a: Tensor) -> Tensor:
        if isinstance(a, Tensor):
            axes = self.axes if self.axes is not None else (-1, -2)
            if len(axes) != 2:
                raise ValueError(f"Transpose: axes {axes} are not two axes of shape {a.shape}")
            for axis in axes:
                normalize_axis("Transpose", axis, a.ndim)
        return super().__call__(a)

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement Transpose.compute (Forward computation)
        raise NotImplementedError("Transpose.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw1, question 2): implement Transpose.gradient (Backward computation)
        raise NotImplementedError("Transpose.gradient: hw1")


def transpose(a: Tensor, axes: tuple[int, int] | None = None) -> Tensor:
    """Swap axes ``axes = (i, j)``, or the last two when None (``Transpose``)."""
    return Transpose(axes)(a)


class Reshape(TensorOp):
    """View the elements (in row-major order) under a new shape of the same size; one entry of
    ``shape`` may be -1, standing for whatever size makes the total match (as NumPy and
    PyTorch). ``compute`` sees the shape with the -1 already resolved."""

    def __init__(self, shape: int | Sequence[int]):
        self.given_shape = (shape,) if isinstance(shape, (int, numbers.Integral)) else tuple(shape)
        self.shape = self.given_shape  # with its -1 resolved for the input, by __call__

    def __call__(self, a: Tensor) -> Tensor:
        if isinstance(a, Tensor):
            self.shape = _resolve_shape(a.shape, self.given_shape)
        return super().__call__(a)

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement Reshape.compute (Forward computation)
        raise NotImplementedError("Reshape.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw1, question 2): implement Reshape.gradient (Backward computation)
        raise NotImplementedError("Reshape.gradient: hw1")


def reshape(a: Tensor, shape: Sequence[int]) -> Tensor:
    """``a`` under a new shape with the same number of elements (``Reshape``)."""
    return Reshape(shape)(a)


class BroadcastTo(TensorOp):
    """Repeat ``a`` along new leading axes and along axes of length 1 (NumPy's rules).

    Shape ``(3, 1) -> (2, 3, 4)``, say. Each input element feeds several outputs, so its
    adjoint is the sum of theirs: the gradient sums ``out_grad`` back to ``a``'s shape.
    """

    def __init__(self, shape: Sequence[int]):
        self.shape = tuple(shape)

    def __call__(self, a: Tensor) -> Tensor:
        if isinstance(a, Tensor) and not _broadcastable(a.shape, self.shape):
            raise ValueError(f"BroadcastTo: cannot broadcast shape {a.shape} to {self.shape}")
        return super().__call__(a)

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement BroadcastTo.compute (Forward computation)
        raise NotImplementedError("BroadcastTo.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw1, question 2): implement BroadcastTo.gradient (Backward computation)
        raise NotImplementedError("BroadcastTo.gradient: hw1")


def broadcast_to(a: Tensor, shape: Sequence[int]) -> Tensor:
    """``a`` repeated to ``shape`` by NumPy's broadcasting rules (``BroadcastTo``)."""
    return BroadcastTo(shape)(a)


class Summation(TensorOp):
    """Sum over ``axes``: one axis (an int), several (a tuple), or all (None).

    Shape ``(2, 3, 4)`` summed over ``axes=(0, 2)`` is ``(3,)``. Every summed element gets
    the adjoint of its sum: the gradient restores the summed axes as length 1 and broadcasts.
    """

    def __init__(self, axes: int | Sequence[int] | None = None):
        self.axes = axes_tuple("Summation", axes)

    def __call__(self, a: Tensor) -> Tensor:
        if isinstance(a, Tensor):
            normalize_axes("Summation", self.axes, a.ndim)  # raises for a bad axis
        return Tensor.make_from_op(self, (a,))  # (TensorOp.__call__, one call fewer)

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement Summation.compute (Forward computation)
        raise NotImplementedError("Summation.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw1, question 2): implement Summation.gradient (Backward computation)
        raise NotImplementedError("Summation.gradient: hw1")


def summation(a: Tensor, axes: int | Sequence[int] | None = None) -> Tensor:
    """Sum over ``axes``: an int, a tuple, or None for all (``Summation``)."""
    return Summation(axes)(a)


class MatMul(TensorOp):
    """Matrix product ``a @ b``, batched over leading axes that broadcast (NumPy's rules).

    Shapes ``(..., m, k) @ (..., k, n) -> (..., m, n)``; both operands need 2 or more axes.
    d/da = out_grad @ b^T and d/db = a^T @ out_grad, each summed back over the batch axes
    its operand was broadcast along.
    """

    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            sa, sb = a.cached_data.shape, b.cached_data.shape
            if (len(sa) < 2 or len(sb) < 2 or sa[-1] != sb[-2]
                    or (sa[:-2] != sb[:-2] and _broadcast_shape(sa[:-2], sb[:-2]) is None)):
                raise ValueError(f"MatMul: shapes {a.shape} and {b.shape} do not multiply; "
                                 f"expected (..., m, k) @ (..., k, n) with broadcastable batch "
                                 f"axes")
        return Tensor.make_from_op(self, (a, b))  # (TensorOp.__call__, one call fewer)

    def compute(self, a: NDArray, b: NDArray) -> NDArray:
        # TODO (hw1, question 1): implement MatMul.compute (Forward computation)
        raise NotImplementedError("MatMul.compute: hw1")

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor | None, Tensor | None]:
        # TODO (hw1, question 2): implement MatMul.gradient (Backward computation)
        raise NotImplementedError("MatMul.gradient: hw1")


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b``, batched over broadcastable leading axes (``MatMul``)."""
    return MatMul()(a, b)


def sum_to_shape(x: Tensor, shape: Sequence[int]) -> Tensor:
    """Sum ``x`` down to ``shape``: the adjoint of broadcasting ``shape`` to ``x.shape``.

    Sums over ``x``'s extra leading axes and over the axes where ``shape`` has length 1,
    then reshapes. ``sum_to_shape(ones((2, 3, 4)), (3, 1))`` is ``8 * ones((3, 1))``.
    """
    # TODO (hw1, question 2): implement sum_to_shape (Backward computation)
    raise NotImplementedError("sum_to_shape: hw1")


def _size(shape: Sequence[int]) -> int:
    size = 1
    for n in shape:
        size *= n
    return size


def _resolve_shape(old: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` with its one -1 (if any) replaced by the size that keeps ``old``'s element count.

    Raises:
        TypeError: for an entry that is not an integer.
        ValueError: for two -1s, another negative entry, or a size that does not match.
    """
    if all(type(n) is int and n >= 0 for n in shape) and _size(shape) == _size(old):
        return shape  # the common case: sizes given in full, and right
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(f"Reshape: shape {shape} has the non-integer entry {n!r}")
    shape = tuple(int(n) for n in shape)
    unknown = [i for i, n in enumerate(shape) if n == -1]
    if len(unknown) > 1 or any(n < -1 for n in shape):
        raise ValueError(f"Reshape: shape {shape} may hold one -1 and otherwise sizes >= 0")
    known = _size([n for n in shape if n != -1])
    if unknown and known and _size(old) % known == 0:
        shape = (*shape[:unknown[0]], _size(old) // known, *shape[unknown[0] + 1:])
    if -1 in shape or _size(old) != _size(shape):
        raise ValueError(f"Reshape: cannot reshape shape {old} ({_size(old)} elements) to "
                         f"{shape}")
    return shape


def _broadcast_shape(s1: Sequence[int], s2: Sequence[int]) -> tuple[int, ...] | None:
    """NumPy's broadcast of two shapes, or None when they are incompatible."""
    out = []
    for i in range(1, max(len(s1), len(s2)) + 1):
        n1 = s1[-i] if i <= len(s1) else 1
        n2 = s2[-i] if i <= len(s2) else 1
        if n1 != n2 and 1 not in (n1, n2):
            return None
        out.append(max(n1, n2) if 0 not in (n1, n2) else 0)
    return tuple(reversed(out))


def _broadcastable(source: Sequence[int], target: Sequence[int] | None) -> bool:
    """Whether ``source`` broadcasts to exactly ``target``."""
    return target is not None and len(source) <= len(target) and \
        _broadcast_shape(source, target) == tuple(target)
from ..checks import integer_ids


__all__ += ["Tanh", "Sigmoid", "GetItem", "ScatterItem", "TakeRows", "IndexAddRows", "tanh",
            "sigmoid", "get_item", "scatter_item", "take_rows", "index_add_rows"]


class Tanh(TensorOp):
    """``tanh(a)`` elementwise. d/da = 1 - tanh(a)^2."""

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw5, question 1): implement Tanh.compute (New ops)
        raise NotImplementedError("Tanh.compute: hw5")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw5, question 1): implement Tanh.gradient (New ops)
        raise NotImplementedError("Tanh.gradient: hw5")


def tanh(a: Tensor) -> Tensor:
    """``tanh(a)`` elementwise (``Tanh``)."""
    return Tanh()(a)


class Sigmoid(TensorOp):
    """The logistic function ``1 / (1 + exp(-a))`` elementwise. d/da = sigmoid(a) (1 - sigmoid(a)).

    ``exp(-a)`` overflows to inf for very negative ``a``, which gives the correct limit 0.
    """

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw5, question 1): implement Sigmoid.compute (New ops)
        raise NotImplementedError("Sigmoid.compute: hw5")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw5, question 1): implement Sigmoid.gradient (New ops)
        raise NotImplementedError("Sigmoid.gradient: hw5")


def sigmoid(a: Tensor) -> Tensor:
    """The logistic function elementwise (``Sigmoid``)."""
    return Sigmoid()(a)


class GetItem(TensorOp):
    """``a[idxs]`` with ints, slices (any step) and ``...``, as NumPy's basic indexing: an int
    drops its axis, a slice keeps it. The gradient scatters ``out_grad`` into zeros of ``a``'s
    shape at the same positions (``scatter_item``).
    """

    def __init__(self, idxs):
        self.idxs = idxs

    def __call__(self, a: Tensor) -> Tensor:
        self.idxs = array_api.normalize_index(self.idxs, a.shape, "Tensor")
        return super().__call__(a)

    def compute(self, a: NDArray) -> NDArray:
        # TODO (hw5, question 1): implement GetItem.compute (New ops)
        raise NotImplementedError("GetItem.compute: hw5")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw5, question 1): implement GetItem.gradient (New ops)
        raise NotImplementedError("GetItem.gradient: hw5")


def get_item(a: Tensor, idxs) -> Tensor:
    """``a[idxs]`` (``GetItem``); ``Tensor.__getitem__`` calls it."""
    return GetItem(idxs)(a)


class ScatterItem(TensorOp):
    """Zeros of ``shape`` with ``a`` written at ``[idxs]``: the adjoint of ``get_item``, whose
    own gradient is ``get_item`` again."""

    def __init__(self, idxs, shape: Sequence[int]):
        self.shape = tuple(shape)
        self.idxs = array_api.normalize_index(idxs, self.shape, "Tensor")

    def compute(self, a: NDArray) -> NDArray:
        out = array_api.full(self.shape, 0.0, dtype=a.dtype, device=a.device)
        out[self.idxs] = a
        return out

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        return get_item(out_grad, self.idxs)


def scatter_item(a: Tensor, idxs, shape: Sequence[int]) -> Tensor:
    """Zeros of ``shape`` holding ``a`` at ``[idxs]`` (``ScatterItem``)."""
    return ScatterItem(idxs, shape)(a)


class TakeRows(TensorOp):
    """Rows of a 2-d table by integer ids: ``table[ids]``, shape ``ids.shape + (cols,)`` (an
    embedding lookup, as ``torch.nn.functional.embedding``). The gradient adds each adjoint row
    back into the row it came from (``index_add_rows``): rows looked up twice get both.

    Raises:
        ValueError: if the table is not 2-d, or for an id that is fractional or NaN;
            IndexError: for an id outside its rows.
    """

    def __init__(self, ids):
        self.ids = integer_ids("take_rows", "id", ids)  # int64; array_api checks the range

    def compute(self, table: NDArray) -> NDArray:
        # TODO (hw5, question 1): implement TakeRows.compute (New ops)
        raise NotImplementedError("TakeRows.compute: hw5")

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        # TODO (hw5, question 1): implement TakeRows.gradient (New ops)
        raise NotImplementedError("TakeRows.gradient: hw5")


def take_rows(table: Tensor, ids) -> Tensor:
    """``table[ids]`` for a 2-d table and integer ids of any shape (``TakeRows``)."""
    return TakeRows(ids)(table)


class IndexAddRows(TensorOp):
    """Zeros ``(num_rows, cols)`` with ``values[r]`` added into row ``ids[r]``: the adjoint of
    ``take_rows``, whose own gradient is ``take_rows``."""

    def __init__(self, ids, num_rows: int):
        self.ids, self.num_rows = integer_ids("index_add_rows", "id", ids), num_rows

    def compute(self, values: NDArray) -> NDArray:
        return array_api.index_add_rows(values, self.ids, self.num_rows)

    def gradient(self, out_grad: Tensor, node: Tensor) -> Tensor:
        return take_rows(out_grad, self.ids)


def index_add_rows(values: Tensor, ids, num_rows: int) -> Tensor:
    """Zeros ``(num_rows, cols)`` with row ``values[r]`` added at ``ids[r]`` (``IndexAddRows``)."""
    return IndexAddRows(ids, num_rows)(values)
