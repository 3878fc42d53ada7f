"""PyTorch as a reference, where it is installed (``pip install -e '.[torch]'``).

Tests that compare with PyTorch are decorated ``@needs_torch``: they carry the ``torch`` marker
(``pytest -m torch`` runs just them), and without PyTorch they are skipped and say so, while the
NumPy-reference tests beside them still run. The run's last lines count those skips.
"""
import pytest

try:
    import torch
except ImportError:  # pragma: no cover - depends on the machine
    torch = None

_skip_without_torch = pytest.mark.skipif(
    torch is None, reason="PyTorch is not installed: this comparison is skipped (the NumPy "
    "reference tests still run)")


def needs_torch(test):
    """Mark ``test`` as a comparison with PyTorch: marker ``torch``, skipped without PyTorch."""
    return pytest.mark.torch(_skip_without_torch(test))


def to_torch(array, requires_grad: bool = False):
    """A float64 torch tensor of ``array``."""
    return torch.tensor(array, dtype=torch.float64, requires_grad=requires_grad)
