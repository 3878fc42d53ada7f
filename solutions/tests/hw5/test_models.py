"""hw5 question 6: ResNet9 and the language models, with their training loops.

Models are checked against PyTorch transcriptions with the same weights (a training step's loss
and gradients), by parameter count, and by training: the LSTM language model must beat an add-one
unigram model (perplexity 302) on the news sample's validation split within two epochs on a CPU.
"""
import math
import re

import needle as ndl
import needle.nn as nn
import numpy as np
import pytest
from apps.models import (
    BatchLosses,
    LanguageModel,
    ResNet9,
    epoch_general_cifar10,
    epoch_general_ptb,
    evaluate_cifar10,
    train_language_model,
)
from needle.checkpoint import load_checkpoint
from needle_testing import assert_grads_close
from test_ops_hw5 import random
from torch_reference import needs_torch, to_torch, torch

pytestmark = pytest.mark.question(6)


def torch_forward(module, x, params):
    """``module``'s forward pass in PyTorch, reading the weights from ``params`` (name -> tensor)."""
    F = torch.nn.functional
    name = {id(m): n for n, m in module._named_modules()}

    def run(m, x):
        p = lambda attr: params[f"{name[id(m)]}.{attr}"] if id(m) in name else params[attr]  # noqa: E731
        if isinstance(m, nn.Sequential):
            for child in m.modules_:
                x = run(child, x)
            return x
        if isinstance(m, nn.Residual):
            return run(m.fn, x) + x
        if isinstance(m, nn.Conv):
            return F.conv2d(x, p("weight").permute(3, 2, 0, 1), p("bias"), stride=m.stride,
                            padding=m.padding)
        if isinstance(m, nn.BatchNorm2d):
            return F.batch_norm(x, None, None, p("weight"), p("bias"), training=True, eps=m.eps)
        if isinstance(m, nn.ReLU):
            return torch.relu(x)
        if isinstance(m, nn.Flatten):
            return x.reshape(x.shape[0], -1)
        if isinstance(m, nn.Linear):
            return x @ p("weight") + p("bias")
        if isinstance(m, ResNet9):
            return run(m.model, x)
        raise TypeError(type(m).__name__)
    return run(module, x)


def test_resnet9_has_cmus_parameter_count_and_output_shape():
    ndl.manual_seed(0)
    model = ResNet9()
    assert sum(p.numpy().size for p in model.parameters()) == 431_946
    assert model(ndl.Tensor(random((2, 3, 32, 32)), dtype="float32")).shape == (2, 10)


@needs_torch
def test_resnet9_training_step_matches_torch():
    ndl.manual_seed(0)
    model = ResNet9(dtype="float64")
    params = {name: to_torch(p.numpy(), requires_grad=True) for name, p in model.named_parameters()}
    x, y = random((4, 3, 32, 32), 1), np.array([3, 0, 9, 3])
    loss = nn.SoftmaxLoss()(model(ndl.Tensor(x, dtype="float64")), ndl.Tensor(y))
    expected = torch.nn.functional.cross_entropy(torch_forward(model, to_torch(x), params),
                                                 torch.tensor(y))
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-9)
    loss.backward()
    expected.backward()
    names, ours = zip(*model.named_parameters(), strict=True)
    assert_grads_close(loss, list(ours), [params[name].grad.numpy() for name in names], rtol=1e-6,
                       atol=1e-9, names=list(names))


