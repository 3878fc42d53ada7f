"""PyTorch as a reference, where it is installed (``pip install -e '.[torch]'``).

Tests that compare with PyTorch are marked ``needs_torch``: without PyTorch they are skipped and
say so, and the NumPy-reference tests beside them still run.
"""
import pytest

try:
    import torch
except ImportError:  # pragma: no cover - depends on the machine
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed: this comparison "
                                 "is skipped (the NumPy reference tests still run)")


def to_torch(array, requires_grad: bool = False):
    """A float64 torch tensor of ``array``."""
    return torch.tensor(array, dtype=torch.float64, requires_grad=requires_grad)
