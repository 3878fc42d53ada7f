"""The reference backend: the kernel interface of ``ndarray_backend_cpu`` written with NumPy.

``NDArray`` drives a backend module through these functions only, so the C++ module
(``src/ndarray_backend_cpu.cc``) and this one are interchangeable: ``ndl.cpu_numpy()`` runs
everything here, and the hw3 tests compare each C++ kernel with its NumPy twin.

Conventions shared by every backend module:
    * ``Array(size, dtype)`` is a flat buffer of ``size`` elements of ``dtype`` ("float32" or
      "float64"); kernels read and write these buffers only.
    * ``shape``, ``strides`` (in elements, not bytes) and ``offset`` describe a strided view
      of a buffer; ``compact`` copies such a view into a fresh row-major buffer.
    * ``reduce_*(a, out, outer, size, inner)`` treat the compact ``a`` as shape
      ``(outer, size, inner)`` and reduce its middle axis into ``out`` of shape ``(outer, inner)``.
    * ``matmul(a, b, out, batch, m, n, p)`` multiplies ``batch`` pairs of compact ``(m, n)``
      and ``(n, p)`` matrices stored back to back.
    * Every kernel checks its arguments first, as ``src/ndarray_backend_common.h`` does for the
      compiled ones, with the same exceptions and messages: a TypeError for mixed dtypes, a
      ValueError for a negative size or one past 2^63 - 1, an IndexError for a view that
      reaches outside its buffer. A bad call raises; it never reads or writes out of bounds.
    * IEEE semantics, as NumPy's: NaN propagates through ``maximum`` and ``reduce_max``;
      comparisons with NaN are false; ``power`` is C99's ``pow`` (``(-inf) ** 0.5`` is inf).
"""
from __future__ import annotations

import operator

import numpy as np

# Every kernel of ``backend_protocol.Backend``: a type checker matches a module against a
# protocol through its ``__all__``.
__all__ = [
    "Array", "to_numpy", "from_numpy", "fill", "compact", "ewise_setitem", "scalar_setitem",
    "ewise_add", "scalar_add", "ewise_mul", "scalar_mul", "ewise_div", "scalar_div",
    "ewise_power", "scalar_power", "ewise_maximum", "scalar_maximum", "ewise_eq", "scalar_eq",
    "ewise_ge", "scalar_ge", "ewise_log", "ewise_exp", "ewise_tanh", "ewise_sigmoid",
    "reduce_sum", "reduce_max", "matmul", "matmul_naive", "take_rows", "index_add_rows",
    "lstm_gates", "lstm_gates_backward",
]

DTYPES = ("float32", "float64")
ALIGNMENT = 64  # bytes; the C++ backend aligns its buffers the same way
MAX_SIZE = 2**63 - 1  # PTRDIFF_MAX: the most elements or bytes a compiled backend's buffer may have


# ---- the checks of src/ndarray_backend_common.h, with the same messages ----------------------

def _dim(name: str, what: str, value) -> int:
    """A size passed to a kernel: an int (TypeError otherwise), not negative (ValueError)."""
    value = operator.index(value)
    if value < 0:
        raise ValueError(f"{name}: {what} {value} is negative")
    return value


def _product(name: str, what: str, *factors: int) -> int:
    """The product of element counts; a ValueError names them when it exceeds ``MAX_SIZE``."""
    product = 1
    for f in factors:
        product *= f
    if product > MAX_SIZE:
        raise ValueError(f"{name}: {what} {' x '.join(map(str, factors))} is too large (more than 2^63 - 1)")
    return product


def _same_dtype(name: str, a: Array, *others: Array) -> None:
    for b in others:
        if a.dtype != b.dtype:
            raise TypeError(f"{name}: dtypes {a.dtype} and {b.dtype} differ")


def _check_size(name: str, what: str, a: Array, need: int) -> None:
    if a.size < need:
        raise ValueError(f"{name}: {what} holds {a.size} elements, expected at least {need}")


def _shape_text(shape) -> str:
    return str(tuple(shape))


def _check_view(name: str, shape, strides, offset, size: int) -> int:
    """The element count of the strided view ``(shape, strides, offset)``, which must lie inside a
    buffer of ``size`` elements (an IndexError names the elements it would reach otherwise)."""
    shape, strides = [operator.index(n) for n in shape], [operator.index(s) for s in strides]
    offset = operator.index(offset)
    if len(shape) != len(strides):
        raise ValueError(f"{name}: shape has {len(shape)} axes but strides {len(strides)}")
    if offset < 0:
        raise ValueError(f"{name}: offset {offset} is negative")
    if any(n < 0 for n in shape):
        raise ValueError(f"{name}: negative size {min(shape)} in shape {_shape_text(shape)}")
    count = 1
    for n in shape:
        count *= n
    if count == 0:
        return 0  # an empty view reaches nothing
    if count > MAX_SIZE:
        raise ValueError(f"{name}: shape {_shape_text(shape)} has more than 2^63 - 1 elements")
    lo = offset + sum((n - 1) * s for n, s in zip(shape, strides, strict=True) if s < 0)
    hi = offset + sum((n - 1) * s for n, s in zip(shape, strides, strict=True) if s > 0)
    if lo < 0 or hi >= size:
        raise IndexError(f"{name}: the strided view reaches elements {lo}..{hi} of a buffer of {size} "
                         f"(shape {_shape_text(shape)}, strides {_shape_text(strides)}, offset {offset})")
    return count


