"""Bad input to hw5's surface (issue 14): convolution and recurrent module sizes, sequences and
states checked against the configuration, integer ids (fractional or NaN rejected), and
``batchify``/``get_batch`` arguments, each raising a ValueError or TypeError naming the bad value.

A size check runs before any student code, so those cases pass from the start; a case that
needs a module's weights or the backend's arrays carries the question whose code builds them.
"""
import needle as ndl
import needle.nn as nn
import numpy as np
import pytest
from needle.data import batchify, get_batch


def tensor(*shape, seed=0):
    return ndl.Tensor(np.random.default_rng(seed).standard_normal(shape), dtype="float32")


@pytest.mark.parametrize("make,error,match", [
    (lambda: nn.Conv(0, 8, 3), ValueError, "Conv: in_channels must be a positive integer, got 0"),
    (lambda: nn.Conv(3, -8, 3), ValueError, "Conv: out_channels must be a positive integer, got -8"),
    (lambda: nn.Conv(3, 8, 0), ValueError, "Conv: kernel_size must be a positive integer, got 0"),
    (lambda: nn.Conv(3, 8, 3, stride=1.5), TypeError, r"Conv: stride .* got 1\.5"),
    (lambda: nn.BatchNorm2d(0), ValueError, "BatchNorm2d: dim must be a positive integer, got 0"),
    (lambda: nn.RNNCell(0, 4), ValueError, "RNNCell: input_size must be a positive integer, got 0"),
    (lambda: nn.RNN(3, 0), ValueError, "RNN: hidden_size must be a positive integer, got 0"),
    (lambda: nn.RNN(3, 4, num_layers=0), ValueError, "RNN: num_layers must be a positive integer, got 0"),
    (lambda: nn.LSTMCell(3, -1), ValueError, "LSTMCell: hidden_size must be a positive integer, got -1"),
    (lambda: nn.LSTM(3, 4, num_layers=0), ValueError, "LSTM: num_layers must be a positive integer, got 0"),
    (lambda: nn.LSTM(3, 4, num_layers=1.5), TypeError, r"LSTM: num_layers .* got 1\.5"),
    (lambda: nn.Embedding(0, 3), ValueError, "Embedding: num_embeddings must be a positive integer, got 0"),
    (lambda: nn.Embedding(10, -3), ValueError, "Embedding: embedding_dim must be a positive integer, got -3"),
    (lambda: nn.AttentionLayer(0, 2, 4), ValueError,
     "AttentionLayer: q_features must be a positive integer, got 0"),
    (lambda: nn.AttentionLayer(8, 0, 4), ValueError,
     "AttentionLayer: num_head must be a positive integer, got 0"),
    (lambda: nn.AttentionLayer(8, 2, 4, k_features=-1), ValueError, "AttentionLayer: k_features .* got -1"),
    (lambda: nn.AttentionLayer(8, 2, 4.0), TypeError, r"AttentionLayer: dim_head .* got 4\.0"),
    (lambda: nn.TransformerLayer(8, 2, 4, 0), ValueError,
     "TransformerLayer: hidden_size must be a positive integer, got 0"),
    (lambda: nn.Transformer(8, 16, 0), ValueError,
     "Transformer: num_layers must be a positive integer, got 0"),
    (lambda: nn.Transformer(0, 16, 1), ValueError,
     "Transformer: embedding_size must be a positive integer, got 0"),
    (lambda: nn.Transformer(8, 16, 1, num_head=0), ValueError,
     "Transformer: num_head must be a positive integer, got 0"),
    (lambda: nn.Transformer(8, 16, 1, sequence_len=0), ValueError,
     "Transformer: sequence_len must be a positive integer, got 0"),
])
def test_sizes_must_be_positive_integers(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("shape,match", [
    ((0, 3, 2, 2), r"BatchNorm2d\(dim=3\) got input \(0, 3, 2, 2\) in training: expected more than 1 "
                   r"value per channel, got 0"),
    ((1, 3, 1, 1), r"BatchNorm2d\(dim=3\) got input \(1, 3, 1, 1\) in training: .* got 1"),
    ((2, 4, 1, 1), r"BatchNorm2d\(dim=3\) expected input \(N, 3, H, W\), got \(2, 4, 1, 1\)"),
])
@pytest.mark.question(2)
def test_batchnorm2d_checks_its_input(shape, match):
    with pytest.raises(ValueError, match=match):
        nn.BatchNorm2d(3)(tensor(*shape))


@pytest.mark.question(2)
def test_batchnorm2d_trains_on_one_image_of_several_pixels():
    x = tensor(1, 3, 2, 2).numpy()
    out = nn.BatchNorm2d(3)(ndl.Tensor(x)).numpy()
    mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 4, 5, 5), (3, 5, 5)])
