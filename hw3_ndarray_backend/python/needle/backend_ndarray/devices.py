"""needle's devices: each a name and the backend module whose kernels run its arrays.

``cpu()`` runs the C++ backend (``src/ndarray_backend_cpu.cc``), ``cpu_numpy()`` the reference
written with NumPy (``ndarray_backend_numpy.py``); from hw4 on, ``cuda()`` runs the CUDA
backend on a GPU or, with ``emulate=True``, on the CPU. A backend that is not built leaves its
device disabled: using it raises a RuntimeError that says how to build it.
"""
from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

import numpy as np

from ..backend_numpy import Device
from . import ndarray_backend_numpy
from .backend_protocol import Backend
from .shapes import check_shape

if TYPE_CHECKING:
    from .ndarray import NDArray

__all__ = ["BackendDevice", "cpu", "cpu_numpy", "default_device", "set_default_device", "all_devices"]


# Backend module constants reachable as device attributes, as CMU needle's ``cpu().__tile_size__``
# (the side of ``matmul_tiled``'s tiles; only the CPU module has one).
_MODULE_CONSTANTS = ("__device_name__", "__tile_size__")


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
        # Only reached for names that are not attributes: kernel functions of the module, and
        # the module's constants that CMU needle reads through the device (``__tile_size__``).
        if name.startswith("__") and name not in _MODULE_CONSTANTS:
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
        from .functions import full  # (here: functions imports this module)

        return full(_shape_arg(shape), 0.0, dtype=dtype, device=self)

    def ones(self, *shape, dtype: str = "float32") -> NDArray:
        """An array of ones; ``shape`` may be given as ints or as one tuple."""
        from .functions import full

        return full(_shape_arg(shape), 1.0, dtype=dtype, device=self)

    def randn(self, *shape, rng: np.random.Generator | None = None, dtype: str = "float32") -> NDArray:
        """Standard normal samples drawn from ``rng`` (a fresh unseeded one if None)."""
        rng = rng if rng is not None else np.random.default_rng()
        from .ndarray import NDArray

        return NDArray(rng.standard_normal(check_shape(_shape_arg(shape))), device=self, dtype=dtype)

    def rand(self, *shape, rng: np.random.Generator | None = None, dtype: str = "float32") -> NDArray:
        """Uniform samples in [0, 1) drawn from ``rng`` (a fresh unseeded one if None)."""
        rng = rng if rng is not None else np.random.default_rng()
        from .ndarray import NDArray

        return NDArray(rng.random(check_shape(_shape_arg(shape))), device=self, dtype=dtype)

    def one_hot(self, n: int, i, dtype: str = "float32") -> NDArray:
        """Rows of the ``n x n`` identity picked by the integer labels ``i``: shape ``i.shape + (n,)``."""
        labels = np.asarray(i, dtype=np.int64).ravel()
        if labels.size and (labels.min() < 0 or labels.max() >= n):
            raise ValueError(f"one_hot: a label is outside 0..{n - 1}")
        # On the device: a 1 added into row i * n + label of zeros (m * n, 1), with no m x n host
        # array to build and copy over (nor np.eye(n), which is n x n).
        from .functions import full, index_add_rows

        ones = full((labels.size, 1), 1.0, dtype=dtype, device=self)
        flat = index_add_rows(ones, np.arange(labels.size) * n + labels, labels.size * n)
        return flat.reshape((*np.asarray(i).shape, n))

    def empty(self, shape, dtype: str = "float32") -> NDArray:
        """An uninitialised array of ``shape``."""
        from .functions import empty

        return empty(shape, dtype=dtype, device=self)

    def full(self, shape, fill_value, dtype: str = "float32") -> NDArray:
        """An array of ``shape`` filled with ``fill_value``."""
        from .functions import full

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


def resolve_device(device) -> BackendDevice:
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
