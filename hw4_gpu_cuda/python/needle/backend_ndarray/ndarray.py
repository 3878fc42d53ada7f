"""needle's own n-dimensional array: a strided view of a flat buffer owned by a backend.

An ``NDArray`` is ``(handle, shape, strides, offset, device)``: ``handle`` is a flat buffer
(``Array``) of a backend module, and element ``(i_0, ..., i_{r-1})`` of an array of ``r`` axes
lives at ``offset + sum_k i_k * strides[k]`` in it, indices counted from 0 (strides count
elements, not bytes; the course notation writes it o + sum_k i_k s_k, ``docs/notation.md``,
"Arrays in memory"). Reshaping a
compact array, permuting axes, broadcasting, slicing and flipping only compute new
``shape``/``strides``/``offset``: they are views that share the buffer, and cost no copy.
Kernels (element-wise maths, reductions, matmul) run on compact buffers, so they call
``compact()`` first, which copies only when the array is not already compact.

This is the strided layout of NumPy (van der Walt et al., "The NumPy array: a structure for
efficient numerical computation", 2011) and of CMU 10-414's needle, with float32 and float64
elements.

The package, one job per module: ``devices`` (the devices and the backend module each runs
on), ``shapes`` (the checks of dtypes, shapes, scalars and indices), this module (the array:
its views, and its operators dispatched to the device's kernels by name), and ``functions``
(the ``array_api`` functions the ops call, and the fused kernels of the later models).
"""
from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np

from ..checks import normalize_axes
from .devices import BackendDevice, default_device, resolve_device
from .devices import cpu_numpy  # noqa: F401  (the doctests use it)
from .shapes import (DTYPE_NAME, DTYPES, check_shape, describe, dtype_of, infer_shape, integers,
                     normalize_index, prod, real_scalar, row_major_strides)

__all__ = ["NDArray"]  # (full and matmul too: the package exports them from functions)

_new_ndarray = object.__new__  # NDArray.__new__, without the attribute look-up


