"""The backend contract: every kernel a backend module provides to ``NDArray``.

``NDArray`` (``ndarray.py``) never computes on its elements itself: it calls the kernels of its
device's backend module, and only the ones listed in ``Backend`` below. Three modules satisfy
it: ``ndarray_backend_numpy`` (the reference, in Python), ``ndarray_backend_cpu`` (C++, hw3) and
``ndarray_backend_cuda`` with its CPU emulation ``ndarray_backend_cuda_emu`` (hw4). A type
checker verifies the NumPy module against it (``BackendDevice`` takes a ``Backend``), and
``tests/hw3/test_ndarray.py`` checks that each built module provides every kernel with a
compatible signature. The functions student code may call *above* ``NDArray`` (``array_api``)
are a different list: ``needle/array_contract.py``.

Conventions (``src/ndarray_backend_common.h`` holds the compiled backends' side):
    * ``Array(size, dtype)`` is a flat buffer of ``size`` elements of ``dtype`` ("float32" or
      "float64"); kernels read and write these buffers only, and write their result into
      ``out``, which the caller allocates.
    * ``shape``, ``strides`` (in elements, not bytes) and ``offset`` describe a strided view of
      a buffer; every other kernel takes compact (row-major, offset 0) buffers.
    * Every kernel checks its arguments first: a TypeError for mixed dtypes, a ValueError for
      a negative size, an IndexError for a view that reaches outside its buffer.

Example:
    >>> from needle.backend_ndarray import backend_protocol, ndarray_backend_numpy
    >>> missing = [name for name in backend_protocol.KERNELS
    ...            if not callable(getattr(ndarray_backend_numpy, name, None))]
    >>> missing
    []
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class BackendArray(Protocol):
    """A backend's flat buffer: ``size`` elements of ``dtype`` ("float32" or "float64")."""

    @property
    def size(self) -> int:
        """The number of elements."""
        ...

    @property
    def dtype(self) -> str:
        """The element type's name: "float32" or "float64"."""
        ...

    def ptr(self) -> int:
        """The buffer's address (tests use it to check that views share memory)."""
        ...


