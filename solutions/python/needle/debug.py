"""Gradient bisection: which op of a graph has the wrong ``gradient``, given to students.

When ``backward()`` gives a wrong ``.grad`` through a whole expression, one of two things is
wrong: some op's adjoint rule (its ``gradient``, a vector-Jacobian product), or the traversal
that chains the rules (``find_topo_sort`` and ``compute_gradient_of_variables``).
``check_gradients(output)`` tells which. It walks ``output``'s graph itself (an iterative
post-order search, not ``find_topo_sort``, so a wrong traversal cannot hide a wrong op), and at
each op node compares ``op.gradient`` with central differences of ``op.compute`` at the inputs
that node saw, in float64:

    <w, f(x + eps e_i)> - <w, f(x - eps e_i)>
    -----------------------------------------  ~  (gradient(w))_i
                     2 eps

for a fixed random cotangent ``w``. The first op (inputs before users) whose rule disagrees is
named with its settings, its stub's homework and question, its input shapes and the error; an
op downstream of it is checked at the values it saw, so it is not blamed. If every op agrees,
the traversal is at fault. It is PyTorch's ``torch.autograd.gradcheck`` (which checks a whole
function's Jacobian by finite differences) applied op by op.

Where a stub's question comes from, in order: the line ``TODO (hwN, question Q): implement ...``
a handout writes inside each stub; else ``course.toml`` beside the package (the instructor's
tree), by the homework tag of the solution marker around the method and the question whose
``stubs`` list it; else only the file and method are named.

Example:
    >>> import needle as ndl
    >>> x = ndl.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> report = ndl.debug.check_gradients((x * x).sum(axes=(0,)), inputs=[x])
    >>> report.ok
    True
    >>> [(check.op, check.settings) for check in report.ops]
    [('EWiseMul', ''), ('Summation', 'axes=(0,)')]
"""
from __future__ import annotations

import ast
import functools
import inspect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np

from .autograd import Tensor, Value, _grad_mode, no_grad
from .viz import _op_label

__all__ = ["OpCheck", "GradientCheck", "check_gradients", "assert_gradients", "stub_question"]

# The line a handout writes inside each stub (grader/fill.py's TODO) and a region's marker.
# tests/conftest.py reads the same two lines for its report; it ships in hw0, which has no
# needle to import them from, and needle cannot import its tests, so each writes them.
_TODO = re.compile(r"(?:#|//) TODO \(hw(?P<hw>\d+), question (?P<q>\d+)\): implement (?P<name>\S+)")
_STUB_MESSAGE = re.compile(r"^(?:not implemented: )?(?P<name>[\w.]+): hw\d+$")  # grader/markers.py's
_BEGIN = re.compile(r"### BEGIN" + r" SOLUTION (?P<hw>hw\d+)")  # split: the handouts keep no marker
_ROOT = Path(__file__).resolve().parents[2]  # solutions/ (or a handout's folder)
_TRAVERSAL = ("find_topo_sort", "compute_gradient_of_variables")
# Their questions when the tree does not say (a handout filled in, without TODO lines); a test
# checks this against course.toml.
_TRAVERSAL_QUESTIONS = "hw1, questions 3 and 4"


