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
"""
from __future__ import annotations

import numpy as np

__all__ = ["Array", "to_numpy", "from_numpy", "fill", "compact", "ewise_setitem", "scalar_setitem"]

DTYPES = ("float32", "float64")
ALIGNMENT = 64  # bytes; the C++ backend aligns its buffers the same way


class Array:
    """A flat buffer of ``size`` elements of ``dtype`` ("float32" or "float64").

    Raises:
        ValueError: for a negative size or another dtype.
    """

    def __init__(self, size: int, dtype: str = "float32"):
        if size < 0:
            raise ValueError(f"Array: size {size} is negative")
        if str(dtype) not in DTYPES:
            raise ValueError(f"Array: dtype {dtype} is not supported; expected one of {DTYPES}")
        self.array = np.empty(size, dtype=dtype)

    @property
    def size(self) -> int:
        return self.array.size

    @property
    def dtype(self) -> str:
        return str(self.array.dtype)

    def ptr(self) -> int:
        """The buffer's address (for tests that check that views share memory)."""
        return self.array.ctypes.data


def _view(a: Array, shape, strides, offset: int) -> np.ndarray:
    itemsize = a.array.itemsize
    return np.lib.stride_tricks.as_strided(a.array[offset:], tuple(shape),
                                           tuple(s * itemsize for s in strides))


def to_numpy(a: Array, shape, strides, offset: int) -> np.ndarray:
    """A NumPy copy of the strided view ``(shape, strides, offset)`` of ``a``."""
    return _view(a, shape, strides, offset).copy()


def from_numpy(a: np.ndarray, out: Array) -> None:
    """Copy the elements of ``a`` (any layout, row-major order) into ``out``."""
    out.array[:] = np.asarray(a, dtype=out.array.dtype).ravel()


def fill(out: Array, val: float) -> None:
    """Set every element of ``out`` to ``val``."""
    out.array[:] = val


def compact(a: Array, out: Array, shape, strides, offset: int) -> None:
    """Copy the strided view ``(shape, strides, offset)`` of ``a`` into ``out`` in row-major order."""
    out.array[:] = _view(a, shape, strides, offset).ravel()


def ewise_setitem(a: Array, out: Array, shape, strides, offset: int) -> None:
    """Write the compact ``a`` into the strided view ``(shape, strides, offset)`` of ``out``."""
    _view(out, shape, strides, offset)[...] = a.array.reshape(shape)


def scalar_setitem(size: int, val: float, out: Array, shape, strides, offset: int) -> None:
    """Set every element of the strided view ``(shape, strides, offset)`` of ``out`` to ``val``."""
    _view(out, shape, strides, offset)[...] = val


def _binary(fn):
    def ewise(a: Array, b: Array, out: Array) -> None:
        out.array[:] = fn(a.array, b.array)

    def scalar(a: Array, val: float, out: Array) -> None:
        out.array[:] = fn(a.array, a.array.dtype.type(val))
    return ewise, scalar


def _unary(fn):
    def ewise(a: Array, out: Array) -> None:
        out.array[:] = fn(a.array)
    return ewise


ewise_add, scalar_add = _binary(np.add)
ewise_mul, scalar_mul = _binary(np.multiply)
ewise_div, scalar_div = _binary(np.divide)
ewise_power, scalar_power = _binary(np.power)
ewise_maximum, scalar_maximum = _binary(np.maximum)
ewise_eq, scalar_eq = _binary(np.equal)
ewise_ge, scalar_ge = _binary(np.greater_equal)
ewise_log = _unary(np.log)
ewise_exp = _unary(np.exp)
ewise_tanh = _unary(np.tanh)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for x < -88: sigmoid is then 0
        return 1 / (1 + np.exp(-x))


ewise_sigmoid = _unary(_sigmoid)


def _row_indices(name: str, idx, rows: int) -> np.ndarray:
    idx = np.asarray(idx, dtype=np.int64)
    bad = idx[(idx < 0) | (idx >= rows)]
    if bad.size:
        raise IndexError(f"{name}: row {bad[0]} is outside 0..{rows - 1}")
    return idx


