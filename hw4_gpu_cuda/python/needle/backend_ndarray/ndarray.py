"""needle's own n-dimensional array: a strided view of a flat buffer owned by a backend.

An ``NDArray`` is ``(handle, shape, strides, offset, device)``: ``handle`` is a flat buffer
(``Array``) of a backend module, and element ``(i_0, ..., i_{d-1})`` lives at
``offset + sum_k i_k * strides[k]`` in it (strides count elements, not bytes). Reshaping a
compact array, permuting axes, broadcasting, slicing and flipping only compute new
``shape``/``strides``/``offset``: they are views that share the buffer, and cost no copy.
Kernels (element-wise maths, reductions, matmul) run on compact buffers, so they call
``compact()`` first, which copies only when the array is not already compact.

This is the strided layout of NumPy (van der Walt et al., "The NumPy array: a structure for
efficient numerical computation", 2011) and of CMU 10-414's needle, with float32 and float64
elements. Devices: ``cpu()`` (the C++ backend in ``src/ndarray_backend_cpu.cc``) and
``cpu_numpy()`` (the same kernel interface written with NumPy, the reference).
"""
from __future__ import annotations

import builtins
import functools
import importlib
import math
import os
from numbers import Integral, Real
from collections.abc import Iterable, Sequence

import numpy as np

from ..backend_numpy import Device
from ..checks import integer_ids
from . import ndarray_backend_numpy
from .backend_protocol import Backend

__all__ = [
    "NDArray", "BackendDevice", "cpu", "cpu_numpy", "default_device", "set_default_device",
    "all_devices", "array", "empty", "full", "broadcast_to", "reshape", "swapaxes", "maximum",
    "log", "exp", "tanh", "sigmoid", "power", "flip", "pad", "stack", "matmul", "take_rows",
    "index_add_rows", "lstm_gates", "lstm_gates_backward", "normalize_index",
]  # and sum, max: left out of __all__ so that `import *` never shadows the builtins
__all__ += ["cuda"]

DTYPES = ("float32", "float64")


class BackendDevice(Device):
    """A device: a name and the backend module whose kernels run its arrays (``needle.Device``'s
    API, the same as ``backend_numpy.CPUDevice``'s).

    Holds the constructors that ``needle.init`` uses (``zeros``, ``randn``, ...). Random
    values are drawn with NumPy's generator on the host and copied over, so a seed gives the
    same numbers on every device.
    """

    def __init__(self, name: str, mod: Backend | None, missing: str | None = None):
        """``mod`` is the backend module (``backend_protocol.Backend``), or None with ``missing``
        saying why it cannot run here."""
        self.name = name
        self.mod = mod
        self._missing = missing

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BackendDevice) and self.name == other.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"{self.name}()"

    def __getattr__(self, name: str):
        # Only reached for names that are not attributes: kernel functions of the module.
        if name.startswith("__"):
            raise AttributeError(name)
        if self.mod is None:
            raise RuntimeError(f"device {self!r} is not available: {self._missing}")
        try:
            kernel = getattr(self.mod, name)
        except AttributeError:
            raise AttributeError(f"device {self!r}: its backend has no kernel '{name}'") from None
        setattr(self, name, kernel)  # found directly from now on, without this method
        return kernel

    def enabled(self) -> bool:
        """Whether this device's backend is built and importable here."""
        return self.mod is not None

    def zeros(self, *shape, dtype: str = "float32") -> NDArray:
        """An array of zeros; ``shape`` may be given as ints or as one tuple."""
        return full(_shape_arg(shape), 0.0, dtype=dtype, device=self)

    def ones(self, *shape, dtype: str = "float32") -> NDArray:
        """An array of ones; ``shape`` may be given as ints or as one tuple."""
        return full(_shape_arg(shape), 1.0, dtype=dtype, device=self)

    def randn(self, *shape, rng: np.random.Generator | None = None, dtype: str = "float32") -> NDArray:
        """Standard normal samples drawn from ``rng`` (a fresh unseeded one if None)."""
        rng = rng if rng is not None else np.random.default_rng()
        return NDArray(rng.standard_normal(_check_shape(_shape_arg(shape))), device=self, dtype=dtype)

    def rand(self, *shape, rng: np.random.Generator | None = None, dtype: str = "float32") -> NDArray:
        """Uniform samples in [0, 1) drawn from ``rng`` (a fresh unseeded one if None)."""
        rng = rng if rng is not None else np.random.default_rng()
        return NDArray(rng.random(_check_shape(_shape_arg(shape))), device=self, dtype=dtype)

    def one_hot(self, n: int, i, dtype: str = "float32") -> NDArray:
        """Rows of the ``n x n`` identity picked by the integer labels ``i``: shape ``i.shape + (n,)``."""
        labels = np.asarray(i, dtype=np.int64).ravel()
        if labels.size and (labels.min() < 0 or labels.max() >= n):
            raise ValueError(f"one_hot: a label is outside 0..{n - 1}")
        # On the device: a 1 added into row i * n + label of zeros (m * n, 1), with no m x n host
        # array to build and copy over (nor np.eye(n), which is n x n).
        ones = full((labels.size, 1), 1.0, dtype=dtype, device=self)
        flat = index_add_rows(ones, np.arange(labels.size) * n + labels, labels.size * n)
        return flat.reshape((*np.asarray(i).shape, n))

    def empty(self, shape, dtype: str = "float32") -> NDArray:
        """An uninitialised array of ``shape``."""
        return empty(shape, dtype=dtype, device=self)

    def full(self, shape, fill_value, dtype: str = "float32") -> NDArray:
        """An array of ``shape`` filled with ``fill_value``."""
        return full(shape, fill_value, dtype=dtype, device=self)


