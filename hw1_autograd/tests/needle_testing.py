"""Gradient checks of needle ops and graphs by central differences, in float64, through
``ndl.debug.check_gradients`` (which names the first op whose ``gradient`` is wrong)."""
from __future__ import annotations

from collections.abc import Callable

import needle as ndl
import numpy as np

_EVERY_ENTRY = 10**9  # compare every entry, not a sample (check_gradients' max_entries)


def check_op_gradient(fn: Callable[..., ndl.Tensor], *arrays: np.ndarray, seed: int = 0,
                      rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Check one op's ``gradient`` rule against central differences, at every entry.

    ``fn`` applies one op (or a few) to float64 Tensors made from ``arrays``; each op's
    ``gradient_as_tuple`` is called directly (not ``backward()``), so the op is tested alone
    (``ndl.debug.check_gradients``).
    """
    tensors = [ndl.Tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    report = ndl.debug.check_gradients(fn(*tensors), seed=seed, rtol=rtol, atol=atol,
                                       max_entries=_EVERY_ENTRY)
    assert report.ok, str(report)


def check_backward(fn: Callable[..., ndl.Tensor], *arrays: np.ndarray, seed: int = 0,
                   rtol: float = 1e-5, atol: float = 1e-6, device: ndl.Device | None = None) -> ndl.Tensor:
    """Check ``backward()`` through a whole graph ``fn`` against central differences, with
    float64 Tensors on ``device`` (None: the default device).

    The output is scalarised as ``<w, fn(...)>`` with fixed random weights ``w``
    (``ndl.debug.check_gradients`` with ``inputs``). On a mismatch the message also names the
    first op of the graph whose own ``gradient`` disagrees with central differences, or says
    that none does. Returns ``fn``'s output.
    """
    tensors = [ndl.Tensor(np.asarray(a, dtype=np.float64), device=device, requires_grad=True)
               for a in arrays]
    out = fn(*tensors)
    report = ndl.debug.check_gradients(out, tensors, seed=seed, rtol=rtol, atol=atol,
                                       max_entries=_EVERY_ENTRY, check_ops=False)
    if not report.ok:
        wrong = "\n".join(f"gradient of input {i}: {why}" for i, why in enumerate(report.inputs) if why)
        raise AssertionError(f"{_diagnosis(out)}\n{wrong}")
    return out


def assert_grads_close(output: ndl.Tensor, tensors: list[ndl.Tensor], expected: list,
                       rtol: float = 1e-7, atol: float = 0.0, names: list[str] | None = None) -> None:
    """Assert that each ``tensors[i].grad`` equals ``expected[i]`` after ``output.backward()``.

    A mismatch names the culprit (``ndl.debug.check_gradients``): the first op in ``output``'s
    graph whose gradient rule is wrong, or, when every op is right, the graph traversal
    (questions 3 and 4). ``names`` label the tensors in the message (default ``input i``).
    """
    names = names or [f"input {i}" for i in range(len(tensors))]
    for name, t, e in zip(names, tensors, expected, strict=True):
        try:
            assert t.grad is not None, f"{name} received no gradient"
            np.testing.assert_allclose(t.grad.numpy(), e, rtol=rtol, atol=atol,
                                       err_msg=f"gradient of {name}")
        except AssertionError as error:
            raise AssertionError(f"{_diagnosis(output)}\n{str(error).strip()}") from None


def _diagnosis(output: ndl.Tensor) -> str:
    """The first line of a failed gradient test: the first wrong op, or the traversal."""
    wrong = ndl.debug.check_gradients(output).first_wrong
    if wrong is None:
        return ("every op's gradient in this graph agrees with central differences, so look at "
                "find_topo_sort and compute_gradient_of_variables (questions 3 and 4)")
    if wrong.stub:
        return f"wrong gradient rule: {wrong}"
    # A filled-in handout keeps no TODO line to name a stub's question: hw1's rules are question 2.
    return f"wrong gradient rule (question 2): {wrong}"
