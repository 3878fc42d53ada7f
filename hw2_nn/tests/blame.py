"""Cross-homework blame: when a test fails because code carried from an earlier homework is
wrong, say which function and how to re-run its own homework's checks.

A later homework's test (hw5's LSTM, hw2's LayerNorm1d) runs the functions you wrote in
earlier homeworks (hw1's ``Summation.gradient``...). When one of those is wrong, the later
test fails far from the bug. So, for a failing test of homework K, each function of a
homework before K that the test *used* is checked again on its own, with a quick check of
its homework (NumPy for ``compute``, central differences for ``gradient``, small references
for modules and optimisers), and each one found wrong is named in the failure's message::

    hw1 Summation.gradient is wrong for axes=None, axes=(0, 2): run `python -m pytest tests/hw1 --question 2`

How:

- ``REGIONS``: each checked student function (a "region"): its homework, question, module,
  qualified name, and its quick check (a list of named settings, each a function that raises
  AssertionError when the region is wrong there).
- ``install()`` wraps each region's function (a class attribute or module function) so a call
  records its name in ``used``; ``start_test()`` empties it before each test. Only these few
  functions pay (one extra call each); nothing else is traced.
- ``blame(homework, ...)`` runs, after a failure, the checks of the regions used of homeworks
  before ``homework``, earliest homework first, on NumPy arrays (the ``cpu_numpy`` device from
  hw3 on, so a wrong C++ kernel is not blamed on hw1), within a time budget; each region is
  checked once per session (per function object). A check that hangs is stopped by the test's
  own time limit (pytest-timeout's covers this hook). It stops after the first homework with a
  wrong region: later homeworks' code runs on it, so their checks would fail for the same bug.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

Setting = tuple[str, Callable[[], None]]  # ("axes=(0, 2)", raises AssertionError if wrong there)


@dataclass(frozen=True)
class Region:
    """One student function and its quick check.

    Attributes:
        hw, question: the homework and question that ask for it (as its TODO line).
        module: the module defining it, e.g. ``"needle.ops.ops_mathematic"``.
        name: its qualified name there, e.g. ``"Summation.gradient"`` or ``"sum_to_shape"``.
        settings: builds the check's settings (called at check time, after needle imports).
        needs: regions the check also runs, found right before this one is blamed (so a wrong
            op is not blamed on the autograd code that calls it).
    """

    hw: int
    question: int
    module: str
    name: str
    settings: Callable[[], list[Setting]]
    needs: tuple[str, ...] = field(default=())

    @property
    def command(self) -> str:
        """What a student types in a handout folder to run this region's own tests."""
        return f"python -m pytest tests/hw{self.hw} --question {self.question}"


REGIONS: dict[str, Region] = {}
used: set[str] = set()  # names of the regions called since start_test()
_results: dict[tuple[str, Callable], list[str] | None] = {}  # (name, function) -> wrong settings
_recording = True
_installed = False

MAX_LINES = 3  # at most this many findings in a failure's message


def _register(hw: int, question: int, module: str, name: str, settings: Callable[[], list[Setting]],
              needs: tuple[str, ...] = ()) -> None:
    REGIONS[name] = Region(hw, question, module, name, settings, needs)


# ---- Recording which regions a test uses ------------------------------------------------------

def _owner_and_attr(region: Region):
    """The object holding the region's function (a class or the module) and its attribute."""
    owner = importlib.import_module(region.module)
    *path, attr = region.name.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, attr


def _recorder(name: str, function: Callable) -> Callable:
    @functools.wraps(function)
    def recorded(*args, **kwargs):
        if _recording:
            used.add(name)
        return function(*args, **kwargs)
    recorded.__blame_original__ = function  # type: ignore[attr-defined]
    return recorded


def install() -> bool:
    """Wrap every region's function to record its calls; False where needle is not importable
    (hw0). Idempotent; a region missing from this folder's code (a later homework's) is skipped."""
    global _installed
    if _installed:
        return True
    try:
        importlib.import_module("needle")
    except ImportError:
        return False
    for region in REGIONS.values():
        try:
            owner, attr = _owner_and_attr(region)
        except (ImportError, AttributeError):
            continue
        function = vars(owner).get(attr)
        if callable(function) and not hasattr(function, "__blame_original__"):
            recorded = _recorder(region.name, function)
            setattr(owner, attr, recorded)
            if not isinstance(owner, type):  # a module function: also where it is re-exported
                for module in list(sys.modules.values()):
                    if getattr(module, "__name__", "").startswith("needle") and \
                            vars(module).get(attr) is function:
                        setattr(module, attr, recorded)
    _installed = True
    return True