def _load_backend(module: str, source: str):
    """The compiled backend ``module`` and None, or None and why it is missing."""
    try:
        return importlib.import_module(f".{module}", __package__), None
    except ImportError as error:
        return None, (f"its backend is not built ({error}); run `make` in the homework folder "
                      f"(it builds {source} with CMake)")


_CPU = BackendDevice("cpu", *_load_backend("ndarray_backend_cpu", "src/ndarray_backend_cpu.cc"))
_CPU_NUMPY = BackendDevice("cpu_numpy", ndarray_backend_numpy)
_default = _CPU
_DEVICES = [_CPU, _CPU_NUMPY]


def _load_cuda_backend():
    """The real CUDA backend and None, or None and why it cannot run here."""
    mod, missing = _load_backend("ndarray_backend_cuda", "src/ndarray_backend_cuda.cu with nvcc")
    if mod is not None and mod.device_count() == 0:
        mod, missing = None, "the CUDA backend is built but this machine has no usable GPU"
    if mod is None:
        missing += ("; without a GPU, ndl.cuda(emulate=True) runs the same kernels on the CPU "
                    "(or set NEEDLE_CUDA_EMULATE=1)")
    return mod, missing


_CUDA = BackendDevice("cuda", *_load_cuda_backend())
_CUDA_EMU = BackendDevice("cuda_emu", *_load_backend("ndarray_backend_cuda_emu",
                                                     "src/ndarray_backend_cuda_emu.cc"))
_DEVICES += [_CUDA, _CUDA_EMU]


def cuda(emulate: bool | None = None) -> BackendDevice:
    """The GPU, running needle's CUDA backend (``src/ndarray_backend_cuda.cu``).

    Args:
        emulate: True for the same kernels compiled for the CPU and run by
            ``src/cuda_emulation.h`` (blocks in turn, the threads of a block as cooperating
            fibers): the device ``cuda_emu``, available on any machine. None (the default)
            means True when the environment sets ``NEEDLE_CUDA_EMULATE=1``, else False.

    Returns:
        The device. Check ``enabled()`` before use: on a machine without a GPU (or without
        nvcc at build time) the real device is disabled, and using it raises a RuntimeError
        that says how to run on the emulated one.
    """
    if emulate is None:
        emulate = os.environ.get("NEEDLE_CUDA_EMULATE", "") not in ("", "0")
    return _CUDA_EMU if emulate else _CUDA


def cpu() -> BackendDevice:
    """The host CPU, running needle's C++ backend."""
    return _CPU


def cpu_numpy() -> BackendDevice:
    """The host CPU, running the reference backend written with NumPy."""
    return _CPU_NUMPY


def default_device() -> BackendDevice:
    """The device arrays and Tensors land on when none is given (``cpu()`` unless set)."""
    return _default


