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
from typing import TYPE_CHECKING

if not TYPE_CHECKING:
    # hw1 and hw2 run on NumPy. A type checker reads needle whole, as solutions/ holds it, so
    # it is shown only the last homework's seam: from hw3 on, the NDArray module.
    from .backend_numpy import Device, all_devices, array_api, cpu, default_device, set_default_device

    NDArray = array_api.ndarray

# From hw3 on, needle runs on its own strided NDArray: the names above are rebound to
# backend_ndarray's, whose devices are cpu() (the C++ backend) and cpu_numpy() (the reference).
from . import backend_ndarray as array_api
from .backend_ndarray import BackendDevice as Device  # noqa: F401
from .backend_ndarray import NDArray, all_devices, cpu, cpu_numpy, default_device, set_default_device  # noqa: F401

# isort: split
from .backend_ndarray import cuda  # noqa: F401  (hw4: the GPU, or its CPU emulation)