def start_test() -> None:
    """Forget the regions used so far: call before each test."""
    used.clear()


# ---- Checking regions ---------------------------------------------------------------------------

@contextlib.contextmanager
def _quiet_reference_device() -> Iterator[None]:
    """No recording, NumPy arrays as the default device (from hw3 on), NumPy warnings off."""
    global _recording
    import needle as ndl
    previous_device = None
    if hasattr(ndl, "cpu_numpy") and hasattr(ndl, "set_default_device"):
        previous_device = ndl.default_device()
        ndl.set_default_device(ndl.cpu_numpy())
    _recording = False
    try:
        with np.errstate(all="ignore"):
            yield
    finally:
        _recording = True
        if previous_device is not None:
            ndl.set_default_device(previous_device)


def _current_function(region: Region) -> Callable | None:
    try:
        owner, attr = _owner_and_attr(region)
    except (ImportError, AttributeError):
        return None
    function = vars(owner).get(attr)
    return getattr(function, "__blame_original__", function)


def wrong_settings(name: str) -> list[str] | None:
    """The settings where region ``name`` fails its check (empty: right everywhere), or None
    when it cannot be checked (a stub, or missing). Cached per function object."""
    region = REGIONS[name]
    function = _current_function(region)
    if function is None:
        return None
    key = (name, function)  # the function itself: kept alive, so never a reused id
    if key not in _results:
        _results[key] = _run_check(region)
    return _results[key]


def _run_check(region: Region) -> list[str] | None:
    wrong: list[str] = []
    with _quiet_reference_device():
        for needed in region.needs:
            if wrong_settings(needed):
                return None  # a region this check relies on is wrong: it is blamed instead
        for label, check in region.settings():
            try:
                check()
            except NotImplementedError:
                return None  # a stub: its tests already say so
            except AssertionError:
                wrong.append(label)
            except Exception as error:  # a crash on valid input is wrong too
                if "not implemented" in str(error):
                    return None  # a C++/CUDA stub
                wrong.append(f"{label} (raised {type(error).__name__})")
    return wrong


def blame(homework: int, used_names: set[str], budget_s: float = 5.0) -> list[str]:
    """One line per region of a homework before ``homework`` in ``used_names`` that fails its
    check, earliest homework first, stopping after the first homework with a finding (at most
    ``MAX_LINES`` lines, and one more saying how many were left out or that time ran out)."""
    deadline = time.monotonic() + budget_s
    candidates = sorted((REGIONS[n] for n in used_names if n in REGIONS and REGIONS[n].hw < homework),
                        key=lambda r: (r.hw, r.question, r.name))
    lines: list[str] = []
    found_hw = None
    for region in candidates:
        if found_hw is not None and region.hw > found_hw:
            break
        if time.monotonic() > deadline:
            lines.append(f"(stopped checking earlier homeworks' code after {budget_s:g} s)")
            break
        try:
            wrong = wrong_settings(region.name)
        except KeyboardInterrupt:
            raise
        except BaseException:  # pytest-timeout's limit, which covers this hook too
            lines.append("(stopped checking earlier homeworks' code: the test's time limit ran out)")
            break
        if wrong:
            found_hw = region.hw
            shown = ", ".join(wrong[:3]) + (f" and {len(wrong) - 3} more" if len(wrong) > 3 else "")
            lines.append(f"hw{region.hw} {region.name} is wrong for {shown}: run `{region.command}`")
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"... and {len(lines) - MAX_LINES} more functions of earlier homeworks"]
    return lines


# ---- The checks ---------------------------------------------------------------------------------

def _rand(seed: int, *shape: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape)


def _away_from_zero(seed: int, *shape: int) -> np.ndarray:
    """Values in +-[0.5, 1.5]: central differences never straddle a kink at 0."""
    x = _rand(seed, *shape, low=0.5, high=1.5)
    return x * np.where(_rand(seed + 100, *shape) < 0, -1.0, 1.0)