def test_epoch_general_cifar10_reports_accuracy_and_loss(tmp_path):
    rng = np.random.default_rng(0)
    ndl.data.write_cifar10_batch(tmp_path / "data_batch_1",
                                 rng.integers(0, 256, (10, 3, 32, 32), dtype=np.uint8),
                                 rng.integers(0, 10, 10))
    dataset = ndl.data.CIFAR10Dataset(tmp_path, train=True)
    ndl.manual_seed(0)
    model = ResNet9()
    acc, loss = evaluate_cifar10(model, ndl.data.DataLoader(dataset, batch_size=4))
    model.eval()
    logits = model(ndl.Tensor(dataset.X)).numpy().astype(np.float64)
    log_probs = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1,
                                keepdims=True)) - logits.max(1, keepdims=True)
    assert acc == pytest.approx(np.mean(logits.argmax(1) == dataset.y))
    assert loss == pytest.approx(-np.mean(log_probs[np.arange(10), dataset.y]), rel=1e-5)
    opt = ndl.optim.SGD(model.parameters(), lr=0.01)
    before = [p.numpy().copy() for p in model.parameters()]
    epoch_general_cifar10(ndl.data.DataLoader(dataset, batch_size=5), model, opt=opt)
    assert model.training and all(not np.array_equal(b, p.numpy())
                                  for b, p in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("seq_model,params", [
    ("rnn", 50 * 8 + (8 * 6 + 6 * 6 + 2 * 6) + (6 * 50 + 50)),
    ("lstm", 50 * 8 + 4 * (8 * 6 + 6 * 6 + 2 * 6) + (6 * 50 + 50)),
    # embeddings; 3 LayerNorms and 4 projections (8 heads of 32); the MLP block; the output layer
    ("transformer", 50 * 8 + 7 * 8 + 3 * 2 * 8 + 4 * 8 * 256 + 2 * 8 + 8 * 6 + 6 + 6 * 8 + 8
     + (8 * 50 + 50))])
def test_language_model_shapes_and_parameter_counts(seq_model, params):
    model = LanguageModel(8, 50, 6, seq_model=seq_model, seq_len=7)
    assert sum(p.numpy().size for p in model.parameters()) == params
    logits, _ = model(ndl.Tensor(np.random.default_rng(0).integers(0, 50, (7, 3))))
    assert logits.shape == (7 * 3, 50)
    with pytest.raises(ValueError, match="seq_model must be"):
        LanguageModel(8, 50, 6, seq_model="gru")


@pytest.mark.parametrize("seq_model", ["rnn", "lstm"])
def test_language_model_gradients_match_central_differences(seq_model):
    """Every parameter's gradient through the whole model, against central differences of the
    loss (``ndl.debug``: on a mismatch the message names the first op whose gradient is wrong,
    or the traversal)."""
    ndl.manual_seed(0)
    model = LanguageModel(3, 7, 4, num_layers=2, seq_model=seq_model, dtype="float64")
    ids = np.random.default_rng(0).integers(0, 7, (4, 2))
    logits, _ = model(ndl.Tensor(ids[:3]))
    loss = nn.SoftmaxLoss()(logits, ndl.Tensor(ids[1:].ravel()))
    ndl.debug.assert_gradients(loss, inputs=model.parameters(), max_entries=4)


@needs_torch
def test_lstm_language_model_training_step_matches_torch():
    ndl.manual_seed(0)
    model = LanguageModel(6, 20, 5, num_layers=2, seq_model="lstm", dtype="float64")
    ref_embedding = torch.nn.Embedding(20, 6).double()
    ref_lstm = torch.nn.LSTM(6, 5, 2).double()
    ref_embedding.weight.data = to_torch(model.embedding.weight.numpy())
    for layer, cell in enumerate(model.seq_model.lstm_cells):
        getattr(ref_lstm, f"weight_ih_l{layer}").data = to_torch(cell.W_ih.numpy().T)
        getattr(ref_lstm, f"weight_hh_l{layer}").data = to_torch(cell.W_hh.numpy().T)
        getattr(ref_lstm, f"bias_ih_l{layer}").data = to_torch(cell.bias_ih.numpy())
        getattr(ref_lstm, f"bias_hh_l{layer}").data = to_torch(cell.bias_hh.numpy())
    W = to_torch(model.linear.weight.numpy(), requires_grad=True)
    b = to_torch(model.linear.bias.numpy(), requires_grad=True)
    batches = ndl.data.batchify(np.random.default_rng(1).integers(0, 20, 90), 3)
    X, y = ndl.data.get_batch(batches, 0, 8)
    logits, _ = model(X)
    loss = nn.SoftmaxLoss()(logits, y)
    out, _ = ref_lstm(ref_embedding(torch.tensor(batches[:8])))
    expected = torch.nn.functional.cross_entropy(out.reshape(24, 5) @ W + b,
                                                 torch.tensor(batches[1:9].ravel()))
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-10)
    loss.backward()
    expected.backward()
    assert_grads_close(loss, [model.embedding.weight, model.seq_model.lstm_cells[1].W_hh],
                       [ref_embedding.weight.grad.numpy(), ref_lstm.weight_hh_l1.grad.numpy().T],
                       rtol=1e-8, atol=1e-12, names=["embedding.weight", "lstm_cells[1].W_hh"])
    assert_grads_close(loss, [model.linear.weight], [W.grad.numpy()], rtol=1e-8, names=["linear.weight"])


