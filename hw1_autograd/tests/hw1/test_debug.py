"""Tests of ``ndl.debug.check_gradients`` (given code): it names the first op whose gradient is
wrong, blames no op downstream of it, and blames the traversal when every op agrees.

The given-code tests build their graphs from ops defined here (elementwise, on NumPy or NDArray
arrays), so they pass before any stub is filled in; the tests marked with a question plant bugs
in needle's own ops and need them written."""
import functools

import needle as ndl
import numpy as np
import pytest
from needle.autograd import TensorOp
from needle_testing import assert_grads_close


class Mul(TensorOp):
    def compute(self, a, b):
        return a * b

    def gradient(self, out_grad, node):
        a, b = node.inputs
        return Mul()(out_grad, b), Mul()(out_grad, a)


class SwappedMul(Mul):
    """A planted bug: the two adjoints swapped."""

    def gradient(self, out_grad, node):
        a, b = node.inputs
        return Mul()(out_grad, a), Mul()(out_grad, b)


class Add(TensorOp):
    def compute(self, a, b):
        return a + b

    def gradient(self, out_grad, node):
        return out_grad, out_grad


class Scale(TensorOp):
    def __init__(self, c):
        self.c = c

    def compute(self, a):
        return a * self.c

    def gradient(self, out_grad, node):
        return Scale(self.c)(out_grad)


class Unwritten(Scale):
    def gradient(self, out_grad, node):
        raise NotImplementedError("Unwritten.gradient: " + "hw1")  # a stub's message


class ScaleBySum(TensorOp):
    """``a * sum(ids)`` for an integer constant ``ids``, which has no adjoint."""

    def compute(self, a, ids):
        return a * float(np.sum(ids))

    def gradient(self, out_grad, node):
        return Scale(float(np.sum(node.inputs[1].realize_cached_data())))(out_grad), None