def _compute_check(fn, reference, arrays) -> Callable[[], None]:
    def check() -> None:
        import needle as ndl
        out = fn(*(ndl.Tensor(a) for a in arrays)).numpy()
        expected = reference(*arrays)
        assert np.shape(out) == np.shape(expected), f"shape {np.shape(out)}, expected {np.shape(expected)}"
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-8)
    return check


def _gradient_check(fn, arrays) -> Callable[[], None]:
    def check() -> None:
        from needle_testing import check_op_gradient
        check_op_gradient(fn, *arrays)
    return check


def _op(hw: int, questions: tuple[int, int], module: str, op: str, cases: Callable[[], list]) -> None:
    """Register ``op.compute`` and ``op.gradient``; ``cases()`` gives ``(label, fn on Tensors,
    NumPy reference, input arrays)``, ``fn`` applying exactly the one op."""
    def compute_settings() -> list[Setting]:
        return [(label, _compute_check(fn, ref, arrays)) for label, fn, ref, arrays in cases()]

    def gradient_settings() -> list[Setting]:
        return [(label, _gradient_check(fn, arrays)) for label, fn, _, arrays in cases()]
    _register(hw, questions[0], module, f"{op}.compute", compute_settings)
    _register(hw, questions[1], module, f"{op}.gradient", gradient_settings, needs=(f"{op}.compute",))


def _ops():
    import needle.ops as ops
    return ops


_MATH = "needle.ops.ops_mathematic"
A, B = (lambda: _rand(1, 2, 3)), (lambda: _rand(2, 2, 3))
POS_A, POS_B = (lambda: _rand(3, 2, 3, low=0.5, high=2.0)), (lambda: _rand(4, 2, 3, low=0.5, high=2.0))
X3 = lambda: _rand(5, 2, 3, 4)  # noqa: E731

_op(1, (1, 2), _MATH, "EWiseAdd", lambda: [
    ("shapes (2, 3) and (2, 3)", lambda a, b: _ops().add(a, b), np.add, [A(), B()])])
_op(1, (1, 2), _MATH, "AddScalar", lambda: [
    ("scalar=1.5", lambda a: _ops().add_scalar(a, 1.5), lambda a: a + 1.5, [A()])])
_op(1, (1, 2), _MATH, "EWiseMul", lambda: [
    ("shapes (2, 3) and (2, 3)", lambda a, b: _ops().multiply(a, b), np.multiply, [A(), B()])])
_op(1, (1, 2), _MATH, "MulScalar", lambda: [
    ("scalar=-2.5", lambda a: _ops().mul_scalar(a, -2.5), lambda a: a * -2.5, [A()])])
_op(1, (1, 2), _MATH, "EWisePow", lambda: [
    ("positive bases and exponents", lambda a, b: _ops().power(a, b), np.power, [POS_A(), POS_B()])])
_op(1, (1, 2), _MATH, "PowerScalar", lambda: [
    ("scalar=3", lambda a: _ops().power_scalar(a, 3), lambda a: a ** 3, [A()]),
    ("scalar=0.5", lambda a: _ops().power_scalar(a, 0.5), np.sqrt, [POS_A()])])
_op(1, (1, 2), _MATH, "EWiseDiv", lambda: [
    ("shapes (2, 3) and (2, 3)", lambda a, b: _ops().divide(a, b), np.divide, [A(), POS_B()])])
_op(1, (1, 2), _MATH, "DivScalar", lambda: [
    ("scalar=4.0", lambda a: _ops().divide_scalar(a, 4.0), lambda a: a / 4.0, [A()])])
_op(1, (1, 2), _MATH, "Negate", lambda: [
    ("shape (2, 3)", lambda a: _ops().negate(a), np.negative, [A()])])
_op(1, (1, 2), _MATH, "Log", lambda: [
    ("positive inputs", lambda a: _ops().log(a), np.log, [POS_A()])])
_op(1, (1, 2), _MATH, "Exp", lambda: [
    ("shape (2, 3)", lambda a: _ops().exp(a), np.exp, [A()])])
_op(1, (1, 2), _MATH, "ReLU", lambda: [
    ("signed inputs", lambda a: _ops().relu(a), lambda a: np.maximum(a, 0), [_away_from_zero(6, 2, 3)])])