class Backend(Protocol):
    """The kernels of one backend module (a module satisfies this as an object would).

    ``a``, ``b``, ``out``, ``pre``, ``c``, ``dh``, ``dc`` are ``BackendArray`` buffers of one
    dtype; ``val`` is a Python number.
    """

    def Array(self, size: int, dtype: str = "float32") -> BackendArray:  # a class in each module
        """A new uninitialised buffer. Raises ValueError for a negative size or another dtype."""
        ...

    # ---- moving data in and out -------------------------------------------------------------

    def to_numpy(self, a: Any, shape: Sequence[int], strides: Sequence[int], offset: int) -> Any:
        """A NumPy copy of the strided view ``(shape, strides, offset)`` of ``a``."""
        ...

    def from_numpy(self, a: Any, out: Any) -> None:
        """Copy the C-contiguous NumPy array ``a`` (of ``out``'s dtype) into the start of ``out``."""
        ...

    def fill(self, out: Any, val: float) -> None:
        """Set every element of ``out`` to ``val``."""
        ...

    # ---- strided views (hw3 question 2) ------------------------------------------------------

    def compact(self, a: Any, out: Any, shape: Sequence[int], strides: Sequence[int],
                offset: int) -> None:
        """Copy the strided view ``(shape, strides, offset)`` of ``a`` into ``out``, row-major."""
        ...

    def ewise_setitem(self, a: Any, out: Any, shape: Sequence[int], strides: Sequence[int],
                      offset: int) -> None:
        """Write the compact ``a`` into the strided view ``(shape, strides, offset)`` of ``out``."""
        ...

    def scalar_setitem(self, size: int, val: float, out: Any, shape: Sequence[int],
                       strides: Sequence[int], offset: int) -> None:
        """Set the ``size`` elements of the strided view of ``out`` to ``val``."""
        ...

    # ---- element-wise maths (hw3 question 3): out = f(a, b) or f(a, val) or f(a) -------------

    def ewise_add(self, a: Any, b: Any, out: Any) -> None:
        """``out = a + b``."""
        ...

    def scalar_add(self, a: Any, val: float, out: Any) -> None:
        """``out = a + val``."""
        ...

    def ewise_mul(self, a: Any, b: Any, out: Any) -> None:
        """``out = a * b``."""
        ...

    def scalar_mul(self, a: Any, val: float, out: Any) -> None:
        """``out = a * val``."""
        ...

    def ewise_div(self, a: Any, b: Any, out: Any) -> None:
        """``out = a / b``."""
        ...

    def scalar_div(self, a: Any, val: float, out: Any) -> None:
        """``out = a / val``."""
        ...

    def ewise_power(self, a: Any, b: Any, out: Any) -> None:
        """``out = a ** b`` by C99's ``pow``."""
        ...

    def scalar_power(self, a: Any, val: float, out: Any) -> None:
        """``out = a ** val`` by C99's ``pow``."""
        ...

    def ewise_maximum(self, a: Any, b: Any, out: Any) -> None:
        """``out = max(a, b)``; NaN propagates."""
        ...

    def scalar_maximum(self, a: Any, val: float, out: Any) -> None:
        """``out = max(a, val)``; NaN propagates."""
        ...

    def ewise_eq(self, a: Any, b: Any, out: Any) -> None:
        """``out = 1.0 where a == b else 0.0``."""
        ...

    def scalar_eq(self, a: Any, val: float, out: Any) -> None:
        """``out = 1.0 where a == val else 0.0``."""
        ...

    def ewise_ge(self, a: Any, b: Any, out: Any) -> None:
        """``out = 1.0 where a >= b else 0.0``."""
        ...

    def scalar_ge(self, a: Any, val: float, out: Any) -> None:
        """``out = 1.0 where a >= val else 0.0``."""
        ...

    def ewise_log(self, a: Any, out: Any) -> None:
        """``out = log(a)``."""
        ...

    def ewise_exp(self, a: Any, out: Any) -> None:
        """``out = exp(a)``."""
        ...

    def ewise_tanh(self, a: Any, out: Any) -> None:
        """``out = tanh(a)``."""
        ...

    def ewise_sigmoid(self, a: Any, out: Any) -> None:
        """``out = 1 / (1 + exp(-a))`` (hw5 uses it)."""
        ...

    # ---- reductions (hw3 question 4) ---------------------------------------------------------

    def reduce_sum(self, a: Any, out: Any, outer: int, size: int, inner: int) -> None:
        """``out[o, i] = sum_j a[o, j, i]``: ``a`` as ``(outer, size, inner)``, ``out`` ``(outer, inner)``."""
        ...

    def reduce_max(self, a: Any, out: Any, outer: int, size: int, inner: int) -> None:
        """``out[o, i] = max_j a[o, j, i]``; ValueError for ``size == 0``."""
        ...

    # ---- matrix multiplication (hw3 question 5) ----------------------------------------------

    def matmul(self, a: Any, b: Any, out: Any, batch: int, m: int, n: int, p: int) -> None:
        """``out[k] = a[k] @ b[k]`` for ``k < batch``: compact ``(m, n)``, ``(n, p)``, ``(m, p)``."""
        ...

    def matmul_naive(self, a: Any, b: Any, out: Any, batch: int, m: int, n: int, p: int) -> None:
        """As ``matmul``, by the plain triple loop (the baseline the tiled kernel is timed against)."""
        ...

    # ---- rows and LSTM gates (given code, used by hw5's Embedding and LSTM) ------------------

    def take_rows(self, a: Any, idx: Any, out: Any, cols: int) -> None:
        """``out[r, :] = a[idx[r], :]`` for the compact table ``a`` of rows of ``cols``."""
        ...

    def index_add_rows(self, a: Any, idx: Any, out: Any, cols: int) -> None:
        """``out[idx[r], :] += a[r, :]`` for every ``r`` (repeated rows add up)."""
        ...

    def lstm_gates(self, pre: Any, c: Any, h_out: Any, c_out: Any, batch: int, hidden: int) -> None:
        """One LSTM step: ``pre`` ``(batch, 4 * hidden)`` holds i, f, g, o;
        ``c' = sigmoid(f) c + sigmoid(i) tanh(g)``, ``h' = sigmoid(o) tanh(c')``."""
        ...

    def lstm_gates_backward(self, pre: Any, c: Any, dh: Any, dc: Any, dpre: Any, dc_out: Any,
                            batch: int, hidden: int) -> None:
        """The adjoints ``(d pre, d c)`` of ``lstm_gates`` given ``(dh', dc')``."""
        ...


# Every kernel of the contract, in the order above (``Array`` included).
KERNELS: tuple[str, ...] = tuple(name for name in vars(Backend)
                                 if not name.startswith("_") and callable(vars(Backend)[name]))
