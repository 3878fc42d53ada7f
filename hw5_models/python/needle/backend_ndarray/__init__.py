"""hw3: needle's own strided array (``NDArray``) and its backends; the ``array_api`` from hw3 on.

One job per module: ``devices`` (devices and their backend modules), ``shapes`` (argument
checks), ``ndarray`` (the array, its views and operators), ``functions`` (the ``array_api``
functions and fused kernels).
"""
from .devices import *  # noqa: F403
from .functions import *  # noqa: F403
from .functions import max, sum  # noqa: F401  (array_api.max / array_api.sum, not exported by *)
from .ndarray import *  # noqa: F403
from . import devices, functions, ndarray

__all__ = [*ndarray.__all__, *devices.__all__, *functions.__all__]