class Array:
    """A flat buffer of ``size`` elements of ``dtype`` ("float32" or "float64").

    Raises:
        ValueError: for a negative size, one of more than 2^63 - 1 bytes, or another dtype.
        MemoryError: when NumPy cannot allocate the buffer.
    """

    def __init__(self, size: int, dtype: str = "float32"):
        size = _dim("Array", "size", size)
        if str(dtype) not in DTYPES:
            raise ValueError(f"Array: dtype {dtype} is not supported; expected one of {DTYPES}")
        itemsize = np.dtype(str(dtype)).itemsize
        if size * itemsize > MAX_SIZE:
            raise ValueError(f"Array: size {size} of {dtype} is too large: {itemsize} bytes each is "
                             "more than 2^63 - 1 bytes")
        self.array = np.empty(size, dtype=str(dtype))

    @property
    def size(self) -> int:
        return self.array.size

    @property
    def dtype(self) -> str:
        return str(self.array.dtype)

    def ptr(self) -> int:
        """The buffer's address (for tests that check that views share memory)."""
        return self.array.ctypes.data


def _view(name: str, a: Array, shape, strides, offset: int) -> np.ndarray:
    """The strided view of ``a``'s buffer, checked as the compiled backends check it."""
    count = _check_view(name, shape, strides, offset, a.size)
    if count == 0:
        return np.empty(tuple(shape), dtype=a.array.dtype)
    itemsize = a.array.itemsize
    return np.lib.stride_tricks.as_strided(a.array[offset:], tuple(shape),
                                           tuple(s * itemsize for s in strides))


def to_numpy(a: Array, shape, strides, offset: int) -> np.ndarray:
    """A NumPy copy of the strided view ``(shape, strides, offset)`` of ``a``."""
    return _view("to_numpy", a, shape, strides, offset).copy()


