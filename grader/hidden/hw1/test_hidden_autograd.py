"""Hidden tests for hw1: other shapes, broadcasting corners, gradients of gradients, stability.

A test that takes ``seed`` draws its inputs from it (a student's own when the course's variants
are on): inputs that keep every op well-conditioned for any seed (divisors, bases and logarithms
in [0.5, 2), everything else in [-1, 1)).
"""
import numpy as np
import pytest
from _hidden_inputs import grads_of, rand
from _hidden_mnist import mnist, two_layer_init


def _tensors(*arrays):
    import needle as ndl
    return [ndl.Tensor(a, requires_grad=True) for a in arrays]


# ---- Question 1: forward computation (20 points) ---------------------------------------------

@pytest.mark.question(1)
@pytest.mark.points(6)
def test_elementwise_forward(seed):
    import needle as ndl
    rng = np.random.default_rng(seed)
    a, b = _tensors(rand(rng, 4, 1, 3), rand(rng, 4, 1, 3, low=0.5, high=2.0))
    return {"add": (a + b).numpy(), "mul": (a * b).numpy(), "div": (a / b).numpy(),
            "pow": (b ** a).numpy(), "scalars": ((a + 2.5) * -1.5 / 4.0).numpy(),
            "power_scalar": (b ** -1.5).numpy(), "neg": (-a).numpy(), "log": ndl.log(b).numpy(),
            "exp": ndl.exp(a).numpy(), "relu": ndl.relu(a).numpy()}


@pytest.mark.question(1)
@pytest.mark.points(7)
def test_shape_ops_forward():
    import needle as ndl
    (a,) = _tensors(rand(3, 3, 2, 1, 3))
    return {"broadcast": ndl.broadcast_to(a, (4, 3, 2, 5, 3)).numpy(),
            "reshape": ndl.reshape(a, (6, 3)).numpy(),
            "transpose": ndl.transpose(a, (0, 3)).numpy(),
            "transpose_default": ndl.transpose(a).numpy(),
            "sum_axes": ndl.summation(a, (0, 3)).numpy(),
            "sum_negative": ndl.summation(a, (-1, -4)).numpy(),
            "sum_all": ndl.summation(a).numpy()}


@pytest.mark.question(1)
@pytest.mark.points(7)
def test_matmul_forward_batched_and_broadcast(seed):
    import needle as ndl
    rng = np.random.default_rng(seed)
    a, b, c = _tensors(rand(rng, 3, 1, 2, 4), rand(rng, 5, 4, 3), rand(rng, 3, 1))
    return {"broadcast_batch": ndl.matmul(a, b).numpy(), "vector_like": ndl.matmul(b, c).numpy()}


# ---- Question 2: backward computation (30 points) --------------------------------------------

@pytest.mark.question(2)
@pytest.mark.points(10)
def test_elementwise_gradients(seed):
    import needle as ndl
    rng = np.random.default_rng(seed)
    a, b = _tensors(rand(rng, 3, 4), rand(rng, 3, 4, low=0.5, high=2.0))
    return {"mul": np.stack(grads_of(a * b)), "div": np.stack(grads_of(a / b)),
            "pow": np.stack(grads_of(b ** a)), "power_scalar": grads_of(b ** 2.5)[0],
            "log": grads_of(ndl.log(b))[0], "exp": grads_of(ndl.exp(a))[0],
            "relu": grads_of(ndl.relu(a))[0], "neg": grads_of(-a)[0],
            "scalar_ops": np.stack([grads_of(a + 1.0)[0], grads_of(a * 3.0)[0], grads_of(a / 4.0)[0]])}


@pytest.mark.question(2)
@pytest.mark.points(10)
def test_shape_gradients():
    import needle as ndl
    (a,) = _tensors(rand(9, 2, 1, 3, 1))
    (s,) = _tensors(rand(10, 1))
    return {"broadcast": grads_of(ndl.broadcast_to(a, (4, 2, 5, 3, 2)))[0],
            "broadcast_scalar": grads_of(ndl.broadcast_to(s, (3, 4)))[0],
            "sum_axes": grads_of(ndl.summation(a, (1, 3)))[0],
            "sum_all": grads_of(ndl.summation(a))[0],
            "reshape": grads_of(ndl.reshape(a, (6,)))[0],
            "transpose": grads_of(ndl.transpose(a, (1, 3)))[0]}


@pytest.mark.question(2)
@pytest.mark.points(10)
def test_matmul_gradients_with_broadcast_batches(seed):
    import needle as ndl
    rng = np.random.default_rng(seed)
    a, b = _tensors(rand(rng, 2, 1, 3, 4), rand(rng, 5, 4, 2))
    c, d = _tensors(rand(rng, 3, 4), rand(rng, 6, 4, 2))
    grad_a, grad_b = grads_of(ndl.matmul(a, b))
    grad_c, grad_d = grads_of(ndl.matmul(c, d))
    return {"grad_a": grad_a, "grad_b": grad_b, "grad_c": grad_c, "grad_d": grad_d}


# ---- Question 3: topological sort (10 points) ------------------------------------------------

@pytest.mark.question(3)
@pytest.mark.points(10)
def test_topo_sort_orders():
    import needle as ndl
    x, y, z = _tensors(rand(15, 2), rand(16, 2), rand(17, 2))
    u = x * y
    v = u + z
    w = v * u + x
    t = ndl.exp(w) / (v + 3.0)
    nodes = [x, y, z, u, v, w, t]

    def order(outputs):
        positions = []
        for node in ndl.find_topo_sort(outputs):
            positions.append(next((i for i, n in enumerate(nodes) if n is node), -1))
        return positions
    return {"single": order([t]), "two_outputs": order([w, v]), "leaf": order([z])}


# ---- Question 4: reverse-mode differentiation (20 points) ------------------------------------

@pytest.mark.question(4)
@pytest.mark.points(8)
def test_backward_through_a_graph_with_reuse(seed):
    import needle as ndl
    rng = np.random.default_rng(seed)
    a, b = _tensors(rand(rng, 3, 4), rand(rng, 4, 2))
    h = ndl.relu(a @ b)
    out = ndl.summation(h * h + h @ ndl.Tensor(rand(rng, 2, 2)) + ndl.exp(h * 0.1), (1,))
    out.backward(ndl.Tensor(rand(rng, 3)))
    return {"grad_a": a.grad.numpy(), "grad_b": b.grad.numpy(), "grad_h": h.grad.numpy()}


@pytest.mark.question(4)
@pytest.mark.points(6)
def test_gradient_of_gradient(seed):
    import needle as ndl
    (x,) = _tensors(rand(np.random.default_rng(seed), 5))
    (ndl.exp(x) * x * x + x ** 3).sum().backward(create_graph=True)
    first = x.grad.numpy().copy()
    x.grad.sum().backward()
    return {"first": first, "second": x.grad.numpy()}


@pytest.mark.question(4)
@pytest.mark.points(6)
def test_hessian_vector_product_of_a_matmul_graph():
    import needle as ndl
    w, v = _tensors(rand(23, 3, 2), rand(24, 3, 2))
    X = ndl.Tensor(rand(25, 4, 3))
    loss = ndl.summation(ndl.log(ndl.exp(X @ w) + 1.0))
    loss.backward(create_graph=True)
    (w.grad * v).sum().backward()
    return {"hvp": w.grad.numpy()}


# ---- Question 5: softmax loss with needle (10 points) ----------------------------------------

@pytest.mark.question(5)
@pytest.mark.points(10)
def test_needle_softmax_loss_values_and_gradient(seed):
    import needle as ndl
    from apps.simple_ml_needle import softmax_loss
    rng = np.random.default_rng(seed)
    Z, y = rng.standard_normal((9, 6)) * 5, rng.integers(0, 6, 9)
    z = ndl.Tensor(Z + 5e3, requires_grad=True)
    loss = softmax_loss(z, ndl.Tensor(np.eye(6)[y]))
    loss.backward()
    return {"loss": loss.numpy(), "grad": z.grad.numpy()}


# ---- Question 6: nn_epoch with needle (10 points) --------------------------------------------

@pytest.mark.question(6)
@pytest.mark.points(5)
def test_needle_nn_epoch_uneven_batches(seed):
    import needle as ndl
    from apps.simple_ml_needle import nn_epoch
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((21, 5)).astype(np.float32), rng.integers(0, 3, 21).astype(np.uint8)
    W1 = ndl.Tensor(rng.standard_normal((5, 8)).astype(np.float32) / 3)
    W2 = ndl.Tensor(rng.standard_normal((8, 3)).astype(np.float32) / 3)
    W1, W2 = nn_epoch(X, y, W1, W2, lr=0.4, batch=4)
    return {"W1": W1.numpy(), "W2": W2.numpy()}


@pytest.mark.question(6)
@pytest.mark.points(5)
@pytest.mark.timeout(120)
@pytest.mark.threshold("error_rate", predictions="logits", labels="labels", at_most=0.07)
def test_needle_two_layer_net_mnist_error_bound(mnist_dir):
    import needle as ndl
    from apps.simple_ml_needle import nn_epoch
    X_tr, y_tr = mnist(mnist_dir, "train")
    X_te, y_te = mnist(mnist_dir, "t10k")
    W1, W2 = map(ndl.Tensor, two_layer_init(X_tr.shape[1], 200, 10, seed=5))
    for _ in range(15):
        W1, W2 = nn_epoch(X_tr, y_tr, W1, W2, lr=0.2, batch=100)
    W1, W2 = np.asarray(W1.numpy(), dtype=np.float32), np.asarray(W2.numpy(), dtype=np.float32)
    return {"logits": np.maximum(X_te @ W1, 0) @ W2, "labels": y_te}