def test_epoch_general_ptb_carries_the_state_and_reports_loss_per_token():
    ndl.manual_seed(0)
    model = LanguageModel(4, 12, 5, seq_model="lstm")
    batches = ndl.data.batchify(np.random.default_rng(2).integers(0, 12, 61), 3)  # 20 rows
    acc, loss = epoch_general_ptb(batches, model, seq_len=7)
    # by hand: three windows (7, 7 and 5 rows), the LSTM state passed from one to the next
    model.eval()
    h, total, correct = None, 0.0, 0
    for i in (0, 7, 14):
        X, y = ndl.data.get_batch(batches, i, 7)
        logits, h = model(X, h)
        total += nn.SoftmaxLoss()(logits, y).item() * y.shape[0]
        correct += int(np.sum(logits.numpy().argmax(1) == y.numpy()))
    assert loss == pytest.approx(total / 57, rel=1e-5) and acc == pytest.approx(correct / 57)


@pytest.mark.slow
@pytest.mark.timeout(600)  # a training run: minutes on a slow machine
def test_lstm_language_model_beats_a_unigram_model_on_the_news_sample(tmp_path):
    history = train_language_model(seq_model="lstm", epochs=2, out_dir=tmp_path, progress=False)
    valid = [row["valid perplexity"] for row in history]
    # the add-one unigram model's validation perplexity is 302, an interpolated bigram's 139
    assert valid[-1] < 250, f"validation perplexity by epoch: {valid}"
    assert valid[-1] < valid[0] and math.isfinite(history[-1]["train perplexity"])
    assert (tmp_path / "lm_curves.png").stat().st_size > 10_000
    with np.load(tmp_path / "lm_epoch2.npz") as checkpoint:  # needle.checkpoint's archive
        assert checkpoint["state/model/embedding.weight"].shape == (3430, 128)


@pytest.mark.question(6)
def test_cifar10_command_trains_evaluates_and_saves(tmp_path, capsys):
    from apps.models import main
    rng = np.random.default_rng(3)
    for name, n in (("data_batch_1", 12), ("test_batch", 6)):
        ndl.data.write_cifar10_batch(tmp_path / name, rng.integers(0, 256, (n, 3, 32, 32),
                                                                    dtype=np.uint8),
                                     rng.integers(0, 10, n))
    assert main(["cifar10", "--epochs", "1", "--data", str(tmp_path), "--out",
                 str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "train accuracy" in printed and "test accuracy" in printed
    assert (tmp_path / "out" / "resnet9_curves.png").exists()
    restored = ResNet9()
    assert load_checkpoint(tmp_path / "out" / "resnet9_epoch1.npz", restored) == 1
    assert sum(v.size for k, v in restored.state_dict().items() if "running" not in k) == 431_946


def test_batch_losses_records_each_minibatch_loss_by_epoch():
    recorder = BatchLosses()
    logits, y = random((4, 5), 0), np.array([0, 3, 1, 4])
    expected = np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(4), y])
    for epoch in range(2):
        recorder.next_epoch()
        for _ in range(epoch + 1):
            loss = recorder(ndl.Tensor(logits, dtype="float64"), ndl.Tensor(y))
            np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12)
    assert [len(epoch) for epoch in recorder.values] == [1, 2]
    np.testing.assert_allclose(recorder.values[1], [expected, expected], rtol=1e-12)


