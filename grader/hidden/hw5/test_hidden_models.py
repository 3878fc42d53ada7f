"""Hidden tests for hw5: other shapes, strides and settings than the public tests, values returned.

Weights are never drawn from needle's generator here: each test sets every parameter it uses from
a NumPy generator of its own, by name, so the values cannot depend on the order in which a
submission draws random numbers.
"""
import numpy as np
import pytest


def _rand(seed, *shape, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def _tensor(array, dtype="float64", requires_grad=False):
    import needle as ndl
    return ndl.Tensor(np.asarray(array), dtype=dtype, requires_grad=requires_grad)


def _set(param, seed, scale=0.3):
    """Overwrite a Parameter with fixed values of its shape and dtype."""
    param.data = _tensor(_rand(seed, *param.shape, scale=scale), dtype=param.dtype)


def _weighted_backward(out, seed):
    (out * _tensor(_rand(seed, *out.shape), dtype=out.dtype)).sum().backward()


# ---- Question 1: new ops (15 points) -------------------------------------------------------------

@pytest.mark.question(1)
@pytest.mark.points(4)
def test_tanh_sigmoid_values_and_gradients():
    import needle as ndl
    x = _tensor(_rand(1, 4, 3, scale=4), requires_grad=True)
    out = ndl.tanh(x) * ndl.sigmoid(x * 2.0) + ndl.sigmoid(-x)
    _weighted_backward(out, 2)
    return {"out": out.numpy(), "grad": x.grad.numpy()}


@pytest.mark.question(1)
@pytest.mark.points(4)
def test_stack_split_values_and_gradients():
    import needle as ndl
    x = _tensor(_rand(3, 2, 5, 3), requires_grad=True)
    parts = ndl.split(x, 1)
    mixed = ndl.stack([parts[4], parts[0] * parts[2], parts[4]], axis=2)
    _weighted_backward(mixed, 4)
    return {"out": mixed.numpy(), "grad": x.grad.numpy(), "count": np.array([len(parts)])}


@pytest.mark.question(1)
@pytest.mark.points(7)
def test_flip_dilate_undilate_getitem_values_and_gradients():
    import needle as ndl
    x = _tensor(_rand(5, 3, 4, 5), requires_grad=True)
    a = ndl.flip(x, (0, 2))
    b = ndl.dilate(x, (1,), 2)
    c = ndl.undilate(x, (2,), 1)
    d = x[1:, ::-2, 3]
    total = (a * _tensor(_rand(6, 3, 4, 5))).sum() + (b * _tensor(_rand(7, 3, 12, 5))).sum() \
        + (c * _tensor(_rand(8, 3, 4, 3))).sum() + (d * _tensor(_rand(9, 2, 2))).sum()
    total.backward()
    return {"flip": a.numpy(), "dilate": b.numpy(), "undilate": c.numpy(), "getitem": d.numpy(),
            "grad": x.grad.numpy()}


# ---- Question 2: convolution (15 points) ---------------------------------------------------------

@pytest.mark.question(2)
@pytest.mark.points(6)
def test_conv_op_strides_and_paddings():
    import needle as ndl
    out = {}
    for i, (shape, k, stride, padding) in enumerate([((2, 7, 6, 3), 3, 2, 1), ((1, 9, 9, 2), 5, 3, 2),
                                                      ((2, 5, 5, 4), 2, 1, 0)]):
        x = _tensor(_rand(10 + i, *shape), requires_grad=True)
        w = _tensor(_rand(20 + i, k, k, shape[3], 3), requires_grad=True)
        y = ndl.ops.Conv(stride, padding)(x, w)  # the student's Conv, not conv()'s given fast path
        _weighted_backward(y, 30 + i)
        out.update({f"y{i}": y.numpy(), f"dx{i}": x.grad.numpy(), f"dw{i}": w.grad.numpy()})
    return out


@pytest.mark.question(2)
@pytest.mark.points(5)
def test_conv_module_forward_backward():
    import needle as ndl
    import needle.nn as nn
    conv = nn.Conv(3, 5, 3, stride=2, dtype="float64")
    _set(conv.weight, 40)
    _set(conv.bias, 41)
    x = _tensor(_rand(42, 2, 3, 9, 8), requires_grad=True)
    with ndl.ops.use_fast_paths(False):  # the student's Conv, not the given fast path
        y = conv(x)
        _weighted_backward(y, 43)
    return {"y": y.numpy(), "dx": x.grad.numpy(), "dw": conv.weight.grad.numpy(),
            "db": conv.bias.grad.numpy(), "shape": np.array(conv.weight.shape)}


@pytest.mark.question(2)
@pytest.mark.points(4)
def test_batchnorm2d_train_then_eval():
    import needle.nn as nn
    bn = nn.BatchNorm2d(3, momentum=0.2, dtype="float64")
    _set(bn.weight, 50)
    _set(bn.bias, 51)
    x = _tensor(_rand(52, 4, 3, 3, 5, scale=2) + 1, requires_grad=True)
    y = bn(x)
    _weighted_backward(y, 53)
    bn.eval()
    z = bn(_tensor(_rand(54, 2, 3, 3, 5)))
    return {"y": y.numpy(), "dx": x.grad.numpy(), "dw": bn.weight.grad.numpy(), "eval": z.numpy(),
            "running_var": bn.running_var.numpy()}


# ---- Question 3: recurrent networks (20 points) --------------------------------------------------

def _set_cells(cells, seed):
    for i, cell in enumerate(cells):
        for j, name in enumerate(("W_ih", "W_hh", "bias_ih", "bias_hh")):
            _set(getattr(cell, name), seed + 10 * i + j)


@pytest.mark.question(3)
@pytest.mark.points(6)
def test_rnn_relu_two_layers():
    import needle.nn as nn
    rnn = nn.RNN(3, 4, num_layers=2, nonlinearity="relu", dtype="float64")
    _set_cells(rnn.rnn_cells, 60)
    x = _tensor(_rand(61, 5, 2, 3), requires_grad=True)
    out, h = rnn(x, _tensor(_rand(62, 2, 2, 4)))
    _weighted_backward(out, 63)
    return {"out": out.numpy(), "h": h.numpy(), "dx": x.grad.numpy(),
            "dW_hh1": rnn.rnn_cells[1].W_hh.grad.numpy()}


@pytest.mark.question(3)
@pytest.mark.points(10)
def test_lstm_two_layers_and_cell():
    import needle as ndl
    import needle.nn as nn
    lstm = nn.LSTM(3, 4, num_layers=2, dtype="float64")
    _set_cells(lstm.lstm_cells, 70)
    x = _tensor(_rand(71, 6, 3, 3), requires_grad=True)
    out, (h, c) = lstm(x, (_tensor(_rand(72, 2, 3, 4)), _tensor(_rand(73, 2, 3, 4))))
    loss = (out * _tensor(_rand(74, 6, 3, 4))).sum() + (c * c).sum()
    loss.backward()
    cell = nn.LSTMCell(2, 3, bias=False, dtype="float64")
    _set(cell.W_ih, 75)
    _set(cell.W_hh, 76)
    h1, c1 = cell(_tensor(_rand(77, 4, 2)))
    return {"out": out.numpy(), "h": h.numpy(), "c": c.numpy(), "dx": x.grad.numpy(),
            "dW_ih0": lstm.lstm_cells[0].W_ih.grad.numpy(),
            "dbias_hh1": lstm.lstm_cells[1].bias_hh.grad.numpy(),
            "cell": ndl.stack([h1, c1], 0).numpy(),
            "params": np.array([len(cell.parameters()), len(lstm.parameters())])}


@pytest.mark.question(3)
@pytest.mark.points(4)
def test_embedding_lookup_and_gradient():
    import needle.nn as nn
    emb = nn.Embedding(7, 3, dtype="float64")
    _set(emb.weight, 80, scale=1.0)
    ids = np.array([[6, 0, 6], [2, 2, 1]])
    y = emb(_tensor(ids, dtype="float32"))
    _weighted_backward(y, 81)
    return {"y": y.numpy(), "dw": emb.weight.grad.numpy()}


# ---- Question 4: attention and the Transformer (15 points) ---------------------------------------

def _set_all(module, seed):
    for i, (_, param) in enumerate(sorted(module.named_parameters(), key=lambda item: item[0])):
        _set(param, seed + i)


@pytest.mark.question(4)
@pytest.mark.points(5)
def test_multi_head_attention_causal_cross_lengths():
    import needle.nn as nn
    q = _tensor(_rand(90, 2, 2, 3, 4), requires_grad=True)
    k = _tensor(_rand(91, 2, 2, 5, 4), requires_grad=True)
    v = _tensor(_rand(92, 2, 2, 5, 4), requires_grad=True)
    out, probs = nn.MultiHeadAttention(causal=True, dtype="float64")(q, k, v)
    _weighted_backward(out, 93)
    return {"out": out.numpy(), "probs": probs.numpy(), "dq": q.grad.numpy(), "dk": k.grad.numpy(),
            "dv": v.grad.numpy()}


@pytest.mark.question(4)
@pytest.mark.points(4)
def test_attention_layer_cross_attention():
    import needle.nn as nn
    layer = nn.AttentionLayer(4, 2, 3, k_features=5, v_features=6, out_features=3, causal=False,
                              dtype="float64")
    _set_all(layer, 100)
    q = _tensor(_rand(120, 2, 3, 4), requires_grad=True)
    k = _tensor(_rand(121, 2, 4, 5), requires_grad=True)
    v = _tensor(_rand(122, 2, 4, 6), requires_grad=True)
    y = layer(q, k, v)
    _weighted_backward(y, 123)
    return {"y": y.numpy(), "dq": q.grad.numpy(), "dk": k.grad.numpy(), "dv": v.grad.numpy()}


@pytest.mark.question(4)
@pytest.mark.points(6)
def test_transformer_two_layers():
    import needle.nn as nn
    model = nn.Transformer(6, 10, 2, num_head=3, dim_head=2, dtype="float64", sequence_len=8)
    _set_all(model, 130)
    x = _tensor(_rand(170, 5, 2, 6), requires_grad=True)
    y, _ = model(x)
    _weighted_backward(y, 171)
    return {"y": y.numpy(), "dx": x.grad.numpy(),
            "dpos": model.positional_embedding.weight.grad.numpy()}


# ---- Question 5: data (10 points) ----------------------------------------------------------------

@pytest.mark.question(5)
@pytest.mark.points(4)
def test_cifar10_batches():
    import pickle
    import tempfile
    from pathlib import Path

    import needle as ndl
    folder = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(180)
    for name, n in (("data_batch_2", 3), ("data_batch_1", 2), ("test_batch", 4)):
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         b"labels": [int(v) for v in rng.integers(0, 10, n)]}, f)
    train = ndl.data.CIFAR10Dataset(folder, train=True)
    test = ndl.data.CIFAR10Dataset(folder, train=False)
    return {"train_X": np.stack([train[i][0] for i in range(len(train))]),
            "train_y": np.array([train[i][1] for i in range(len(train))]),
            "test_X": np.stack([test[i][0] for i in range(len(test))]),
            "test_y": np.array([test[i][1] for i in range(len(test))])}