class NDArray:
    """An n-dimensional float32 or float64 array on a needle device (see the module docstring).

    Args:
        other: an ``NDArray`` (copied, possibly to another device), a NumPy array, a nested
            list or a number.
        device: where the array lives: a device or its name ("cpu"); None is
            ``default_device()``.
        dtype: "float32" or "float64". None keeps the dtype of a float NumPy array (or NumPy
            scalar) and makes everything else (lists, Python numbers, integer and boolean
            arrays) float32, as ``torch.tensor`` does.

    Arithmetic with two arrays gives the wider dtype (float32 with float64 is float64). With a
    scalar, any Python or NumPy number, the result keeps the array's dtype, as PyTorch's
    scalars do: ``float32 array + np.float64(1.0)`` is float32 (NumPy 2 would give float64, as
    it treats a NumPy scalar as a 0-d array).

    Raises:
        TypeError: for a complex, string or object input, an unsupported dtype, or a device
            that is neither a device nor a name.
        ValueError: for an unknown device name.

    Example:
        >>> a = NDArray([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=cpu_numpy())
        >>> a.shape, a.strides, a.permute((1, 0)).strides
        ((2, 3), (3, 1), (1, 3))
        >>> (a.permute((1, 0)) + 1).numpy().tolist()
        [[2.0, 5.0], [3.0, 6.0], [4.0, 7.0]]
    """

    _shape: tuple[int, ...]
    _strides: tuple[int, ...]  # in elements
    _offset: int  # in elements
    _device: BackendDevice
    _handle: Any  # the backend module's flat buffer (``Array``)
    _dtype: np.dtype
    _compact: bool | None  # is_compact(), once known (the layout never changes after make)

    # A fixed layout: no per-instance dict, so arrays are smaller and quicker to make. (A
    # subclass that wants more attributes gets a dict back by not declaring __slots__.)
    __slots__ = ("_compact", "_device", "_dtype", "_handle", "_offset", "_shape", "_strides")

    def __init__(self, other, device: BackendDevice | str | None = None, dtype=None):
        if device is not None:
            device = resolve_device(device)
        if isinstance(other, NDArray):
            device = other.device if device is None else device
            dtype = other.dtype if dtype is None else dtype
            if device == other.device and np.dtype(dtype) == other.dtype:
                self._init(other.copy())
            else:
                self._init(NDArray(other.numpy(), device=device, dtype=dtype))
            return
        device = default_device() if device is None else device
        values = np.asarray(other)
        if values.dtype.kind not in "biuf":
            raise TypeError(f"NDArray: cannot hold {values.dtype} values; expected real numbers")
        if dtype is None:  # Python lists and numbers carry no dtype: float32, as documented
            from_python = isinstance(other, (list, tuple, int, float)) \
                and not isinstance(other, np.generic)  # (np.float64 subclasses float)
            dtype = values.dtype if values.dtype.name in DTYPES and not from_python else "float32"
        dtype = dtype_of(dtype)
        out = NDArray.make(values.shape, device=device, dtype=dtype)
        device.from_numpy(np.ascontiguousarray(values, dtype=dtype), out._handle)
        self._init(out)

    def _init(self, other: NDArray) -> None:
        self._shape = other._shape
        self._strides = other._strides
        self._offset = other._offset
        self._device = other._device
        self._handle = other._handle
        self._dtype = other._dtype
        self._compact = other._compact

    @staticmethod
    def compact_strides(shape: Sequence[int]) -> tuple[int, ...]:
        """Row-major strides (in elements) of ``shape``: ``(3, 4) -> (4, 1)``."""
        return row_major_strides(tuple(shape))

    @staticmethod
    def make(shape: Sequence[int], strides: Sequence[int] | None = None,
             device: BackendDevice | str | None = None, handle=None, offset: int = 0,
             dtype="float32") -> NDArray:
        """A new array of ``shape`` over ``handle`` (a fresh buffer when None), without copying.

        Raises:
            TypeError: for a size of a new buffer that is not an integer, or a device that is
                not one.
            ValueError: for a negative size of a new buffer, or one whose bytes int64 cannot
                count.
        """
        device = device if type(device) is BackendDevice else resolve_device(device)
        if handle is None:
            dtype = dtype_of(dtype)
            shape = check_shape(shape, dtype.itemsize)
            handle = device.Array(prod(shape), DTYPE_NAME[dtype])
            if strides is None:  # a fresh buffer of exactly this shape: compact from offset 0
                return _assemble(handle, shape, row_major_strides(shape), offset, device, dtype,
                                 offset == 0)
        else:
            # a view's shape: as_strided checks it, __getitem__ derives it
            shape = shape if type(shape) is tuple else tuple(shape)
            dtype = dtype_of(handle.dtype)  # the buffer's, whatever dtype said
        strides = row_major_strides(shape) if strides is None else tuple(strides)
        return _assemble(handle, shape, strides, offset, device, dtype, None)

    # ---- properties -------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def strides(self) -> tuple[int, ...]:
        """Element (not byte) strides of each axis."""
        return self._strides

    @property
    def offset(self) -> int:
        """Index in the buffer of element ``(0, ..., 0)``."""
        return self._offset

    @property
    def device(self) -> BackendDevice:
        return self._device

    @property
    def dtype(self) -> np.dtype:
        """``numpy.dtype("float32")`` or ``numpy.dtype("float64")``."""
        return self._dtype

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def size(self) -> int:
        return prod(self._shape)

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() of a 0-d NDArray")
        return self._shape[0]

    def __repr__(self) -> str:
        return f"NDArray({self.numpy()!r}, device={self.device!r})"

    def __str__(self) -> str:
        return str(self.numpy())

    # ---- layout -----------------------------------------------------------------------

    def is_compact(self) -> bool:
        """True when the elements sit in row-major order from the start of the buffer."""
        compact = self._compact
        if compact is None:
            compact = self._compact = (
                self._offset == 0 and self._strides == row_major_strides(self._shape)
                and prod(self._shape) == self._handle.size)
        return compact

    def compact(self) -> NDArray:
        """This array, or a row-major copy of it when it is a non-compact view."""
        if self._compact or self.is_compact():
            return self
        return self.copy()

    def copy(self) -> NDArray:
        """A compact copy that shares no memory with this array."""
        out = NDArray.make(self._shape, device=self._device, dtype=self.dtype)
        self._compact_into(out)
        return out

    def _compact_into(self, out: NDArray) -> None:
        """Write this array's values, in row-major order, into ``out``: one call of the device's
        ``compact`` kernel. ``out`` must be compact, of this shape, device and dtype (not
        checked: the callers, ``copy`` and ``ndl.capture``'s replays, make it so)."""
        self._device.compact(self._handle, out._handle, self._shape, self._strides, self._offset)

    def as_strided(self, shape: Sequence[int], strides: Sequence[int]) -> NDArray:
        """A view of the same buffer with the given shape and strides (use with care: whether
        the view stays inside the buffer is checked by the backend when a kernel reads it).

        Raises:
            TypeError: for a size or stride that is not an integer, naming it.
            ValueError: for a negative size, or if ``shape`` and ``strides`` have different
                lengths.
        """
        shape, strides = check_shape(shape), tuple(strides)
        if len(shape) != len(strides):
            raise ValueError(f"as_strided: shape {shape} and strides {strides} differ in length")
        if not builtins.all(type(s) is int for s in strides):
            strides = integers(strides, "as_strided: stride")
        return _assemble(self._handle, shape, strides, self._offset, self._device, self._dtype, None)

    @property
    def flat(self) -> NDArray:
        return self.reshape((self.size,))

    def astype(self, dtype) -> NDArray:
        """A copy with elements converted to ``dtype`` ("float32" or "float64")."""
        return NDArray(self, dtype=dtype)

    def to(self, device: BackendDevice | str) -> NDArray:
        """This array on ``device`` (a device or its name; itself when it is already there)."""
        device = resolve_device(device)
        return self if device == self._device else NDArray(self, device=device)

    def numpy(self) -> np.ndarray:
        """A NumPy copy of the values."""
        return self._device.to_numpy(self._handle, self._shape, self._strides, self._offset)

    def fill(self, value: float) -> None:
        """Set every element to ``value`` in place (through views too).

        Raises:
            TypeError: if ``value`` is not a real number, naming it.
        """
        value = real_scalar(value, "fill")
        if self.is_compact():
            self._device.fill(self._handle, value)
        else:
            self[...] = value

    # ---- views: new shape, strides and offset over the same buffer ----------------------

    def reshape(self, new_shape: Sequence[int]) -> NDArray:
        """A view with a new shape of the same size; one entry may be -1 (inferred).

        Only a compact array can be reshaped without copying (as ``torch.Tensor.view``): call
        ``compact()`` first on a permuted or sliced one.

        Raises:
            ValueError: if the sizes differ, more than one entry is -1, or this array is not
                compact.
        """
        new_shape = infer_shape(tuple(new_shape), self.size, self._shape)
        if not self.is_compact():
            raise ValueError(f"reshape: the array of shape {self._shape} with strides "
                             f"{self._strides} and offset {self._offset} is not compact; "
                             f"call .compact() before reshaping it")
        # TODO (hw3, question 1): implement NDArray.reshape (Strided views)
        raise NotImplementedError("NDArray.reshape: hw3")

    def permute(self, new_axes: Sequence[int]) -> NDArray:
        """A view with the axes reordered: axis ``i`` of the result is axis ``new_axes[i]``.

        ``permute((1, 0))`` of a ``(2, 3)`` array is its ``(3, 2)`` transpose, as NumPy's
        ``transpose(a, axes)`` and PyTorch's ``permute``.

        Raises:
            ValueError: if ``new_axes`` is not a permutation of ``range(ndim)``.
        """
        given, ndim = tuple(new_axes), len(self._shape)
        in_range = all(-ndim <= ax < ndim for ax in given)
        new_axes = tuple(ax % ndim for ax in given) if in_range else given
        if not in_range or sorted(new_axes) != list(range(ndim)):
            raise ValueError(f"permute: {given} is not a permutation of the axes of shape "
                             f"{self._shape}")
        # TODO (hw3, question 1): implement NDArray.permute (Strided views)
        raise NotImplementedError("NDArray.permute: hw3")

    def broadcast_to(self, new_shape: Sequence[int]) -> NDArray:
        """A view repeating the array along new leading axes and along axes of length 1.

        Repeated axes get stride 0, so nothing is copied (NumPy's broadcasting rules).

        Raises:
            ValueError: if this shape cannot be broadcast to ``new_shape``, or ``new_shape``
                has a negative size (naming it).
            TypeError: for a size in ``new_shape`` that is not an integer.
        """
        new_shape = check_shape(new_shape)
        lead = len(new_shape) - self.ndim
        if lead < 0 or any(n != m and n != 1 for n, m in zip(self._shape, new_shape[lead:], strict=True)):
            raise ValueError(f"broadcast_to: cannot broadcast shape {self._shape} to {new_shape}")
        # TODO (hw3, question 1): implement NDArray.broadcast_to (Strided views)
        raise NotImplementedError("NDArray.broadcast_to: hw3")

    def __getitem__(self, idxs) -> NDArray:
        """A view selected by ints, slices (with steps, negative indices) and ``...``.

        As NumPy's basic indexing: an int drops its axis, a slice keeps it, and missing
        trailing axes are taken whole. ``a[1:, ::-2]`` shares ``a``'s buffer.

        Raises:
            IndexError: for an int outside its axis, naming both, or too many indices.
            TypeError: for an index that is not an int, slice or Ellipsis.
        """
        idxs = self._normalize_index(idxs)
        # TODO (hw3, question 1): implement NDArray.__getitem__ (Strided views)
        raise NotImplementedError("NDArray.__getitem__: hw3")

    def _normalize_index(self, idxs) -> tuple[int | slice, ...]:
        """``idxs`` as one int (non-negative, checked) or slice per axis."""
        return normalize_index(idxs, self._shape)

    def process_slice(self, sl: slice, dim: int) -> slice:
        """CMU needle's name: slice ``sl`` of axis ``dim`` with its bounds made explicit.

        ``slice(start, stop, step)`` selecting the same elements as ``sl`` (NumPy's rules, as
        ``slice.indices``): ``start`` and ``stop`` non-negative ints in ``0..shape[dim]``, and
        ``stop`` None where a negative step runs past element 0 (no non-negative stop says so).

        >>> import needle.backend_ndarray as nd
        >>> a = nd.NDArray([[1.0, 2.0, 3.0]])
        >>> a.process_slice(slice(None), 1), a.process_slice(slice(-2, None), 1)
        (slice(0, 3, 1), slice(1, 3, 1))
        >>> a.process_slice(slice(None, None, -1), 1)
        slice(2, None, -1)

        Raises:
            IndexError: if ``dim`` is not an axis of this array.
            TypeError: if ``sl`` is not a slice or its bounds are not ints or None.
            ValueError: for a step of 0.
        """
        if not isinstance(sl, slice):
            raise TypeError(f"process_slice: expected a slice, got {type(sl).__name__}")
        if not (isinstance(dim, int) and 0 <= dim < self.ndim):
            raise IndexError(f"process_slice: dim {dim!r} is not an axis of an array of shape "
                             f"{self._shape}")
        checked = normalize_index((slice(None),) * dim + (sl,), self._shape)[dim]
        assert isinstance(checked, slice)  # normalize_index keeps a slice a slice
        start, stop, step = checked.indices(self._shape[dim])
        return slice(start, None if stop < 0 else stop, step)

    def __setitem__(self, idxs, other) -> None:
        """Assign an array (broadcast to the selection's shape) or a number to ``self[idxs]``.

        A value that overlaps the selection in memory (``a[::-1] = a``) is copied first, so
        the result is as if every element were read before any is written, as in NumPy.

        Raises:
            ValueError: if ``other``'s shape does not broadcast to the selection's.
            TypeError: if ``other`` is neither an NDArray nor a real number.

        Example:
            >>> a = NDArray([1.0, 2.0, 3.0, 4.0], device=cpu_numpy())
            >>> a[::-1] = a
            >>> a.numpy().tolist()
            [4.0, 3.0, 2.0, 1.0]
        """
        if isinstance(other, NDArray):
            view = self[idxs]
            if other.device != self._device:
                raise ValueError(f"__setitem__: value is on {other.device}, array on {self._device}")
            if other.shape != view.shape:
                other = other.broadcast_to(view.shape)
            if other.dtype != self.dtype:
                other = other.astype(self.dtype)  # a new buffer
            elif _may_overlap(other, view):
                other = other.copy()  # the kernel writes in place: read the source before
            else:
                other = other.compact()  # a non-compact one is copied, so it cannot overlap
            self._device.ewise_setitem(other._handle, view._handle, view.shape, view.strides,
                                       view.offset)
        elif isinstance(other, Real) and not isinstance(other, (bool, np.bool_)):
            value, view = real_scalar(other, "__setitem__"), self[idxs]
            self._device.scalar_setitem(view.size, value, view._handle, view.shape, view.strides,
                                        view.offset)
        else:
            raise TypeError(f"__setitem__: cannot assign {describe(other)}; expected an "
                            f"NDArray or a real number")

    def flip(self, axes: int | Sequence[int] | None = None) -> NDArray:
        """A view with the order of elements reversed along ``axes`` (all when None).

        Raises:
            ValueError: if an axis is out of range.
        """
        axes = normalize_axes("flip", axes, self.ndim)
        # TODO (hw3, question 1): implement NDArray.flip (Strided views)
        raise NotImplementedError("NDArray.flip: hw3")

    def pad(self, axes: Sequence[tuple[int, int]]) -> NDArray:
        """A new array with zeros added before and after each axis: ``axes[k] = (before, after)``.

        Raises:
            ValueError: if ``axes`` does not give one non-negative pair per axis.
        """
        pairs = tuple(tuple(pair) for pair in axes)
        if len(pairs) != self.ndim or any(len(p) != 2 or min(p) < 0 for p in pairs):
            raise ValueError(f"pad: {pairs} is not one (before, after) pair of non-negative ints "
                             f"per axis of shape {self._shape}")
        out = full(tuple(n + b + a for n, (b, a) in zip(self._shape, pairs, strict=True)), 0.0,
                   dtype=self.dtype, device=self._device)
        out[tuple(slice(b, b + n) for n, (b, _) in zip(self._shape, pairs, strict=True))] = self
        return out

    # ---- element-wise maths -------------------------------------------------------------

    def _ewise_or_scalar(self, other, ewise: str, scalar: str) -> NDArray:
        if isinstance(other, NDArray):
            if other._shape != self._shape:
                raise ValueError(f"{ewise}: operand shapes {self._shape} and {other.shape} differ; "
                                 f"broadcast_to one of them first")
            device = self._device
            if other._device is not device and other._device != device:
                raise ValueError(f"{ewise}: operands on {self._device} and {other.device}")
            if self._dtype is other._dtype:  # the common case: promote() without its calls
                a = self.compact()
                b = other.compact()
            else:
                a, b = promote(self, other)
            out = _fresh(self._shape, device, a._dtype)
            getattr(device, ewise)(a._handle, b._handle, out._handle)
        elif type(other) is float or type(other) is int or (
                isinstance(other, Real) and not isinstance(other, (bool, np.bool_))):
            # (real_scalar gives an OverflowError for 10**400, naming it)
            value = other if type(other) is float else real_scalar(other, scalar)
            a = self.compact()
            out = _fresh(self._shape, self._device, self._dtype)
            getattr(self._device, scalar)(a._handle, value, out._handle)
        else:
            raise TypeError(f"{scalar}: unsupported operand {describe(other)}; expected an "
                            f"NDArray or a real number")
        return out

    def _unary(self, kernel: str) -> NDArray:
        a = self.compact()
        out = _fresh(self._shape, self._device, self._dtype)
        getattr(self._device, kernel)(a._handle, out._handle)
        return out

    def __add__(self, other):
        return self._ewise_or_scalar(other, "ewise_add", "scalar_add")

    __radd__ = __add__

    def __sub__(self, other):
        return self + (-_operand(other, "scalar_sub"))

    def __rsub__(self, other):
        other = _operand(other, "scalar_rsub")  # checked before any kernel runs
        return (-self) + other

    def __mul__(self, other):
        return self._ewise_or_scalar(other, "ewise_mul", "scalar_mul")

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self._ewise_or_scalar(other, "ewise_div", "scalar_div")

    def __rtruediv__(self, other):
        return full(self._shape, _operand(other, "scalar_rdiv"), dtype=self.dtype,
                    device=self._device) / self

    def __neg__(self):
        return self * -1

    def __pow__(self, other):
        return self._ewise_or_scalar(other, "ewise_power", "scalar_power")

    def __rpow__(self, other):
        return full(self._shape, _operand(other, "scalar_rpow"), dtype=self.dtype,
                    device=self._device) ** self

    def maximum(self, other):
        """Element-wise maximum with an array of the same shape or a number."""
        return self._ewise_or_scalar(other, "ewise_maximum", "scalar_maximum")

    # Comparisons give 1.0 (true) or 0.0 (false) in this array's dtype. Two kernels, == and >=,
    # give the rest; each comparison with a NaN is false (and != true), as in IEEE 754 and
    # NumPy, so none is written as 1 - another (1 - (nan >= 1) would make nan < 1 true).
    def __eq__(self, other):
        return self._ewise_or_scalar(other, "ewise_eq", "scalar_eq")

    def __ge__(self, other):
        return self._ewise_or_scalar(other, "ewise_ge", "scalar_ge")

    def __ne__(self, other):
        return 1 - (self == other)  # the one complement: nan != x is true

    def __gt__(self, other):
        return (self >= other) * (self != other)

    def __lt__(self, other):
        # a < b is b > a: swap an array operand; for a number -a > -b (negation is exact and
        # keeps NaN), as there is no scalar kernel with the number on the left.
        other = _operand(other, "scalar_lt")
        return other > self if isinstance(other, NDArray) else (-self) > -other

    def __le__(self, other):
        other = _operand(other, "scalar_le")  # a <= b is b >= a, or -a >= -b
        return other >= self if isinstance(other, NDArray) else (-self) >= -other

    # NumPy on the left (``np.float32(1.5) + a``): NumPy defers to our reflected operators
    # rather than treating ``a`` as an object and building an object array of results.
    __array_ufunc__ = None

    def __bool__(self) -> bool:
        """The truth of a one-element array; ambiguous, as in NumPy, for any other size.

        Raises:
            ValueError: if the array does not hold exactly one element.
        """
        if self.size != 1:
            what = "an empty array" if self.size == 0 else "an array with more than one element"
            raise ValueError(f"The truth value of {what} (shape {self._shape}) is ambiguous; "
                             f"compare a count instead, e.g. (a != 0).sum()")
        return bool(self.numpy().item())

    __hash__ = None  # type: ignore[assignment]  # == is element-wise, so arrays are unhashable (as NumPy's)

    def log(self):
        return self._unary("ewise_log")

    def exp(self):
        return self._unary("ewise_exp")

    def tanh(self):
        return self._unary("ewise_tanh")

    def sigmoid(self):
        """The logistic function ``1 / (1 + exp(-x))`` elementwise, in one kernel."""
        return self._unary("ewise_sigmoid")

    # ---- matrix multiplication ------------------------------------------------------------

    def __matmul__(self, other: NDArray) -> NDArray:
        """``(m, n) @ (n, p)``, or batched ``(..., m, n) @ (..., n, p)`` with broadcast batch axes.

        Raises:
            ValueError: if either operand has fewer than 2 axes, the inner sizes differ, or the
                batch axes do not broadcast.
        """
        return matmul(self, other)

    # ---- reductions -----------------------------------------------------------------------

    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> NDArray:
        """Sum over one axis, several, or all (None), as ``numpy.sum``."""
        return _reduce(self, axis, keepdims, "reduce_sum")

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> NDArray:
        """Maximum over one axis, several, or all (None), as ``numpy.max``.

        Raises:
            ValueError: when reducing over an empty axis.
        """
        return _reduce(self, axis, keepdims, "reduce_max")


