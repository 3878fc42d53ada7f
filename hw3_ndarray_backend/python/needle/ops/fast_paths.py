"""The switch for needle's fast paths (given code).

Some of needle's ops and modules have a *fast path*: given code that computes the same values as
the course's own implementation with fewer passes over memory (a fused kernel on ``ndl.cpu()``,
a direct convolution). ``ops.conv`` runs ``ConvIm2col`` rather than ``Conv``; from hw5 on,
``nn.SoftmaxLoss`` runs one fused softmax cross-entropy op and ``nn.BatchNorm1d`` and
``BatchNorm2d`` a fused batch normalisation and ``ops.relu`` a one-pass gradient (``ops_norm.py``),
where the device has the kernels. A fast path changes speed only: each is tested against the
course's implementation. (``nn.Linear`` adds its bias in place, ``ops_fused.LinearBias``.)

They are on by default, so that the apps and ``make bench`` train at full speed. The tests turn
them off, so that they grade *your* code: the handouts' ``tests/conftest.py`` sets
``NEEDLE_FAST_PATHS=0`` before needle is imported, and so does the grader for hidden tests.
``use_fast_paths(True)`` turns them back on in a test of a fast path itself.
"""
from __future__ import annotations

import os
from typing import Any

__all__ = ["device_kernel", "fast_paths_enabled", "use_fast_paths"]

# Read once, at import: ``NEEDLE_FAST_PATHS=0`` (or "false", "off", "no") turns them off.
_ENABLED = [os.environ.get("NEEDLE_FAST_PATHS", "1").strip().lower() not in ("0", "false", "off", "no")]


def fast_paths_enabled() -> bool:
    """Whether ops and modules take their fast paths now (see ``use_fast_paths``)."""
    return _ENABLED[0]


class use_fast_paths:
    """Turn needle's fast paths on or off: ``with use_fast_paths(False):`` inside a block (the
    previous setting comes back at its end, even on an exception), or ``use_fast_paths(flag)``
    alone until changed. The default is on, unless ``NEEDLE_FAST_PATHS=0`` was set at import.

    Raises:
        TypeError: for ``enabled`` that is not a bool (a string such as ``"0"`` is refused, not
            read as true).
    """

    def __init__(self, enabled: bool):
        if not isinstance(enabled, bool):
            raise TypeError(f"use_fast_paths: expected True or False, got {enabled!r}")
        self.previous = _ENABLED[0]
        _ENABLED[0] = enabled

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        _ENABLED[0] = self.previous


def device_kernel(array: Any, name: str) -> Any:
    """The compiled kernel ``name`` of the backend of ``array``'s device, or None.

    Args:
        array: a Tensor or an NDArray (any object with a ``device``).
        name: the kernel's name in the backend module (``device.mod``), e.g. ``"im2col"``.

    Returns:
        The backend's function, or None when the device has no compiled backend (the NumPy
        backend) or its backend lacks that kernel (the CUDA backend lacks some CPU ones): the
        caller then takes the course's own path.
    """
    return getattr(getattr(array.device, "mod", None), name, None)

