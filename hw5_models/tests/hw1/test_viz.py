"""Tests of needle.viz (given code): the graph it builds and the figure it draws.

The expressions here use ops defined in this file, not needle's (which are hw1's questions), and
adjoints set by hand (``backward`` is question 4), so the tests pass on the bare handout: viz only
reads ``.op``, ``.inputs``, shapes and ``.grad``. draw_graph uses matplotlib's object API only, so no
backend needs choosing.
"""
import needle as ndl
import numpy as np
import pytest
from matplotlib.figure import Figure
from needle.autograd import TensorOp


class Plus(TensorOp):
    def compute(self, a, b):
        return a + b


class Times(TensorOp):
    def compute(self, a, b):
        return a * b


class Scale(TensorOp):
    def __init__(self, scalar):
        self.scalar = scalar

    def compute(self, a):
        return a * self.scalar


def leaf(values, requires_grad=True):
    return ndl.Tensor(np.array(values, dtype=np.float32), requires_grad=requires_grad)


def expression():
    """y = (x + c) * x, then scaled by 2: x a parameter (2, 2), c a constant (2, 2)."""
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    c = leaf([[1.0, 1.0], [1.0, 1.0]], requires_grad=False)
    s = Plus()(x, c)
    p = Times()(s, x)
    y = Scale(2.0)(p)
    return x, c, s, p, y


def test_nodes_and_edges_match_the_expression():
    x, c, s, p, y = expression()
    graph = ndl.viz.to_networkx(y)
    assert set(graph.nodes) == {id(v) for v in (x, c, s, p, y)}
    assert set(graph.edges) == {(id(x), id(s)), (id(c), id(s)), (id(s), id(p)), (id(x), id(p)),
                                (id(p), id(y))}
    assert graph.edges[id(x), id(p)]["input_positions"] == [1]
    assert graph.edges[id(s), id(p)]["input_positions"] == [0]
    assert graph.nodes[id(y)]["value"] is y
    ops = {key: data["op"] for key, data in graph.nodes(data=True)}
    assert ops == {id(x): None, id(c): None, id(s): "Plus", id(p): "Times", id(y): "Scale"}
    kinds = {key: data["kind"] for key, data in graph.nodes(data=True)}
    assert kinds == {id(x): "parameter", id(c): "constant", id(s): "op", id(p): "op", id(y): "op"}
    # Layers: each op above all its inputs; a leaf just below its first consumer.
    generation = {key: data["generation"] for key, data in graph.nodes(data=True)}
    assert generation == {id(x): 0, id(c): 0, id(s): 1, id(p): 2, id(y): 3}


def test_an_input_used_twice_is_one_edge_with_both_positions():
    x = leaf([1.0, 2.0])
    y = Times()(x, x)
    graph = ndl.viz.to_networkx(y)
    assert list(graph.edges(data="input_positions")) == [(id(x), id(y), [0, 1])]


def test_labels_show_op_settings_and_shapes():
    x, _, s, _, y = expression()
    graph = ndl.viz.to_networkx(y)
    labels = {key: data["label"] for key, data in graph.nodes(data=True)}
    assert labels[id(y)].splitlines() == ["Scale(scalar=2.0)", "shape (2, 2)"]
    assert labels[id(s)].splitlines() == ["Plus", "shape (2, 2)"]
    assert labels[id(x)].splitlines() == ["leaf", "shape (2, 2)"]
    assert all(data["grad"] is None for _, data in graph.nodes(data=True))


def test_adjoints_appear_once_set():
    x, _, s, _, y = expression()
    x.grad = leaf([[0.5, -1.0], [2.0, 0.25]], requires_grad=False)  # as backward() would
    y.grad = leaf(np.ones((2, 2)), requires_grad=False)
    graph = ndl.viz.to_networkx(y)
    np.testing.assert_array_equal(graph.nodes[id(x)]["grad"], [[0.5, -1.0], [2.0, 0.25]])
    assert graph.nodes[id(x)]["label"].splitlines()[2] == "grad [ 0.5 , -1.  ,  2.  ,  0.25]"
    assert graph.nodes[id(y)]["label"].splitlines()[2] == "grad [1., 1., 1., 1.]"
    assert graph.nodes[id(s)]["grad"] is None
    # A larger adjoint is summarised by its norm.
    graph = ndl.viz.to_networkx(y, max_values=3)
    assert graph.nodes[id(x)]["label"].splitlines()[2] == f"grad |.|={np.sqrt(5.3125):.3g}"


def test_draw_graph_returns_a_figure_with_every_label(tmp_path):
    x, *_, y = expression()
    x.grad = leaf(np.full((2, 2), 3.0), requires_grad=False)
    path = tmp_path / "graph.png"
    figure = ndl.viz.draw_graph(y, path=path, title="y = 2 (x + c) x")
    assert isinstance(figure, Figure)
    texts = [t.get_text() for t in figure.axes[0].texts]
    graph = ndl.viz.to_networkx(y)
    assert sorted(texts) == sorted(data["label"] for _, data in graph.nodes(data=True))
    assert figure.axes[0].get_title() == "y = 2 (x + c) x"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_deep_chain_needs_no_recursion():
    y = leaf([1.0])
    for _ in range(3000):
        y = Scale(1.0)(y)
    graph = ndl.viz.to_networkx(y)
    assert graph.number_of_nodes() == 3001
    assert graph.nodes[id(y)]["generation"] == 3000


@pytest.mark.parametrize("bad", [np.ones(2), [1.0], None])
def test_draw_graph_rejects_what_is_not_a_tensor(bad):
    with pytest.raises(TypeError, match=f"expected a needle Tensor.*got {type(bad).__name__}"):
        ndl.viz.draw_graph(bad)
    with pytest.raises(TypeError, match="expected a needle Tensor"):
        ndl.viz.to_networkx(bad)