def from_numpy(a: np.ndarray, out: Array) -> None:
    """Copy the C-contiguous ``a``, of ``out``'s dtype, into the start of ``out``."""
    if str(a.dtype) != out.dtype:
        raise TypeError(f"from_numpy: array dtype {a.dtype} differs from the buffer's {out.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError("from_numpy: the array must be C-contiguous")
    if a.size > out.size:
        raise ValueError(f"from_numpy: {a.size} elements do not fit in a buffer of {out.size}")
    out.array[:a.size] = a.ravel()


def fill(out: Array, val: float) -> None:
    """Set every element of ``out`` to ``val``."""
    out.array[:] = val


def compact(a: Array, out: Array, shape, strides, offset: int) -> None:
    """Copy the strided view ``(shape, strides, offset)`` of ``a`` into ``out`` in row-major order."""
    _same_dtype("compact", a, out)
    view = _view("compact", a, shape, strides, offset)
    _check_size("compact", "out", out, view.size)
    out.array[:view.size] = view.ravel()


def ewise_setitem(a: Array, out: Array, shape, strides, offset: int) -> None:
    """Write the compact ``a`` into the strided view ``(shape, strides, offset)`` of ``out``."""
    _same_dtype("ewise_setitem", a, out)
    view = _view("ewise_setitem", out, shape, strides, offset)
    _check_size("ewise_setitem", "a", a, view.size)
    view[...] = a.array[:view.size].reshape(view.shape)  # NumPy copies first where they overlap


def scalar_setitem(size: int, val: float, out: Array, shape, strides, offset: int) -> None:
    """Set every element of the strided view ``(shape, strides, offset)`` of ``out`` to ``val``."""
    view = _view("scalar_setitem", out, shape, strides, offset)
    if size != view.size:
        raise ValueError(f"scalar_setitem: size {size} but the view has {view.size} elements")
    view[...] = val


def _binary(fn, ewise_name: str, scalar_name: str):
    def ewise(a: Array, b: Array, out: Array) -> None:
        _same_dtype(ewise_name, a, b, out)
        if a.size != out.size or b.size != out.size:
            raise ValueError(f"{ewise_name}: sizes {a.size}, {b.size} and {out.size} differ")
        out.array[:] = fn(a.array, b.array)

    def scalar(a: Array, val: float, out: Array) -> None:
        _same_dtype(scalar_name, a, out)
        _check_size(scalar_name, "out", out, a.size)
        out.array[:a.size] = fn(a.array, a.array.dtype.type(val))
    ewise.__name__, scalar.__name__ = ewise_name, scalar_name
    return ewise, scalar


def _unary(fn, name: str):
    def ewise(a: Array, out: Array) -> None:
        _same_dtype(name, a, out)
        _check_size(name, "out", out, a.size)
        out.array[:a.size] = fn(a.array)
    ewise.__name__ = name
    return ewise


ewise_add, scalar_add = _binary(np.add, "ewise_add", "scalar_add")
ewise_mul, scalar_mul = _binary(np.multiply, "ewise_mul", "scalar_mul")
ewise_div, scalar_div = _binary(np.divide, "ewise_div", "scalar_div")
ewise_power = _binary(np.power, "ewise_power", "scalar_power")[0]  # scalar_power: below


def scalar_power(a: Array, val: float, out: Array) -> None:
    """``out = a ** val`` by C99's ``pow``, as ``ewise_power`` and the compiled backends. Not
    ``np.power(a, val)``: for a scalar 0.5 NumPy takes ``sqrt``, so ``(-inf) ** 0.5`` would be
    nan and ``(-0.) ** 0.5`` -0. where ``pow`` gives inf and 0."""
    _same_dtype("scalar_power", a, out)
    _check_size("scalar_power", "out", out, a.size)
    out.array[:a.size] = np.power(a.array, np.full_like(a.array, val))


ewise_maximum, scalar_maximum = _binary(np.maximum, "ewise_maximum", "scalar_maximum")
ewise_eq, scalar_eq = _binary(np.equal, "ewise_eq", "scalar_eq")
ewise_ge, scalar_ge = _binary(np.greater_equal, "ewise_ge", "scalar_ge")
ewise_log = _unary(np.log, "ewise_log")
ewise_exp = _unary(np.exp, "ewise_exp")
ewise_tanh = _unary(np.tanh, "ewise_tanh")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for x < -88: sigmoid is then 0
        return 1 / (1 + np.exp(-x))


ewise_sigmoid = _unary(_sigmoid, "ewise_sigmoid")


def _row_indices(name: str, idx, size: int, cols) -> tuple[np.ndarray, int]:
    """The row indices ``idx`` into a table of ``size`` elements in rows of ``cols`` (as
    ``CheckRows``: a ValueError for cols == 0, an IndexError names an index outside the rows)."""
    cols = _dim(name, "cols", cols)
    if cols == 0:
        raise ValueError(f"{name}: cols must be positive")
    rows = size // cols
    idx = np.asarray(idx, dtype=np.int64).ravel()
    bad = idx[(idx < 0) | (idx >= rows)]
    if bad.size:
        raise IndexError(f"{name}: row {bad[0]} is outside 0..{rows - 1}")
    return idx, cols


def take_rows(a: Array, idx, out: Array, cols: int) -> None:
    """``out[r, :] = a[idx[r], :]``: rows of the compact ``a`` (``a.size // cols`` x ``cols``)."""
    _same_dtype("take_rows", a, out)
    idx, cols = _row_indices("take_rows", idx, a.size, cols)
    _check_size("take_rows", "out", out, _product("take_rows", "rows x cols =", idx.size, cols))
    table = a.array[:a.size // cols * cols].reshape(-1, cols)
    out.array[:idx.size * cols] = table[idx].ravel()


def index_add_rows(a: Array, idx, out: Array, cols: int) -> None:
    """``out[idx[r], :] += a[r, :]`` for every r (repeated rows add up)."""
    _same_dtype("index_add_rows", a, out)
    idx, cols = _row_indices("index_add_rows", idx, out.size, cols)
    _check_size("index_add_rows", "a", a, _product("index_add_rows", "rows x cols =", idx.size, cols))
    table = out.array[:out.size // cols * cols].reshape(-1, cols)
    np.add.at(table, idx, a.array[:idx.size * cols].reshape(-1, cols))


def _matmul(name: str):
    def matmul(a: Array, b: Array, out: Array, batch: int, m: int, n: int, p: int) -> None:
        """``out[i] = a[i] @ b[i]`` for ``i < batch``; compact ``(m, n)``, ``(n, p)``, ``(m, p)``."""
        batch, m, n, p = (_dim(name, what, v) for what, v in
                          zip(("batch", "m", "n", "p"), (batch, m, n, p), strict=True))
        _same_dtype(name, a, b, out)
        _check_size(name, "a", a, _product(name, "batch x m x n =", batch, m, n))
        _check_size(name, "b", b, _product(name, "batch x n x p =", batch, n, p))
        _check_size(name, "out", out, _product(name, "batch x m x p =", batch, m, p))
        np.matmul(a.array[:batch * m * n].reshape(batch, m, n), b.array[:batch * n * p].reshape(batch, n, p),
                  out=out.array[:batch * m * p].reshape(batch, m, p))
    matmul.__name__ = name
    return matmul


matmul = _matmul("matmul")
matmul_naive = _matmul("matmul_naive")


def _reduce(name: str, a: Array, out: Array, outer, size, inner) -> np.ndarray:
    """The compact ``a`` as ``(outer, size, inner)``, after the compiled backends' checks."""
    outer, size, inner = (_dim(name, what, v) for what, v in
                          zip(("outer", "size", "inner"), (outer, size, inner), strict=True))
    _same_dtype(name, a, out)
    _check_size(name, "a", a, _product(name, "outer x size x inner =", outer, size, inner))
    _check_size(name, "out", out, _product(name, "outer x inner =", outer, inner))
    return a.array[:outer * size * inner].reshape(outer, size, inner)


def reduce_sum(a: Array, out: Array, outer: int, size: int, inner: int) -> None:
    """``out[o, i] = sum_j a[o, j, i]`` for the compact ``a`` of shape ``(outer, size, inner)``."""
    x = _reduce("reduce_sum", a, out, outer, size, inner)
    out.array[:x.shape[0] * x.shape[2]] = x.sum(axis=1).ravel()


def reduce_max(a: Array, out: Array, outer: int, size: int, inner: int) -> None:
    """``out[o, i] = max_j a[o, j, i]`` for the compact ``a`` of shape ``(outer, size, inner)``;
    a NaN in a row gives NaN, as with every backend."""
    x = _reduce("reduce_max", a, out, outer, size, inner)
    if x.shape[1] == 0:
        raise ValueError("reduce_max: cannot reduce an empty axis")
    out.array[:x.shape[0] * x.shape[2]] = x.max(axis=1).ravel()


def _lstm_shapes(name: str, pre: Array, state, dpre, batch, hidden) -> tuple[int, int]:
    """``CheckLstm``: one dtype; pre (and d pre) hold 4 x batch x hidden elements, the rest batch x hidden."""
    batch, hidden = _dim(name, "batch", batch), _dim(name, "hidden", hidden)
    gates = _product(name, "4 x batch x hidden =", 4, batch, hidden)
    _check_size(name, "pre", pre, gates)
    if dpre is not None:
        _same_dtype(name, pre, dpre)
        _check_size(name, "dpre", dpre, gates)
    for x in state:
        _same_dtype(name, pre, x)
        _check_size(name, "an operand", x, batch * hidden)
    return batch, hidden


def _gates(pre: Array, c: Array, batch: int, hidden: int):
    p = pre.array[:4 * batch * hidden].reshape(batch, 4, hidden)
    i, f, o = _sigmoid(p[:, 0]), _sigmoid(p[:, 1]), _sigmoid(p[:, 3])
    g, c0 = np.tanh(p[:, 2]), c.array[:batch * hidden].reshape(batch, hidden)
    return i, f, g, o, c0, f * c0 + i * g


def lstm_gates(pre: Array, c: Array, h_out: Array, c_out: Array, batch: int, hidden: int) -> None:
    """One LSTM step's gates: ``pre`` ``(batch, 4 * hidden)`` holds i, f, g, o side by side;
    ``c' = sigmoid(f) c + sigmoid(i) tanh(g)`` and ``h' = sigmoid(o) tanh(c')``."""
    batch, hidden = _lstm_shapes("lstm_gates", pre, (c, h_out, c_out), None, batch, hidden)
    *_, o, _, c2 = _gates(pre, c, batch, hidden)
    c_out.array[:c2.size] = c2.ravel()
    h_out.array[:c2.size] = (o * np.tanh(c2)).ravel()


def lstm_gates_backward(pre: Array, c: Array, dh: Array, dc: Array, dpre: Array, dc_out: Array,
                        batch: int, hidden: int) -> None:
    """The adjoints ``(d pre, d c)`` of ``lstm_gates`` given ``(dh', dc')``."""
    batch, hidden = _lstm_shapes("lstm_gates_backward", pre, (c, dh, dc, dc_out), dpre, batch, hidden)
    i, f, g, o, c0, c2 = _gates(pre, c, batch, hidden)
    t = np.tanh(c2)
    shape = (batch, hidden)
    dh_, dc_ = dh.array[:c2.size].reshape(shape), dc.array[:c2.size].reshape(shape)
    dc2 = dc_ + dh_ * o * (1 - t * t)
    blocks = np.stack([dc2 * g * i * (1 - i), dc2 * c0 * f * (1 - f), dc2 * i * (1 - g * g),
                       dh_ * t * o * (1 - o)], axis=1)
    dpre.array[:blocks.size] = blocks.ravel()
    dc_out.array[:c2.size] = (dc2 * f).ravel()
