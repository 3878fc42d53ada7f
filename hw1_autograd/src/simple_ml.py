"""hw0: machine learning with NumPy alone: read MNIST, softmax regression, a two-layer net.

Everything here works on NumPy arrays. ``X`` is float32 of shape ``(m, n)`` (m examples of n
features), ``y`` holds integer class labels of shape ``(m,)``, and ``k`` is the number of classes.
The formulas follow the course notation (docs/notation.md): a minibatch is ``X`` of shape
``(B, n)``, ``I_y`` the one-hot rows of its labels, and ``*`` between arrays is elementwise (the
maths' Hadamard product); indices in code font (``Z[i, y[i]]``) count from 0, as NumPy does.
"""
from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

try:  # the C++ extension is built by `make`; a missing build only disables the _cpp variant
    from simple_ml_ext import softmax_regression_epoch_cpp
except ImportError as error:  # pragma: no cover - reported when the function is called
    _EXT_ERROR = error

    def softmax_regression_epoch_cpp(*args, **kwargs):
        """Placeholder for the C++ extension, which has not been built."""
        raise ImportError(f"simple_ml_ext is not built ({_EXT_ERROR}); run `make` in this "
                          f"homework's folder first")

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension


def add(x, y):
    """A warm-up: return ``x + y``.

    Whatever ``+`` means for the two: the sum of two numbers (``add(5, 6) == 11``, an int for two
    ints and a float when either is a float), and for NumPy arrays the elementwise sum with
    NumPy's broadcasting (shapes ``(3, 1)`` and ``(2,)`` give ``(3, 2)``).

    Raises:
        TypeError: where ``x + y`` does (``add(1, "a")``).
    """
    # TODO (hw0, question 1): implement add (Warm-up: add)
    raise NotImplementedError("add: hw0")


def default_data_dir() -> Path:
    """The folder that holds ``mnist/``: ``$NEEDLE_DATA_DIR``, else the nearest ``data/``
    above this file that contains the MNIST sample.

    Raises:
        FileNotFoundError: if neither exists.
    """
    if os.environ.get("NEEDLE_DATA_DIR"):
        return Path(os.environ["NEEDLE_DATA_DIR"])
    for parent in Path(__file__).resolve().parents:
        if (parent / "data" / "mnist" / "train-images-idx3-ubyte.gz").exists():
            return parent / "data"
    raise FileNotFoundError("no data/mnist folder above this homework: set NEEDLE_DATA_DIR to the "
                            "folder that holds mnist/")


def load_mnist_sample(data_dir: Path | None = None) -> tuple[np.ndarray, ...]:
    """``(X_train, y_train, X_test, y_test)`` of the MNIST files in ``data_dir / "mnist"``."""
    mnist = Path(data_dir or default_data_dir()) / "mnist"
    X_train, y_train = parse_mnist(str(mnist / "train-images-idx3-ubyte.gz"),
                                   str(mnist / "train-labels-idx1-ubyte.gz"))
    X_test, y_test = parse_mnist(str(mnist / "t10k-images-idx3-ubyte.gz"),
                                 str(mnist / "t10k-labels-idx1-ubyte.gz"))
    return X_train, y_train, X_test, y_test


def parse_mnist(image_filename: str, label_filename: str) -> tuple[np.ndarray, np.ndarray]:
    """Read an MNIST image file and label file in IDX format, gzip-compressed.

    IDX (http://yann.lecun.com/exdb/mnist/): a big-endian uint32 magic number (2051 for
    images, 2049 for labels), one big-endian uint32 per dimension, then the data as unsigned
    bytes in row-major order.

    Args:
        image_filename: gzipped IDX file of images, shape ``(m, rows, cols)``.
        label_filename: gzipped IDX file of labels, shape ``(m,)``.

    Returns:
        ``X``: float32 array of shape ``(m, rows * cols)``, grey levels scaled to [0.0, 1.0]
        (pixel / 255). ``y``: uint8 array of shape ``(m,)``, the labels.

    Raises:
        ValueError: in each of these cases, with a message that contains the values listed
            (file names exactly as passed; the wording is yours):

            - a file's magic number is not the one its kind needs: the file name, the number
              read and the number expected (e.g. a label file passed as the images: 2049 and
              2051);
            - a file holds fewer data bytes after its header than the header's dimensions
              announce: the file name, the number of data bytes found and the number announced
              (the product of the dimensions);
            - the two files hold different numbers of examples: both file names, the number of
              images and the number of labels.
    """
    # TODO (hw0, question 2): implement parse_mnist (Loading MNIST)
    raise NotImplementedError("parse_mnist: hw0")


def check_labels(y: np.ndarray, num_classes: int) -> None:
    """Raise ValueError naming the first label of ``y`` outside ``0..num_classes-1``."""
    y = np.asarray(y)
    bad = y[(y < 0) | (y >= num_classes)]
    if bad.size:
        raise ValueError(f"label {bad.flat[0]} is outside 0..{num_classes - 1} "
                         f"({num_classes} classes)")


def softmax_loss(Z: np.ndarray, y: np.ndarray) -> float:
    """Average softmax (cross-entropy) loss over a batch.

    ``loss = mean_i [ log sum_j exp(Z[i, j]) - Z[i, y[i]] ]``, the mean over the ``B`` rows of
    ``LSE(z) - z_y`` (Goodfellow et al., *Deep Learning*, section 6.2.2.3). Must stay finite for
    large logits (e.g. ``Z = 1000``).

    Args:
        Z: logits, float array of shape ``(B, k)``.
        y: true labels, integer array of shape ``(B,)``, each in ``0..k-1``.

    Returns:
        The average loss, a Python or NumPy float.

    Raises:
        ValueError: if a label is outside ``0..k-1``.
    """
    check_labels(y, Z.shape[1])
    # TODO (hw0, question 3): implement softmax_loss (Softmax loss)
    raise NotImplementedError("softmax_loss: hw0")


