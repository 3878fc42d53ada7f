"""Public tests for hw1 questions 3 and 4: topological sort and reverse-mode AD through whole
graphs, with reused nodes and gradients of gradients."""
import needle as ndl
import numpy as np
import pytest
from gradcheck import numerical_gradient
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from needle_testing import assert_grads_close, check_backward


def leaves(*values):
    return [ndl.Tensor(np.array(v, dtype=np.float64), requires_grad=True) for v in values]


# ---- Question 3: find_topo_sort ---------------------------------------------------------------

@pytest.mark.question(3)
def test_topo_sort_is_the_post_order_dfs():
    a, b = leaves([1.0], [2.0])
    c = a * b
    d = c + a
    e = d * c
    assert ndl.find_topo_sort([e]) == [a, b, c, d, e]


@pytest.mark.question(3)
def test_topo_sort_lists_a_reused_node_once_before_its_users():
    x, w = leaves(np.ones((2, 2)), np.ones((2, 2)))
    h = ndl.relu(x @ w)
    out = (h @ w + h).sum()
    order = ndl.find_topo_sort([out])
    assert len(order) == len(set(map(id, order)))
    position = {id(node): i for i, node in enumerate(order)}
    for node in order:
        for inp in node.inputs:
            assert position[id(inp)] < position[id(node)]
    assert order[0] is x and order[1] is w and order[-1] is out
    assert sum(node is w for node in order) == 1


@pytest.mark.question(3)
def test_topo_sort_of_several_outputs_shares_their_nodes():
    a, b = leaves([1.0], [2.0])
    c = a + b
    d, e = c * a, c * b
    assert ndl.find_topo_sort([d, e]) == [a, b, c, d, e]


@pytest.mark.question(3)
def test_topo_sort_handles_a_deep_chain():
    x = leaves([1.0])[0]
    y = x
    for _ in range(5000):  # deeper than Python's default recursion limit
        y = y + 1.0
    order = ndl.find_topo_sort([y])
    assert len(order) == 5001 and order[0] is x and order[-1] is y


# ---- Question 4: compute_gradient_of_variables ------------------------------------------------

def rand(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=shape)


@pytest.mark.question(4)
def test_backward_of_a_reused_node_sums_its_adjoints():
    x, = leaves([3.0, -2.0])
    y = (x * x + x * 2.0).sum()  # x feeds three ops
    y.backward()
    assert_grads_close(y, [x], [[8.0, -2.0]])


@pytest.mark.question(4)
@pytest.mark.parametrize("name, fn, shapes", [
    ("diamond", lambda a, b: (a * b + a) / (b * b + 1.0), [(3, 4), (3, 4)]),
    ("broadcast_then_sum", lambda a, b: ndl.summation(ndl.broadcast_to(a, (2, 3, 4)) * b, (0, 2)),
     [(3, 1), (2, 3, 4)]),
    ("two_layer_net", lambda x, w1, w2: ndl.relu(x @ w1) @ w2, [(5, 4), (4, 6), (6, 3)]),
    ("batched_matmul", lambda a, b: ndl.exp(a @ b * 0.1).sum(axes=(0,)), [(2, 3, 4), (4, 5)]),
    ("reused_chain", lambda a: ndl.log(ndl.exp(a) + a * a + 2.0) * a, [(3, 3)]),
    ("transpose_reshape", lambda a: ndl.reshape(ndl.transpose(a), (2, 6)) ** 2, [(3, 4)]),
])
def test_backward_matches_central_differences(name, fn, shapes):
    check_backward(fn, *[rand(*s, seed=i) + (1.5 if name == "reused_chain" else 0.0)
                         for i, s in enumerate(shapes)])


@pytest.mark.question(4)
def test_backward_through_a_deep_chain():
    x = leaves([1.0])[0]
    y = x
    for _ in range(5000):  # deeper than Python's default recursion limit
        y = y * 1.0 + 1.0
    y.backward()
    assert_grads_close(y, [x], [[1.0]])


@pytest.mark.question(4)
def test_backward_sets_grad_on_intermediate_nodes_and_skips_constants():
    x, = leaves([1.0, 2.0])
    c = ndl.Tensor([5.0, 7.0])  # a constant
    h = x * c
    y = (h * h).sum()
    y.backward()
    assert_grads_close(y, [h, x], [2 * np.array([5.0, 14.0]), 2 * np.array([5.0, 14.0]) * [5.0, 7.0]])
    assert c.grad is None


@pytest.mark.question(4)
def test_backward_overwrites_grad_and_leaves_constant_gradients():
    x, = leaves([1.0, 2.0])
    (x * x).sum().backward()
    y = (x * 3.0).sum()
    y.backward()
    assert_grads_close(y, [x], [[3.0, 3.0]])  # overwritten, not accumulated
    assert not x.grad.requires_grad and x.grad.op is None  # create_graph=False: a constant


@pytest.mark.question(4)
def test_gradient_of_a_gradient():
    x, = leaves([0.5, -1.0, 2.0])
    y = (x ** 3).sum()
    y.backward(create_graph=True)
    first = x.grad
    assert_grads_close(y, [x], [3 * x.numpy() ** 2])
    assert first.requires_grad
    second = first.sum()
    second.backward()
    assert_grads_close(second, [x], [6 * x.numpy()])


@pytest.mark.question(4)
def test_hessian_vector_product_matches_central_differences():
    x0, v = rand(4, seed=3), rand(4, seed=4)

    def gradient(values):
        x, = leaves(values)
        (ndl.exp(x) * x * x).sum().backward()
        return x.grad.numpy()

    x, = leaves(x0)
    (ndl.exp(x) * x * x).sum().backward(create_graph=True)
    hv = (x.grad * ndl.Tensor(v)).sum()
    hv.backward()  # d/dx <grad f(x), v> = H v
    expected = numerical_gradient(lambda values: float(gradient(values) @ v), x0)
    assert_grads_close(hv, [x], [expected], rtol=1e-6, atol=1e-7)


@pytest.mark.question(4)
@given(values=arrays(np.float64, (5,), elements=st.floats(-10, 10)))
def test_gradient_of_sum_of_squares_is_twice_x(values):
    x, = leaves(values)
    y = (x * x).sum()
    y.backward()
    assert_grads_close(y, [x], [2 * values], rtol=1e-12)