def set_default_device(device: BackendDevice) -> None:
    """Make ``device`` the default, as ``torch.set_default_device``.

    Raises:
        TypeError: if ``device`` is not a needle device.
    """
    global _default
    if not isinstance(device, BackendDevice):
        raise TypeError(f"set_default_device: {device!r} is not a needle device (one of {all_devices()})")
    _default = device


def all_devices() -> list[BackendDevice]:
    """Every device this build provides, enabled or not."""
    return list(_DEVICES)


def _shape_arg(shape: tuple) -> tuple[int, ...]:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def _prod(shape: Iterable[int]) -> int:
    return math.prod(shape)


_INT64_MAX = 2**63 - 1  # the backends count elements and bytes in int64 / size_t


def _check_shape(shape, itemsize: int | None = None) -> tuple[int, ...]:
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
    count = _prod(sizes)
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


def _integers(values: Iterable, what: str) -> tuple[int, ...]:
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
    sizes = _integers(sizes, f"shape {sizes!r}: size")
    negative = [n for n in sizes if n < 0]
    if negative:
        raise ValueError(f"shape {sizes}: negative dimensions are not allowed (got {negative[0]})")
    return sizes


def _resolve_device(device) -> BackendDevice:
    """``device`` as a device: None is ``default_device()``, a name ("cpu") its device."""
    if isinstance(device, BackendDevice):
        return device
    if device is None:
        return default_device()
    names = [d.name for d in _DEVICES]
    if isinstance(device, str):
        if device in names:
            return _DEVICES[names.index(device)]
        raise ValueError(f"unknown device {device!r}; expected one of {names}")
    raise TypeError(f"device {device!r} ({type(device).__name__}) is not a needle device; "
                    f"expected one of {all_devices()} or its name")


def _real_scalar(value, name: str) -> float:
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
    raise TypeError(f"{name}: expected a real number, got {_describe(value)}")


_DTYPE_OF = {}  # every spelling seen so far ("float32", np.float32, np.dtype(...)) -> np.dtype
for _name in DTYPES:
    _DTYPE_OF.update({_name: np.dtype(_name), np.dtype(_name): np.dtype(_name),
                      np.dtype(_name).type: np.dtype(_name)})
_DTYPE_OF[None] = np.dtype("float32")
_DTYPE_NAME = {np.dtype(name): name for name in DTYPES}  # np.dtype.name is slow Python code


@functools.lru_cache(maxsize=1024)  # the same few shapes recur in every training step
def _compact_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    stride, strides = 1, []
    for n in reversed(shape):
        strides.append(stride)
        stride *= n
    return tuple(reversed(strides))


