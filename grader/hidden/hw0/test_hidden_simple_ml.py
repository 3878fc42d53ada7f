"""Hidden tests for hw0: shapes and corners the public tests do not use.

Bounds on MNIST error are judged in the grader from returned logits (``threshold`` markers): these
tests train with the student's epoch functions only, on data and initial weights of their own.
A test that takes ``seed`` draws its inputs from it (a student's own when the course's variants
are on).
"""
import gzip
import os
import struct

import numpy as np
import pytest

from _hidden_mnist import mnist, two_layer_init


def _problem(seed, m, n, k, dtype=np.float32):
    """``m`` samples of ``n`` features and labels in ``[0, k)``; ``seed`` an int or a Generator."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, n)).astype(dtype), rng.integers(0, k, m).astype(np.uint8)


def _write_idx(path, magic, dims, payload):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(f">I{len(dims)}I", magic, *dims) + bytes(payload))


# ---- Question 1: add (5 points) ----------------------------------------------------------------

@pytest.mark.question(1)
@pytest.mark.points(2)
def test_add_numbers():
    from simple_ml import add
    return {"ints": np.array(add(-7, 12)), "floats": np.array(add(0.25, 1e-3)),
            "mixed": np.array(add(3, 0.5))}


@pytest.mark.question(1)
@pytest.mark.points(3)
def test_add_broadcasts_arrays():
    from simple_ml import add
    column = np.arange(3.0).reshape(3, 1)
    return {"sum": np.asarray(add(column, np.array([10.0, 20.0]))),
            "with_scalar": np.asarray(add(np.array([[1.5, -2.0]]), 2))}


# ---- Question 2: parse_mnist (10 points) ------------------------------------------------------

@pytest.mark.question(2)
@pytest.mark.points(4)
def test_parse_mnist_training_split(mnist_dir):
    from simple_ml import parse_mnist
    X, y = parse_mnist(os.path.join(mnist_dir, "train-images-idx3-ubyte.gz"),
                       os.path.join(mnist_dir, "train-labels-idx1-ubyte.gz"))
    return {"shape": X.shape, "is_float32": X.dtype == np.float32, "labels_uint8": y.dtype == np.uint8,
            "row_sums": X[::37].sum(axis=1, dtype=np.float64), "labels": y}


@pytest.mark.question(2)
@pytest.mark.points(3)
def test_parse_mnist_odd_image_size(tmp_dir):
    from simple_ml import parse_mnist
    rng = np.random.default_rng(10)
    pixels = rng.integers(0, 256, 3 * 5 * 2).astype(np.uint8)
    images, labels = os.path.join(tmp_dir, "i.gz"), os.path.join(tmp_dir, "l.gz")
    _write_idx(images, 2051, (3, 5, 2), pixels)
    _write_idx(labels, 2049, (3,), [9, 0, 4])
    X, y = parse_mnist(images, labels)
    return {"X": X, "y": y}


@pytest.mark.question(2)
@pytest.mark.points(3)
def test_parse_mnist_rejects_bad_files(tmp_dir):
    from simple_ml import parse_mnist
    good, swapped = os.path.join(tmp_dir, "good.gz"), os.path.join(tmp_dir, "short.gz")
    _write_idx(good, 2049, (2,), [1, 2])
    _write_idx(swapped, 2051, (4, 2, 2), np.zeros(9, dtype=np.uint8))
    outcomes = []
    for images, labels, needle in ((good, good, "2049"), (swapped, good, "short.gz")):
        try:
            parse_mnist(images, labels)
            outcomes.append(0)
        except ValueError as error:
            outcomes.append(1 + (needle in str(error)))
    return {"outcomes": outcomes}


# ---- Question 3: softmax_loss (10 points) -----------------------------------------------------

@pytest.mark.question(3)
@pytest.mark.points(5)
def test_softmax_loss_values(seed):
    from simple_ml import softmax_loss
    rng = np.random.default_rng(seed)
    losses = [softmax_loss(rng.standard_normal((m, k)) * 4, rng.integers(0, k, m))
              for m, k in ((1, 2), (17, 7), (64, 10))]
    return {"losses": np.array(losses, dtype=np.float64)}


@pytest.mark.question(3)
@pytest.mark.points(5)
def test_softmax_loss_extreme_logits():
    from simple_ml import softmax_loss
    rng = np.random.default_rng(21)
    Z, y = rng.standard_normal((30, 6)), rng.integers(0, 6, 30)
    return {"losses": np.array([softmax_loss(Z + 1e4, y), softmax_loss(Z * 300, y),
                                softmax_loss(Z - 1e4, y)], dtype=np.float64)}


# ---- Question 4: softmax_regression_epoch (20 points) -----------------------------------------

@pytest.mark.question(4)
@pytest.mark.points(12)
def test_softmax_regression_uneven_batches(seed):
    from simple_ml import softmax_regression_epoch
    rng = np.random.default_rng(seed)
    X, y = _problem(rng, 23, 7, 5)
    theta = rng.standard_normal((7, 5)).astype(np.float32) * 0.1
    softmax_regression_epoch(X, y, theta, lr=0.7, batch=5)
    return {"theta": theta}


@pytest.mark.question(4)
@pytest.mark.points(8)
@pytest.mark.timeout(120)
@pytest.mark.threshold("error_rate", predictions="logits", labels="labels", at_most=0.12)
def test_softmax_regression_mnist_error_bound(mnist_dir):
    from simple_ml import softmax_regression_epoch
    X_tr, y_tr = mnist(mnist_dir, "train")
    X_te, y_te = mnist(mnist_dir, "t10k")
    theta = np.zeros((X_tr.shape[1], 10), dtype=np.float32)
    for _ in range(10):
        softmax_regression_epoch(X_tr, y_tr, theta, lr=0.2, batch=50)
    return {"logits": X_te @ np.asarray(theta, dtype=np.float32), "labels": y_te}


# ---- Question 5: nn_epoch (25 points) ---------------------------------------------------------

@pytest.mark.question(5)
@pytest.mark.points(15)
def test_nn_epoch_uneven_batches(seed):
    from simple_ml import nn_epoch
    rng = np.random.default_rng(seed)
    X, y = _problem(rng, 19, 6, 4)
    W1 = rng.standard_normal((6, 9)).astype(np.float32) / 3
    W2 = rng.standard_normal((9, 4)).astype(np.float32) / 3
    nn_epoch(X, y, W1, W2, lr=0.3, batch=6)
    return {"W1": W1, "W2": W2}


@pytest.mark.question(5)
@pytest.mark.points(10)
@pytest.mark.timeout(120)
@pytest.mark.threshold("error_rate", predictions="logits", labels="labels", at_most=0.07)
def test_two_layer_net_mnist_error_bound(mnist_dir):
    from simple_ml import nn_epoch
    X_tr, y_tr = mnist(mnist_dir, "train")
    X_te, y_te = mnist(mnist_dir, "t10k")
    W1, W2 = two_layer_init(X_tr.shape[1], 200, 10, seed=3)
    for _ in range(15):
        nn_epoch(X_tr, y_tr, W1, W2, lr=0.2, batch=100)
    W1, W2 = np.asarray(W1, dtype=np.float32), np.asarray(W2, dtype=np.float32)
    return {"logits": np.maximum(X_te @ W1, 0) @ W2, "labels": y_te}


# ---- Question 6: softmax_regression_epoch_cpp (30 points) ------------------------------------

@pytest.mark.question(6)
@pytest.mark.points(18)
@pytest.mark.tolerance(rtol=1e-4, atol=1e-5)
def test_cpp_uneven_batches():
    from simple_ml import softmax_regression_epoch_cpp
    X, y = _problem(50, 23, 7, 5)
    theta = np.random.default_rng(51).standard_normal((7, 5)).astype(np.float32) * 0.1
    softmax_regression_epoch_cpp(X, y, theta, lr=0.7, batch=5)
    return {"theta": theta}


@pytest.mark.question(6)
@pytest.mark.points(12)
@pytest.mark.tolerance(rtol=1e-3, atol=1e-4)
@pytest.mark.timeout(120)
def test_cpp_matches_a_long_run(mnist_dir):
    from simple_ml import softmax_regression_epoch_cpp
    X_tr, y_tr = mnist(mnist_dir, "train")
    X_tr, y_tr = X_tr[:1000], y_tr[:1000]
    theta = np.zeros((X_tr.shape[1], 10), dtype=np.float32)
    for _ in range(3):
        softmax_regression_epoch_cpp(X_tr, y_tr, theta, lr=0.2, batch=100)
    return {"theta_column_sums": theta.sum(axis=0, dtype=np.float64)}
