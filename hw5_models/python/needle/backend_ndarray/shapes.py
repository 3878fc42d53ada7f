"""What NDArray accepts, checked in one place: dtypes, shapes, scalars and indices.

Every NDArray constructor, view and kernel call passes its arguments through these checks, so a
bad one fails in Python with an error naming it, the value it got and what was expected (as
NumPy's own checks do), never as a crash in a kernel. Axes are checked by
``needle.checks.normalize_axes``, which the Tensor ops share.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from numbers import Integral, Real

import numpy as np

__all__ = ["DTYPES", "DTYPE_NAME", "dtype_of", "check_shape", "integers", "prod", "row_major_strides",
           "infer_shape", "real_scalar", "describe", "normalize_index"]

DTYPES = ("float32", "float64")


def prod(shape: Iterable[int]) -> int:
    return math.prod(shape)


_INT64_MAX = 2**63 - 1  # the backends count elements and bytes in int64 / size_t


def check_shape(shape, itemsize: int | None = None) -> tuple[int, ...]:
    """``shape`` (a sequence of sizes, or one int) as a tuple of ints, checked as NumPy checks it.

    With ``itemsize`` (the bytes of one element: the shape of a new buffer) the byte count must
    fit in int64 too; without it only the element count must (a view allocates nothing).

    Raises:
        TypeError: for a size that is not an integer (a float, a bool, None), naming it.
        ValueError: for a negative size, or an element or byte count beyond int64, naming
            the shape.
    """
    sizes = shape if type(shape) is tuple else _shape_tuple(shape)
    for n in sizes:  # the common case, kept fast: every view and every new array comes here
        if type(n) is not int or n < 0:
            sizes = _shape_sizes(sizes)
            break
    count = prod(sizes)
    if count > _INT64_MAX:
        raise ValueError(f"shape {sizes} has {count} elements, more than int64 can count "
                         f"(2**63 - 1)")
    if itemsize is not None and count * itemsize > _INT64_MAX:
        raise ValueError(f"shape {sizes} has {count} elements of {itemsize} bytes: "
                         f"{count * itemsize} bytes, more than int64 can address (2**63 - 1)")
    return sizes


def _shape_tuple(shape) -> tuple:
    """``shape`` as a tuple: one int is one axis."""
    if isinstance(shape, Integral) and not isinstance(shape, bool):
        return (shape,)
    try:
        return tuple(shape)
    except TypeError:
        raise TypeError(f"shape {shape!r}: expected a sequence of integers or one integer, "
                        f"got {type(shape).__name__}") from None


def integers(values: Iterable, what: str) -> tuple[int, ...]:
    """``values`` as plain ints (from NumPy integers), each checked to be an integer.

    Raises:
        TypeError: for a value that is not (a float, a bool, None), named after ``what``.
    """
    values = tuple(values)
    for n in values:
        if isinstance(n, bool) or not isinstance(n, Integral):
            raise TypeError(f"{what} {n!r} is not an integer ({type(n).__name__})")
    return tuple(int(n) for n in values)


def _shape_sizes(sizes: tuple) -> tuple[int, ...]:
    """``sizes`` as plain ints (from NumPy integers), each checked to be an integer >= 0."""
    sizes = integers(sizes, f"shape {sizes!r}: size")
    negative = [n for n in sizes if n < 0]
    if negative:
        raise ValueError(f"shape {sizes}: negative dimensions are not allowed (got {negative[0]})")
    return sizes


def real_scalar(value, name: str) -> float:
    """``value`` as the float a scalar kernel takes: a real number (int, float, NumPy scalar).

    Raises:
        TypeError: for anything else (a complex number, a string, a bool, None), naming it.
        OverflowError: for an int too large for a float64 (``10**400``), naming it.
    """
    if isinstance(value, Real) and not isinstance(value, (bool, np.bool_)):
        try:
            return float(value)
        except OverflowError:
            digits = str(value)
            count = len(digits.lstrip("-"))
            shown = digits if len(digits) <= 24 else f"{digits[:12]}... ({count} digits)"
            raise OverflowError(f"{name}: the number {shown} is too large for a float64") from None
    raise TypeError(f"{name}: expected a real number, got {describe(value)}")


_DTYPE_OF = {}  # every spelling seen so far ("float32", np.float32, np.dtype(...)) -> np.dtype
for _name in DTYPES:
    _DTYPE_OF.update({_name: np.dtype(_name), np.dtype(_name): np.dtype(_name),
                      np.dtype(_name).type: np.dtype(_name)})
_DTYPE_OF[None] = np.dtype("float32")
DTYPE_NAME = {np.dtype(name): name for name in DTYPES}  # np.dtype.name is slow Python code


@functools.lru_cache(maxsize=1024)  # the same few shapes recur in every training step


def row_major_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    stride, strides = 1, []
    for n in reversed(shape):
        strides.append(stride)
        stride *= n
    return tuple(reversed(strides))


def dtype_of(dtype) -> np.dtype:
    try:
        return _DTYPE_OF[dtype]  # the common case, without NumPy's slower parsing
    except (KeyError, TypeError):
        pass
    name = np.dtype(dtype).name
    if name not in DTYPES:
        raise TypeError(f"dtype {name} is not supported by NDArray; expected one of {DTYPES}")
    return np.dtype(name)


def describe(value) -> str:
    """``value`` for an error message, short: a NumPy array by its shape, else its repr."""
    if isinstance(value, np.ndarray):
        return (f"a NumPy array of shape {value.shape} (convert it with NDArray(x, device=...) "
                f"first)")
    shown = repr(value)
    return f"{shown if len(shown) <= 60 else shown[:57] + '...'} ({type(value).__name__})"


def infer_shape(shape: tuple[int, ...], size: int, old: tuple[int, ...]) -> tuple[int, ...]:
    if not all(type(n) is int for n in shape):
        shape = integers(shape, f"reshape: in {shape}, size")
    if shape.count(-1) > 1 or any(n < -1 for n in shape):
        raise ValueError(f"reshape: {shape} may hold at most one -1 and no other negative size")
    if -1 in shape:
        known = prod(n for n in shape if n != -1)
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape shape {old} ({size} elements) to {shape}")
        shape = tuple(size // known if n == -1 else n for n in shape)
    if prod(shape) != size:
        raise ValueError(f"reshape: cannot reshape shape {old} ({size} elements) to {shape} "
                         f"({prod(shape)} elements)")
    return shape


def normalize_index(idxs, shape: tuple[int, ...], kind: str = "NDArray") -> tuple[int | slice, ...]:
    """NumPy's basic index ``idxs`` (ints, slices, one ``...``) as one int (made non-negative and
    checked) or slice per axis of ``shape``; ``kind`` names the indexed thing in errors.

    Raises:
        IndexError: for an int outside its axis, naming both, too many indices, two ``...``,
            or an array, list or None (NumPy's advanced indexing and new axes, which NDArray
            does not do: ``take_rows`` gathers rows by index).
        TypeError: for an index that is not an int, slice or Ellipsis, or a slice bound that
            is not an int.
        ValueError: for a slice step of 0.
    """
    idxs = idxs if isinstance(idxs, tuple) else (idxs,)
    basic = []  # (``in`` and ``index`` on idxs would compare an array index with ``==``)
    for idx in idxs:
        if isinstance(idx, np.ndarray) and idx.ndim == 0 and idx.dtype.kind in "iu":
            idx = int(idx)  # NumPy takes a 0-d integer array as an int
        elif isinstance(idx, (np.ndarray, list)) or idx is None:
            shown = f"an array of shape {np.shape(idx)}" if idx is not None else "None (newaxis)"
            raise IndexError(f"{kind} index {shown}: only basic indexing (ints, slices and "
                             f"...) is supported, not advanced indexing with arrays or new "
                             f"axes; use take_rows to gather rows by index")
        basic.append(idx)
    idxs = tuple(basic)
    ellipses = [at for at, idx in enumerate(idxs) if idx is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    explicit = len(idxs) - len(ellipses)
    if explicit > len(shape):
        raise IndexError(f"too many indices for a {kind} of shape {shape}: {explicit}")
    if ellipses:
        at = ellipses[0]
        idxs = idxs[:at] + (slice(None),) * (len(shape) - explicit) + idxs[at + 1:]
    idxs = idxs + (slice(None),) * (len(shape) - len(idxs))
    out: list[int | slice] = []
    for axis, (idx, n) in enumerate(zip(idxs, shape, strict=True)):
        if isinstance(idx, slice):
            if idx.step == 0:
                raise ValueError(f"{kind} index {idx!r} on axis {axis}: slice step cannot be zero")
            try:
                idx.indices(n)
            except TypeError:
                raise TypeError(f"{kind} index {idx!r} on axis {axis}: slice bounds must be ints "
                                f"or None") from None
            out.append(idx)
        elif isinstance(idx, (int, np.integer)) and not isinstance(idx, bool):
            if not -n <= idx < n:
                raise IndexError(f"index {idx} is out of range for axis {axis} of size {n}")
            out.append(int(idx) % n)
        else:
            raise TypeError(f"{kind} index {idx!r} on axis {axis}: expected an int, a slice "
                            f"or ..., got {type(idx).__name__}")
    return tuple(out)
