"""hw5 question 4: multi-head attention and the Transformer.

Against a PyTorch transcription of the same equations with the same weights (PyTorch's own
``nn.Transformer`` arranges its weights differently), forward and backward in float64.
"""
import math

import needle as ndl
import numpy as np
import pytest
from test_ops_hw5 import random
from torch_reference import needs_torch, to_torch, torch

pytestmark = pytest.mark.question(4)


def torch_attention(q, k, v, causal):
    D, T, S = q.shape[-1], q.shape[-2], k.shape[-2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(D)
    if causal:
        hidden = torch.triu(torch.ones(T, S, dtype=torch.bool), diagonal=S - T + 1)
        scores = scores.masked_fill(hidden, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return probs @ v, probs


@needs_torch
@pytest.mark.parametrize("causal,T,S", [(False, 5, 7), (True, 6, 6), (True, 3, 5)])
def test_multi_head_attention_matches_torch(causal, T, S):
    q, k, v = random((2, 3, T, 4), 0), random((2, 3, S, 4), 1), random((2, 3, S, 4), 2)
    tensors = [ndl.Tensor(a, dtype="float64", requires_grad=True) for a in (q, k, v)]
    refs = [to_torch(a, requires_grad=True) for a in (q, k, v)]
    out, probs = ndl.nn.MultiHeadAttention(causal=causal, dtype="float64")(*tensors)
    expected, expected_probs = torch_attention(*refs, causal)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(probs.numpy(), expected_probs.detach().numpy(), rtol=1e-9, atol=1e-12)
    g = random(out.shape, 3)
    out.backward(ndl.Tensor(g, dtype="float64"))
    expected.backward(to_torch(g))
    for t, r in zip(tensors, refs, strict=True):
        np.testing.assert_allclose(t.grad.numpy(), r.grad.numpy(), rtol=1e-8, atol=1e-10)


def test_attention_dropout_drops_probabilities_only_in_training():
    ndl.manual_seed(0)
    attn = ndl.nn.MultiHeadAttention(dropout=0.5, causal=True)
    q = ndl.Tensor(random((1, 1, 64, 8)))
    _, probs = attn(q, q, q)
    p = probs.numpy()[0, 0]
    assert 0.3 < np.mean(p[np.tril(np.ones((64, 64), bool))] == 0) < 0.7
    attn.eval()
    _, probs = attn(q, q, q)
    np.testing.assert_allclose(probs.numpy().sum(axis=-1), 1, rtol=1e-5)
    assert np.all(np.triu(probs.numpy()[0, 0], 1) == 0)


def torch_layer_norm(x, layer):
    return torch.nn.functional.layer_norm(x, x.shape[-1:], to_torch(layer.weight.numpy()),
                                          to_torch(layer.bias.numpy()), eps=layer.eps)


def torch_attention_layer(x, layer):
    B, T, _ = x.shape
    H, Dh = layer.num_head, layer.dim_head

    def heads(norm, projection):
        y = torch_layer_norm(x, norm) @ to_torch(projection.weight.numpy())
        return y.reshape(B, T, H, Dh).transpose(1, 2)

    out, _ = torch_attention(heads(layer.prenorm_q, layer.q_projection),
                             heads(layer.prenorm_k, layer.k_projection),
                             heads(layer.prenorm_v, layer.v_projection), layer.attn.causal)
    return out.transpose(1, 2).reshape(B, T, H * Dh) @ to_torch(layer.out_projection.weight.numpy())


def torch_transformer_layer(x, layer):
    x = x + torch_attention_layer(x, layer.attn)
    norm, linear1, _, _, linear2, _ = layer.mlp.modules_
    hidden = torch.relu(torch_layer_norm(x, norm) @ to_torch(linear1.weight.numpy())
                        + to_torch(linear1.bias.numpy()))
    return x + hidden @ to_torch(linear2.weight.numpy()) + to_torch(linear2.bias.numpy())


@needs_torch
@pytest.mark.parametrize("causal", [True, False])
def test_attention_layer_matches_torch(causal):
    layer = ndl.nn.AttentionLayer(6, 2, 3, causal=causal, dtype="float64")
    x = random((2, 5, 6))
    xn, xt = ndl.Tensor(x, dtype="float64", requires_grad=True), to_torch(x, requires_grad=True)
    out, expected = layer(xn), torch_attention_layer(xt, layer)
    assert out.shape == (2, 5, 6)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-9, atol=1e-12)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-8, atol=1e-10)


@needs_torch
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_torch(batch_first):
    ndl.manual_seed(1)
    model = ndl.nn.Transformer(8, 16, 2, num_head=2, dim_head=4, dtype="float64",
                               batch_first=batch_first, sequence_len=10)
    x = random((6, 3, 8))  # (T, B, D)
    xn = ndl.Tensor(x.transpose(1, 0, 2) if batch_first else x, dtype="float64", requires_grad=True)
    out, h = model(xn)
    assert out.shape == xn.shape and h.shape == xn.shape and np.all(h.numpy() == 0)
    xt = to_torch(x, requires_grad=True)
    y = xt.transpose(0, 1) + to_torch(model.positional_embedding.weight.numpy()[:6])
    for layer in model.layers.modules_:
        y = torch_transformer_layer(y, layer)
    expected = y if batch_first else y.transpose(0, 1)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-9, atol=1e-10)
    g = random(out.shape, 5)
    out.backward(ndl.Tensor(g, dtype="float64"))
    expected.backward(to_torch(g))
    grad = xn.grad.numpy().transpose(1, 0, 2) if batch_first else xn.grad.numpy()
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-8, atol=1e-10)


def test_transformer_is_causal_and_checks_its_length():
    ndl.manual_seed(0)
    model = ndl.nn.Transformer(8, 16, 1, num_head=2, dim_head=4, sequence_len=6, dtype="float64")
    x = random((6, 1, 8))
    out, _ = model(ndl.Tensor(x, dtype="float64"))
    x[4:] += 10.0  # a change to the last positions cannot reach the earlier outputs
    changed, _ = model(ndl.Tensor(x, dtype="float64"))
    np.testing.assert_allclose(changed.numpy()[:4], out.numpy()[:4], rtol=1e-12)
    assert not np.allclose(changed.numpy()[4:], out.numpy()[4:])
    with pytest.raises(ValueError, match="length 7 is longer than sequence_len=6"):
        model(ndl.Tensor(random((7, 1, 8))))
    # q, k, v and out projections plus two LayerNorms per attention, the MLP, the positions
    assert sum(p.numpy().size for p in model.parameters()) == (
        3 * (2 * 8 + 8 * 8) + 8 * 8 + (2 * 8 + 8 * 16 + 16 + 16 * 8 + 8) + 6 * 8)