_op(1, (1, 2), _MATH, "Transpose", lambda: [
    ("axes=None", lambda a: _ops().transpose(a), lambda a: np.swapaxes(a, -1, -2), [X3()]),
    ("axes=(0, 2)", lambda a: _ops().transpose(a, (0, 2)), lambda a: np.swapaxes(a, 0, 2), [X3()])])
_op(1, (1, 2), _MATH, "Reshape", lambda: [
    ("(2, 3, 4) -> (6, 4)", lambda a: _ops().reshape(a, (6, 4)), lambda a: a.reshape(6, 4), [X3()]),
    ("(2, 3, 4) -> (4, 3, 2)", lambda a: _ops().reshape(a, (4, 3, 2)), lambda a: a.reshape(4, 3, 2), [X3()])])
_op(1, (1, 2), _MATH, "BroadcastTo", lambda: [
    ("(3, 1) -> (3, 4)", lambda a: _ops().broadcast_to(a, (3, 4)),
     lambda a: np.broadcast_to(a, (3, 4)), [_rand(7, 3, 1)]),
    ("(4,) -> (2, 3, 4)", lambda a: _ops().broadcast_to(a, (2, 3, 4)),
     lambda a: np.broadcast_to(a, (2, 3, 4)), [_rand(8, 4)]),
    ("(2, 1, 4) -> (2, 3, 4)", lambda a: _ops().broadcast_to(a, (2, 3, 4)),
     lambda a: np.broadcast_to(a, (2, 3, 4)), [_rand(9, 2, 1, 4)])])
_op(1, (1, 2), _MATH, "Summation", lambda: [
    (f"axes={axes}", lambda a, axes=axes: _ops().summation(a, axes),
     lambda a, axes=axes: np.sum(a, axis=axes), [X3()])
    for axes in (None, 1, (0,), (2,), (0, 2), (1, 2), (0, 1, 2))])
_op(1, (1, 2), _MATH, "MatMul", lambda: [
    ("(3, 4) @ (4, 5)", lambda a, b: _ops().matmul(a, b), np.matmul, [_rand(10, 3, 4), _rand(11, 4, 5)]),
    ("(2, 3, 4) @ (4, 5)", lambda a, b: _ops().matmul(a, b), np.matmul,
     [_rand(12, 2, 3, 4), _rand(13, 4, 5)]),
    ("(2, 3, 4) @ (2, 4, 5)", lambda a, b: _ops().matmul(a, b), np.matmul,
     [_rand(14, 2, 3, 4), _rand(15, 2, 4, 5)])])

_LOG = "needle.ops.ops_logarithmic"


def _logsumexp(z, axes):
    z_max = np.max(z, axis=axes, keepdims=True)
    return np.squeeze(np.log(np.sum(np.exp(z - z_max), axis=axes, keepdims=True)) + z_max, axis=axes)


_op(2, (1, 1), _LOG, "LogSumExp", lambda: [
    (f"axes={axes}", lambda a, axes=axes: _ops().logsumexp(a, axes),
     lambda a, axes=axes: _logsumexp(a, axes if axes is not None else (0, 1, 2)), [X3() * 3])
    for axes in (None, (1,), (0, 2))])
_op(2, (1, 1), _LOG, "LogSoftmax", lambda: [
    ("shape (3, 4)", lambda a: _ops().logsoftmax(a), lambda a: a - _logsumexp(a, 1)[:, None],
     [_rand(16, 3, 4) * 3])])


def _sum_to_shape_settings() -> list[Setting]:
    def case(source, target, reference):
        def check() -> None:
            import needle as ndl
            x = _rand(17, *source)
            out = _ops().sum_to_shape(ndl.Tensor(x), target).numpy()
            assert out.shape == target, f"shape {out.shape}, expected {target}"
            np.testing.assert_allclose(out, reference(x), rtol=1e-10)
        return f"{source} -> {target}", check
    return [case((2, 3, 4), (3, 4), lambda x: x.sum(0)),
            case((2, 3, 4), (3, 1), lambda x: x.sum((0, 2))[:, None]),
            case((2, 3, 4), (1, 3, 4), lambda x: x.sum(0, keepdims=True)),
            case((3, 4), (3, 4), lambda x: x)]