def _dtype(dtype) -> np.dtype:
    try:
        return _DTYPE_OF[dtype]  # the common case, without NumPy's slower parsing
    except (KeyError, TypeError):
        pass
    name = np.dtype(dtype).name
    if name not in DTYPES:
        raise TypeError(f"dtype {name} is not supported by NDArray; expected one of {DTYPES}")
    return np.dtype(name)


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

    def __init__(self, other, device: BackendDevice | str | None = None, dtype=None):
        if device is not None:
            device = _resolve_device(device)
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
        dtype = _dtype(dtype)
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

    @staticmethod
    def compact_strides(shape: Sequence[int]) -> tuple[int, ...]:
        """Row-major strides (in elements) of ``shape``: ``(3, 4) -> (4, 1)``."""
        return _compact_strides(tuple(shape))

    @staticmethod
    def make(shape: Sequence[int], strides: Sequence[int] | None = None,
             device: BackendDevice | None = None, handle=None, offset: int = 0,
             dtype="float32") -> NDArray:
        """A new array of ``shape`` over ``handle`` (a fresh buffer when None), without copying.

        Raises:
            TypeError: for a size of a new buffer that is not an integer, or a device that is
                not one.
            ValueError: for a negative size of a new buffer, or one whose bytes int64 cannot
                count.
        """
        array = NDArray.__new__(NDArray)
        array._device = _resolve_device(device)
        if handle is None:
            dtype = _dtype(dtype)
            shape = _check_shape(shape, dtype.itemsize)
            handle = array._device.Array(_prod(shape), _DTYPE_NAME[dtype])
        array._shape = tuple(shape)  # a view's: as_strided checks it, __getitem__ derives it
        array._strides = NDArray.compact_strides(shape) if strides is None else tuple(strides)
        array._offset = offset
        array._handle = handle
        array._dtype = _dtype(array._handle.dtype)  # the buffer's, whatever dtype said
        return array

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
        return _prod(self._shape)

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
        return (self._offset == 0 and self._strides == NDArray.compact_strides(self._shape)
                and self.size == self._handle.size)

    def compact(self) -> NDArray:
        """This array, or a row-major copy of it when it is a non-compact view."""
        if self.is_compact():
            return self
        out = NDArray.make(self._shape, device=self._device, dtype=self.dtype)
        self._device.compact(self._handle, out._handle, self._shape, self._strides, self._offset)
        return out

    def copy(self) -> NDArray:
        """A compact copy that shares no memory with this array."""
        out = NDArray.make(self._shape, device=self._device, dtype=self.dtype)
        self._device.compact(self._handle, out._handle, self._shape, self._strides, self._offset)
        return out

    def as_strided(self, shape: Sequence[int], strides: Sequence[int]) -> NDArray:
        """A view of the same buffer with the given shape and strides (use with care: whether
        the view stays inside the buffer is checked by the backend when a kernel reads it).

        Raises:
            TypeError: for a size or stride that is not an integer, naming it.
            ValueError: for a negative size, or if ``shape`` and ``strides`` have different
                lengths.
        """
        shape, strides = _check_shape(shape), tuple(strides)
        if len(shape) != len(strides):
            raise ValueError(f"as_strided: shape {shape} and strides {strides} differ in length")
        if not builtins.all(type(s) is int for s in strides):
            strides = _integers(strides, "as_strided: stride")
        return NDArray.make(shape, strides=strides, device=self._device, handle=self._handle,
                            offset=self._offset, dtype=self.dtype)

    @property
    def flat(self) -> NDArray:
        return self.reshape((self.size,))

    def astype(self, dtype) -> NDArray:
        """A copy with elements converted to ``dtype`` ("float32" or "float64")."""
        return NDArray(self, dtype=dtype)

    def to(self, device: BackendDevice | str) -> NDArray:
        """This array on ``device`` (a device or its name; itself when it is already there)."""
        device = _resolve_device(device)
        return self if device == self._device else NDArray(self, device=device)

    def numpy(self) -> np.ndarray:
        """A NumPy copy of the values."""
        return self._device.to_numpy(self._handle, self._shape, self._strides, self._offset)

    def fill(self, value: float) -> None:
        """Set every element to ``value`` in place (through views too).

        Raises:
            TypeError: if ``value`` is not a real number, naming it.
        """
        value = _real_scalar(value, "fill")
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
        new_shape = _infer_shape(tuple(new_shape), self.size, self._shape)
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
        new_axes = tuple(new_axes)
        in_range = all(-self.ndim <= ax < self.ndim for ax in new_axes)
        if not in_range or sorted(ax % self.ndim for ax in new_axes) != list(range(self.ndim)):
            raise ValueError(f"permute: {new_axes} is not a permutation of the axes of shape "
                             f"{self._shape}")
        new_axes = tuple(ax % self.ndim for ax in new_axes)
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
        new_shape = _check_shape(new_shape)
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
            value, view = _real_scalar(other, "__setitem__"), self[idxs]
            self._device.scalar_setitem(view.size, value, view._handle, view.shape, view.strides,
                                        view.offset)
        else:
            raise TypeError(f"__setitem__: cannot assign {_describe(other)}; expected an "
                            f"NDArray or a real number")

    def flip(self, axes: int | Sequence[int] | None = None) -> NDArray:
        """A view with the order of elements reversed along ``axes`` (all when None).

        Raises:
            ValueError: if an axis is out of range.
        """
        axes = _normalize_axes(axes, self.ndim, "flip")
        # TODO (hw3, question 1): implement NDArray.flip (Strided views)
        raise NotImplementedError("NDArray.flip: hw3")

    def pad(self, axes: Sequence[tuple[int, int]]) -> NDArray:
        """A new array with zeros added before and after each axis: ``axes[k] = (before, after)``.

        Raises:
            ValueError: if ``axes`` does not give one non-negative pair per axis.
        """
        axes = tuple(tuple(pair) for pair in axes)
        if len(axes) != self.ndim or any(len(p) != 2 or min(p) < 0 for p in axes):
            raise ValueError(f"pad: {axes} is not one (before, after) pair of non-negative ints "
                             f"per axis of shape {self._shape}")
        out = full(tuple(n + b + a for n, (b, a) in zip(self._shape, axes, strict=True)), 0.0,
                   dtype=self.dtype, device=self._device)
        out[tuple(slice(b, b + n) for n, (b, _) in zip(self._shape, axes, strict=True))] = self
        return out

    # ---- element-wise maths -------------------------------------------------------------

    def _ewise_or_scalar(self, other, ewise: str, scalar: str) -> NDArray:
        if isinstance(other, NDArray):
            if other.shape != self._shape:
                raise ValueError(f"{ewise}: operand shapes {self._shape} and {other.shape} differ; "
                                 f"broadcast_to one of them first")
            if other.device != self._device:
                raise ValueError(f"{ewise}: operands on {self._device} and {other.device}")
            a, b = _promote(self, other)
            out = NDArray.make(self._shape, device=self._device, dtype=a.dtype)
            getattr(self._device, ewise)(a._handle, b._handle, out._handle)
        elif isinstance(other, Real) and not isinstance(other, (bool, np.bool_)):
            value = _real_scalar(other, scalar)  # an OverflowError for 10**400, naming it
            out = NDArray.make(self._shape, device=self._device, dtype=self.dtype)
            getattr(self._device, scalar)(self.compact()._handle, value, out._handle)
        else:
            raise TypeError(f"{scalar}: unsupported operand {_describe(other)}; expected an "
                            f"NDArray or a real number")
        return out

    def _unary(self, kernel: str) -> NDArray:
        out = NDArray.make(self._shape, device=self._device, dtype=self.dtype)
        getattr(self._device, kernel)(self.compact()._handle, out._handle)
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

    __hash__ = None  # == is element-wise, so arrays are unhashable (as NumPy's)

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




