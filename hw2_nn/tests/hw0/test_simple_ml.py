"""Public tests for hw0: MNIST parsing, softmax regression and a two-layer net, in NumPy and C++.

References are computed here independently: the loss from its formula, gradients by central
differences (tests/needle_testing.py), and the MNIST sample's facts from its README.
"""
import gzip
import re
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import simple_ml
from gradcheck import numerical_gradient
from simple_ml import (add, loss_err, nn_epoch, parse_mnist, softmax_loss, softmax_regression_epoch,
                       softmax_regression_epoch_cpp)


def reference_loss(Z, y):
    """mean over rows i of LSE(Z[i]) - Z[i, y[i]], in float64 with the max shifted out."""
    Z = np.asarray(Z, dtype=np.float64)
    Z_max = Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(Z - Z_max).sum(axis=1)) + Z_max[:, 0]
    return float(np.mean(lse - Z[np.arange(len(y)), y]))


def small_problem(seed, m=10, n=6, k=4):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, n)), rng.integers(0, k, size=m).astype(np.uint8)


def write_idx(path, magic, dims, payload):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(f">I{len(dims)}I", magic, *dims) + bytes(payload))


def assert_message_contains(error, names=(), numbers=()):
    """The raised error's message contains each name, and each number as a whole number.

    Only the values parse_mnist's docstring promises are checked, never the wording. Numbers
    are looked for with the names taken out, so a digit in a file's path cannot pass for one.
    """
    message = str(error.value)
    for name in names:
        assert str(name) in message, f"the message {message!r} should contain {str(name)!r}"
        message = message.replace(str(name), " ")
    for number in numbers:
        assert re.search(rf"(?<!\d){number}(?!\d)", message), \
            f"the message {str(error.value)!r} should contain the number {number}"


# ---- Question 1: add --------------------------------------------------------------------------

@pytest.mark.question(1)
def test_add_numbers():
    assert add(5, 6) == 11 and type(add(5, 6)) is int
    assert add(3.2, 1.0) == pytest.approx(4.2)
    assert type(add(4.0, 4)) is float


@pytest.mark.question(1)
def test_add_arrays_broadcast():
    column, row = np.arange(3.0).reshape(3, 1), np.array([10.0, 20.0])
    np.testing.assert_array_equal(add(column, row), [[10.0, 20.0], [11.0, 21.0], [12.0, 22.0]])
    np.testing.assert_array_equal(add(np.array([1, 2]), 3), [4, 5])


@pytest.mark.question(1)
def test_add_raises_where_plus_does():
    with pytest.raises(TypeError):
        add(1, "a")


# ---- Question 2: parse_mnist ------------------------------------------------------------------

@pytest.mark.question(2)
def test_parse_mnist_shapes_and_dtypes(mnist_dir):
    X, y = parse_mnist(str(mnist_dir / "train-images-idx3-ubyte.gz"),
                       str(mnist_dir / "train-labels-idx1-ubyte.gz"))
    assert X.dtype == np.float32 and y.dtype == np.uint8
    assert X.shape == (4000, 784) and y.shape == (4000,)
    assert X.min() == 0.0 and X.max() == 1.0


@pytest.mark.question(2)
def test_parse_mnist_values_match_the_raw_bytes(mnist_dir):
    X, y = parse_mnist(str(mnist_dir / "t10k-images-idx3-ubyte.gz"),
                       str(mnist_dir / "t10k-labels-idx1-ubyte.gz"))
    with gzip.open(mnist_dir / "t10k-images-idx3-ubyte.gz") as f:
        pixels = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(1000, 784)
    np.testing.assert_allclose(X, pixels / 255.0, rtol=1e-6)
    # The sample's README: 100 test images of each digit.
    np.testing.assert_array_equal(np.bincount(y, minlength=10), [100] * 10)


@pytest.mark.question(2)
def test_parse_mnist_names_file_and_magic_of_a_wrong_file(mnist_dir):
    labels = str(mnist_dir / "train-labels-idx1-ubyte.gz")
    with pytest.raises(ValueError) as error:
        parse_mnist(labels, labels)  # a label file where the images belong
    assert_message_contains(error, names=[labels], numbers=[2049, 2051])  # read, expected