@dataclass(frozen=True)
class OpCheck:
    """One op node's ``gradient`` checked against central differences.

    Attributes:
        position: the node's place in topological order (0 is the first node).
        op: the op's class, e.g. ``"Summation"``.
        settings: its settings, e.g. ``"axes=(0, 2)"`` ("" for none).
        stub: whose stub the op's ``gradient`` is, e.g. ``"hw1, question 2"`` (see
            ``stub_question``).
        input_shapes: the shapes of the inputs the node saw (a tuple of shapes for a
            TensorTuple input).
        status: ``"ok"``, ``"wrong"`` (the adjoint disagrees), ``"raised"`` (``gradient``
            raised, e.g. a stub's NotImplementedError) or ``"skipped"`` (nothing to check).
        input_index: for ``"wrong"``, the first input whose adjoint disagrees.
        max_abs_error: the largest ``|analytic - numeric|`` over the checked entries.
        max_rel_error: ``max_abs_error`` of that input over its largest ``|numeric|`` entry.
        detail: the exception for ``"raised"``, the reason for ``"skipped"``, or a note on
            inputs left unchecked (integer inputs).
    """

    position: int
    op: str
    settings: str
    stub: str
    input_shapes: tuple[Any, ...]
    status: str
    input_index: int | None = None
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    detail: str = ""

    def __str__(self) -> str:
        name = (f"{self.op}.gradient" + (f" ({self.stub})" if self.stub else "")
                + (f", {self.settings}," if self.settings else ""))
        shapes = ", ".join(str(s) for s in self.input_shapes)
        if self.status == "raised":
            return f"{name} raised {self.detail}; input shapes: {shapes}"
        if self.status == "skipped":
            return f"{name} not checked: {self.detail}"
        if self.status == "ok":
            return f"{name} agrees with central differences" + (f" ({self.detail})" if self.detail else "")
        return (f"{name} is wrong: the adjoint of input {self.input_index} differs from central "
                f"differences by up to {self.max_abs_error:.3g} (relative {self.max_rel_error:.3g}); "
                f"input shapes: {shapes}")


@dataclass(frozen=True)
class GradientCheck:
    """What ``check_gradients`` found; ``str(report)`` is the message to read.

    Attributes:
        ops: every op node checked, in topological order (inputs before users).
        inputs: for each of ``check_gradients``' ``inputs``, None when its ``.grad`` from
            ``backward()`` agrees with central differences of the whole graph, else why not.
        traversal: whose stubs the traversal is, e.g. ``"hw1, questions 3 and 4"``.
    """

    ops: tuple[OpCheck, ...]
    inputs: tuple[str | None, ...] = ()
    traversal: str = field(default="")

    @property
    def first_wrong(self) -> OpCheck | None:
        """The first op, in topological order, whose ``gradient`` is wrong or raised."""
        return next((c for c in self.ops if c.status in ("wrong", "raised")), None)

    @property
    def ok(self) -> bool:
        """Whether every op agrees and every input's ``.grad`` matches."""
        return self.first_wrong is None and all(why is None for why in self.inputs)

    def __str__(self) -> str:
        traversal = ("find_topo_sort and compute_gradient_of_variables"
                     + (f" ({self.traversal})" if self.traversal else ""))
        wrong = self.first_wrong
        checked = sum(c.status != "skipped" for c in self.ops)
        if wrong is not None:
            lines = [f"first wrong op (of {checked} checked, inputs before users): {wrong}"]
        else:
            lines = [f"every op agrees with central differences ({checked} checked)" if self.ops
                     else "no op checked (check_ops=False)"]
            bad = [f"input {i}: {why}" for i, why in enumerate(self.inputs) if why is not None]
            if bad:
                lines[0] += f", but backward() does not: {'; '.join(bad)}; look at {traversal}"
            elif self.inputs:
                lines[0] += ", and so does backward() for every input"
            else:
                lines[0] += f"; if backward() is still wrong, look at {traversal}"
        lines += [f"  {c}" for c in self.ops if c.status == "skipped" or (c.detail and c.status == "ok")]
        return "\n".join(lines)


