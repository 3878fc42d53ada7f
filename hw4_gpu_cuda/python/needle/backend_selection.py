"""The ``array_api`` seam: the one place that decides which array library needle runs on.

Until hw3 that is NumPy: ``array_api`` holds NumPy's functions of the array contract
(``needle/array_contract.py``) and nothing else, and ``NDArray`` is ``numpy.ndarray``. From
hw3 on it is needle's own NDArray module, ``backend_ndarray``. Ops call ``array_api.<fn>``
(and the operators and methods of ``NDArray``) and never import NumPy directly, so swapping
the backend changes no op. The functions they may call, each in the form every backend
accepts (``ARRAY_API`` in ``needle/array_contract.py`` gives the forms):

    >>> from needle.array_contract import ARRAY_API
    >>> print(", ".join(ARRAY_API))  # doctest: +NORMALIZE_WHITESPACE
    array, empty, full, reshape, broadcast_to, swapaxes, flip, pad, stack, matmul, sum, max,
    maximum, power, log, exp, tanh
"""
from .backend_numpy import array_api
from .backend_numpy import Device, all_devices, cpu, default_device, set_default_device  # noqa: F401

NDArray = array_api.ndarray

# From hw3 on, needle runs on its own strided NDArray: the names above are rebound to
# backend_ndarray's, whose devices are cpu() (the C++ backend) and cpu_numpy() (the reference).
from . import backend_ndarray as array_api  # noqa: E402,F811
from .backend_ndarray import (BackendDevice as Device, NDArray, all_devices, cpu,  # noqa: E402,F401,F811
                              cpu_numpy, default_device, set_default_device)
from .backend_ndarray import cuda  # noqa: E402,F401  (hw4: the GPU, or its CPU emulation)
