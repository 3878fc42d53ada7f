"""The MNIST sample read by the hidden tests themselves (sent to the sandbox with them).

Inputs of a test whose score depends on a bound never come from the student's files (their
``parse_mnist`` or ``load_mnist_sample``): this reader is the grader's. The same file sits in
each homework's hidden folder that needs it.
"""
from __future__ import annotations

import gzip
import os

import numpy as np
import numpy.typing as npt


def _idx(path: str, magic: int, ndim: int) -> npt.NDArray[np.uint8]:
    with gzip.open(path, "rb") as f:
        data = f.read()
    header = np.frombuffer(data[:4 * (ndim + 1)], dtype=">u4")
    if int(header[0]) != magic:
        raise ValueError(f"{os.path.basename(path)}: magic {int(header[0])}, expected {magic}")
    return np.frombuffer(data[4 * (ndim + 1):], dtype=np.uint8).reshape(tuple(int(d) for d in header[1:]))


def mnist(mnist_dir: str, split: str) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """``(X, y)`` of ``split`` ("train" or "t10k"): X float32 ``(m, 784)`` in [0, 1], y uint8 ``(m,)``."""
    images = _idx(os.path.join(mnist_dir, f"{split}-images-idx3-ubyte.gz"), 2051, 3)
    labels = _idx(os.path.join(mnist_dir, f"{split}-labels-idx1-ubyte.gz"), 2049, 1)
    return images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255.0), labels.copy()


def two_layer_init(n: int, hidden_dim: int, k: int,
                   seed: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """The starting weights of the two-layer net (as hw0's ``init_two_layer``, which the student's
    file holds: not called, so a rigged copy cannot start training from trained weights)."""
    rng = np.random.default_rng(seed)
    W1 = (rng.standard_normal((n, hidden_dim)) / np.sqrt(hidden_dim)).astype(np.float32)
    W2 = (rng.standard_normal((hidden_dim, k)) / np.sqrt(k)).astype(np.float32)
    return W1, W2