def _operand(value, name: str):
    """``value`` if it is an NDArray, else as a real-number scalar operand (see ``_real_scalar``)."""
    return value if isinstance(value, NDArray) else _real_scalar(value, name)


def _describe(value) -> str:
    """``value`` for an error message, short: a NumPy array by its shape, else its repr."""
    if isinstance(value, np.ndarray):
        return (f"a NumPy array of shape {value.shape} (convert it with NDArray(x, device=...) "
                f"first)")
    shown = repr(value)
    return f"{shown if len(shown) <= 60 else shown[:57] + '...'} ({type(value).__name__})"


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


def _promote(a: NDArray, b: NDArray) -> tuple[NDArray, NDArray]:
    """Both operands compact and in the wider of their dtypes (float32 with float64 gives
    float64, as NumPy and PyTorch promote)."""
    if a.dtype != b.dtype:
        wide = np.promote_types(a.dtype, b.dtype)
        return a.astype(wide) if a.dtype != wide else a.compact(), \
            b.astype(wide) if b.dtype != wide else b.compact()
    return a.compact(), b.compact()


def _infer_shape(shape: tuple[int, ...], size: int, old: tuple[int, ...]) -> tuple[int, ...]:
    if not builtins.all(type(n) is int for n in shape):
        shape = _integers(shape, f"reshape: in {shape}, size")
    if shape.count(-1) > 1 or any(n < -1 for n in shape):
        raise ValueError(f"reshape: {shape} may hold at most one -1 and no other negative size")
    if -1 in shape:
        known = _prod(n for n in shape if n != -1)
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape shape {old} ({size} elements) to {shape}")
        shape = tuple(size // known if n == -1 else n for n in shape)
    if _prod(shape) != size:
        raise ValueError(f"reshape: cannot reshape shape {old} ({size} elements) to {shape} "
                         f"({_prod(shape)} elements)")
    return shape


def _normalize_axes(axes, ndim: int, name: str) -> tuple[int, ...]:
    if axes is None:
        return tuple(range(ndim))
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    for ax in axes:
        if not -ndim <= ax < ndim:
            raise ValueError(f"{name}: axis {ax} is out of range for {ndim} axes")
    normal = tuple(sorted({ax % ndim for ax in axes}))
    if len(normal) != len(axes):
        raise ValueError(f"{name}: axes {axes} repeat an axis")
    return normal


def _reduce(a: NDArray, axis, keepdims: bool, kernel: str) -> NDArray:
    """Reduce ``a`` over ``axis`` with a ``reduce_*`` kernel on an (outer, size, inner) layout.

    Adjacent axes of a compact array reduce in place (one kernel call, no copy); other axis
    sets are permuted to the end and compacted first.
    """
    axes = _normalize_axes(axis, a.ndim, kernel.replace("reduce_", ""))
    kept = tuple(1 if i in axes else n for i, n in enumerate(a.shape))
    if kernel == "reduce_max" and any(a.shape[ax] == 0 for ax in axes):
        raise ValueError(f"max: zero-size axis in {axes} of shape {a.shape} has no maximum")
    if axes and axes == tuple(range(axes[0], axes[-1] + 1)):
        src = a.compact()
        outer, inner = _prod(a.shape[:axes[0]]), _prod(a.shape[axes[-1] + 1:])
    else:
        rest = tuple(i for i in range(a.ndim) if i not in axes)
        src = a.permute(rest + axes).compact()
        outer, inner = _prod(a.shape[i] for i in rest), 1
    size = _prod(a.shape[ax] for ax in axes)
    out = NDArray.make(kept, device=a.device, dtype=a.dtype)
    getattr(a.device, kernel)(src._handle, out._handle, outer, size, inner)
    if keepdims:
        return out
    return out.reshape(tuple(n for i, n in enumerate(a.shape) if i not in axes))


# ---- module-level functions: the ``array_api`` that needle's ops call ---------------------

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
    out = []
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
    fill_value = _real_scalar(fill_value, "full")
    out = NDArray.make(shape, device=device, dtype=dtype)
    out.fill(fill_value)
    return out


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
    for axis in (axis1, axis2):
        if isinstance(axis, bool) or not isinstance(axis, Integral):
            raise TypeError(f"swapaxes: axis {axis!r} is not an integer ({type(axis).__name__})")
        if not -a.ndim <= axis < a.ndim:
            raise ValueError(f"swapaxes: axis {axis} is out of range for {a.ndim} axes")
    axes = list(range(a.ndim))
    i, j = int(axis1) % a.ndim, int(axis2) % a.ndim
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
    """One LSTM step's gate arithmetic in one kernel: ``pre`` ``(B, 4H)`` holds the
    pre-activations of the gates i, f, g, o side by side, ``c`` ``(B, H)`` the cell state.
    Returns ``(h', c')`` with ``c' = sigmoid(f) c + sigmoid(i) tanh(g)``, ``h' = sigmoid(o)
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
    """
    if not arrays:
        raise ValueError("stack: need at least one array")
    shape, device = arrays[0].shape, arrays[0].device
    if any(x.shape != shape for x in arrays):
        raise ValueError(f"stack: shapes differ: {[x.shape for x in arrays]}")
    if any(x.device != device for x in arrays):
        raise ValueError(f"stack: arrays on different devices: {[x.device for x in arrays]}")
    if not -len(shape) - 1 <= axis <= len(shape):
        raise ValueError(f"stack: axis {axis} is out of range for {len(shape) + 1} axes")
    axis %= len(shape) + 1
    dtype = np.result_type(*(x.dtype for x in arrays))  # float32 with float64 gives float64
    out = NDArray.make((*shape[:axis], len(arrays), *shape[axis:]), device=device, dtype=dtype)
    for i, x in enumerate(arrays):
        out[(slice(None),) * axis + (i,)] = x
    return out


def matmul(a: NDArray, b: NDArray, *, naive: bool = False) -> NDArray:
    """``a @ b``; with ``naive=True`` the reference triple loop (``matmul_naive`` kernel).

    Raises:
        ValueError: for operands with fewer than 2 axes, unequal inner sizes, unbroadcastable
            batch axes, or different devices.
    """
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not multiply; expected "
                         f"(..., m, n) @ (..., n, p)")
    if a.device != b.device:
        raise ValueError(f"matmul: operands on {a.device} and {b.device}")
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch axes of {a.shape} and {b.shape} do not broadcast") from None
    (m, n), p = a.shape[-2:], b.shape[-1]
    a, b = _promote(a.broadcast_to((*batch, m, n)), b.broadcast_to((*batch, n, p)))
    out = NDArray.make((*batch, m, p), device=a.device, dtype=a.dtype)
    kernel = a.device.matmul_naive if naive else a.device.matmul
    kernel(a._handle, b._handle, out._handle, _prod(batch), m, n, p)
    return out