_register(1, 2, _MATH, "sum_to_shape", _sum_to_shape_settings)


# Autograd (hw1 questions 3 and 4), on a graph that reuses nodes: x * y + x, times x.
def _graph():
    import needle as ndl
    x = ndl.Tensor(np.array([1.5, -2.0]), requires_grad=True)
    y = ndl.Tensor(np.array([0.5, 3.0]), requires_grad=True)
    a = x * y
    b = a + x
    return x, y, a, b, b * x


def _topo_settings() -> list[Setting]:
    def check() -> None:
        from needle.autograd import find_topo_sort
        x, y, a, b, c = _graph()
        order = find_topo_sort([c])
        assert sorted(map(id, order)) == sorted(map(id, [x, y, a, b, c])), "not each node once"
        position = {id(node): i for i, node in enumerate(order)}
        assert all(position[id(i)] < position[id(node)] for node in order for i in node.inputs)
    return [("the graph (x * y + x) * x", check)]


def _backward_settings() -> list[Setting]:
    def check() -> None:
        import needle as ndl
        x, y, _, _, c = _graph()
        c.backward(ndl.Tensor(np.ones(2)))  # d/dx (x^2 y + x^2) = 2xy + 2x; d/dy = x^2
        xs, ys = x.numpy(), y.numpy()
        np.testing.assert_allclose(x.grad.numpy(), 2 * xs * ys + 2 * xs, rtol=1e-10)
        np.testing.assert_allclose(y.grad.numpy(), xs ** 2, rtol=1e-10)
    return [("the graph (x * y + x) * x", check)]


_register(1, 3, "needle.autograd", "find_topo_sort", _topo_settings)
_register(1, 4, "needle.autograd", "compute_gradient_of_variables", _backward_settings,
          needs=("find_topo_sort", "EWiseAdd.gradient", "EWiseMul.gradient"))


# ---- hw2 modules (question 3) and optimisers (question 4) --------------------------------------

_NN = "needle.nn.nn_basic"


def _module_check(build, reference, *inputs: np.ndarray, train: bool = True) -> Callable[[], None]:
    def check() -> None:
        import needle as ndl
        module = build()
        if not train:
            module.eval()
        out = module(*(ndl.Tensor(x) for x in inputs)).numpy()
        np.testing.assert_allclose(out, reference(*inputs), rtol=1e-6, atol=1e-7)
    return check


def _linear_init() -> list[Setting]:
    def check() -> None:
        import needle.nn as nn
        layer = nn.Linear(7, 5)
        assert layer.weight.shape == (7, 5) and layer.bias is not None and layer.bias.shape == (5,)
        assert np.abs(layer.weight.numpy()).max() <= np.sqrt(6 / 7) + 1e-6
        assert np.abs(layer.bias.numpy()).max() <= 1 / np.sqrt(7) + 1e-6
        assert nn.Linear(7, 5, bias=False).bias is None
    return [("Linear(7, 5)", check)]


def _linear_forward() -> list[Setting]:
    def build():
        import needle as ndl
        import needle.nn as nn
        layer = nn.Linear(4, 3, dtype="float64")
        layer.weight = nn.Parameter(ndl.Tensor(_rand(18, 4, 3)))
        layer.bias = nn.Parameter(ndl.Tensor(_rand(19, 3)))
        return layer
    reference = lambda x: x @ _rand(18, 4, 3) + _rand(19, 3)  # noqa: E731
    return [("input (5, 4)", _module_check(build, reference, _rand(20, 5, 4)))]


def _nn(name):
    import needle.nn as nn
    return getattr(nn, name)


def _norm_reference(axis):
    def reference(x):
        return (x - x.mean(axis, keepdims=True)) / np.sqrt(x.var(axis, keepdims=True) + 1e-5)
    return reference


_register(2, 3, _NN, "Linear.__init__", _linear_init)
_register(2, 3, _NN, "Linear.forward", _linear_forward)
_register(2, 3, _NN, "Flatten.forward", lambda: [("input (2, 3, 4)", _module_check(
    lambda: _nn("Flatten")(), lambda x: x.reshape(2, 12), X3()))])
_register(2, 3, _NN, "ReLU.forward", lambda: [("input (2, 3)", _module_check(
    lambda: _nn("ReLU")(), lambda x: np.maximum(x, 0), _away_from_zero(21, 2, 3)))])