def leaves(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [ndl.Tensor(rng.uniform(-1, 1, s), dtype="float64", requires_grad=True) for s in shapes]


def test_the_first_wrong_op_is_named_and_an_op_downstream_is_not_blamed():
    x, w = leaves((2, 3), (2, 3))
    y = SwappedMul()(Scale(2.0)(x), w)
    out = Add()(y, Scale(3.0)(y))  # correct ops fed by the wrong one
    report = ndl.debug.check_gradients(out)
    assert not report.ok
    assert [(c.op, c.settings, c.status) for c in report.ops] == [
        ("Scale", "c=2.0", "ok"), ("SwappedMul", "", "wrong"), ("Scale", "c=3.0", "ok"), ("Add", "", "ok")]
    wrong = report.first_wrong
    assert wrong is report.ops[1] and wrong.input_index == 0 and wrong.input_shapes == ((2, 3), (2, 3))
    # The adjoint of input 0 should be w * g, not 2x * g: the error is of that size.
    assert wrong.max_abs_error > 0.1 and wrong.max_rel_error > 0.1
    message = str(report)
    assert message.startswith("first wrong op (of 4 checked, inputs before users): SwappedMul.gradient is "
                              "wrong: the adjoint of input 0 differs from central differences by up to ")
    assert message.endswith("; input shapes: (2, 3), (2, 3)")
    with pytest.raises(AssertionError, match=r"SwappedMul\.gradient is wrong"):
        ndl.debug.assert_gradients(out)


def test_a_graph_of_correct_ops_is_ok():
    x, w = leaves((3,), (3,))
    out = Add()(Mul()(x, x), Scale(-1.5)(Mul()(x, w)))
    report = ndl.debug.check_gradients(out)
    assert report.ok and report.first_wrong is None and len(report.ops) == 4
    assert all(c.max_abs_error < 1e-6 for c in report.ops)
    assert str(report).startswith("every op agrees with central differences (4 checked); if backward()")


def test_a_gradient_that_raises_is_reported_with_its_exception():
    x, = leaves((2,))
    report = ndl.debug.check_gradients(Scale(2.0)(Unwritten(3.0)(x)))
    assert [c.status for c in report.ops] == ["raised", "ok"]
    assert report.first_wrong.detail.startswith("NotImplementedError: Unwritten.gradient: hw1")
    assert "Unwritten.gradient, c=3.0, raised NotImplementedError" in str(report)


def test_an_integer_input_is_not_perturbed_and_the_report_says_so():
    x, = leaves((2, 2))
    ids = ndl.Tensor.make_const(np.array([1, 2]))
    report = ndl.debug.check_gradients(ScaleBySum()(x, ids))
    assert report.ok and report.ops[0].detail == "integer input(s) [1] not checked"
    assert "integer input(s) [1] not checked" in str(report)


def reverse_mode(topo_sort):
    """compute_gradient_of_variables on ``topo_sort`` (written here: the handout's is a stub)."""
    def compute_gradient_of_variables(output, out_grad):
        adjoints = {id(output): [out_grad]}
        for node in reversed(topo_sort([output])):
            grads = adjoints.pop(id(node), None)
            if grads is None:
                continue
            node.grad = functools.reduce(lambda a, b: Add()(a, b), grads)
            if node.op is not None:
                for inp, grad in zip(node.inputs, node.op.gradient_as_tuple(node.grad, node), strict=True):
                    if inp.requires_grad:
                        adjoints.setdefault(id(inp), []).append(grad)
    return compute_gradient_of_variables


def post_order(nodes, drop=None):
    order, seen = [], set()

    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for inp in node.inputs:
                visit(inp)
            order.append(node)
    for node in nodes:
        visit(node)
    return [node for node in order if drop is None or not drop(node)]


def test_a_traversal_bug_is_blamed_on_the_traversal_when_every_op_agrees(monkeypatch):
    x, w = leaves((3,), (3,))
    out = Add()(Mul()(x, w), Scale(2.0)(x))  # x feeds two ops
    monkeypatch.setattr(ndl.autograd, "compute_gradient_of_variables", reverse_mode(post_order))
    assert ndl.debug.check_gradients(out, inputs=[x, w]).ok
    # A planted bug: a topological sort that drops the Scale node, so x misses its adjoint.
    buggy = functools.partial(post_order, drop=lambda node: isinstance(node.op, Scale))
    monkeypatch.setattr(ndl.autograd, "compute_gradient_of_variables", reverse_mode(buggy))
    report = ndl.debug.check_gradients(out, inputs=[x, w])
    assert not report.ok and report.first_wrong is None
    assert report.inputs[0].startswith(".grad differs from central differences by up to ")
    assert report.inputs[1] is None
    assert str(report) == (
        f"every op agrees with central differences (3 checked), but backward() does not: input 0: "
        f"{report.inputs[0]}; look at find_topo_sort and compute_gradient_of_variables "
        f"(hw1, questions 3 and 4)")


def test_a_float32_graph_is_checked_in_float64_and_left_untouched(monkeypatch):
    monkeypatch.setattr(ndl.autograd, "compute_gradient_of_variables", reverse_mode(post_order))
    x = ndl.Tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float32", requires_grad=True)
    out = Mul()(x, Scale(1.3)(x))
    report = ndl.debug.check_gradients(out, inputs=[x])
    assert report.ok, str(report)  # float32 central differences with eps = 1e-6 would fail
    assert all(c.max_rel_error < 1e-7 for c in report.ops)
    assert x.grad is None and out.grad is None and x.dtype == "float32"


def test_bad_arguments_are_named():
    x, = leaves((2,))
    out = Scale(2.0)(x)
    with pytest.raises(TypeError, match="output must be a needle Tensor, got ndarray"):
        ndl.debug.check_gradients(np.ones(2))
    with pytest.raises(ValueError, match=r"inputs\[0\] \(shape \(3,\)\) is not a leaf"):
        ndl.debug.check_gradients(out, inputs=leaves((3,)))
    with pytest.raises(ValueError, match="eps must be positive, got 0"):
        ndl.debug.check_gradients(out, eps=0)


def test_stub_question_reads_the_todo_line_then_the_marker(tmp_path):
    path = tmp_path / "ops.py"
    path.write_text("class A:\n    def gradient(self):\n"
                    "        # " "TODO (hw7, question 3): implement A.gradient (Backward)\n"
                    "        raise NotImplementedError\n\n"
                    "def f():\n    ### BEGIN" " SOLUTION hw8\n    return 1\n    ### END" " SOLUTION\n")
    assert ndl.debug.stub_question(path, "A.gradient") == "hw7, question 3"
    assert ndl.debug.stub_question(path, "f") == "hw8"  # not in course.toml: the homework alone
    assert ndl.debug.stub_question(path, "g") == ""


def test_the_traversal_questions_agree_with_the_course():
    """The fallback names (a filled-in handout keeps no TODO line) match the stubs' own."""
    from needle import debug
    found = [debug.stub_question("python/needle/autograd.py", name) for name in debug._TRAVERSAL]
    course = (debug._ROOT / "course.toml").is_file()  # the instructor's tree, where it must say
    # A handout names them by its TODO lines, which a filled-in handout may have lost (then at
    # most the homework of a solution marker is known, and the fallback is used).
    assert found == ["hw1, question 3", "hw1, question 4"] or (
        not course and all("question" not in name for name in found))
    assert debug._TRAVERSAL_QUESTIONS == "hw1, questions 3 and 4"


# ---- planted bugs in needle's own ops (they need questions 1 and 2) ------------------------------

def rand(*shape, seed=0):
    return ndl.Tensor(np.random.default_rng(seed).uniform(-1, 1, shape), dtype="float64", requires_grad=True)


COMPOSITES = {
    "matmul_broadcast_sum": lambda x, w, b: ndl.summation(x @ w + ndl.broadcast_to(b, (4, 3)), axes=(1,)),
    "log_exp": lambda x, w, b: ndl.log(ndl.summation(ndl.exp(x @ w - ndl.broadcast_to(b, (4, 3))), 1)) / 2.0,
    "reshape_transpose": lambda x, w, b: ndl.transpose(ndl.reshape(x, (5, 4)) - 0.5) @ ndl.reshape(x, (5, 4)),
    "mlp_loss": lambda x, w, b: (ndl.log(ndl.summation(ndl.exp(ndl.relu(x @ w + ndl.broadcast_to(b, (4, 3)))
                                                               @ ndl.transpose(w)), axes=(1,)))
                                 - ndl.summation(x * x, axes=(1,)) ** 2).sum() / 4,
}


@pytest.mark.question(2)
@pytest.mark.parametrize("name", list(COMPOSITES))
def test_every_op_of_a_composite_agrees_on_the_reference(name):
    x, w, b = rand(4, 5), rand(5, 3, seed=1), rand(3, seed=2)
    out = COMPOSITES[name](x, w, b)
    report = ndl.debug.check_gradients(out, inputs=[x, w, b] if name != "reshape_transpose" else [x])
    assert report.ok, str(report)
    assert len(report.ops) >= 3 and all(c.status == "ok" for c in report.ops)


def summation_without_keepdims(self, out_grad, node):
    """A planted bug: broadcasts ``out_grad`` as it is, forgetting to restore the summed axes
    (right for axes=(0,) of a square matrix, wrong for axes=(1,))."""
    return ndl.broadcast_to(out_grad, node.inputs[0].shape)


@pytest.mark.question(2)
def test_a_summation_that_forgets_its_axes_is_named_inside_a_composite(monkeypatch):
    monkeypatch.setattr(ndl.ops.Summation, "gradient", summation_without_keepdims)
    x, w = rand(3, 3), rand(3, 3, seed=1)
    out = ndl.relu(ndl.log(ndl.summation(ndl.exp(x @ w), axes=(1,))) + 2.0) * 3.0
    report = ndl.debug.check_gradients(out)
    wrong = report.first_wrong
    assert (wrong.op, wrong.settings, wrong.input_shapes, wrong.input_index) == \
        ("Summation", "axes=(1,)", ((3, 3),), 0)
    assert wrong.stub == ndl.debug.stub_question("python/needle/ops/ops_mathematic.py", "Summation.gradient")
    assert [c.op for c in report.ops if c.status != "ok"] == ["Summation"]  # downstream ops agree
    assert str(report).startswith(f"first wrong op (of 7 checked, inputs before users): {wrong}")


@pytest.mark.question(2)
def test_a_composite_test_names_a_swapped_multiply(monkeypatch):
    def swapped(self, out_grad, node):
        a, b = node.inputs
        return out_grad * a, out_grad * b
    monkeypatch.setattr(ndl.ops.EWiseMul, "gradient", swapped)
    x, w = rand(2, 3), rand(3, 4, seed=1)
    out = ((x @ w) * ndl.exp(x @ w)).sum()
    out.backward()
    with pytest.raises(AssertionError, match=r"EWiseMul.gradient(?: \(hw1(?:, question 2)?\))? is wrong: the "
                                             r"adjoint of input 0 differs .*; input shapes: \(2, 4\), "
                                             r"\(2, 4\)") as error:
        assert_grads_close(out, [x], [np.zeros((2, 3))])
    assert "wrong gradient rule" in str(error.value)


@pytest.mark.question(4)
def test_a_topological_sort_that_drops_a_node_blames_questions_3_and_4(monkeypatch):
    real = ndl.autograd.find_topo_sort
    monkeypatch.setattr(ndl.autograd, "find_topo_sort",
                        lambda nodes: [n for n in real(nodes) if not isinstance(n.op, ndl.ops.AddScalar)])
    x = rand(3)
    out = (x * x + (x + 1.0)).sum()
    report = ndl.debug.check_gradients(out, inputs=[x])
    assert report.first_wrong is None and not report.ok
    assert "every op agrees" in str(report) and "look at find_topo_sort and compute_gradient_of_variables " \
        "(hw1, questions 3 and 4)" in str(report)