def _assemble(handle, shape: tuple[int, ...], strides: tuple[int, ...], offset: int,
              device: BackendDevice, dtype: np.dtype, compact: bool | None) -> NDArray:
    """An NDArray from parts already checked: every array is put together here (``make``,
    ``as_strided``, ``_fresh``), without ``__init__``'s conversions. ``compact`` is whether it is
    compact, or None for "not known yet" (``is_compact`` works it out when first asked)."""
    array = _new_ndarray(NDArray)
    array._handle, array._shape, array._strides, array._offset = handle, shape, strides, offset
    array._device, array._dtype, array._compact = device, dtype, compact
    return array


def _fresh(shape: tuple[int, ...], device: BackendDevice, dtype: np.dtype) -> NDArray:
    """A new compact array with an existing array's shape, device and dtype: ``NDArray.make``
    without re-checking what that array's making checked (the per-op hot path)."""
    return _assemble(device.Array(math.prod(shape), DTYPE_NAME[dtype]), shape,
                     row_major_strides(shape), 0, device, dtype, True)


def _operand(value, name: str):
    """``value`` if it is an NDArray, else as a real-number scalar operand (see ``real_scalar``)."""
    return value if isinstance(value, NDArray) else real_scalar(value, name)


def _extent(a: NDArray) -> tuple[int, int]:
    """The first and last buffer index ``a`` reaches, or ``(0, -1)`` when it has no elements."""
    if 0 in a.shape:
        return 0, -1
    lo = hi = a.offset
    for n, stride in zip(a.shape, a.strides, strict=True):
        lo, hi = lo + builtins.min(0, (n - 1) * stride), hi + builtins.max(0, (n - 1) * stride)
    return lo, hi


