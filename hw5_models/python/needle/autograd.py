"""needle's core: ``Tensor``, the computational graph, and reverse-mode automatic differentiation.

A ``Tensor`` made by an op remembers the op and its inputs; ``backward()`` walks that graph in
reverse topological order and applies each op's ``gradient`` rule (the chain rule). This is
reverse-mode AD as in Griewank & Walther, *Evaluating Derivatives* (2008), ch. 3, and the
"backpropagation" of Goodfellow, Bengio & Courville, *Deep Learning* (2016), section 6.5.
"""
from __future__ import annotations

import contextlib
import functools
import math
import operator
from numbers import Number
from typing import Any, Generic, TypeVar, cast
from collections.abc import Iterator, Sequence

import numpy

from .backend_selection import Device, NDArray, array_api, cpu, default_device

__all__ = [
    "Op", "TensorOp", "Value", "Tensor", "no_grad", "is_grad_enabled",
    "find_topo_sort", "compute_gradient_of_variables", "sum_node_list",
]
__all__ += ["TensorTupleOp", "TensorTuple"]

# hw1 and hw2 hold a Tensor's data as a plain numpy.ndarray; from hw3 on, as needle's NDArray.
_NUMPY_BACKEND = NDArray is numpy.ndarray

_GRAD_ENABLED = True

# Live graph nodes (Tensors and TensorTuples, Parameters included): up by one as a node is made,
# down by one as it is freed. CMU needle's name; its tests check that a training step leaves no
# tensors behind.
TENSOR_COUNTER = 0


def is_grad_enabled() -> bool:
    """Whether ops currently record the graph (False inside ``no_grad()``)."""
    return _GRAD_ENABLED


@contextlib.contextmanager
def _grad_mode(enabled: bool) -> Iterator[None]:
    global _GRAD_ENABLED
    previous, _GRAD_ENABLED = _GRAD_ENABLED, enabled
    try:
        yield
    finally:
        _GRAD_ENABLED = previous


class no_grad(contextlib.ContextDecorator):
    """Context manager (or decorator) in which ops record no graph, as ``torch.no_grad``.

    Results computed inside are constants: ``requires_grad`` is False and they hold no
    reference to their inputs, so evaluation and optimiser updates neither cost graph
    memory nor grow the graph.

    Example:
        >>> import needle as ndl
        >>> x = ndl.Tensor([1.0, 2.0], requires_grad=True)
        >>> with ndl.no_grad():
        ...     y = x * 2
        >>> y.requires_grad, (x * 2).requires_grad
        (False, True)

    One instance may be entered again while it is open (nested ``with`` blocks, or a recursive
    function decorated with ``@no_grad()``); each exit restores the mode of its own entry.
    """

    def __init__(self) -> None:
        # The mode each still-open entry replaced, innermost last (ContextDecorator reuses one
        # instance for every call of a decorated function, so entries can nest).
        self._previous_modes: list[bool] = []

    def __enter__(self) -> None:
        global _GRAD_ENABLED
        self._previous_modes.append(_GRAD_ENABLED)
        _GRAD_ENABLED = False

    def __exit__(self, *exc_info) -> None:
        global _GRAD_ENABLED
        _GRAD_ENABLED = self._previous_modes.pop()


