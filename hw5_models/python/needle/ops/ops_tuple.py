"""hw5: ops on tuples of Tensors: building and indexing a ``TensorTuple``, ``stack`` and ``split``.

A ``TensorTuple`` is one node of the graph holding several arrays; its adjoint is a TensorTuple
too. ``split`` cuts a Tensor into one along an axis (as ``torch.unbind``), ``stack`` joins one
into a Tensor along a new axis (``torch.stack``): each is the other's gradient.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..autograd import NDArray, Tensor, TensorOp, TensorTuple, TensorTupleOp
from ..backend_selection import array_api
from ..checks import normalize_axis

__all__ = ["MakeTensorTuple", "TupleGetItem", "Stack", "Split",
           "make_tuple", "tuple_get_item", "stack", "split"]


class MakeTensorTuple(TensorTupleOp):
    """Bundle Tensors into a ``TensorTuple``; its adjoint is unbundled into one per input."""

    def compute(self, *args: NDArray) -> tuple[NDArray, ...]:
        return tuple(args)

    def gradient(self, out_grad: TensorTuple, node: TensorTuple) -> tuple[Tensor, ...]:
        return tuple(out_grad)


def make_tuple(*args: Tensor) -> TensorTuple:
    """A ``TensorTuple`` of ``args`` (``MakeTensorTuple``)."""
    return MakeTensorTuple()(*args)


class TupleGetItem(TensorOp):
    """Element ``index`` of a TensorTuple; the adjoint is zero except at ``index``."""

    def __init__(self, index: int):
        self.index = index

    def __call__(self, a: TensorTuple) -> Tensor:
        if not isinstance(a, TensorTuple):
            raise TypeError(f"tuple_get_item: expected a TensorTuple, got {type(a).__name__}")
        if not -len(a) <= self.index < len(a):
            raise IndexError(f"tuple_get_item: index {self.index} is out of range for a "
                             f"TensorTuple of length {len(a)}")
        self.index %= len(a)
        return super().__call__(a)

    def compute(self, a: tuple[NDArray, ...]) -> NDArray:
        return a[self.index]

    def gradient(self, out_grad: Tensor, node: Tensor) -> TensorTuple:
        tup = node.inputs[0]
        data = out_grad.realize_cached_data()
        zeros: dict[tuple, Tensor] = {}  # per shape, a view of a single 0: nothing to fill
        parts = []
        for i, shape in enumerate(tup.shape):
            if i == self.index:
                parts.append(out_grad)
                continue
            if shape not in zeros:
                zero = array_api.full((1,) * len(shape), 0.0, dtype=data.dtype, device=data.device)
                zeros[shape] = Tensor.make_const(array_api.broadcast_to(zero, shape))
            parts.append(zeros[shape])
        out = make_tuple(*parts)
        out.zero_elements = frozenset(range(len(parts))) - {self.index}
        return out


def tuple_get_item(a: TensorTuple, index: int) -> Tensor:
    """``a[index]`` for a TensorTuple (``TupleGetItem``)."""
    return TupleGetItem(index)(a)


class Stack(TensorOp):
    """Join ``n`` Tensors of one shape ``S`` along a new axis ``axis``: shape ``S`` with ``n``
    inserted at ``axis``, as ``torch.stack``. The gradient splits ``out_grad`` along ``axis``.
    """

    def __init__(self, axis: int):
        self.axis = axis

    def __call__(self, args: TensorTuple) -> Tensor:
        shapes = args.shape
        if len(shapes) == 0:
            raise ValueError("stack: need at least one Tensor")
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"stack: the Tensors' shapes differ: {list(shapes)}")
        normalize_axis("stack", self.axis, len(shapes[0]) + 1)
        return super().__call__(args)

    def compute(self, args: tuple[NDArray, ...]) -> NDArray:
        # TODO (hw5, question 1): implement Stack.compute (New ops)
        raise NotImplementedError("Stack.compute: hw5")

    def gradient(self, out_grad: Tensor, node: Tensor) -> TensorTuple:
        # TODO (hw5, question 1): implement Stack.gradient (New ops)
        raise NotImplementedError("Stack.gradient: hw5")


def stack(args: Sequence[Tensor] | TensorTuple, axis: int) -> Tensor:
    """Join Tensors of one shape along a new axis ``axis`` (``Stack``)."""
    if not isinstance(args, TensorTuple):
        args = make_tuple(*args)
    return Stack(axis)(args)


class Split(TensorTupleOp):
    """Cut a Tensor along ``axis`` into a TensorTuple of ``shape[axis]`` Tensors, each without
    that axis (``torch.unbind``). The gradient stacks the adjoints back along ``axis``.
    """

    def __init__(self, axis: int):
        self.axis = axis

    def __call__(self, a: Tensor) -> TensorTuple:
        self.axis = normalize_axis("split", self.axis, a.ndim)
        return super().__call__(a)

    def compute(self, A: NDArray) -> tuple[NDArray, ...]:
        # TODO (hw5, question 1): implement Split.compute (New ops)
        raise NotImplementedError("Split.compute: hw5")

    def gradient(self, out_grad: TensorTuple, node: TensorTuple) -> Tensor:
        # TODO (hw5, question 1): implement Split.gradient (New ops)
        raise NotImplementedError("Split.gradient: hw5")


def split(a: Tensor, axis: int) -> TensorTuple:
    """Cut ``a`` along ``axis`` into a TensorTuple of ``a.shape[axis]`` Tensors (``Split``)."""
    return Split(axis)(a)
