"""hw1: hw0's softmax loss and two-layer net again, now with needle computing the gradients.

hw0's NumPy versions are in src/simple_ml.py.
"""
from __future__ import annotations

from collections.abc import Callable

import needle as ndl
import numpy as np
from simple_ml import check_labels, init_two_layer  # hw0's src/simple_ml.py


def softmax_loss(Z: ndl.Tensor, y_one_hot: ndl.Tensor) -> ndl.Tensor:
    """Average softmax (cross-entropy) loss, built from needle ops so it is differentiable.

    ``loss = mean_i [ log sum_j exp(Z[i, j]) - sum_j Z[i, j] y_one_hot[i, j] ]``.

    Stability: the loss and its gradient must stay finite and accurate for large logits (the
    tests add 1000 or more to every logit, where ``exp`` overflows even in float64, and
    compare with float64 NumPy at ``rtol=1e-9``). Since ``log sum_j exp(z_j) = c +
    log sum_j exp(z_j - c)`` for any constant ``c``, shift each row by its largest logit.
    hw1 has no max op, but the shift needs no gradient (the identity holds for every ``c``):
    compute it from the values (``Z.numpy()``), bring it back as a constant ``ndl.Tensor`` of
    ``Z``'s dtype, and combine it with ``Z`` through ``broadcast_to``, ``reshape``, ``exp``,
    ``log``, ``summation`` and Tensor arithmetic. Compute in ``Z``'s dtype throughout
    (float64 logits give a float64 loss).

    Args:
        Z: logits of a batch of ``B`` examples, Tensor ``(B, k)``.
        y_one_hot: one-hot true labels, Tensor ``(B, k)``.

    Returns:
        A Tensor of shape ``()`` holding the average loss.

    Raises:
        ValueError: if the two shapes differ.
    """
    if Z.shape != y_one_hot.shape:
        raise ValueError(f"softmax_loss: logits have shape {Z.shape} but labels {y_one_hot.shape}")
    ### BEGIN SOLUTION hw1
    batch = Z.shape[0]
    # log-sum-exp is shift-invariant: shift each row by its max, held constant, to avoid overflow.
    Z_max = ndl.Tensor(Z.numpy().max(axis=1, keepdims=True), device=Z.device)
    log_sum_exp = ndl.log(ndl.exp(Z - Z_max.broadcast_to(Z.shape)).sum(axes=1)) \
        + Z_max.reshape((batch,))
    return (log_sum_exp - (Z * y_one_hot).sum(axes=1)).sum() / batch
    ### END SOLUTION


def nn_epoch(X: np.ndarray, y: np.ndarray, W1: ndl.Tensor, W2: ndl.Tensor,
             lr: float = 0.1, batch: int = 100) -> tuple[ndl.Tensor, ndl.Tensor]:
    """One epoch of minibatch SGD for ``logits = ReLU(X W1) W2``, gradients by needle.

    Batches are consecutive rows in order (the last may be smaller). For each batch: compute
    ``softmax_loss``, call ``backward()``, and step ``W -= lr * W.grad`` outside the graph
    (under ``ndl.no_grad()``) so that the graph does not grow from one batch to the next.

    Args:
        X: float32 NumPy array ``(m, n)``.
        y: integer NumPy labels ``(m,)`` in ``0..k-1``.
        W1: Tensor ``(n, hidden_dim)``.
        W2: Tensor ``(hidden_dim, k)``.
        lr: learning rate.
        batch: minibatch size.

    Returns:
        The updated ``(W1, W2)``: new leaf Tensors with no graph behind them (``inputs`` empty,
        as tensors computed under ``ndl.no_grad()`` are), in the dtype of the weights passed in.

    Raises:
        ValueError: if a label is outside ``0..k-1``.
    """
    check_labels(y, W2.shape[1])
    ### BEGIN SOLUTION hw1
    k = W2.shape[1]
    for start in range(0, X.shape[0], batch):
        X_b = ndl.Tensor(X[start:start + batch])
        y_b = ndl.init.one_hot(k, y[start:start + batch], dtype=X_b.dtype)
        W1.requires_grad = W2.requires_grad = True
        loss = softmax_loss(ndl.relu(X_b @ W1) @ W2, y_b)
        loss.backward()
        with ndl.no_grad():
            W1, W2 = W1 - W1.grad * lr, W2 - W2.grad * lr
    return W1, W2
    ### END SOLUTION


# ---- given: evaluation and a training loop for the tests, the notebook and `make demo` -------

def loss_err(h: ndl.Tensor, y: np.ndarray) -> tuple[float, float]:
    """``(softmax loss, error rate)`` of logits ``h`` ``(m, k)`` against labels ``y`` ``(m,)``."""
    y_one_hot = ndl.init.one_hot(h.shape[1], y, dtype=h.dtype)
    return softmax_loss(h, y_one_hot).item(), float(np.mean(h.numpy().argmax(axis=1) != y))


def train_nn(X_tr, y_tr, X_te, y_te, hidden_dim: int = 500, epochs: int = 10, lr: float = 0.5,
             batch: int = 100, seed: int = 0, on_epoch: Callable | None = None):
    """Train the two-layer net with needle from hw0's ``init_two_layer`` weights; return ``(W1, W2)``.

    The same initial weights as hw0's ``train_nn`` for the same ``seed``, so the two can be compared.
    ``on_epoch(epoch, train_loss, train_err, test_loss, test_err)`` is called after each epoch.
    """
    W1, W2 = map(ndl.Tensor, init_two_layer(X_tr.shape[1], hidden_dim, int(y_tr.max()) + 1, seed))
    for epoch in range(epochs):
        W1, W2 = nn_epoch(X_tr, y_tr, W1, W2, lr=lr, batch=batch)
        if on_epoch:
            with ndl.no_grad():
                logits_tr = ndl.relu(ndl.Tensor(X_tr) @ W1) @ W2
                logits_te = ndl.relu(ndl.Tensor(X_te) @ W1) @ W2
            on_epoch(epoch, *loss_err(logits_tr, y_tr), *loss_err(logits_te, y_te))
    return W1, W2