@pytest.mark.question(5)
@pytest.mark.points(6)
def test_corpus_batchify_get_batch():
    import tempfile
    from pathlib import Path

    import needle as ndl
    folder = Path(tempfile.mkdtemp())
    (folder / "x.train.txt").write_text(" the cat sat on the mat \n the dog sat \n a cat ran \n")
    (folder / "x.valid.txt").write_text(" the bird sat \n")
    (folder / "x.test.txt").write_text(" a dog ran on \n the end \n")
    corpus = ndl.data.Corpus(folder)
    short = ndl.data.Corpus(folder, max_lines=1)
    batches = ndl.data.batchify(corpus.train, 3)
    X, y = ndl.data.get_batch(batches, 1, 2)
    X2, y2 = ndl.data.get_batch(batches, 3, 4)
    return {"train": corpus.train, "valid": corpus.valid, "test": corpus.test,
            "vocab": np.array([len(corpus.dictionary), len(short.dictionary), len(short.test)]),
            "batches": batches, "X": X.numpy(), "y": y.numpy(), "X2": X2.numpy(), "y2": y2.numpy()}


# ---- Question 6: ResNet9 and language models (15 points) -----------------------------------------

def _set_layers(model, seed):
    """Set the weights of every Conv, BatchNorm2d and Linear, in the model's order, by name."""
    import needle.nn as nn
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv, nn.BatchNorm2d, nn.Linear))]
    for i, layer in enumerate(layers):
        _set(layer.weight, seed + 2 * i, scale=0.2)
        if getattr(layer, "bias", None) is not None:
            _set(layer.bias, seed + 2 * i + 1, scale=0.2)
    return len(layers)