_register(2, 3, _NN, "Sequential.forward", lambda: [("Sequential(ReLU(), Flatten())", _module_check(
    lambda: _nn("Sequential")(_nn("ReLU")(), _nn("Flatten")()), lambda x: np.maximum(x, 0).reshape(2, 12),
    _away_from_zero(22, 2, 3, 4)))])
_register(2, 3, _NN, "Residual.forward", lambda: [("Residual(ReLU())", _module_check(
    lambda: _nn("Residual")(_nn("ReLU")()), lambda x: np.maximum(x, 0) + x, _away_from_zero(23, 2, 3)))])
_register(2, 3, _NN, "SoftmaxLoss.forward", lambda: [("logits (4, 3)", _module_check(
    lambda: _nn("SoftmaxLoss")(),
    lambda z, y: np.mean(_logsumexp(z, 1) - z[np.arange(4), y.astype(int)]),
    _rand(24, 4, 3) * 3, np.array([0.0, 2.0, 1.0, 2.0])))])
_register(2, 3, _NN, "LayerNorm1d.forward", lambda: [("input (3, 5)", _module_check(
    lambda: _nn("LayerNorm1d")(5, dtype="float64"), _norm_reference(1), _rand(25, 3, 5) * 3 + 1))])
_register(2, 3, _NN, "BatchNorm1d.forward", lambda: [("training, input (6, 4)", _module_check(
    lambda: _nn("BatchNorm1d")(4, dtype="float64"), _norm_reference(0), _rand(26, 6, 4) * 2 + 1)),
    ("evaluation (fresh running statistics)", _module_check(
        lambda: _nn("BatchNorm1d")(4, dtype="float64"), lambda x: x / np.sqrt(1 + 1e-5),
        _rand(27, 3, 4), train=False))])
_register(2, 3, _NN, "Dropout.forward", lambda: [("evaluation", _module_check(
    lambda: _nn("Dropout")(0.5), lambda x: x, _rand(28, 3, 4), train=False))])


def _sgd_settings() -> list[Setting]:
    def case(label, momentum, weight_decay):
        def check() -> None:
            import needle as ndl
            import needle.nn as nn
            import needle.optim as optim
            w0, g = _rand(29, 3), _rand(30, 3)
            p = nn.Parameter(ndl.Tensor(w0))
            opt = optim.SGD([p], lr=0.1, momentum=momentum, weight_decay=weight_decay)
            w, u = w0.copy(), None
            for _ in range(2):  # torch.optim.SGD's rule: u = g on the first step
                p.grad = ndl.Tensor(g)
                opt.step()
                grad = g + weight_decay * w
                u = grad if u is None or not momentum else momentum * u + grad
                w = w - 0.1 * u
            np.testing.assert_allclose(p.numpy(), w, rtol=1e-6, atol=1e-7)
        return label, check
    return [case("lr=0.1", 0.0, 0.0), case("momentum=0.9", 0.9, 0.0), case("weight_decay=0.01", 0.0, 0.01)]


def _adam_settings() -> list[Setting]:
    def check() -> None:
        import needle as ndl
        import needle.nn as nn
        import needle.optim as optim
        w0, g = _rand(31, 3), _rand(32, 3)
        p = nn.Parameter(ndl.Tensor(w0))
        opt = optim.Adam([p], lr=0.1)
        w, m, v = w0.copy(), np.zeros(3), np.zeros(3)
        for t in (1, 2):  # Kingma & Ba, ICLR 2015, Algorithm 1
            p.grad = ndl.Tensor(g)
            opt.step()
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            w = w - 0.1 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        np.testing.assert_allclose(p.numpy(), w, rtol=1e-5, atol=1e-6)
    return [("lr=0.1, two steps", check)]


_register(2, 4, "needle.optim", "SGD.step", _sgd_settings)
_register(2, 4, "needle.optim", "Adam.step", _adam_settings)