def _may_overlap(a: NDArray, b: NDArray) -> bool:
    """Whether ``a`` and ``b`` may share an element: one buffer, and their index ranges meet
    (NumPy's ``may_share_memory``: cheap and conservative, so ``a[::2]`` and ``a[1::2]`` count)."""
    if a._handle is not b._handle:
        return False
    (lo_a, hi_a), (lo_b, hi_b) = _extent(a), _extent(b)
    return lo_a <= hi_b and lo_b <= hi_a


def promote(a: NDArray, b: NDArray) -> tuple[NDArray, NDArray]:
    """Both operands compact and in the wider of their dtypes (float32 with float64 gives
    float64, as NumPy and PyTorch promote)."""
    if a._dtype is b._dtype:  # (dtype_of gives each dtype as one object)
        return a.compact(), \
            b.compact()
    if a.dtype != b.dtype:
        wide = np.promote_types(a.dtype, b.dtype)
        return a.astype(wide) if a.dtype != wide else a.compact(), \
            b.astype(wide) if b.dtype != wide else b.compact()
    return a.compact(), b.compact()


def _reduce(a: NDArray, axis, keepdims: bool, kernel: str) -> NDArray:
    """Reduce ``a`` over ``axis`` with a ``reduce_*`` kernel on an (outer, size, inner) layout.

    Adjacent axes of a compact array reduce in place (one kernel call, no copy); other axis
    sets are permuted to the end and compacted first.
    """
    axes = normalize_axes(kernel.replace("reduce_", ""), axis, a.ndim)
    kept = tuple(1 if i in axes else n for i, n in enumerate(a.shape))
    if kernel == "reduce_max" and any(a.shape[ax] == 0 for ax in axes):
        raise ValueError(f"max: zero-size axis in {axes} of shape {a.shape} has no maximum")
    if axes and axes == tuple(range(axes[0], axes[-1] + 1)):
        src = a.compact()
        outer, inner = prod(a.shape[:axes[0]]), prod(a.shape[axes[-1] + 1:])
    else:
        rest = tuple(i for i in range(a.ndim) if i not in axes)
        src = a.permute(rest + axes).compact()
        outer, inner = prod(a.shape[i] for i in rest), 1
    size = prod(a.shape[ax] for ax in axes)
    # The result is compact, so it is made in its final shape at once (no reshaped view).
    out = _fresh(kept if keepdims else tuple(n for i, n in enumerate(a.shape) if i not in axes),
                 a._device, a._dtype)
    getattr(a._device, kernel)(src._handle, out._handle, outer, size, inner)
    return out