class Op:
    """An operator: ``compute`` on raw arrays forward, ``gradient`` on Tensors backward."""

    def __call__(self, *args: Any) -> Value[Any]:
        """Apply the op to its input nodes, recording it in the graph (see ``make_from_op``).

        Each op takes its own fixed arguments (``__call__(self, a, b)``); this ``*args: Any``
        form is the one a type checker accepts every such override of.
        """
        raise NotImplementedError()

    def compute(self, *args: Any, **kwargs: Any) -> Any:
        """Forward pass on backend arrays (``NDArray``), returning an ``NDArray`` (a tuple of
        them for a ``TensorTupleOp``).

        Each op takes its own fixed arguments (``compute(self, a, b)``); this untyped
        ``*args, **kwargs`` form is the one a type checker accepts every such override of.
        """
        raise NotImplementedError()

    def gradient(self, out_grad: Any, node: Any) -> Value[Any] | tuple[Tensor | None, ...]:
        """Backward pass: the partial adjoints of ``node``'s inputs.

        Args:
            out_grad: adjoint of ``node`` (d loss / d node), same shape as ``node``: a Tensor
                for a ``TensorOp``, a TensorTuple for a ``TensorTupleOp`` (each op's override
                says which, so the base takes either).
            node: the output this op produced (of the same type); ``node.inputs`` are its inputs.

        Returns:
            One Tensor per input, each shaped like that input (a bare Tensor when the op
            has one input). They are built from needle ops, so they are differentiable
            themselves and a gradient of a gradient works. An op may return None for an
            input that does not require grad, to skip computing an adjoint nobody uses.
        """
        raise NotImplementedError()

    def gradient_as_tuple(self, out_grad: Any, node: Value[Any]) -> tuple[Any, ...]:
        """``gradient`` as a tuple, checked to give one adjoint per input, shaped like it.

        Returns:
            One adjoint per input: a Tensor (a TensorTuple for a TensorTuple input), or None
            for an input that does not require grad.

        Raises:
            ValueError: if ``gradient`` returned the wrong number of adjoints, an adjoint
                whose shape differs from its input's (naming the op and both shapes), or
                None for an input that requires grad.
        """
        returned = self.gradient(out_grad, node)
        grads: tuple[Any, ...] = (tuple(returned) if isinstance(returned, (tuple, list))
                                  else (returned,))
        name = type(self).__name__
        if len(grads) != len(node.inputs):
            raise ValueError(f"{name}.gradient returned {len(grads)} adjoints for "
                             f"{len(node.inputs)} inputs")
        for i, (grad, inp) in enumerate(zip(grads, node.inputs, strict=True)):
            if grad is None:
                if inp.requires_grad:
                    raise ValueError(f"{name}.gradient returned None for input {i}, which "
                                     f"requires grad")
                continue
            if tuple(grad.shape) != tuple(inp.shape):
                raise ValueError(f"{name}.gradient: adjoint {i} has shape {tuple(grad.shape)} "
                                 f"but input {i} has shape {tuple(inp.shape)}")
        return grads


class TensorOp(Op):
    """An op whose output is a single Tensor."""

    def __call__(self, *args: Any) -> Tensor:
        return Tensor.make_from_op(self, args)


DataT = TypeVar("DataT")  # what a node caches: an NDArray, or a tuple of them for a TensorTuple
ValueT = TypeVar("ValueT", bound="Value[Any]")


