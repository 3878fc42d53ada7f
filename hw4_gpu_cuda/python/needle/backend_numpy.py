"""The NumPy backend: needle's arrays are plain ``numpy.ndarray`` until hw3.

hw3 replaces this with needle's own strided ``NDArray``; everything above the
``array_api`` seam (autograd, ops, nn) is written so that it does not notice.
"""
from __future__ import annotations

import abc
from typing import Any

import numpy

from .array_contract import ArrayNamespace

__all__ = [
    "CPUDevice",
    "Device",
    "all_devices",
    "array_api",
    "cpu",
    "default_device",
    "set_default_device",
]

# The NumPy functions needle code may call: the array contract's, and nothing else, so that a
# call the NDArray module of hw3 lacks fails already here. ``ndarray`` is the array type.
array_api = ArrayNamespace("needle.backend_numpy.array_api", numpy, ndarray=numpy.ndarray)


class Device(abc.ABC):
    """A place where arrays live and ops run: the one device API of every backend.

    ``CPUDevice`` below (NumPy arrays) and, from hw3, ``backend_ndarray.BackendDevice``
    (needle's NDArray on ``cpu()``, ``cpu_numpy()`` and ``cuda()``) derive from it. A shape
    may be given as ints or as one tuple (``zeros(2, 3)`` or ``zeros((2, 3))``); ``dtype`` is
    "float32" or "float64"; ``rng`` is a ``numpy.random.Generator`` (a fresh unseeded one if
    None), so a seed gives the same numbers on every device.
    """

    @abc.abstractmethod
    def enabled(self) -> bool:
        """Whether this device can be used here (its backend is built and has hardware)."""

    @abc.abstractmethod
    def zeros(self, *shape, dtype: str = "float32") -> Any:
        """An array of zeros."""

    @abc.abstractmethod
    def ones(self, *shape, dtype: str = "float32") -> Any:
        """An array of ones."""

    @abc.abstractmethod
    def randn(self, *shape, rng: numpy.random.Generator | None = None, dtype: str = "float32") -> Any:
        """Standard normal samples drawn from ``rng``."""

    @abc.abstractmethod
    def rand(self, *shape, rng: numpy.random.Generator | None = None, dtype: str = "float32") -> Any:
        """Uniform samples in [0, 1) drawn from ``rng``."""

    @abc.abstractmethod
    def one_hot(self, n: int, i, dtype: str = "float32") -> Any:
        """Rows of the ``n x n`` identity picked by the integer labels ``i``: shape ``i.shape + (n,)``."""

    @abc.abstractmethod
    def empty(self, shape, dtype: str = "float32") -> Any:
        """An uninitialised array of ``shape``."""

    @abc.abstractmethod
    def full(self, shape, fill_value, dtype: str = "float32") -> Any:
        """An array of ``shape`` filled with ``fill_value``."""


class CPUDevice(Device):
    """Arrays held as NumPy arrays in host memory.

    Example:
        >>> cpu()
        cpu()
        >>> cpu().zeros((2,)).tolist()
        [0.0, 0.0]
    """

    def __repr__(self) -> str:
        return "cpu()"

    def __hash__(self) -> int:
        return self.__repr__().__hash__()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CPUDevice)

    def enabled(self) -> bool:
        """Whether this device can be used here (the CPU always can)."""
        return True

    def zeros(self, *shape, dtype: str = "float32") -> numpy.ndarray:
        """An array of zeros; ``shape`` may be given as ints or as one tuple."""
        return numpy.zeros(_shape(shape), dtype=dtype)

    def ones(self, *shape, dtype: str = "float32") -> numpy.ndarray:
        """An array of ones; ``shape`` may be given as ints or as one tuple."""
        return numpy.ones(_shape(shape), dtype=dtype)

    def randn(self, *shape, rng: numpy.random.Generator | None = None,
              dtype: str = "float32") -> numpy.ndarray:
        """Standard normal samples drawn from ``rng`` (a fresh unseeded one if None)."""
        rng = rng if rng is not None else numpy.random.default_rng()
        return rng.standard_normal(_shape(shape)).astype(dtype)

    def rand(self, *shape, rng: numpy.random.Generator | None = None,
             dtype: str = "float32") -> numpy.ndarray:
        """Uniform samples in [0, 1) drawn from ``rng`` (a fresh unseeded one if None)."""
        rng = rng if rng is not None else numpy.random.default_rng()
        return rng.random(_shape(shape)).astype(dtype)

    def one_hot(self, n: int, i, dtype: str = "float32") -> numpy.ndarray:
        """Rows of the ``n x n`` identity picked by the integer labels ``i``."""
        return numpy.eye(n, dtype=dtype)[i]

    def empty(self, shape, dtype: str = "float32") -> numpy.ndarray:
        """An uninitialised array of ``shape``."""
        return numpy.empty(shape, dtype=dtype)

    def full(self, shape, fill_value, dtype: str = "float32") -> numpy.ndarray:
        """An array of ``shape`` filled with ``fill_value``."""
        return numpy.full(shape, fill_value, dtype=dtype)


def _shape(shape: tuple) -> tuple:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def cpu() -> CPUDevice:
    """The host CPU device."""
    return CPUDevice()


def default_device() -> CPUDevice:
    """The device tensors land on when none is given."""
    return cpu()


def set_default_device(device: Device) -> None:
    """Make ``device`` the default (this backend has one device, so only ``cpu()`` is accepted).

    Raises:
        ValueError: for any other device.
    """
    if device != cpu():
        raise ValueError(f"set_default_device: the NumPy backend has only cpu(), not {device!r}")


def all_devices() -> list[Device]:
    """Every device this backend provides."""
    return [cpu()]
