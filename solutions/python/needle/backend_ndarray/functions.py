"""The module-level functions of needle's ``array_api`` from hw3 on (``needle/array_contract.py``
lists the ones every backend provides), and the fused kernels the later models call: embedding
rows (``take_rows``, ``index_add_rows``) and the LSTM cell's gate arithmetic. ``full`` and
``matmul`` are the array's own (its operators use them), defined in ``ndarray`` and exported here.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..checks import integer_ids, normalize_axis
from .devices import BackendDevice
from .devices import cpu_numpy  # noqa: F401  (the doctests use it)
from .ndarray import NDArray, full, matmul
from .shapes import normalize_index

__all__ = [
    "array", "empty", "full", "broadcast_to", "reshape", "swapaxes", "maximum", "log", "exp",
    "tanh", "sigmoid", "power", "flip", "pad", "stack", "matmul", "take_rows", "index_add_rows",
    "lstm_gates", "lstm_gates_backward", "normalize_index",
]  # and sum, max: left out of __all__ so that `import *` never shadows the builtins


def array(a, dtype=None, device: BackendDevice | str | None = None) -> NDArray:
    """An NDArray holding a copy of ``a`` (NumPy array, list, number or NDArray)."""
    return NDArray(a, device=device, dtype=dtype)


def empty(shape, dtype="float32", device: BackendDevice | str | None = None) -> NDArray:
    """An uninitialised array of ``shape`` (a sequence of sizes, or one int).

    Raises:
        TypeError: for a size that is not an integer, naming it.
        ValueError: for a negative size, or a size whose bytes int64 cannot count, naming the
            shape.
    """
    return NDArray.make(shape, device=device, dtype=dtype)


def broadcast_to(a: NDArray, shape) -> NDArray:
    return a.broadcast_to(shape)


def reshape(a: NDArray, shape) -> NDArray:
    """``a`` under ``shape``; compacts a non-compact ``a`` first (a copy, as ``numpy.reshape``)."""
    return a.compact().reshape(shape)


def swapaxes(a: NDArray, axis1: int, axis2: int) -> NDArray:
    """A view with two axes exchanged (``numpy.swapaxes``); negative axes count from the end.

    Raises:
        ValueError: for an axis outside ``-ndim .. ndim - 1``, naming it.
        TypeError: for an axis that is not an integer.
    """
    i, j = normalize_axis("swapaxes", axis1, a.ndim), normalize_axis("swapaxes", axis2, a.ndim)
    axes = list(range(a.ndim))
    axes[i], axes[j] = axes[j], axes[i]
    return a.permute(axes)


def maximum(a: NDArray, b) -> NDArray:
    return a.maximum(b)


def log(a: NDArray) -> NDArray:
    return a.log()


def exp(a: NDArray) -> NDArray:
    return a.exp()


def tanh(a: NDArray) -> NDArray:
    return a.tanh()


def sigmoid(a: NDArray) -> NDArray:
    return a.sigmoid()


def take_rows(table: NDArray, ids) -> NDArray:
    """Rows of a 2-d ``table`` by integer ``ids`` (any shape): ``table[ids]``, shape
    ``ids.shape + (table.shape[1],)`` (an embedding lookup; ``torch.index_select`` on axis 0).

    Raises:
        ValueError: if ``table`` is not 2-d, or for a fractional or NaN id, naming it.
        IndexError: for an id outside ``0 .. table.shape[0] - 1``, naming it.
    """
    if table.ndim != 2:
        raise ValueError(f"take_rows: expected a 2-d table, got shape {table.shape}")
    ids = _row_ids("take_rows", ids, table.shape[0])
    out = NDArray.make((*ids.shape, table.shape[1]), device=table.device, dtype=table.dtype)
    if ids.size and table.shape[1]:  # rows of no columns: nothing to copy (and no kernel call)
        table.device.take_rows(table.compact()._handle, ids.ravel(), out._handle, table.shape[1])
    return out


def index_add_rows(values: NDArray, ids, num_rows: int) -> NDArray:
    """The adjoint of ``take_rows``: zeros ``(num_rows, cols)`` with row ``values[r]`` added at
    ``ids[r]`` for every r (rows that repeat add up; ``torch.index_add`` on axis 0).

    ``values`` has shape ``ids.shape + (cols,)``.

    Raises:
        ValueError: if the shapes do not match, or for a fractional or NaN id, naming it.
        IndexError: for an id outside ``0 .. num_rows - 1``, naming it.
    """
    ids = _row_ids("index_add_rows", ids, num_rows)
    if values.ndim == 0 or values.shape[:-1] != ids.shape:
        raise ValueError(f"index_add_rows: values of shape {values.shape} do not match ids of "
                         f"shape {ids.shape} plus one axis")
    cols = values.shape[-1]
    out = full((num_rows, cols), 0.0, dtype=values.dtype, device=values.device)
    if ids.size and cols:  # rows of no columns: nothing to add (and no kernel call)
        values.device.index_add_rows(values.compact()._handle, ids.ravel(), out._handle, cols)
    return out


def _row_ids(name: str, ids, rows: int) -> np.ndarray:
    """``ids`` as int64 row indices into ``rows`` rows, checked here (not only by the kernel, which
    a table of no columns skips): whole numbers, each in ``0 .. rows - 1``."""
    ids = integer_ids(name, "id", ids)
    outside = (ids < 0) | (ids >= rows)
    if outside.any():
        raise IndexError(f"{name}: row {ids[outside].flat[0]} is outside 0..{rows - 1}")
    return ids


def _lstm_operands(name: str, pre: NDArray, *state: NDArray) -> tuple[int, int]:
    batch, hidden = state[0].shape if state[0].ndim == 2 else (-1, -1)
    if pre.shape != (batch, 4 * hidden) or any(x.shape != (batch, hidden) for x in state) \
            or any(x.device != pre.device or x.dtype != pre.dtype for x in state):
        raise ValueError(f"{name}: expected pre (B, 4H) and (B, H) states of one dtype and device, "
                         f"got {pre.shape} and {[x.shape for x in state]}")
    return batch, hidden


def lstm_gates(pre: NDArray, c: NDArray) -> tuple[NDArray, NDArray]:
    """One LSTM step's gate arithmetic in one kernel: ``pre`` ``(B, 4 * hidden)`` holds the
    pre-activations of the gates i, f, g, o side by side, ``c`` ``(B, hidden)`` the cell state
    (``docs/notation.md``, "Sequences": B examples, ``hidden`` = d_h). Returns ``(h', c')``,
    elementwise ``c' = sigmoid(f) * c + sigmoid(i) * tanh(g)`` and ``h' = sigmoid(o) *
    tanh(c')`` (Hochreiter & Schmidhuber, 1997; PyTorch's gate order).

    Raises:
        ValueError: for mismatched shapes, dtypes or devices.
    """
    batch, hidden = _lstm_operands("lstm_gates", pre, c)
    h_out = NDArray.make((batch, hidden), device=pre.device, dtype=pre.dtype)
    c_out = NDArray.make((batch, hidden), device=pre.device, dtype=pre.dtype)
    pre.device.lstm_gates(pre.compact()._handle, c.compact()._handle, h_out._handle, c_out._handle,
                          batch, hidden)
    return h_out, c_out


def lstm_gates_backward(pre: NDArray, c: NDArray, dh: NDArray, dc: NDArray) -> tuple[NDArray, NDArray]:
    """The adjoints ``(d pre, d c)`` of ``lstm_gates`` given those of its outputs, ``(dh', dc')``,
    in one kernel (the gates are recomputed from ``pre`` rather than stored).

    Raises:
        ValueError: for mismatched shapes, dtypes or devices.
    """
    batch, hidden = _lstm_operands("lstm_gates_backward", pre, c, dh, dc)
    d_pre = NDArray.make(pre.shape, device=pre.device, dtype=pre.dtype)
    d_c = NDArray.make((batch, hidden), device=pre.device, dtype=pre.dtype)
    pre.device.lstm_gates_backward(pre.compact()._handle, c.compact()._handle, dh.compact()._handle,
                                   dc.compact()._handle, d_pre._handle, d_c._handle, batch, hidden)
    return d_pre, d_c


def power(a: NDArray, b) -> NDArray:
    return a ** b


def sum(a: NDArray, axis=None, keepdims: bool = False) -> NDArray:
    return a.sum(axis=axis, keepdims=keepdims)


def max(a: NDArray, axis=None, keepdims: bool = False) -> NDArray:
    return a.max(axis=axis, keepdims=keepdims)


def flip(a: NDArray, axes=None) -> NDArray:
    return a.flip(axes)


def pad(a: NDArray, axes) -> NDArray:
    return a.pad(axes)


def stack(arrays: Sequence[NDArray], axis: int = 0) -> NDArray:
    """Join arrays of one shape along a new axis ``axis``, in the widest of their dtypes
    (NumPy's ``result_type``: float32 with float64 gives float64, never a silent truncation).

    Raises:
        ValueError: for no arrays, differing shapes, or an axis out of range.
        TypeError: for an axis that is not an integer.
    """
    if not arrays:
        raise ValueError("stack: need at least one array")
    shape, device = arrays[0].shape, arrays[0].device
    if any(x.shape != shape for x in arrays):
        raise ValueError(f"stack: shapes differ: {[x.shape for x in arrays]}")
    if any(x.device != device for x in arrays):
        raise ValueError(f"stack: arrays on different devices: {[x.device for x in arrays]}")
    axis = normalize_axis("stack", axis, len(shape) + 1)
    dtype = np.result_type(*(x.dtype for x in arrays))  # float32 with float64 gives float64
    out = NDArray.make((*shape[:axis], len(arrays), *shape[axis:]), device=device, dtype=dtype)
    for i, x in enumerate(arrays):
        out[(slice(None),) * axis + (i,)] = x
    return out