@pytest.mark.question(2)
def test_parse_mnist_rejects_a_truncated_file(tmp_path):
    images, labels = tmp_path / "images.gz", tmp_path / "labels.gz"
    write_idx(images, 2051, (10, 28, 28), np.zeros(5 * 784, dtype=np.uint8))
    write_idx(labels, 2049, (10,), np.zeros(10, dtype=np.uint8))
    with pytest.raises(ValueError) as error:
        parse_mnist(str(images), str(labels))
    assert_message_contains(error, names=[images], numbers=[5 * 784, 10 * 784])  # found, announced


@pytest.mark.question(2)
def test_parse_mnist_rejects_mismatched_counts(tmp_path):
    images, labels = tmp_path / "images.gz", tmp_path / "labels.gz"
    write_idx(images, 2051, (3, 2, 2), np.arange(12, dtype=np.uint8))
    write_idx(labels, 2049, (4,), np.zeros(4, dtype=np.uint8))
    with pytest.raises(ValueError) as error:
        parse_mnist(str(images), str(labels))
    assert_message_contains(error, names=[images, labels], numbers=[3, 4])


@pytest.mark.question(2)
def test_parse_mnist_tiny_file_exactly(tmp_path):
    images, labels = tmp_path / "images.gz", tmp_path / "labels.gz"
    write_idx(images, 2051, (2, 1, 3), [0, 51, 255, 102, 0, 204])
    write_idx(labels, 2049, (2,), [7, 3])
    X, y = parse_mnist(str(images), str(labels))
    np.testing.assert_allclose(X, [[0.0, 0.2, 1.0], [0.4, 0.0, 0.8]], rtol=1e-6)
    np.testing.assert_array_equal(y, [7, 3])


# ---- Question 3: softmax_loss -----------------------------------------------------------------

@pytest.mark.question(3)
def test_softmax_loss_matches_the_formula():
    rng = np.random.default_rng(2)
    Z, y = rng.standard_normal((50, 10)).astype(np.float32), rng.integers(0, 10, 50)
    np.testing.assert_allclose(softmax_loss(Z, y), reference_loss(Z, y), rtol=1e-5)


@pytest.mark.question(3)
def test_softmax_loss_of_equal_logits_is_log_k():
    np.testing.assert_allclose(softmax_loss(np.zeros((7, 10)), np.arange(7)), np.log(10), rtol=1e-6)


@pytest.mark.question(3)
def test_softmax_loss_is_stable_for_large_logits():
    rng = np.random.default_rng(3)
    Z, y = rng.standard_normal((20, 5)), rng.integers(0, 5, 20)
    loss = softmax_loss(Z + 1000.0, y)
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, reference_loss(Z, y), rtol=1e-6)


@pytest.mark.question(3)
@given(Z=arrays(np.float64, (6, 4), elements=st.floats(-20, 20)),
       y=arrays(np.int64, (6,), elements=st.integers(0, 3)),
       shift=st.floats(-50, 50))
def test_softmax_loss_properties(Z, y, shift):
    loss = softmax_loss(Z, y)
    assert loss >= -1e-9  # a probability's negative log
    np.testing.assert_allclose(softmax_loss(Z + shift, y), loss, rtol=1e-6, atol=1e-6)


def test_softmax_loss_names_a_bad_label():
    with pytest.raises(ValueError, match="label 10 is outside 0..9"):
        softmax_loss(np.zeros((2, 10)), np.array([3, 10]))


# ---- Questions 3 and 5: softmax_regression_epoch in NumPy and in C++ --------------------------

# The same tests check both: NumPy's in float64 (question 4), C++'s in float32 (question 6).
SOFTMAX_EPOCHS = [
    pytest.param(softmax_regression_epoch, np.float64, 1e-6, marks=pytest.mark.question(4), id="numpy"),
    pytest.param(softmax_regression_epoch_cpp, np.float32, 1e-4, marks=pytest.mark.question(6), id="cpp"),
]


@pytest.mark.parametrize("epoch, dtype, rtol", SOFTMAX_EPOCHS)
def test_softmax_regression_one_batch_is_one_gradient_step(epoch, dtype, rtol):
    X, y = small_problem(0)
    X = X.astype(dtype)
    theta = np.random.default_rng(1).standard_normal((6, 4)).astype(dtype)
    expected = theta - 0.3 * numerical_gradient(lambda t: reference_loss(X @ t, y), theta)
    epoch(X, y, theta, lr=0.3, batch=10)
    np.testing.assert_allclose(theta, expected, rtol=rtol, atol=rtol / 10)