@pytest.mark.question(2)
def test_conv_checks_its_input_against_its_channels(shape):
    with pytest.raises(ValueError, match=rf"Conv\(in_channels=3\) expected input \(N, 3, H, W\), "
                                         rf"got \({', '.join(map(str, shape))}\)"):
        nn.Conv(3, 8, 3)(tensor(*shape))


@pytest.mark.parametrize("run,match", [
    (lambda: nn.AttentionLayer(8, 2, 4)(tensor(2, 5, 6)),
     r"AttentionLayer\(q_features=8\) expected q \(B, T, 8\), k \(B, S, 8\) and v \(B, S, 8\), "
     r"got \(2, 5, 6\)"),
    (lambda: nn.AttentionLayer(8, 2, 4)(tensor(2, 5, 8), tensor(2, 4, 8), tensor(2, 3, 8)),
     r"AttentionLayer\(q_features=8\) .* got \(2, 5, 8\), \(2, 4, 8\), \(2, 3, 8\)"),
    (lambda: nn.TransformerLayer(8, 2, 4, 16)(tensor(5, 8)),
     r"TransformerLayer\(q_features=8\) expected input \(B, T, 8\), got \(5, 8\)"),
    (lambda: nn.Transformer(8, 16, 1)(tensor(5, 2, 6)),
     r"Transformer\(embedding_size=8\) expected input \(T, B, 8\), got \(5, 2, 6\)"),
    (lambda: nn.Transformer(8, 16, 1, batch_first=True)(tensor(2, 5)),
     r"Transformer\(embedding_size=8\) expected input \(B, T, 8\), got \(2, 5\)"),
    (lambda: nn.Transformer(8, 16, 1, sequence_len=4)(tensor(5, 2, 8)),
     "Transformer: sequence of length 5 is longer than sequence_len=4"),
])
@pytest.mark.question(4)  # the check runs before your code, but building the modules needs Linear
def test_attention_modules_check_their_input_against_their_configuration(run, match):
    with pytest.raises(ValueError, match=match):
        run()


# ---- sequences and states ---------------------------------------------------------------------

X = (4, 5, 2)  # (seq_len, batch, input_size) for modules of input_size 2, hidden_size 3


@pytest.mark.parametrize("run,match", [
    (lambda: nn.LSTM(2, 3)(tensor(*X), (tensor(1, 5, 4), tensor(1, 5, 3))),
     r"LSTM: expected a state \(num_layers, batch, hidden_size\) = \(1, 5, 3\) for input "
     r"\(4, 5, 2\), got \(1, 5, 4\)"),
    (lambda: nn.LSTM(2, 3)(tensor(*X), (tensor(1, 5, 3), tensor(1, 6, 3))), r"got \(1, 6, 3\)"),
    (lambda: nn.LSTM(2, 3)(tensor(*X), tensor(1, 5, 3)), r"LSTM: expected the state as a pair \(h, c\)"),
    (lambda: nn.LSTM(2, 3)(tensor(0, 5, 2)),
     r"LSTM: expected a sequence of length > 0, got input \(0, 5, 2\)"),
    (lambda: nn.LSTM(2, 3)(tensor(4, 5, 3)), r"LSTM: expected input \(seq_len, batch, 2\), got \(4, 5, 3\)"),
    (lambda: nn.RNN(2, 3)(tensor(*X), tensor(2, 5, 3)),
     r"RNN: expected a state .* = \(1, 5, 3\) .* got \(2, 5, 3\)"),
    (lambda: nn.RNN(2, 3, num_layers=2)(tensor(*X), tensor(1, 5, 3)), r"= \(2, 5, 3\) .* got \(1, 5, 3\)"),
    (lambda: nn.RNN(2, 3)(tensor(0, 5, 2)), r"RNN: expected a sequence of length > 0"),
    (lambda: nn.RNNCell(2, 3)(tensor(5, 2), tensor(5, 4)),
     r"RNNCell: expected a state \(batch, hidden_size\) = \(5, 3\)"),
    (lambda: nn.RNNCell(2, 3)(tensor(5, 3)), r"RNNCell: expected input \(batch, 2\), got \(5, 3\)"),
    (lambda: nn.LSTMCell(2, 3)(tensor(5, 2), (tensor(5, 3), tensor(4, 3))), r"LSTMCell: .* got \(4, 3\)"),
])
@pytest.mark.question(3)
def test_recurrent_modules_check_sequences_and_states(run, match):
    with pytest.raises(ValueError, match=match):
        run()


# ---- integer ids ------------------------------------------------------------------------------

@pytest.mark.parametrize("ids,match", [
    ([[1.7]], r"Embedding: id 1\.7 is not an integer"),
    ([[np.nan]], "Embedding: id nan is not an integer"),
    ([[10.0]], "Embedding: id 10 is outside 0..9"),
    ([[-1.0]], "Embedding: id -1 is outside 0..9"),
])
@pytest.mark.question(3)
def test_embedding_rejects_bad_ids(ids, match):
    with pytest.raises(ValueError, match=match):
        nn.Embedding(10, 3)(ndl.Tensor(np.asarray(ids)))


@pytest.mark.parametrize("ids,match", [([1.7], r"take_rows: id 1\.7 is not an integer"),
                                       ([np.nan, 0], "take_rows: id nan is not an integer")])
def test_take_rows_rejects_fractional_ids(ids, match):  # given code checks the ids
    with pytest.raises(ValueError, match=match):
        ndl.ops.take_rows(tensor(3, 2), np.asarray(ids))


@pytest.mark.question(1)
def test_take_rows_accepts_whole_float_ids():
    table = tensor(3, 2)
    out = ndl.ops.take_rows(table, np.array([[2.0, 0.0]]))
    np.testing.assert_array_equal(out.numpy(), table.numpy()[[[2, 0]]])


# ---- batchify and get_batch -------------------------------------------------------------------

@pytest.mark.parametrize("bptt,error,match", [
    (0, ValueError, "get_batch: bptt must be a positive integer, got 0"),
    (-3, ValueError, "get_batch: bptt must be a positive integer, got -3"),
    (2.5, TypeError, r"get_batch: bptt must be a positive integer, got 2\.5"),
])
def test_get_batch_checks_bptt(bptt, error, match):
    with pytest.raises(error, match=match):
        get_batch(np.arange(20).reshape(10, 2), 0, bptt)


def test_get_batch_checks_the_row():
    with pytest.raises(TypeError, match=r"get_batch: row i must be an integer, got 1\.5"):
        get_batch(np.arange(20).reshape(10, 2), 1.5, 3)


@pytest.mark.parametrize("batch_size,error,match", [
    (0, ValueError, "batchify: batch_size must be a positive integer, got 0"),
    (2.5, TypeError, r"batchify: batch_size must be a positive integer, got 2\.5"),
])
def test_batchify_checks_batch_size(batch_size, error, match):
    with pytest.raises(error, match=match):
        batchify(np.arange(20), batch_size)