class Value(Generic[DataT]):
    """A node in the computational graph: an op, its input nodes, and its cached result.

    Attributes:
        op: the op that produced this node, or None for a leaf (data or constant).
        inputs: the op's input nodes, in argument order.
        cached_data: the computed array (``NDArray``).
        requires_grad: whether gradients flow to this node.
        grad: d(output)/d(this node) after ``backward()``, else None.
    """

    op: Op | None
    # Tensors or TensorTuples: each op knows which of its inputs is which (``tuple_get_item``
    # reads a TensorTuple), which a type checker cannot follow through one list.
    inputs: list[Any]
    cached_data: DataT
    requires_grad: bool
    grad: Tensor | None

    def realize_cached_data(self) -> DataT:
        """The node's array (computed when the node was made)."""
        return self.cached_data

    def is_leaf(self) -> bool:
        """True for nodes no op produced: data, parameters and constants."""
        return self.op is None

    def _init(self, op: Op | None, inputs: Sequence[Value[Any]], *, cached_data: DataT,
              requires_grad: bool) -> None:
        self.op = op
        self.inputs = list(inputs)
        self.cached_data = cached_data
        self.requires_grad = requires_grad
        self.grad = None  # set by backward()

    def __new__(cls: type[ValueT], *args: Any, **kwargs: Any) -> ValueT:
        # Counted as the object is made (copies too, which copy.copy makes with __new__), and
        # uncounted in __del__, so every node is counted exactly once, constructed or not.
        global TENSOR_COUNTER
        TENSOR_COUNTER += 1
        return object.__new__(cls)

    def __del__(self) -> None:
        global TENSOR_COUNTER
        TENSOR_COUNTER -= 1

    @classmethod
    def make_const(cls: type[ValueT], data: Any, *, requires_grad: bool = False) -> ValueT:
        """A leaf holding ``data`` with no history."""
        value = cls.__new__(cls)
        # (_init's assignments, inline: every op's result comes here or to make_from_op)
        value.op, value.inputs, value.cached_data = None, [], data
        value.requires_grad, value.grad = requires_grad, None
        return value

    @classmethod
    def make_from_op(cls: type[ValueT], op: Op, inputs: Sequence[Value[Any]]) -> ValueT:
        """Run ``op`` on ``inputs`` and, where gradients are wanted, record it in the graph.

        The graph is recorded only when grad mode is on and some input requires grad;
        otherwise the result is a constant leaf (as PyTorch does).

        Raises:
            TypeError: if an input is not a Tensor.
        """
        # Every op of every step comes here, so this is written for speed: no helper calls,
        # and the one- and two-input cases (nearly every op) without building a list.
        for x in inputs:
            if not isinstance(x, Value):
                i = next(i for i, x in enumerate(inputs) if not isinstance(x, Value))
                raise TypeError(f"{type(op).__name__}: input {i} is a {type(inputs[i]).__name__}, "
                                f"expected a needle Tensor")
        count = len(inputs)
        if count == 2:
            data = op.compute(inputs[0].cached_data, inputs[1].cached_data)
        elif count == 1:
            data = op.compute(inputs[0].cached_data)
        else:
            data = op.compute(*[x.cached_data for x in inputs])
        value = cls.__new__(cls)
        value.cached_data, value.grad = data, None
        if _GRAD_ENABLED:  # (is_grad_enabled())
            for x in inputs:
                if x.requires_grad:
                    value.op, value.inputs, value.requires_grad = op, list(inputs), True
                    return value
        value.op, value.inputs, value.requires_grad = None, [], False  # a constant leaf
        return value