# ---- LanguageModel.generate (given code over question 6's forward) -----------------------------

def tiny_language_model(seq_model="lstm", vocab=11, seed=0):
    ndl.manual_seed(seed)
    return LanguageModel(8, vocab, 6, num_layers=2, seq_model=seq_model, seq_len=5)


def greedy_by_hand(model, prompt, steps, window=None):
    """Argmax decoding feeding the whole sequence each step (no state carried)."""
    ids = list(prompt)
    model.eval()
    for _ in range(steps):
        feed = ids[-window:] if window else ids
        logits, _ = model(ndl.Tensor(np.array(feed, dtype=np.float32).reshape(-1, 1)))
        ids.append(int(logits.numpy()[-1].argmax()))
    return ids[len(prompt):]


@pytest.mark.parametrize("seq_model", ["rnn", "lstm", "transformer"])
def test_generate_with_top_k_1_is_greedy_argmax(seq_model):
    model = tiny_language_model(seq_model)
    window = 5 if seq_model == "transformer" else None  # seq_len: the Transformer's context
    expected = greedy_by_hand(model, [3, 1, 4], 9, window)
    assert model.generate([3, 1, 4], 9, top_k=1, seed=0) == expected
    assert model.generate([3, 1, 4], 9, temperature=5.0, top_k=1, seed=1) == expected


def test_generate_is_deterministic_given_a_seed_and_has_the_right_length():
    model = tiny_language_model()
    model.train()
    first = model.generate([2, 7], 12, temperature=1.5, seed=5)
    assert len(first) == 12 and all(isinstance(t, int) and 0 <= t < 11 for t in first)
    assert model.generate([2, 7], 12, temperature=1.5, seed=5) == first
    assert model.generate([2, 7], 12, temperature=1.5, generator=np.random.default_rng(5)) == first
    assert len({tuple(model.generate([2, 7], 12, temperature=1.5, seed=s)) for s in range(6)}) > 1
    assert model.generate([2, 7], 0) == []
    assert model.training  # the mode is restored


def test_generate_samples_from_the_tempered_top_k_distribution():
    model = tiny_language_model(vocab=7)
    model.eval()
    logits, _ = model(ndl.Tensor(np.array([[1.0], [5.0]], dtype=np.float32)))
    last = logits.numpy()[-1].astype(np.float64)
    top3 = np.argsort(-last)[:3]
    p = np.exp((last[top3] - last[top3].max()) / 0.5)
    p /= p.sum()
    rng = np.random.default_rng(0)
    draws = [model.generate([1, 5], 1, temperature=0.5, top_k=3, generator=rng)[0]
             for _ in range(600)]
    assert set(draws) <= set(top3.tolist())
    counts = np.array([draws.count(int(t)) for t in top3])
    # each count within 4.5 binomial standard deviations of its expectation
    assert np.all(np.abs(counts - 600 * p) <= 4.5 * np.sqrt(600 * p * (1 - p)) + 1), (counts, p)


def test_generate_maps_words_through_a_dictionary():
    dictionary = ndl.data.Dictionary()
    for word in ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "<eos>", "."]:
        dictionary.add_word(word)
    model = tiny_language_model()
    ids = model.generate([0, 1], 6, top_k=1)
    words = model.generate(["the", "cat"], 6, top_k=1, dictionary=dictionary)
    assert words == [dictionary.idx2word[i] for i in ids]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(temperature=0.0), ValueError, "temperature must be a number > 0, got 0.0"),
    (dict(temperature=-1), ValueError, "temperature must be a number > 0, got -1"),
    (dict(top_k=0), ValueError, "top_k must be at least 1, got 0"),
    (dict(top_k=2.5), TypeError, "top_k must be an int or None, got 2.5"),
    (dict(max_new_tokens=-1), ValueError, "max_new_tokens must be >= 0, got -1"),
    (dict(prompt=[]), ValueError, "the prompt is empty"),
    (dict(prompt=[3, 11]), ValueError, "token id 11 is outside the vocabulary 0..10"),
    (dict(prompt=["the"]), ValueError, "pass the corpus's dictionary="),
])
def test_generate_rejects_bad_arguments(kwargs, error, match):
    arguments = dict(prompt=[1, 2], max_new_tokens=3) | kwargs
    with pytest.raises(error, match=re.escape(match)):
        tiny_language_model().generate(**arguments)