def softmax_regression_epoch(X: np.ndarray, y: np.ndarray, theta: np.ndarray,
                             lr: float = 0.1, batch: int = 100) -> None:
    """One epoch of minibatch SGD for softmax regression, updating ``theta`` in place.

    Minibatches are consecutive rows ``X[s:s + batch]``, in order (the last may be smaller).
    For each, written ``X`` ``(B, n)`` with labels ``y`` ``(B,)`` as in the course notation:
    ``theta -= lr / B * X^T (softmax(X theta) - I_y)``, where ``I_y`` ``(B, k)`` holds the
    one-hot rows of the batch's labels: minibatch SGD on the gradient of ``softmax_loss``.

    Args:
        X: float32 array ``(m, n)``.
        y: integer labels ``(m,)`` in ``0..k-1``.
        theta: float32 parameters ``(n, k)``, modified in place.
        lr: learning rate.
        batch: minibatch size.

    Raises:
        ValueError: if a label is outside ``0..k-1``.
    """
    check_labels(y, theta.shape[1])
    # TODO (hw0, question 4): implement softmax_regression_epoch (Softmax regression by SGD)
    raise NotImplementedError("softmax_regression_epoch: hw0")


def nn_epoch(X: np.ndarray, y: np.ndarray, W1: np.ndarray, W2: np.ndarray,
             lr: float = 0.1, batch: int = 100) -> None:
    """One epoch of minibatch SGD for the two-layer net ``logits = ReLU(X W1) W2``, in place.

    Minibatches as in ``softmax_regression_epoch``. For each, ``X`` ``(B, n)``, with
    ``Z1 = ReLU(X W1)`` ``(B, hidden_dim)``, ``G2 = softmax(Z1 W2) - I_y`` ``(B, k)`` and
    ``G1 = (Z1 > 0) * (G2 W2^T)`` ``(B, hidden_dim)``: ``W1 -= lr / B * X^T G1`` and
    ``W2 -= lr / B * Z1^T G2``, both from the weights before the step (backpropagation by
    hand: ``G2 / B`` and ``G1 / B`` are the adjoints of the logits and of ``X W1``).

    Args:
        X: float32 array ``(m, n)``.
        y: integer labels ``(m,)`` in ``0..k-1``.
        W1: float32 ``(n, hidden_dim)``, modified in place.
        W2: float32 ``(hidden_dim, k)``, modified in place.
        lr: learning rate.
        batch: minibatch size.

    Raises:
        ValueError: if a label is outside ``0..k-1``.
    """
    check_labels(y, W2.shape[1])
    # TODO (hw0, question 5): implement nn_epoch (A two-layer network by SGD)
    raise NotImplementedError("nn_epoch: hw0")


def _softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``Z`` ``(B, k)``, shifted by each row's max for stability."""
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


# ---- given: training loops used by the tests, the notebook and `make demo` -------------------

def loss_err(h: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(softmax loss, error rate)`` of logits ``h`` ``(m, k)`` against labels ``y`` ``(m,)``."""
    return softmax_loss(h, y), float(np.mean(h.argmax(axis=1) != y))


def train_softmax(X_tr, y_tr, X_te, y_te, epochs: int = 10, lr: float = 0.5, batch: int = 100,
                  cpp: bool = False, on_epoch: Callable | None = None) -> np.ndarray:
    """Train softmax regression from zeros; return the final ``theta`` ``(n, k)``.

    ``on_epoch(epoch, train_loss, train_err, test_loss, test_err)`` is called after each epoch.
    """
    theta = np.zeros((X_tr.shape[1], int(y_tr.max()) + 1), dtype=np.float32)
    epoch_fn = softmax_regression_epoch_cpp if cpp else softmax_regression_epoch
    for epoch in range(epochs):
        epoch_fn(X_tr, y_tr, theta, lr=lr, batch=batch)
        if on_epoch:
            on_epoch(epoch, *loss_err(X_tr @ theta, y_tr), *loss_err(X_te @ theta, y_te))
    return theta


def init_two_layer(n: int, hidden_dim: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random float32 weights ``W1`` ``(n, hidden_dim)`` ~ N(0, 1/hidden_dim) and ``W2``
    ``(hidden_dim, k)`` ~ N(0, 1/k), drawn from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    W1 = (rng.standard_normal((n, hidden_dim)) / np.sqrt(hidden_dim)).astype(np.float32)
    W2 = (rng.standard_normal((hidden_dim, k)) / np.sqrt(k)).astype(np.float32)
    return W1, W2


def train_nn(X_tr, y_tr, X_te, y_te, hidden_dim: int = 500, epochs: int = 10, lr: float = 0.5,
             batch: int = 100, seed: int = 0, on_epoch: Callable | None = None):
    """Train the two-layer net from ``init_two_layer``'s weights; return ``(W1, W2)``.

    ``on_epoch`` as in ``train_softmax``.
    """
    W1, W2 = init_two_layer(X_tr.shape[1], hidden_dim, int(y_tr.max()) + 1, seed)
    for epoch in range(epochs):
        nn_epoch(X_tr, y_tr, W1, W2, lr=lr, batch=batch)
        if on_epoch:
            on_epoch(epoch, *loss_err(np.maximum(X_tr @ W1, 0) @ W2, y_tr),
                     *loss_err(np.maximum(X_te @ W1, 0) @ W2, y_te))
    return W1, W2
