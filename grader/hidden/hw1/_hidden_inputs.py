"""Inputs shared by hw1's hidden tests (sent to the sandbox with them)."""
from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def rand(seed: int | np.random.Generator, *shape: int, low: float = -1.0,
         high: float = 1.0) -> npt.NDArray[np.float64]:
    """Uniform float64 samples in ``[low, high)`` of ``shape``: from a generator of their own
    when ``seed`` is an int, drawn next from ``seed`` when it is a ``np.random.Generator``
    (a test's inputs from its ``seed`` fixture: ``rng = np.random.default_rng(seed)``)."""
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def grads_of(out: Any, weights_seed: int = 99) -> list[npt.NDArray[Any]]:
    """``op.gradient_as_tuple`` of ``out``'s op for fixed random adjoint weights, as arrays."""
    from needle.autograd import Tensor
    weights = Tensor(rand(weights_seed, *out.shape))
    return [g.numpy() for g in out.op.gradient_as_tuple(weights, out)]