def test_generate_names_a_word_missing_from_the_dictionary():
    dictionary = ndl.data.Dictionary()
    dictionary.add_word("the")
    with pytest.raises(KeyError, match="'zebra' is not in the dictionary"):
        tiny_language_model().generate(["the", "zebra"], 2, dictionary=dictionary)


def test_ngram_baselines_by_hand_and_on_the_news_sample():
    from apps.models import ngram_perplexities
    from simple_ml import default_data_dir

    train, valid, V = np.array([0, 1, 0, 1, 2]), np.array([0, 1, 2, 2]), 4
    unigram = (np.array([2, 2, 1, 0]) + 1) / (5 + V)
    # bigram counts: (0,1): 2, (1,0): 1, (1,2): 1; c(u) as a previous token: 0: 2, 1: 2, 2: 0
    bigram = [0.7 * 2 / 2 + 0.3 * unigram[1], 0.7 * 1 / 2 + 0.3 * unigram[2], unigram[2]]
    got = ngram_perplexities(train, valid, V)
    assert got["unigram (add-one)"] == pytest.approx(np.exp(-np.mean(np.log(unigram[valid]))))
    assert got["bigram (interpolated 0.7)"] == pytest.approx(np.exp(-np.mean(np.log(bigram))))
    corpus = ndl.data.Corpus(default_data_dir() / "news")
    news = ngram_perplexities(corpus.train, corpus.valid, len(corpus.dictionary))
    assert news == pytest.approx({"unigram (add-one)": 302.117, "bigram (interpolated 0.7)": 139.319},
                                 abs=0.01)
    with pytest.raises(ValueError, match=r"interpolation must be in \[0, 1\), got 1"):
        ngram_perplexities(train, valid, V, interpolation=1)
    with pytest.raises(ValueError, match=r"valid holds ids outside 0\.\.3"):
        ngram_perplexities(train, np.array([0, 4]), V)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda_emu", marks=pytest.mark.slow)])
def test_lm_command_trains_on_the_device_given_and_prints_generated_text(device, tmp_path, capsys,
                                                                        monkeypatch):
    import apps.models
    for split, text in (("train", "the cat sat on the mat\nthe dog sat on the cat\n" * 6),
                        ("valid", "the cat sat on the mat\n" * 8), ("test", "the dog\n")):
        (tmp_path / f"tiny.{split}.txt").write_text(text)
    seen = []

    def spy(model, *args, **kwargs):  # the devices train_ptb is given
        seen.append((kwargs["device"], {p.device for p in model.parameters()}))
        return train_ptb(model, *args, **kwargs)
    train_ptb = apps.models.train_ptb
    monkeypatch.setattr(apps.models, "train_ptb", spy)
    assert apps.models.main(["lm", "--epochs", "1", "--data", str(tmp_path), "--out",
                             str(tmp_path / "out"), "--device", device]) == 0
    expected = ndl.cpu() if device == "cpu" else ndl.cuda(emulate=True)
    assert seen == [(expected, {expected})]
    printed = capsys.readouterr().out
    assert "baselines on the valid split: unigram (add-one)" in printed
    greedy = next(line for line in printed.splitlines() if line.strip().startswith("greedy:"))
    assert greedy.split("[")[0].split(":")[1].split() == ["the", "cat", "sat"]  # the valid split's start
    assert len(greedy.split("[")[1].rstrip("]").split()) == 25
    assert (tmp_path / "out" / "lm_curves.png").exists()