def take_rows(a: Array, idx, out: Array, cols: int) -> None:
    """``out[r, :] = a[idx[r], :]``: rows of the compact ``a`` (``a.size // cols`` x ``cols``)."""
    table = a.array.reshape(-1, cols)
    idx = _row_indices("take_rows", idx, len(table))
    out.array[:idx.size * cols] = table[idx].ravel()


def index_add_rows(a: Array, idx, out: Array, cols: int) -> None:
    """``out[idx[r], :] += a[r, :]`` for every r (repeated rows add up)."""
    table = out.array.reshape(-1, cols)
    idx = _row_indices("index_add_rows", idx, len(table))
    np.add.at(table, idx, a.array[:idx.size * cols].reshape(-1, cols))


def matmul(a: Array, b: Array, out: Array, batch: int, m: int, n: int, p: int) -> None:
    """``out[i] = a[i] @ b[i]`` for ``i < batch``; compact ``(m, n)``, ``(n, p)``, ``(m, p)``."""
    np.matmul(a.array.reshape(batch, m, n), b.array.reshape(batch, n, p),
              out=out.array.reshape(batch, m, p))


matmul_naive = matmul


def reduce_sum(a: Array, out: Array, outer: int, size: int, inner: int) -> None:
    """``out[o, i] = sum_j a[o, j, i]`` for the compact ``a`` of shape ``(outer, size, inner)``."""
    out.array[:] = a.array.reshape(outer, size, inner).sum(axis=1).ravel()


def reduce_max(a: Array, out: Array, outer: int, size: int, inner: int) -> None:
    """``out[o, i] = max_j a[o, j, i]`` for the compact ``a`` of shape ``(outer, size, inner)``."""
    out.array[:] = a.array.reshape(outer, size, inner).max(axis=1).ravel()


def _gates(pre: Array, c: Array, batch: int, hidden: int):
    p = pre.array[:4 * batch * hidden].reshape(batch, 4, hidden)
    i, f, o = _sigmoid(p[:, 0]), _sigmoid(p[:, 1]), _sigmoid(p[:, 3])
    g, c0 = np.tanh(p[:, 2]), c.array[:batch * hidden].reshape(batch, hidden)
    return i, f, g, o, c0, f * c0 + i * g


def lstm_gates(pre: Array, c: Array, h_out: Array, c_out: Array, batch: int, hidden: int) -> None:
    """One LSTM step's gates: ``pre`` ``(batch, 4 * hidden)`` holds i, f, g, o side by side;
    ``c' = sigmoid(f) c + sigmoid(i) tanh(g)`` and ``h' = sigmoid(o) tanh(c')``."""
    *_, o, _, c2 = _gates(pre, c, batch, hidden)
    c_out.array[:c2.size] = c2.ravel()
    h_out.array[:c2.size] = (o * np.tanh(c2)).ravel()


def lstm_gates_backward(pre: Array, c: Array, dh: Array, dc: Array, dpre: Array, dc_out: Array,
                        batch: int, hidden: int) -> None:
    """The adjoints ``(d pre, d c)`` of ``lstm_gates`` given ``(dh', dc')``."""
    i, f, g, o, c0, c2 = _gates(pre, c, batch, hidden)
    t = np.tanh(c2)
    shape = (batch, hidden)
    dh_, dc_ = dh.array[:c2.size].reshape(shape), dc.array[:c2.size].reshape(shape)
    dc2 = dc_ + dh_ * o * (1 - t * t)
    blocks = np.stack([dc2 * g * i * (1 - i), dc2 * c0 * f * (1 - f), dc2 * i * (1 - g * g),
                       dh_ * t * o * (1 - o)], axis=1)
    dpre.array[:blocks.size] = blocks.ravel()
    dc_out.array[:c2.size] = (dc2 * f).ravel()
