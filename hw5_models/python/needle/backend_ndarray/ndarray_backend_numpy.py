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