def check_gradients(output: Value, inputs: Sequence[Tensor] | None = None, *, eps: float = 1e-6,
                    rtol: float = 1e-5, atol: float = 1e-6, max_entries: int = 64,
                    seed: int = 0, check_ops: bool = True) -> GradientCheck:
    """Check each op's ``gradient`` in ``output``'s graph, and optionally ``backward()`` itself.

    Each op node is recomputed from float64 copies of the inputs it saw, on its device, and
    its ``gradient`` (through ``gradient_as_tuple``) at a cotangent ``w ~ N(0, 1)`` is
    compared entry by entry with central differences of ``<w, op(...)>`` (as
    ``torch.autograd.gradcheck``, which perturbs a whole function's inputs instead). An entry
    agrees when ``|analytic - numeric| <= atol + rtol * |numeric|``. With ``inputs``, a float64
    copy of the whole graph is also differentiated with ``backward()`` (your
    ``compute_gradient_of_variables``) and each input's ``.grad`` compared with central
    differences of the whole graph; the original graph and its ``.grad`` are left untouched.

    Integer inputs are not perturbed (and an op with no floating-point input or output is
    skipped), as the report says. At a kink (``relu`` at 0) the two sides may rightly differ.

    Args:
        output: a needle Tensor (or TensorTuple), the result of an expression.
        inputs: leaves of ``output``'s graph whose ``.grad`` to check end to end, or None.
        eps: the central-difference step (float64: truncation error O(eps^2), rounding
            O(1e-16 / eps)).
        rtol, atol: the tolerances of the comparison.
        max_entries: at most this many entries of each input are perturbed (chosen at
            random, fixed by ``seed``); the others are not compared.
        seed: seeds the cotangents and the entries chosen, with a NumPy Generator of its own
            (needle's and NumPy's global random states are not touched).
        check_ops: check each op (the default); False checks only ``inputs``' ``.grad``,
            a quicker test that can say that ``backward()`` is wrong but not where.

    Returns:
        A ``GradientCheck``: ``.ok``, ``.first_wrong`` and ``str()`` giving the verdict.

    Raises:
        TypeError: if ``output`` is not a needle Tensor or an input not a Tensor.
        ValueError: if an input is not a leaf of ``output``'s graph, or ``eps`` or
            ``max_entries`` is not positive.

    Example:
        >>> import needle as ndl
        >>> x = ndl.Tensor([1.0, 2.0], requires_grad=True)
        >>> print(ndl.debug.check_gradients(ndl.log(x * 3.0)))  # doctest: +ELLIPSIS
        every op agrees with central differences (2 checked); if backward() is still wrong, ...
    """
    if not isinstance(output, Value):
        raise TypeError(f"check_gradients: output must be a needle Tensor, got "
                        f"{type(output).__name__}: {output!r:.60}")
    if not eps > 0:
        raise ValueError(f"check_gradients: eps must be positive, got {eps!r}")
    if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
        raise ValueError(f"check_gradients: max_entries must be a positive integer, got {max_entries!r}")
    order = _topological_order(output)
    ops = tuple(_check_op(node, position, eps=eps, rtol=rtol, atol=atol, max_entries=max_entries, seed=seed)
                for position, node in enumerate(order) if node.op is not None and check_ops)
    checked_inputs: tuple[str | None, ...] = ()
    if inputs is not None:
        checked_inputs = _check_backward(output, order, list(inputs), eps=eps, rtol=rtol, atol=atol,
                                         max_entries=max_entries, seed=seed)
    hws = [stub_question(_ROOT / "python/needle/autograd.py", name) for name in _TRAVERSAL]
    traversal = _TRAVERSAL_QUESTIONS
    if all("question" in h for h in hws) and len({h.split(",")[0] for h in hws}) == 1:
        traversal = hws[0].split(",")[0] + ", questions " + " and ".join(h.split()[-1] for h in hws)
    return GradientCheck(ops, checked_inputs, traversal)


def assert_gradients(output: Value, inputs: Sequence[Tensor] | None = None, **kwargs: Any) -> None:
    """``check_gradients(output, inputs, **kwargs)``, raising if it is not ``ok``.

    Raises:
        AssertionError: with the report's message, naming the first wrong op.
    """
    report = check_gradients(output, inputs, **kwargs)
    if not report.ok:
        raise AssertionError(str(report))


# ---- the graph ------------------------------------------------------------------------------

def _topological_order(output: Value) -> list[Value]:
    """Every node ``output`` depends on, inputs before users (iterative post-order search)."""
    nodes: list[Value] = []
    seen: set[int] = set()
    stack: list[tuple[Value, bool]] = [(output, False)]
    while stack:
        node, finished = stack.pop()
        if finished:
            nodes.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((inp, False) for inp in reversed(node.inputs))
    return nodes