# ---- the constructor and the product the operators above use (``functions`` re-exports them) --

def full(shape, fill_value, dtype="float32", device: BackendDevice | str | None = None) -> NDArray:
    """An array of ``shape`` (a sequence of sizes, or one int) filled with ``fill_value``.

    Raises:
        TypeError: for a size that is not an integer, or a ``fill_value`` that is not a real
            number, naming it.
        ValueError: as ``empty`` for a bad shape.

    Example:
        >>> full((2, 3), 1.5, device=cpu_numpy()).numpy().tolist()
        [[1.5, 1.5, 1.5], [1.5, 1.5, 1.5]]
        >>> full((-2, 3), 1.5)
        Traceback (most recent call last):
        ...
        ValueError: shape (-2, 3): negative dimensions are not allowed (got -2)
    """
    fill_value = real_scalar(fill_value, "full")
    out = NDArray.make(shape, device=device, dtype=dtype)
    out.fill(fill_value)
    return out


def matmul(a: NDArray, b: NDArray, *, naive: bool = False) -> NDArray:
    """``a @ b``; with ``naive=True`` the reference triple loop (``matmul_naive`` kernel).

    Raises:
        ValueError: for operands with fewer than 2 axes, unequal inner sizes, unbroadcastable
            batch axes, or different devices.
    """
    shape_a, shape_b = a._shape, b._shape
    if len(shape_a) == 2 == len(shape_b) and shape_a[1] == shape_b[0] and a._dtype is b._dtype \
            and a._device is b._device and not naive:
        # Two matrices of one dtype on one device (most calls): the checks below all pass.
        (m, n), p = shape_a, shape_b[1]
        device, dtype = a._device, a._dtype
        out = _assemble(device.Array(m * p, DTYPE_NAME[dtype]), (m, p), (p, 1), 0, device, dtype,
                        True)
        device.matmul(a.compact()._handle, b.compact()._handle, out._handle, 1, m, n, p)
        return out
    if len(a._shape) < 2 or len(b._shape) < 2 or a._shape[-1] != b._shape[-2]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not multiply; expected "
                         f"(..., m, n) @ (..., n, p)")
    if a._device is not b._device and a._device != b._device:
        raise ValueError(f"matmul: operands on {a.device} and {b.device}")
    (m, n), p = a._shape[-2:], b._shape[-1]
    if a._shape[:-2] == b._shape[:-2]:  # (two matrices, or equal batch axes: nothing to broadcast)
        batch = a._shape[:-2]
    else:
        try:
            batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch axes of {a.shape} and {b.shape} do not "
                             f"broadcast") from None
        a, b = a.broadcast_to((*batch, m, n)), b.broadcast_to((*batch, n, p))
    a, b = promote(a, b)
    out = _fresh((*batch, m, p), a._device, a._dtype)
    kernel = a.device.matmul_naive if naive else a.device.matmul
    kernel(a._handle, b._handle, out._handle, prod(batch), m, n, p)
    return out