@pytest.mark.parametrize("epoch, dtype, rtol", SOFTMAX_EPOCHS)
def test_softmax_regression_batches_run_in_order_with_a_short_last_batch(epoch, dtype, rtol):
    X, y = small_problem(4, m=10)
    X = X.astype(dtype)
    theta = np.zeros((6, 4), dtype=dtype)
    expected = np.zeros((6, 4))
    for rows in (slice(0, 4), slice(4, 8), slice(8, 10)):  # batch 4: the last one holds 2 rows
        expected -= 0.5 * numerical_gradient(lambda t: reference_loss(X[rows] @ t, y[rows]), expected)
    epoch(X, y, theta, lr=0.5, batch=4)
    np.testing.assert_allclose(theta, expected, rtol=rtol, atol=rtol / 10)


@pytest.mark.slow
@pytest.mark.timeout(600)  # a training run: minutes on a slow machine
@pytest.mark.parametrize("cpp", [pytest.param(False, marks=pytest.mark.question(4), id="numpy"),
                                 pytest.param(True, marks=pytest.mark.question(6), id="cpp")])
def test_softmax_regression_reaches_12_percent_on_mnist_sample(cpp):
    X_tr, y_tr, X_te, y_te = simple_ml.load_mnist_sample()
    theta = simple_ml.train_softmax(X_tr, y_tr, X_te, y_te, epochs=10, lr=0.2, batch=100, cpp=cpp)
    assert loss_err(X_te @ theta, y_te)[1] <= 0.12


def test_softmax_regression_names_a_bad_label():
    X, y = small_problem(0)
    y[3] = 4
    with pytest.raises(ValueError, match="label 4 is outside 0..3"):
        softmax_regression_epoch(X, y, np.zeros((6, 4)))


# ---- Question 5: nn_epoch ---------------------------------------------------------------------

@pytest.mark.question(5)
def test_nn_epoch_one_batch_is_one_gradient_step():
    X, y = small_problem(5)
    rng = np.random.default_rng(6)
    W1, W2 = rng.standard_normal((6, 8)), rng.standard_normal((8, 4))
    grad_W1 = numerical_gradient(lambda w: reference_loss(np.maximum(X @ w, 0) @ W2, y), W1)
    grad_W2 = numerical_gradient(lambda w: reference_loss(np.maximum(X @ W1, 0) @ w, y), W2)
    expected_W1, expected_W2 = W1 - 0.2 * grad_W1, W2 - 0.2 * grad_W2
    nn_epoch(X, y, W1, W2, lr=0.2, batch=10)
    np.testing.assert_allclose(W1, expected_W1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(W2, expected_W2, rtol=1e-5, atol=1e-6)


@pytest.mark.question(5)
@pytest.mark.slow
@pytest.mark.timeout(600)  # a training run: minutes on a slow machine
def test_two_layer_net_reaches_7_percent_on_mnist_sample():
    X_tr, y_tr, X_te, y_te = simple_ml.load_mnist_sample()
    W1, W2 = simple_ml.train_nn(X_tr, y_tr, X_te, y_te, hidden_dim=400, epochs=20, lr=0.2)
    assert loss_err(np.maximum(X_te @ W1, 0) @ W2, y_te)[1] <= 0.07


# ---- Question 6: the C++ wrapper's given argument checks -------------------------------------

@pytest.mark.parametrize("field, make, message", [
    ("X", lambda X, y, t: (X.astype(np.float64), y, t), "X must have dtype float32"),
    ("y", lambda X, y, t: (X, y.astype(np.int64), t), "y must have dtype uint8"),
    ("theta", lambda X, y, t: (X, y, np.asfortranarray(t)), "theta must be C-contiguous"),
    ("theta", lambda X, y, t: (X, y, t[:5]), r"theta has shape \(5, 4\) but X has 6 columns"),
    ("y", lambda X, y, t: (X, np.full_like(y, 4), t), "label 4 is outside 0..3"),
])
def test_cpp_rejects_bad_input_without_touching_theta(field, make, message):
    X, y = small_problem(0)
    X, theta = X.astype(np.float32), np.ones((6, 4), dtype=np.float32)
    X, y, theta_arg = make(X, y, theta)
    before = np.array(theta_arg, copy=True)
    with pytest.raises(ValueError, match=message):
        softmax_regression_epoch_cpp(X, y, theta_arg, lr=0.1, batch=5)
    np.testing.assert_array_equal(theta_arg, before)