def _parts(value: Value) -> list[np.ndarray]:
    """A node's arrays as NumPy copies (one for a Tensor, one per element of a TensorTuple)."""
    data = value.realize_cached_data()
    arrays = data if isinstance(data, tuple) else (data,)
    return [np.array(a if isinstance(a, np.ndarray) else Tensor.make_const(a).numpy(), copy=True)
            for a in arrays]


def _device(value: Value) -> Any:
    data = value.realize_cached_data()
    return Tensor.make_const(data[0] if isinstance(data, tuple) else data).device


def _is_float(value: Value) -> bool:
    return all(p.dtype.kind == "f" for p in _parts(value))


def _rebuild(like: Value, parts: Sequence[np.ndarray], device: Any, requires_grad: bool) -> Value:
    """A float64 leaf like ``like`` (a Tensor or TensorTuple) holding ``parts`` on ``device``."""
    tensors = [Tensor(np.asarray(p, dtype=np.float64), device=device, dtype="float64") for p in parts]
    if _is_tuple(like):  # a TensorTuple (hw5)
        return type(like).make_const(tuple(t.realize_cached_data() for t in tensors),
                                     requires_grad=requires_grad)
    tensors[0].requires_grad = requires_grad
    return tensors[0]


def _weighted_sum(value: Value, weights: Sequence[np.ndarray]) -> float:
    return float(sum(np.sum(w * p) for w, p in zip(weights, _parts(value), strict=True)))


