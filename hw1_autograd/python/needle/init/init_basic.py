"""Basic tensor constructors, given to students.

Every random constructor takes an optional ``rng`` (a ``numpy.random.Generator``); without one
it draws from needle's default generator, which ``manual_seed`` resets (as ``torch.manual_seed``).
Tests pass their own ``rng`` or seed first, so none depends on the order of other random calls.
"""
from __future__ import annotations

import numpy as np

import needle as ndl
from needle.checks import integer_ids

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Reset needle's default random generator to ``numpy.random.default_rng(seed)``."""
    global _generator
    _generator = np.random.default_rng(seed)


def default_generator() -> np.random.Generator:
    """The generator random constructors use when given no ``rng``."""
    return _generator


def rand(*shape, low: float = 0.0, high: float = 1.0, rng: np.random.Generator | None = None,
         device=None, dtype: str = "float32", requires_grad: bool = False) -> ndl.Tensor:
    """Uniform samples in ``[low, high)`` of the given shape."""
    device = ndl.default_device() if device is None else device
    array = device.rand(*shape, rng=rng or _generator, dtype=dtype) * (high - low) + low
    return ndl.Tensor(array, device=device, dtype=dtype, requires_grad=requires_grad)


def randn(*shape, mean: float = 0.0, std: float = 1.0, rng: np.random.Generator | None = None,
          device=None, dtype: str = "float32", requires_grad: bool = False) -> ndl.Tensor:
    """Normal samples with the given ``mean`` and ``std``."""
    device = ndl.default_device() if device is None else device
    array = device.randn(*shape, rng=rng or _generator, dtype=dtype) * std + mean
    return ndl.Tensor(array, device=device, dtype=dtype, requires_grad=requires_grad)


def constant(*shape, c: float = 1.0, device=None, dtype: str = "float32",
             requires_grad: bool = False) -> ndl.Tensor:
    """A tensor filled with ``c``."""
    device = ndl.default_device() if device is None else device
    array = device.ones(*shape, dtype=dtype) * c
    return ndl.Tensor(array, device=device, dtype=dtype, requires_grad=requires_grad)


def ones(*shape, device=None, dtype: str = "float32", requires_grad: bool = False) -> ndl.Tensor:
    """A tensor of ones."""
    return constant(*shape, c=1.0, device=device, dtype=dtype, requires_grad=requires_grad)


def zeros(*shape, device=None, dtype: str = "float32", requires_grad: bool = False) -> ndl.Tensor:
    """A tensor of zeros."""
    return constant(*shape, c=0.0, device=device, dtype=dtype, requires_grad=requires_grad)


def randb(*shape, p: float = 0.5, rng: np.random.Generator | None = None, device=None,
          dtype: str = "float32", requires_grad: bool = False) -> ndl.Tensor:
    """Bernoulli samples: each entry is 1 with probability ``p`` and 0 otherwise, of ``dtype``
    (float32 by default, as ``torch.bernoulli``: needle's NDArray holds no bools).

    Raises:
        ValueError: if ``p`` is outside ``[0, 1]``.

    Example:
        >>> randb(2, 3, p=1.0).numpy().tolist()
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    if not 0 <= p <= 1:
        raise ValueError(f"randb: p must be in [0, 1], got {p}")
    device = ndl.default_device() if device is None else device
    array = device.rand(*shape, rng=rng or _generator) < p
    return ndl.Tensor(array.astype(dtype), device=device, dtype=dtype, requires_grad=requires_grad)


def one_hot(n: int, i, device=None, dtype: str = "float32", requires_grad: bool = False) -> ndl.Tensor:
    """One-hot rows: ``one_hot(n, i)[r, c] == (c == i[r])``.

    Args:
        n: number of classes.
        i: integer labels, shape ``(m,)``, each in ``0..n-1`` (whole numbers of any dtype).

    Raises:
        ValueError: if a label is fractional, NaN or outside ``0..n-1``, naming it.

    Example:
        >>> one_hot(3, [2, 0]).numpy().tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    labels = integer_ids("one_hot", "label", i, n)
    device = ndl.default_device() if device is None else device
    return ndl.Tensor(device.one_hot(n, labels, dtype=dtype), device=device,
                      requires_grad=requires_grad)


def zeros_like(array: ndl.Tensor, *, device=None, requires_grad: bool = False) -> ndl.Tensor:
    """Zeros with ``array``'s shape and dtype."""
    device = device if device else array.device
    return zeros(*array.shape, dtype=array.dtype, device=device, requires_grad=requires_grad)


def ones_like(array: ndl.Tensor, *, device=None, requires_grad: bool = False) -> ndl.Tensor:
    """Ones with ``array``'s shape and dtype."""
    device = device if device else array.device
    return ones(*array.shape, dtype=array.dtype, device=device, requires_grad=requires_grad)
