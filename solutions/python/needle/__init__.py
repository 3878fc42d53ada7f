"""needle: a PyTorch-style deep learning library built from first principles.

Example:
    >>> import needle as ndl
    >>> w = ndl.Tensor([[1.0], [2.0]], requires_grad=True)
    >>> loss = (ndl.Tensor([[3.0, 4.0]]) @ w).sum()
    >>> loss.backward()
    >>> w.grad.numpy().ravel().tolist()
    [3.0, 4.0]
"""
from . import ops as ops
from .ops import *  # noqa: F403
from .autograd import (Tensor, compute_gradient_of_variables, find_topo_sort,  # noqa: F401
                       is_grad_enabled, no_grad)
### BEGIN FROM hw5
from .autograd import TensorTuple  # noqa: F401
from .capture import CapturedStep, capture  # noqa: F401
### END FROM
from .backend_selection import Device, all_devices, cpu, default_device, set_default_device  # noqa: F401
### BEGIN FROM hw3
from .backend_selection import cpu_numpy  # noqa: F401
### END FROM
### BEGIN FROM hw4
from .backend_selection import cuda  # noqa: F401
### END FROM
from . import init  # noqa: F401
from . import viz  # noqa: F401
from . import debug  # noqa: F401
from .init import manual_seed  # noqa: F401
### BEGIN FROM hw2
from . import checkpoint, data, nn, optim  # noqa: F401
### END FROM
