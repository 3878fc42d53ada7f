"""Central differences, with no dependence on needle (hw0 uses them too).

In float64, central differences with ``eps = 1e-6`` agree with exact derivatives to about 1e-8
(truncation error O(eps^2), rounding error O(1e-16 / eps)).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of scalar ``f`` at ``x``: (f(x + eps e_i) - f(x - eps e_i)) / 2eps."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + eps
        f_plus = f(x.copy())
        x[i] = saved - eps
        f_minus = f(x.copy())
        x[i] = saved
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad
