"""hw5 question 3: ``RNNCell``, ``RNN``, ``LSTMCell``, ``LSTM`` and ``Embedding``.

Each against PyTorch with copied weights (PyTorch stores ``W_ih`` transposed), forward and
backward in float64; parameter counts and initialisation ranges against PyTorch's rules; and
gradients of a small LSTM by central differences.
"""
import needle as ndl
import numpy as np
import pytest
from gradcheck import numerical_gradient
from needle_testing import check_backward
from test_ops_hw5 import random
from torch_reference import needs_torch, to_torch, torch

pytestmark = pytest.mark.question(3)


def copy_to_torch(cells, ref, bias=True):
    for layer, cell in enumerate(cells):
        getattr(ref, f"weight_ih_l{layer}").data = to_torch(cell.W_ih.numpy().T)
        getattr(ref, f"weight_hh_l{layer}").data = to_torch(cell.W_hh.numpy().T)
        if bias:
            getattr(ref, f"bias_ih_l{layer}").data = to_torch(cell.bias_ih.numpy())
            getattr(ref, f"bias_hh_l{layer}").data = to_torch(cell.bias_hh.numpy())


def assert_close(actual, expected, rtol=1e-9, atol=1e-10):
    expected = expected.detach().numpy() if hasattr(expected, "detach") else expected
    np.testing.assert_allclose(actual.numpy() if hasattr(actual, "numpy") else actual, expected,
                               rtol=rtol, atol=atol)


@needs_torch
@pytest.mark.parametrize("nonlinearity,bias,with_h", [("tanh", True, True), ("relu", True, False),
                                                      ("tanh", False, True)])
def test_rnn_cell_matches_torch(nonlinearity, bias, with_h):
    cell = ndl.nn.RNNCell(4, 5, bias=bias, nonlinearity=nonlinearity, dtype="float64")
    ref = torch.nn.RNNCell(4, 5, bias=bias, nonlinearity=nonlinearity).double()
    ref.weight_ih.data, ref.weight_hh.data = to_torch(cell.W_ih.numpy().T), to_torch(cell.W_hh.numpy().T)
    if bias:
        ref.bias_ih.data, ref.bias_hh.data = to_torch(cell.bias_ih.numpy()), to_torch(cell.bias_hh.numpy())
    x, h = random((3, 4), 0), random((3, 5), 1)
    out = cell(ndl.Tensor(x, dtype="float64"), ndl.Tensor(h, dtype="float64") if with_h else None)
    expected = ref(to_torch(x), to_torch(h) if with_h else None)
    assert_close(out, expected)
    out.sum().backward()
    expected.sum().backward()
    assert_close(cell.W_ih.grad, ref.weight_ih.grad.T)
    assert cell.W_hh.grad is not None, "W_hh.grad is None: compute h @ W_hh with zeros for h=None"
    assert_close(cell.W_hh.grad, ref.weight_hh.grad.T)  # zeros when h is None, as in PyTorch


@needs_torch
@pytest.mark.parametrize("num_layers,with_h", [(1, True), (2, True), (2, False)])
def test_rnn_matches_torch(num_layers, with_h):
    rnn = ndl.nn.RNN(3, 4, num_layers, dtype="float64")
    ref = torch.nn.RNN(3, 4, num_layers).double()
    copy_to_torch(rnn.rnn_cells, ref)
    x, h0 = random((6, 2, 3), 0), random((num_layers, 2, 4), 1)
    xn = ndl.Tensor(x, dtype="float64", requires_grad=True)
    xt = to_torch(x, requires_grad=True)
    out, h_n = rnn(xn, ndl.Tensor(h0, dtype="float64") if with_h else None)
    expected, expected_h = ref(xt, to_torch(h0) if with_h else None)
    assert out.shape == (6, 2, 4) and h_n.shape == (num_layers, 2, 4)
    assert_close(out, expected)
    assert_close(h_n, expected_h)
    (out * ndl.Tensor(random(out.shape, 2), dtype="float64")).sum().backward()
    (expected * to_torch(random(out.shape, 2))).sum().backward()
    assert_close(xn.grad, xt.grad)
    assert_close(rnn.rnn_cells[0].W_hh.grad, ref.weight_hh_l0.grad.T)


@pytest.mark.parametrize("module", ["RNN", "LSTM"])
def test_a_length_one_sequence_without_a_state_gives_W_hh_a_zero_gradient(module):
    """With ``h0=None`` on a one-step sequence ``W_hh`` meets only zeros: PyTorch still gives it a
    zero gradient, so an optimiser step (which reads every parameter's ``grad``) must work."""
    model = getattr(ndl.nn, module)(3, 4, dtype="float64")
    output, _ = model(ndl.Tensor(random((1, 2, 3), 0), dtype="float64"))
    output.sum().backward()
    cell = model.rnn_cells[0] if module == "RNN" else model.lstm_cells[0]
    for name in ("W_ih", "W_hh"):
        assert getattr(cell, name).grad is not None, f"{module}: {name}.grad is None after backward"
    np.testing.assert_array_equal(cell.W_hh.grad.numpy(), np.zeros(cell.W_hh.shape))
    assert np.abs(cell.W_ih.grad.numpy()).sum() > 0
    ndl.optim.SGD(model.parameters(), lr=0.1).step()


@needs_torch
@pytest.mark.parametrize("with_h", [True, False])
def test_lstm_cell_matches_torch(with_h):
    cell = ndl.nn.LSTMCell(4, 3, dtype="float64")
    ref = torch.nn.LSTMCell(4, 3).double()
    ref.weight_ih.data, ref.weight_hh.data = to_torch(cell.W_ih.numpy().T), to_torch(cell.W_hh.numpy().T)
    ref.bias_ih.data, ref.bias_hh.data = to_torch(cell.bias_ih.numpy()), to_torch(cell.bias_hh.numpy())
    x, h, c = random((2, 4), 0), random((2, 3), 1), random((2, 3), 2)
    state = (ndl.Tensor(h, dtype="float64"), ndl.Tensor(c, dtype="float64")) if with_h else None
    h1, c1 = cell(ndl.Tensor(x, dtype="float64"), state)
    eh, ec = ref(to_torch(x), (to_torch(h), to_torch(c)) if with_h else None)
    assert_close(h1, eh)
    assert_close(c1, ec)
    (h1 + c1 * 2.0).sum().backward()
    (eh + ec * 2.0).sum().backward()
    assert_close(cell.W_ih.grad, ref.weight_ih.grad.T)
    assert_close(cell.bias_hh.grad, ref.bias_hh.grad)


@needs_torch
@pytest.mark.parametrize("num_layers,with_h", [(1, True), (2, True), (2, False)])
def test_lstm_matches_torch(num_layers, with_h):
    lstm = ndl.nn.LSTM(3, 5, num_layers, dtype="float64")
    ref = torch.nn.LSTM(3, 5, num_layers).double()
    copy_to_torch(lstm.lstm_cells, ref)
    x, h0, c0 = random((7, 2, 3), 0), random((num_layers, 2, 5), 1), random((num_layers, 2, 5), 2)
    xn = ndl.Tensor(x, dtype="float64", requires_grad=True)
    xt = to_torch(x, requires_grad=True)
    state = (ndl.Tensor(h0, dtype="float64"), ndl.Tensor(c0, dtype="float64")) if with_h else None
    out, (h_n, c_n) = lstm(xn, state)
    expected, (eh, ec) = ref(xt, (to_torch(h0), to_torch(c0)) if with_h else None)
    assert out.shape == (7, 2, 5) and h_n.shape == c_n.shape == (num_layers, 2, 5)
    assert_close(out, expected)
    assert_close(h_n, eh)
    assert_close(c_n, ec)
    g = random(out.shape, 3)
    ((out * ndl.Tensor(g, dtype="float64")).sum() + c_n.sum()).backward()
    ((expected * to_torch(g)).sum() + ec.sum()).backward()
    assert_close(xn.grad, xt.grad)
    for layer, cell in enumerate(lstm.lstm_cells):
        assert_close(cell.W_ih.grad, getattr(ref, f"weight_ih_l{layer}").grad.T)
        assert_close(cell.W_hh.grad, getattr(ref, f"weight_hh_l{layer}").grad.T)
        assert_close(cell.bias_ih.grad, getattr(ref, f"bias_ih_l{layer}").grad)


def test_lstm_gradients_by_central_differences():
    lstm = ndl.nn.LSTM(2, 3, 2, dtype="float64")
    x = random((4, 2, 2))
    weights = random((4, 2, 3), 1)

    def loss_of(x_values):
        out, _ = lstm(ndl.Tensor(x_values, dtype="float64"))
        return float(np.sum(out.numpy() * weights))

    xn = ndl.Tensor(x, dtype="float64", requires_grad=True)
    out, _ = lstm(xn)
    (out * ndl.Tensor(weights, dtype="float64")).sum().backward()
    np.testing.assert_allclose(xn.grad.numpy(), numerical_gradient(loss_of, x), rtol=1e-6, atol=1e-8)


def test_parameter_counts_and_init_ranges_follow_torch():
    ndl.manual_seed(0)
    lstm = ndl.nn.LSTM(10, 20, num_layers=2)
    # torch.nn.LSTM(10, 20, 2): 4*20*(10+20) + 4*20*(20+20) weights, 2*4*20 biases per layer
    assert sum(p.numpy().size for p in lstm.parameters()) == 4 * 20 * 30 + 4 * 20 * 40 + 2 * 2 * 80
    rnn = ndl.nn.RNN(10, 20, num_layers=1, bias=False)
    assert sum(p.numpy().size for p in rnn.parameters()) == 20 * 10 + 20 * 20
    w = lstm.lstm_cells[1].W_hh.numpy()
    assert w.shape == (20, 80) and np.abs(w).max() <= 1 / np.sqrt(20)
    assert np.abs(w).max() > 0.9 / np.sqrt(20)
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        ndl.nn.RNNCell(2, 2, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"expected input \(seq_len, batch, 10\)"):
        lstm(ndl.Tensor(random((3, 2, 9))))


def test_embedding_looks_up_rows_and_accumulates_gradients():
    emb = ndl.nn.Embedding(6, 3, dtype="float64")
    ids = np.array([[1, 4], [1, 0], [5, 1]])
    out = emb(ndl.Tensor(ids, dtype="float32"))
    np.testing.assert_array_equal(out.numpy(), emb.weight.numpy()[ids])
    g = random((3, 2, 3))
    out.backward(ndl.Tensor(g, dtype="float64"))
    expected = np.zeros((6, 3))
    np.add.at(expected, ids, g)
    np.testing.assert_allclose(emb.weight.grad.numpy(), expected, rtol=1e-12)
    w = ndl.nn.Embedding(1000, 50).weight.numpy()
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01  # N(0, 1), as torch.nn.Embedding
    with pytest.raises(ValueError, match=r"id 6 is outside 0\.\.5"):
        emb(ndl.Tensor([[6]]))


def test_fused_lstm_gates_op_gradients_by_central_differences():
    pre, c = random((3, 8), 0) * 2, random((3, 2), 1)

    def step(pre_t, c_t):
        h, c_next = ndl.nn.lstm_gates(pre_t, c_t)
        return ndl.stack([h, c_next * 0.5], 0)  # both outputs reach the loss

    check_backward(step, pre, c, device=ndl.cpu())


def test_fused_lstm_gates_recorded_backward_matches_and_differentiates():
    # create_graph=True takes the needle-ops path: same adjoints, and they differentiate again
    pre = ndl.Tensor(random((2, 8), 0), dtype="float64", requires_grad=True)
    c = ndl.Tensor(random((2, 2), 1), dtype="float64", requires_grad=True)
    h, c_next = ndl.nn.lstm_gates(pre, c)
    (h * h + c_next).sum().backward()
    fast = pre.grad.numpy()
    h, c_next = ndl.nn.lstm_gates(pre, c)
    (h * h + c_next).sum().backward(create_graph=True)
    np.testing.assert_allclose(pre.grad.numpy(), fast, rtol=1e-12)
    second = pre.grad.sum()
    second.backward()
    assert pre.grad.shape == (2, 8) and np.all(np.isfinite(pre.grad.numpy()))

    def grad_sum(values):
        p = ndl.Tensor(values, dtype="float64", requires_grad=True)
        hh, cc = ndl.nn.lstm_gates(p, ndl.Tensor(random((2, 2), 1), dtype="float64"))
        (hh * hh + cc).sum().backward()
        return float(p.grad.numpy().sum())

    np.testing.assert_allclose(pre.grad.numpy(), numerical_gradient(grad_sum, random((2, 8), 0)),
                               rtol=1e-5, atol=1e-7)