def _entries(shape: tuple[int, ...], max_entries: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    size = int(np.prod(shape, dtype=int))
    chosen = np.arange(size) if size <= max_entries else np.sort(rng.choice(size, max_entries, replace=False))
    return [tuple(int(i) for i in np.unravel_index(k, shape)) for k in chosen]


def _compare(analytic: np.ndarray, f, x: np.ndarray, eps: float, rtol: float, atol: float,
             max_entries: int, rng: np.random.Generator) -> tuple[bool, float, float]:
    """Central differences of scalar ``f`` at ``x`` against ``analytic``, at chosen entries:
    (all agree, largest absolute error, that over the largest |numeric|)."""
    agree, abs_error, scale = True, 0.0, 0.0
    for index in _entries(x.shape, max_entries, rng):
        plus, minus = x.copy(), x.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric = (f(plus) - f(minus)) / (2 * eps)
        error = abs(float(analytic[index]) - numeric)
        agree = agree and error <= atol + rtol * abs(numeric)  # False for a NaN too
        abs_error, scale = max(abs_error, error), max(scale, abs(numeric))
    return agree, abs_error, abs_error / max(scale, np.finfo(np.float64).tiny)


def _exception(error: BaseException) -> str:
    """``NotImplementedError: EWiseMul.gradient: hw1 (hw1, question 2)``: the stub it came from."""
    text = f"{type(error).__name__}: {str(error).strip()[:200]}"
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if isinstance(error, NotImplementedError) and tb is not None:
        code = tb.tb_frame.f_code
        stub = _STUB_MESSAGE.match(str(error).strip())  # "EWiseMul.gradient: hw1"
        name = stub["name"] if stub else getattr(code, "co_qualname", code.co_name)  # 3.11+
        where = stub_question(Path(code.co_filename), name)
        if where:
            text += f" (not implemented: {where})"
    return text


# ---- one op ---------------------------------------------------------------------------------

def _check_op(node: Value, position: int, *, eps: float, rtol: float, atol: float,
              max_entries: int, seed: int) -> OpCheck:
    op = node.op
    assert op is not None
    owner = next((k for k in type(op).__mro__ if "gradient" in vars(k)), type(op))
    try:
        source_file = inspect.getsourcefile(owner) or ""
    except (OSError, TypeError):  # a class defined in a notebook or at the prompt
        source_file = ""
    stub = stub_question(source_file, f"{owner.__qualname__}.gradient") if source_file else ""
    shapes = tuple(_shape(inp) for inp in node.inputs)
    label = _op_label(op)
    settings = label[len(type(op).__name__) + 1:-1] if label.endswith(")") else ""
    base = functools.partial(OpCheck, position, type(op).__name__, settings, stub, shapes)
    floating = [_is_float(inp) for inp in node.inputs]
    if not any(floating) or not _is_float(node):
        return base(status="skipped", detail="no floating-point input or output")
    rng = np.random.default_rng([seed, position])  # one stream per node, independent of order
    device = _device(node)
    parts = [_parts(inp) for inp in node.inputs]
    leaves = [_rebuild(inp, p, device, True) if fl else inp
              for inp, p, fl in zip(node.inputs, parts, floating, strict=True)]
    try:
        with _grad_mode(True):
            out = op(*leaves)
            weights = [rng.standard_normal(p.shape) for p in _parts(out)]
            cotangent = _rebuild(out, weights, device, False)
            analytic = op.gradient_as_tuple(cotangent, out)
    except Exception as error:  # a stub's NotImplementedError, a shape error, ...
        return base(status="raised", detail=_exception(error))
    skipped = [i for i, fl in enumerate(floating) if not fl]
    note = f"integer input(s) {skipped} not checked" if skipped else ""
    worst = (0.0, 0.0)
    for i, fl in enumerate(floating):
        if not fl:
            continue
        for k, x in enumerate(parts[i]):
            def f(value, i=i, k=k):
                changed = [*parts[i][:k], value, *parts[i][k + 1:]]
                args = [_rebuild(inp, changed, device, False) if j == i else leaf
                        for j, (inp, leaf) in enumerate(zip(node.inputs, leaves, strict=True))]
                with no_grad():
                    return _weighted_sum(op(*args), weights)
            adjoint = _parts(analytic[i])[k]
            agree, abs_error, rel_error = _compare(adjoint, f, x.astype(np.float64), eps, rtol,
                                                   atol, max_entries, rng)
            if not agree:
                return base(status="wrong", input_index=i, max_abs_error=abs_error,
                               max_rel_error=rel_error, detail=note)
            worst = max(worst, (abs_error, rel_error))
    return base(status="ok", max_abs_error=worst[0], max_rel_error=worst[1], detail=note)


def _shape(value: Value) -> Any:
    return tuple(tuple(p.shape) for p in _parts(value)) if _is_tuple(value) else tuple(_parts(value)[0].shape)


def _is_tuple(value: Value) -> bool:
    """Whether ``value`` is a TensorTuple (its data a tuple of arrays), a class hw5 brings."""
    return isinstance(value.realize_cached_data(), tuple)


# ---- the whole graph ------------------------------------------------------------------------

def _check_backward(output: Value, order: list[Value], inputs: list[Tensor], *, eps: float,
                    rtol: float, atol: float, max_entries: int, seed: int) -> tuple[str | None, ...]:
    """For each input, None if ``backward()`` on a float64 copy of the graph gives its
    gradient, else why not."""
    ids = {id(node) for node in order}
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"check_gradients: inputs[{i}] must be a needle Tensor, got {type(x).__name__}")
        if id(x) not in ids or x.op is not None:
            raise ValueError(f"check_gradients: inputs[{i}] (shape {x.shape}) is not a leaf of "
                             f"output's graph")
    leaves = [node for node in order if node.op is None and _is_float(node)]
    values = {id(node): [p.astype(np.float64) for p in _parts(node)] for node in leaves}
    device = _device(output)

    def replay(changed: dict[int, list[np.ndarray]], record: bool) -> dict[int, Value]:
        copies: dict[int, Value] = {}
        with _grad_mode(record):
            for node in order:
                if node.op is None:
                    copies[id(node)] = (_rebuild(node, changed.get(id(node), values[id(node)]), device,
                                                 record and node.requires_grad)
                                        if id(node) in values else node)
                else:
                    copies[id(node)] = node.op(*[copies[id(inp)] for inp in node.inputs])
        return copies

    rng = np.random.default_rng([seed, len(order)])
    copies = replay({}, True)
    out = copies[id(output)]
    weights = [rng.standard_normal(p.shape) for p in _parts(out)]
    try:
        out.backward(_rebuild(out, weights, device, False))  # type: ignore[attr-defined]
    except Exception as error:
        return tuple(f"backward() raised {_exception(error)}" for _ in inputs)
    found: list[str | None] = []
    for x in inputs:
        grad = copies[id(x)].grad
        if grad is None:
            found.append("received no gradient")
            continue
        if tuple(grad.shape) != tuple(x.shape):
            found.append(f".grad has shape {tuple(grad.shape)}, expected {tuple(x.shape)}")
            continue

        def f(value, x=x):
            return _weighted_sum(replay({id(x): [value]}, False)[id(output)], weights)
        agree, abs_error, rel_error = _compare(grad.numpy(), f, values[id(x)][0], eps, rtol, atol,
                                               max_entries, rng)
        found.append(None if agree else f".grad differs from central differences by up to "
                                        f"{abs_error:.3g} (relative {rel_error:.3g})")
    return tuple(found)