# Initialisers (hw2 question 2): 60,000 draws each, so a mean or standard deviation is known to
# about 1%; the bounds are exact.
def _init_check(name, args, kwargs, low, high, mean, std) -> Setting:
    def check() -> None:
        import needle.init as init
        x = getattr(init, name)(*args, **kwargs).numpy()
        assert x.shape == (200, 300), f"shape {x.shape}"
        assert low <= x.min() and x.max() <= high, f"values in [{x.min()}, {x.max()}]"
        assert abs(x.mean() - mean) < 0.05 * std, f"mean {x.mean()}, expected {mean}"
        assert abs(x.std() - std) < 0.05 * std, f"std {x.std()}, expected {std}"
    label = ", ".join([*map(str, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
    return f"{name}({label})", check


_INIT = "needle.init.init_initializers"
_XAVIER = 2.0 * np.sqrt(6 / 500)  # gain 2, fan_in + fan_out = 500
_KAIMING = np.sqrt(2.0) * np.sqrt(3 / 200)  # ReLU's gain, fan_in = 200
for _name, _args, _kwargs, _range, _moments in [
        ("uniform", (200, 300), {"low": -2.0, "high": 3.0}, (-2.0, 3.0), (0.5, 5 / np.sqrt(12))),
        ("normal", (200, 300), {"mean": 1.0, "std": 2.0}, (-np.inf, np.inf), (1.0, 2.0)),
        ("xavier_uniform", (200, 300), {"gain": 2.0}, (-_XAVIER, _XAVIER), (0.0, _XAVIER / np.sqrt(3))),
        ("xavier_normal", (200, 300), {"gain": 2.0}, (-np.inf, np.inf), (0.0, 2.0 * np.sqrt(2 / 500))),
        ("kaiming_uniform", (200, 300), {}, (-_KAIMING, _KAIMING), (0.0, _KAIMING / np.sqrt(3))),
        ("kaiming_normal", (200, 300), {}, (-np.inf, np.inf), (0.0, np.sqrt(2.0 / 200)))]:
    _setting = _init_check(_name, _args, _kwargs, *_range, *_moments)
    _register(2, 2, _INIT, _name, lambda setting=_setting: [setting])


# NDArray's strided views (hw3 question 1), on the NumPy device: the view code alone, not your
# C++ kernels.
def _view_check(view, reference, shape=(2, 3, 4)) -> Callable[[], None]:
    def check() -> None:
        import needle as ndl
        from needle.backend_ndarray.ndarray import NDArray
        x = _rand(33, *shape)
        out = view(NDArray(x, device=ndl.cpu_numpy())).numpy()
        np.testing.assert_array_equal(out, reference(x))
    return check


_ND = "needle.backend_ndarray.ndarray"
_register(3, 1, _ND, "NDArray.reshape", lambda: [
    ("(2, 3, 4) -> (6, 4)", _view_check(lambda a: a.reshape((6, 4)), lambda x: x.reshape(6, 4))),
    ("(2, 3, 4) -> (4, 3, 2)", _view_check(lambda a: a.reshape((4, 3, 2)), lambda x: x.reshape(4, 3, 2)))])
_register(3, 1, _ND, "NDArray.permute", lambda: [
    (f"axes={axes}", _view_check(lambda a, axes=axes: a.permute(axes),
                                 lambda x, axes=axes: x.transpose(axes)))
    for axes in ((1, 0, 2), (2, 0, 1))])
_register(3, 1, _ND, "NDArray.broadcast_to", lambda: [
    ("(3, 1) -> (3, 4)", _view_check(lambda a: a.broadcast_to((3, 4)),
                                     lambda x: np.broadcast_to(x, (3, 4)), (3, 1))),
    ("(1, 3, 1) -> (2, 3, 4)", _view_check(lambda a: a.broadcast_to((2, 3, 4)),
                                           lambda x: np.broadcast_to(x, (2, 3, 4)), (1, 3, 1)))])
_register(3, 1, _ND, "NDArray.__getitem__", lambda: [
    ("[1, :, ::2]", _view_check(lambda a: a[1, :, ::2], lambda x: x[1, :, ::2])),
    ("[:, 1:3, 3]", _view_check(lambda a: a[:, 1:3, 3], lambda x: x[:, 1:3, 3]))])
_register(3, 1, _ND, "NDArray.flip", lambda: [
    (f"axes={axes}", _view_check(lambda a, axes=axes: a.flip(axes),
                                 lambda x, axes=axes: np.flip(x, axes)))
    for axes in ((0,), (0, 2), None)])