@pytest.mark.question(6)
@pytest.mark.points(7)
@pytest.mark.timeout(60)
@pytest.mark.tolerance(rtol=1e-6, atol=1e-8)
def test_resnet9_training_step():
    import needle as ndl
    import needle.nn as nn
    from apps.models import ResNet9
    model = ResNet9(dtype="float64")
    layers = _set_layers(model, 200)
    x = _tensor(_rand(260, 3, 3, 32, 32))
    loss = nn.SoftmaxLoss()(model(x), ndl.Tensor(np.array([1, 7, 1])))
    loss.backward()
    # every parameter's gradient norm, ordered by (size, norm): independent of parameter order
    norms = sorted((p.grad.numpy().size, float(np.linalg.norm(p.grad.numpy())))
                   for p in model.parameters())
    model.eval()
    logits = model(x)
    return {"loss": loss.numpy(), "grad_norms": np.array([norm for _, norm in norms]),
            "eval_logits": logits.numpy(),
        "counts": np.array([layers, sum(p.numpy().size for p in model.parameters())])}


@pytest.mark.question(6)
@pytest.mark.points(5)
@pytest.mark.timeout(60)
def test_language_models_forward_backward():
    import needle as ndl
    import needle.nn as nn
    from apps.models import LanguageModel
    out = {}
    ids = np.random.default_rng(270).integers(0, 11, (6, 2))
    for i, seq_model in enumerate(("rnn", "lstm", "transformer")):
        model = LanguageModel(4, 11, 5, num_layers=2, seq_model=seq_model, seq_len=6,
                              dtype="float64")
        _set_all(model, 300 + 100 * i)
        logits, _ = model(ndl.Tensor(ids, dtype="float32"))
        loss = nn.SoftmaxLoss()(logits, ndl.Tensor(np.roll(ids, -1, 0).ravel()))
        loss.backward()
        out[f"{seq_model}_logits"] = logits.numpy()
        out[f"{seq_model}_dembedding"] = model.embedding.weight.grad.numpy()
    return out


@pytest.mark.question(6)
@pytest.mark.points(3)
@pytest.mark.timeout(60)
@pytest.mark.tolerance(rtol=1e-5, atol=1e-7)
def test_epoch_general_ptb_training_and_evaluation():
    import needle as ndl
    from apps.models import LanguageModel, epoch_general_ptb
    model = LanguageModel(3, 9, 4, seq_model="lstm", dtype="float64")
    _set_all(model, 700)
    batches = ndl.data.batchify(np.random.default_rng(710).integers(0, 9, 50), 2)  # 25 rows
    before = epoch_general_ptb(batches, model, seq_len=6, dtype="float64")
    opt = ndl.optim.SGD(model.parameters(), lr=0.5)
    during = epoch_general_ptb(batches, model, seq_len=6, opt=opt, clip=0.25, dtype="float64")
    after = epoch_general_ptb(batches, model, seq_len=6, dtype="float64")
    return {"before": np.array(before), "during": np.array(during), "after": np.array(after)}
