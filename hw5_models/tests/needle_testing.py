"""Gradient checks of needle ops and graphs by central differences (``gradcheck``), in float64."""
from __future__ import annotations

from typing import Callable

import numpy as np

import needle as ndl
from gradcheck import numerical_gradient


def _numerical_adjoints(fn, arrays, weights) -> list[np.ndarray]:
    """d<weights, fn(arrays)>/d(arrays[i]) for each i, by central differences."""
    def scalarised(i):
        def f(x):
            args = [ndl.Tensor(x if j == i else a) for j, a in enumerate(arrays)]
            return float(np.sum(weights * fn(*args).numpy()))
        return f
    return [numerical_gradient(scalarised(i), a) for i, a in enumerate(arrays)]


def check_op_gradient(fn: Callable[..., ndl.Tensor], *arrays: np.ndarray, seed: int = 0,
                      rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Check one op's ``gradient`` rule against central differences.

    Calls the op's ``gradient_as_tuple`` directly (not ``backward()``), so it tests the op
    alone. ``fn`` applies exactly one op to Tensors made from ``arrays``; the output is
    scalarised as ``<w, fn(...)>`` with fixed random weights ``w``.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    tensors = [ndl.Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    analytic = out.op.gradient_as_tuple(ndl.Tensor(weights), out)
    numeric = _numerical_adjoints(fn, arrays, weights)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        np.testing.assert_allclose(a.numpy(), n, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i} of {type(out.op).__name__}")


def check_backward(fn: Callable[..., ndl.Tensor], *arrays: np.ndarray, seed: int = 0,
                   rtol: float = 1e-5, atol: float = 1e-6) -> list[np.ndarray]:
    """Check ``backward()`` through a whole graph ``fn`` against central differences.

    Returns the analytic gradients (``.grad`` of each input) as arrays.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    tensors = [ndl.Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(ndl.Tensor(weights))
    numeric = _numerical_adjoints(fn, arrays, weights)
    for i, (t, n) in enumerate(zip(tensors, numeric)):
        assert t.grad is not None, f"input {i} received no gradient"
        np.testing.assert_allclose(t.grad.numpy(), n, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")
    return [t.grad.numpy() for t in tensors]