class Tensor(Value[NDArray]):
    """A multi-dimensional array that records the ops applied to it, as ``torch.Tensor``.

    Args:
        array: a Tensor, NumPy array, nested list or number.
        device: where the data lives (default ``default_device()``, which is ``cpu()``
            unless ``set_default_device`` changed it).
        dtype: element type, e.g. ``"float32"``; None keeps a NumPy array's dtype and
            makes Python numbers and lists float32.
        requires_grad: whether ``backward()`` computes a gradient for this tensor
            (default False, as PyTorch).

    Unlike PyTorch, ``backward()`` *overwrites* ``.grad`` on every node it reaches rather
    than accumulating into it (CMU needle's convention); optimisers read ``.grad`` after
    each ``backward()``.

    Example:
        >>> import needle as ndl
        >>> x = ndl.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        >>> y = (x * x).sum()
        >>> y.backward()
        >>> x.grad.numpy().tolist()
        [[2.0, 4.0], [6.0, 8.0]]
    """

    __array_priority__ = 1000  # NumPy defers ``ndarray + Tensor`` to Tensor.__radd__

    def __init__(self, array, *, device: Device | None = None, dtype: str | None = None,
                 requires_grad: bool = False):
        if isinstance(array, Tensor):
            device = array.device if device is None else device
            data = array.realize_cached_data()
            if device != array.device or (dtype is not None and dtype != array.dtype):
                data = Tensor._array_from_numpy(array.numpy(), device=device, dtype=dtype)
        else:
            device = default_device() if device is None else device
            if dtype is None and not isinstance(array, (numpy.ndarray, NDArray)):
                dtype = "float32"
            data = Tensor._array_from_numpy(array, device=device, dtype=dtype)
        self._init(None, [], cached_data=data, requires_grad=requires_grad)

    @staticmethod
    def _array_from_numpy(numpy_array, device: Device, dtype: str | None) -> NDArray:
        if _NUMPY_BACKEND:
            if device != cpu():
                raise ValueError(f"Tensor: device {device!r} is not one of the NumPy backend's (cpu())")
            # On the NumPy backend (hw0-hw2) NDArray *is* numpy.ndarray; the checker sees hw3's.
            return numpy.array(numpy_array, dtype=dtype)  # type: ignore[return-value]
        return array_api.array(numpy_array, device=device, dtype=dtype)

    # ---- data access -------------------------------------------------------------------

    @property
    def data(self) -> Tensor:
        """This tensor's values as a new constant (no history); assign to replace them."""
        return self.detach()

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data must be set to a Tensor, got {type(value).__name__}")
        if value.shape != self.shape or value.dtype != self.dtype:
            raise ValueError(f"Tensor.data: new value has shape {value.shape} and dtype "
                             f"{value.dtype}, expected shape {self.shape} and dtype {self.dtype}")
        self.cached_data = value.realize_cached_data()

    def detach(self) -> Tensor:
        """A constant tensor sharing this one's values, cut from the graph."""
        return Tensor.make_const(self.realize_cached_data())

    @property
    def shape(self) -> tuple[int, ...]:
        return self.cached_data.shape  # a tuple on both backends (NumPy's and NDArray)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self):
        return self.realize_cached_data().dtype

    @property
    def device(self) -> Device:
        data = self.realize_cached_data()
        return cpu() if _NUMPY_BACKEND else data.device

    def numpy(self) -> numpy.ndarray:
        """The values as a NumPy array (sharing memory on the NumPy backend)."""
        data = self.realize_cached_data()
        # On the NumPy backend (hw0-hw2) NDArray *is* numpy.ndarray; the checker sees hw3's.
        return data if _NUMPY_BACKEND else data.numpy()  # type: ignore[return-value]

    def item(self) -> float:
        """The value of a one-element tensor as a Python number.

        Raises:
            ValueError: if the tensor has more than one element.
        """
        values = self.numpy()
        if values.size != 1:
            raise ValueError(f"item(): tensor of shape {self.shape} has {values.size} elements, "
                             f"expected 1")
        return values.reshape(()).item()

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"needle.Tensor({self.numpy()!r}{grad})"

    def __str__(self) -> str:
        return str(self.numpy())

    # ---- autodiff ------------------------------------------------------------------------

    def backward(self, out_grad: Tensor | None = None, *, create_graph: bool = False) -> None:
        """Compute gradients of this tensor with respect to every node of its graph.

        Sets ``.grad`` on every node that requires grad.

        Args:
            out_grad: the adjoint of this tensor, same shape; may be omitted only when this
                tensor has exactly one element (it is then 1).
            create_graph: record the backward pass itself, so that ``.grad`` tensors are
                differentiable (gradient of a gradient). Off by default, which makes the
                gradients constants and keeps the graph from growing.

        Raises:
            RuntimeError: if this tensor does not require grad, or ``out_grad`` is omitted
                for a tensor with more than one element.
            ValueError: if ``out_grad``'s shape differs from this tensor's.
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad (no input of "
                               "its graph has requires_grad=True)")
        if out_grad is None:
            if math.prod(self.shape) != 1:
                raise RuntimeError(f"backward(): out_grad may be omitted only for a one-element "
                                   f"output; this tensor has shape {self.shape}")
            out_grad = Tensor(numpy.ones(self.shape, dtype=self.dtype), device=self.device)
        elif tuple(out_grad.shape) != self.shape:
            raise ValueError(f"backward(): out_grad has shape {tuple(out_grad.shape)}, "
                             f"expected {self.shape}")
        with _grad_mode(create_graph):
            compute_gradient_of_variables(self, out_grad)

    # ---- operators (each one a needle op, so it is differentiable) ----------------------

    def __add__(self, other):
        return needle_ops.EWiseAdd()(self, other) if isinstance(other, Tensor) else \
            with_numpy_shape(needle_ops.add_scalar(self, scalar_operand(other, "+", self)), other)

    def __mul__(self, other):
        return needle_ops.EWiseMul()(self, other) if isinstance(other, Tensor) else \
            with_numpy_shape(needle_ops.mul_scalar(self, scalar_operand(other, "*", self)), other)

    def __pow__(self, other):
        return needle_ops.power(self, other) if isinstance(other, Tensor) else \
            with_numpy_shape(needle_ops.power_scalar(self, scalar_operand(other, "**", self)), other)

    def __sub__(self, other):
        # self - other = self + (-other)
        return needle_ops.add(self, needle_ops.negate(other)) if isinstance(other, Tensor) else \
            with_numpy_shape(needle_ops.add_scalar(self, -scalar_operand(other, "-", self)), other)

    def __truediv__(self, other):
        return needle_ops.divide(self, other) if isinstance(other, Tensor) else \
            with_numpy_shape(needle_ops.divide_scalar(self, scalar_operand(other, "/", self)), other)

    def __matmul__(self, other):
        return needle_ops.matmul(self, other)

    def __neg__(self):
        return needle_ops.negate(self)

    def __radd__(self, other):
        return self.__add__(other)

    def __rmul__(self, other):
        return self.__mul__(other)

    def __rsub__(self, other):
        # other - self = (-self) + other
        return with_numpy_shape(
            needle_ops.add_scalar(needle_ops.negate(self), scalar_operand(other, "-", self)), other)

    def __rtruediv__(self, other):
        # other / self = other * self ** -1
        return with_numpy_shape(needle_ops.mul_scalar(needle_ops.power_scalar(self, -1),
                                                       scalar_operand(other, "/", self)), other)

    def __rpow__(self, other):
        # other ** self = exp(self * ln(other)), defined for other > 0
        base = scalar_operand(other, "**", self)
        if base <= 0:
            raise ValueError(f"{base} ** Tensor: the base must be positive")
        return with_numpy_shape(needle_ops.exp(needle_ops.mul_scalar(self, float(numpy.log(base)))),
                                 other)

    def __rmatmul__(self, other):
        return needle_ops.matmul(_as_tensor(other, "@"), self)

    def sum(self, axes: int | tuple[int, ...] | None = None) -> Tensor:
        """Sum over ``axes`` (all axes when None); see ``ops.summation``."""
        return needle_ops.summation(self, axes)

    def broadcast_to(self, shape: tuple[int, ...]) -> Tensor:
        """See ``ops.broadcast_to``."""
        return needle_ops.broadcast_to(self, shape)

    def reshape(self, shape: tuple[int, ...]) -> Tensor:
        """See ``ops.reshape``."""
        return needle_ops.reshape(self, shape)

    def transpose(self, axes: tuple[int, int] | None = None) -> Tensor:
        """Swap two axes (the last two when None); see ``ops.transpose``."""
        return needle_ops.transpose(self, axes)

    def __getitem__(self, idxs) -> Tensor:
        """``x[idxs]`` with ints, slices (steps allowed) and ``...``; see ``ops.get_item``."""
        return needle_ops.get_item(self, idxs)


class TensorTupleOp(Op):
    """An op whose output is a ``TensorTuple`` (``split``, ``make_tuple``)."""

    def __call__(self, *args: Any) -> TensorTuple:
        return TensorTuple.make_from_op(self, args)


# Module-level names for the annotations below: inside TensorTuple, ``tuple`` is its method.
ArrayTuple = tuple[NDArray, ...]
ShapeTuple = tuple[tuple[int, ...], ...]


class TensorTuple(Value[ArrayTuple]):
    """A fixed-length tuple of Tensors that is one node of the graph (CMU needle's design).

    Its ``cached_data`` is a tuple of arrays. ``t[i]`` is a Tensor (``ops.tuple_get_item``), and
    the adjoint of a TensorTuple is a TensorTuple of the same length, so ops such as ``split``
    and ``stack`` differentiate like any other.

    Example:
        >>> import needle as ndl
        >>> x = ndl.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        >>> rows = ndl.split(x, axis=0)
        >>> len(rows), rows.shape
        (2, ((2,), (2,)))
        >>> (rows[1] * 3.0).sum().backward()
        >>> x.grad.numpy().tolist()
        [[0.0, 0.0], [3.0, 3.0]]
    """

    def __len__(self) -> int:
        return len(self.realize_cached_data())

    def __getitem__(self, index: int) -> Tensor:
        return needle_ops.tuple_get_item(self, index)

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))

    def tuple(self) -> tuple[Tensor, ...]:
        """The elements as a Python tuple of Tensors."""
        return tuple(self)

    @property
    def shape(self) -> ShapeTuple:
        """The shapes of the elements."""
        return tuple(tuple(x.shape) for x in self.realize_cached_data())

    @property
    def device(self) -> Device:
        return self[0].device

    def detach(self) -> TensorTuple:
        """A constant TensorTuple sharing these values, cut from the graph."""
        return TensorTuple.make_const(self.realize_cached_data())

    # Indices of elements known to be zero: the adjoint ``tuple_get_item`` sends back is zero
    # except at its own index, and such zeros are skipped when adjoints are summed.
    zero_elements: frozenset = frozenset()

    def __add__(self, other: TensorTuple) -> TensorTuple:
        """Elementwise sum of two TensorTuples of one length (how adjoints accumulate).

        Raises:
            ValueError: if the lengths differ.
        """
        if not isinstance(other, TensorTuple) or len(other) != len(self):
            raise ValueError(f"TensorTuple + {type(other).__name__}: expected a TensorTuple of "
                             f"length {len(self)}")
        mine, theirs = self.zero_elements, other.zero_elements
        # Recorded: add the element Tensors; constants: add the arrays, recording nothing.
        recorded = is_grad_enabled() and (self.requires_grad or other.requires_grad)
        # Pairs of Tensors, or of NDArrays; both add with ``+``.
        pairs: Iterator[tuple[Any, Any]] = (zip(self, other, strict=True) if recorded
                 else zip(self.realize_cached_data(), other.realize_cached_data(), strict=True))
        sums = [b if i in mine else a if i in theirs else a + b for i, (a, b) in enumerate(pairs)]
        out = needle_ops.make_tuple(*sums) if recorded else TensorTuple.make_const(tuple(sums))
        out.zero_elements = mine & theirs
        return out

    def __repr__(self) -> str:
        return f"needle.TensorTuple({self.tuple()!r})"


def scalar_operand(value, symbol: str, tensor: Tensor) -> float:
    """``value``, the other operand of ``tensor``, as a Python number for a scalar op.

    Takes Python numbers, NumPy scalars and one-element NumPy arrays of any shape (``(1,)``,
    ``(1, 1)``: CMU needle passes these). Each is weakly typed, as PyTorch takes a Python or
    NumPy scalar: a float32 tensor times ``numpy.float64(2)`` stays float32. A one-element
    array of a wider float dtype than ``tensor`` is refused, since NumPy and PyTorch would both
    promote the result to that dtype and needle's scalar ops keep the tensor's; ``with_numpy_shape``
    gives the result the shape NumPy's broadcasting would. Used by
    Tensor's operators and by the ``*_scalar`` op functions.

    Raises:
        TypeError: for any other operand (a bool, a larger array, a string, ...), or a
            one-element float array wider than ``tensor``'s dtype.
    """
    if isinstance(value, numpy.ndarray) and value.ndim > 0 and value.size == 1 \
            and value.dtype.kind in "iuf":
        own = numpy.dtype(str(tensor.dtype))
        if value.dtype.kind == "f" and numpy.result_type(own, value.dtype) != own:
            raise TypeError(f"Tensor {symbol} one-element {value.dtype} array: NumPy and PyTorch "
                            f"would promote this {own} tensor's result to {value.dtype}, which "
                            f"needle's scalar ops do not; pass a {own} array or a number "
                            f"(array.item())")
        return value.item()
    if isinstance(value, (numpy.number, numpy.ndarray)) and numpy.ndim(value) == 0 \
            and value.dtype.kind in "iuf":
        return value.item()
    if isinstance(value, Number) and not isinstance(value, bool):
        return cast(float, value)  # an int or float (any Number); NumPy takes each as a scalar
    raise TypeError(f"unsupported operand for Tensor {symbol} {type(value).__name__}: expected a "
                    f"Tensor or a number, or a one-element NumPy array (wrap larger arrays in "
                    f"needle.Tensor)")


def with_numpy_shape(result: Tensor, value) -> Tensor:
    """``result`` of a scalar op with ``value`` in the shape NumPy's broadcasting gives: a
    one-element array with more axes than the tensor adds leading axes of length 1
    (``Tensor of shape (3,) + numpy.ones((1, 1))`` has shape ``(1, 3)``)."""
    if not isinstance(value, numpy.ndarray):  # a number: 0-d (numpy.ndim would make an array)
        return result
    extra = value.ndim - len(result.shape)
    if extra > 0:
        return needle_ops.reshape(result, (1,) * extra + result.shape)
    return result


def _as_tensor(value, symbol: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, numpy.ndarray):
        return Tensor(value)
    raise TypeError(f"unsupported operand for {symbol} with Tensor: {type(value).__name__}")


def find_topo_sort(node_list: Sequence[Value]) -> list[Value]:
    """All nodes the given nodes depend on, each after every node it depends on.

    A post-order depth-first search (Cormen et al., *Introduction to Algorithms*, 3rd ed.,
    section 22.4), starting from each node of ``node_list`` in turn and visiting each node's
    inputs in argument order. It must handle graphs thousands of nodes deep (the tests sort a
    chain of 5,000 additions) without a ``RecursionError``: Python's default recursion limit
    is 1,000, so keep the nodes still to be visited on an explicit stack rather than recursing.

    Args:
        node_list: the output nodes.

    Returns:
        Every node reachable from ``node_list`` through ``.inputs``, once each (a node used
        several times, or reachable from several outputs, is listed once, at the place the
        search first finishes it), in an order where a node's inputs come before it.
    """
    # TODO (hw1, question 3): implement find_topo_sort (Topological sort)
    raise NotImplementedError("find_topo_sort: hw1")


def compute_gradient_of_variables(output_tensor: Tensor, out_grad: Tensor) -> None:
    """Reverse-mode AD: set ``node.grad`` = d(output)/d(node) for each node that requires grad.

    Visits nodes in reverse topological order (``find_topo_sort``). A node's adjoint is the sum
    of the partial adjoints its consumers sent it (a node used twice receives two); its op's
    ``gradient_as_tuple`` then turns that adjoint into partial adjoints for its inputs.

    What the tests check, beyond the gradients' values:

    - every node that requires grad gets ``.grad``, intermediate nodes included; a node that
      does not require grad (a constant) is sent nothing and keeps ``grad`` None;
    - ``.grad`` is replaced, not accumulated: a second ``backward()`` overwrites the first's;
    - adjoints are computed and summed with needle's ops on Tensors (``sum_node_list``), never
      through NumPy, so that ``backward(create_graph=True)`` records them and a gradient can
      itself be differentiated (gradients of gradients, Hessian-vector products);
    - like ``find_topo_sort``, it handles graphs thousands of nodes deep (a 5,000-node chain)
      without recursing.

    Args:
        output_tensor: the node to differentiate.
        out_grad: its adjoint, same shape.
    """
    # TODO (hw1, question 4): implement compute_gradient_of_variables (Reverse-mode differentiation)
    raise NotImplementedError("compute_gradient_of_variables: hw1")


def sum_node_list(node_list: Sequence[Tensor]) -> Tensor:
    """The sum of the tensors, with needle's ``+`` (so it is recorded when grad mode is on)."""
    return functools.reduce(operator.add, node_list)


from . import ops as needle_ops