# ---- whose stub -----------------------------------------------------------------------------

def stub_question(path: Path | str, qualname: str) -> str:
    """Whose stub the function ``qualname`` of file ``path`` is: ``"hw1, question 2"``.

    Read, in order, from the line ``TODO (hwN, question Q): implement ...`` a handout writes in
    the stub; else from ``course.toml`` beside the package (the instructor's tree: the question,
    of the homework tagged on the function's solution marker, whose ``stubs`` match
    ``"path:qualname"``); else that marker's homework alone. ``""`` when none says (a
    handout's stub already filled in, or a function that is no stub).

    Example:
        >>> stub_question("python/needle/autograd.py", "find_topo_sort")  # doctest: +SKIP
        'hw1, question 3'
    """
    path = Path(path)
    source = _function_source(path if path.is_absolute() else _ROOT / path, qualname)
    todo = _TODO.search(source)
    if todo:
        return f"hw{todo['hw']}, question {todo['q']}"
    begin = _BEGIN.search(source)
    if not begin:
        return ""
    try:
        relative = str(path.resolve().relative_to(_ROOT)) if path.is_absolute() else str(path)
    except ValueError:
        return begin["hw"]
    for homework in _course():
        if homework.get("id") == begin["hw"]:
            for q in homework.get("questions", []):
                if any(fnmatchcase(f"{relative}:{qualname}", s) for s in q.get("stubs", [])):
                    return f"{begin['hw']}, question {q['n']}"
    return begin["hw"]


@functools.cache
def _course() -> list[dict[str, Any]]:
    """course.toml's homeworks, or [] where there is none (a handout) or no TOML reader."""
    try:
        import tomllib  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # Python 3.10: tomli, which the instructor's environment installs
        try:
            import tomli as tomllib  # type: ignore[import-not-found, unused-ignore, no-redef]
        except ImportError:
            return []
    try:
        return tomllib.loads((_ROOT / "course.toml").read_text()).get("homework", [])
    except (OSError, tomllib.TOMLDecodeError):
        return []


@functools.cache
def _function_source(path: Path, qualname: str) -> str:
    """The text of function ``qualname`` (``"Summation.gradient"``) in file ``path``, or ""."""
    try:
        text = path.read_text()
        scope: list[ast.stmt] = ast.parse(text).body
    except (OSError, SyntaxError, ValueError):
        return ""
    found: ast.AST | None = None
    for name in qualname.split("."):
        found = next((n for n in scope if isinstance(n, (ast.ClassDef, ast.FunctionDef))
                      and n.name == name), None)
        if found is None:
            return ""
        scope = found.body
    return (ast.get_source_segment(text, found) or "") if found is not None else ""

