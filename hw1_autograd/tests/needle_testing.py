"""Gradient checks of needle ops and graphs by central differences (``gradcheck``), in float64."""
from __future__ import annotations

from collections.abc import Callable

import needle as ndl
import numpy as np
from gradcheck import numerical_gradient


def _numerical_adjoints(fn, arrays, weights, device=None) -> list[np.ndarray]:
    """d<weights, fn(arrays)>/d(arrays[i]) for each i, by central differences (Tensors on
    ``device``, None for the default)."""
    def scalarised(i):
        def f(x):
            args = [ndl.Tensor(x if j == i else a, device=device) for j, a in enumerate(arrays)]
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
    for i, (a, n) in enumerate(zip(analytic, numeric, strict=True)):
        np.testing.assert_allclose(a.numpy(), n, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i} of {type(out.op).__name__}")


def check_backward(fn: Callable[..., ndl.Tensor], *arrays: np.ndarray, seed: int = 0,
                   rtol: float = 1e-5, atol: float = 1e-6, device: ndl.Device | None = None) -> ndl.Tensor:
    """Check ``backward()`` through a whole graph ``fn`` against central differences, with
    float64 Tensors on ``device`` (None: the default device).

    The output is scalarised as ``<w, fn(...)>`` with fixed random weights ``w``. On a mismatch
    the message also names each op of the graph whose own ``gradient`` disagrees with central
    differences (``wrong_gradients``), or says that none does. Returns ``fn``'s output.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    tensors = [ndl.Tensor(a, device=device, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(ndl.Tensor(weights, device=device))
    numeric = _numerical_adjoints(fn, arrays, weights, device)
    assert_grads_close(out, tensors, numeric, rtol=rtol, atol=atol)
    return out


def assert_grads_close(output: ndl.Tensor, tensors: list[ndl.Tensor], expected: list,
                       rtol: float = 1e-7, atol: float = 0.0) -> None:
    """Assert that each ``tensors[i].grad`` equals ``expected[i]`` after ``output.backward()``.

    A mismatch names the culprit: each op in ``output``'s graph whose gradient rule is wrong
    (question 2), or, when every op is right, the graph traversal (questions 3 and 4).
    """
    for i, (t, e) in enumerate(zip(tensors, expected, strict=True)):
        try:
            assert t.grad is not None, f"input {i} received no gradient"
            np.testing.assert_allclose(t.grad.numpy(), e, rtol=rtol, atol=atol,
                                       err_msg=f"gradient of input {i}")
        except AssertionError as error:
            raise AssertionError(f"{_diagnosis(output)}\n{str(error).strip()}") from None


def _diagnosis(output: ndl.Tensor) -> str:
    wrong = wrong_gradients(output)
    if wrong:
        return "wrong gradient rule (question 2): " + "; ".join(wrong)
    return ("every op's gradient in this graph agrees with central differences, so look at "
            "find_topo_sort and compute_gradient_of_variables (questions 3 and 4)")


def wrong_gradients(output: ndl.Tensor) -> list[str]:
    """Each op in ``output``'s graph whose ``gradient`` disagrees with central differences at
    the inputs it saw, as ``"MulScalar.gradient: <why>"``, inputs before their users.

    The graph is walked here (an iterative post-order search), not by the student's
    ``find_topo_sort``, so a wrong traversal cannot hide a wrong op.
    """
    order, seen, stack = [], set(), [(output, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((inp, False) for inp in reversed(node.inputs))
    found = []
    for node in order:
        if node.op is None:
            continue
        name = f"{type(node.op).__name__}.gradient"
        try:
            check_op_gradient(lambda *ts, op=node.op: op(*ts), *(i.numpy() for i in node.inputs))
        except AssertionError as error:
            which = [line for line in str(error).splitlines() if line.startswith("gradient of input")]
            found.append(f"{name} ({which[0] if which else error} disagrees with central differences)")
        except Exception as error:
            found.append(f"{name} raised {type(error).__name__}: {str(error).strip()[:200]}")
    return list(dict.fromkeys(found))
