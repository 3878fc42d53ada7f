"""hw5: recurrent modules and embeddings, as ``torch.nn.RNN``, ``LSTM`` and ``Embedding``.

Sequences are ``(seq_len, batch, features)`` (PyTorch's default, ``batch_first=False``). Weights
are stored for ``x @ W`` (CMU needle's layout): ``W_ih`` is ``(input_size, G * hidden_size)``
and ``W_hh`` ``(hidden_size, G * hidden_size)``, with ``G = 4`` gates ``i, f, g, o`` for the
LSTM, in PyTorch's order; PyTorch stores their transposes as ``weight_ih_l0``, ``weight_hh_l0``.
Every weight and bias is ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``, as PyTorch.
"""
from __future__ import annotations

import math

import needle.init as init
from needle import ops
from needle.autograd import Tensor, TensorTuple
from needle.checks import integer_ids, positive_int
from needle.ops.ops_sequence import LSTMGates, lstm_gates  # the fused LSTM step, used below

from .nn_basic import Module, Parameter

__all__ = ["RNNCell", "RNN", "LSTMGates", "lstm_gates", "LSTMCell", "LSTM", "Embedding"]


def _uniform(bound: float, *shape: int, device, dtype) -> Parameter:
    return Parameter(init.rand(*shape, low=-bound, high=bound, device=device, dtype=dtype))


def _row(v: Tensor, rows: int) -> Tensor:
    """A bias ``(n,)`` broadcast to ``(rows, n)``."""
    return ops.broadcast_to(ops.reshape(v, (1, v.shape[0])), (rows, v.shape[0]))


class RNNCell(Module):
    """One step of an Elman RNN: ``h' = f(x W_ih + b_ih + h W_hh + b_hh)`` with ``f`` tanh or
    ReLU (Elman, Cognitive Science 1990), as ``torch.nn.RNNCell``.

    Shapes: ``X`` ``(batch, input_size)``, ``h`` ``(batch, hidden_size)`` (zeros when None) ->
    ``(batch, hidden_size)``.

    Raises:
        ValueError: for a nonlinearity other than "tanh" or "relu"; TypeError or ValueError for a
            size that is not a positive integer; in ``forward``, ValueError for ``X`` or ``h`` of
            another shape.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype: str = "float32"):
        super().__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size = positive_int("RNNCell", "input_size", input_size)
        self.hidden_size = positive_int("RNNCell", "hidden_size", hidden_size)
        self.nonlinearity = nonlinearity
        ### BEGIN SOLUTION hw5
        k = 1.0 / math.sqrt(hidden_size)
        self.W_ih = _uniform(k, input_size, hidden_size, device=device, dtype=dtype)
        self.W_hh = _uniform(k, hidden_size, hidden_size, device=device, dtype=dtype)
        self.bias_ih = _uniform(k, hidden_size, device=device, dtype=dtype) if bias else None
        self.bias_hh = _uniform(k, hidden_size, device=device, dtype=dtype) if bias else None
        ### END SOLUTION

    def forward(self, X: Tensor, h: Tensor | None = None) -> Tensor:
        _check_step("RNNCell", self, X, [h])
        ### BEGIN SOLUTION hw5
        return self._step(_input_part(self, X), h)
        ### END SOLUTION

    def _step(self, x_part: Tensor, h: Tensor | None) -> Tensor:
        """``f(x_part + h W_hh)``, where ``x_part = x W_ih + b_ih + b_hh`` was precomputed.

        ``h`` None means zeros ``(batch, hidden_size)``, and ``h W_hh`` is still computed then,
        so that ``W_hh`` is in the graph and gets a (zero) gradient, as in PyTorch: skipping it
        would leave ``W_hh.grad`` None after a length-1 sequence and break an optimiser step."""
        ### BEGIN SOLUTION hw5
        if h is None:
            h = init.zeros(x_part.shape[0], self.hidden_size, device=x_part.device,
                           dtype=x_part.dtype)
        pre = x_part + h @ self.W_hh
        return ops.tanh(pre) if self.nonlinearity == "tanh" else ops.relu(pre)
        ### END SOLUTION


def _input_part(cell: RNNCell | LSTMCell, X: Tensor) -> Tensor:
    """``X W_ih + b_ih + b_hh`` for ``X`` ``(rows, input_size)``: the part of every step that does
    not depend on ``h``, so that a sequence computes it for all steps in one matmul."""
    out = X @ cell.W_ih
    if cell.bias_ih is not None:
        out = out + _row(cell.bias_ih + cell.bias_hh, X.shape[0])
    return out


def _step_inputs(cell: RNNCell | LSTMCell, X: Tensor) -> TensorTuple:
    """``_input_part`` of a whole sequence ``X`` ``(T, B, input_size)`` in one matmul, split into
    its ``T`` steps of ``(B, G * hidden_size)``."""
    T, B, features = X.shape
    parts = _input_part(cell, ops.reshape(X, (T * B, features)))
    return ops.split(ops.reshape(parts, (T, B, parts.shape[1])), 0)


def _check_sequence(name: str, module: RNN | LSTM, X: Tensor, states: list) -> None:
    """Raise ValueError, naming ``module``, unless ``X`` is a non-empty ``(seq_len, batch,
    input_size)`` and every state not None is ``(num_layers, batch, hidden_size)``."""
    if X.ndim != 3 or X.shape[2] != module.input_size:
        raise ValueError(f"{name}: expected input (seq_len, batch, {module.input_size}), "
                         f"got {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: expected a sequence of length > 0, got input {X.shape}")
    expected = (module.num_layers, X.shape[1], module.hidden_size)
    for state in states:
        if state is not None and tuple(state.shape) != expected:
            raise ValueError(f"{name}: expected a state (num_layers, batch, hidden_size) = "
                             f"{expected} for input {X.shape}, got {tuple(state.shape)}")


def _check_step(name: str, cell: RNNCell | LSTMCell, X: Tensor, states: list) -> None:
    """Raise ValueError unless ``X`` is ``(batch, input_size)`` and every state not None is
    ``(batch, hidden_size)``."""
    if X.ndim != 2 or X.shape[1] != cell.input_size:
        raise ValueError(f"{name}: expected input (batch, {cell.input_size}), got {X.shape}")
    expected = (X.shape[0], cell.hidden_size)
    for state in states:
        if state is not None and tuple(state.shape) != expected:
            raise ValueError(f"{name}: expected a state (batch, hidden_size) = {expected} for "
                             f"input {X.shape}, got {tuple(state.shape)}")


def _state_pair(name: str, h) -> list:
    """An LSTM's ``(h, c)`` as a list of two, or ``[None, None]`` for None."""
    if h is None:
        return [None, None]
    if not isinstance(h, (tuple, list)) or len(h) != 2:
        raise ValueError(f"{name}: expected the state as a pair (h, c), got {type(h).__name__}"
                         + (f" of length {len(h)}" if isinstance(h, (tuple, list)) else ""))
    return list(h)


class RNN(Module):
    """A stack of ``num_layers`` RNN cells run over a sequence, as ``torch.nn.RNN``.

    ``forward(X, h0)``: ``X`` ``(seq_len, batch, input_size)``, ``h0`` ``(num_layers, batch,
    hidden_size)`` (zeros when None) -> ``output`` ``(seq_len, batch, hidden_size)``, the last
    layer's hidden state at every step, and ``h_n`` ``(num_layers, batch, hidden_size)``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype: str = "float32"):
        super().__init__()
        self.input_size = positive_int("RNN", "input_size", input_size)
        self.hidden_size = positive_int("RNN", "hidden_size", hidden_size)
        self.num_layers = positive_int("RNN", "num_layers", num_layers)
        self.rnn_cells = [RNNCell(input_size if i == 0 else hidden_size, hidden_size, bias,
                                  nonlinearity, device=device, dtype=dtype)
                          for i in range(num_layers)]

    def forward(self, X: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_sequence("RNN", self, X, [h0])
        ### BEGIN SOLUTION hw5
        h_in = ops.split(h0, 0) if h0 is not None else [None] * self.num_layers
        h_out = []
        for cell, h in zip(self.rnn_cells, h_in, strict=True):
            outputs = []
            for x_part in _step_inputs(cell, X):
                h = cell._step(x_part, h)
                outputs.append(h)
            h_out.append(outputs[-1])  # the layer's last state
            X = ops.stack(outputs, 0)
        return X, ops.stack(h_out, 0)
        ### END SOLUTION


class LSTMCell(Module):
    """One step of a long short-term memory cell (Hochreiter & Schmidhuber, Neural Computation
    1997, with the forget gate of Gers et al., 2000), as ``torch.nn.LSTMCell``::

        i, f, g, o = split(x W_ih + b_ih + h W_hh + b_hh)     # four (batch, hidden) gates
        c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
        h' = sigmoid(o) * tanh(c')

    Shapes: ``X`` ``(batch, input_size)``, ``h = (h, c)``, each ``(batch, hidden_size)`` (zeros
    when None) -> ``(h', c')``.

    Raises:
        TypeError, ValueError: for a size that is not a positive integer; in ``forward``,
            ValueError for ``X`` or ``h`` of another shape.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype: str = "float32"):
        super().__init__()
        self.input_size = positive_int("LSTMCell", "input_size", input_size)
        self.hidden_size = positive_int("LSTMCell", "hidden_size", hidden_size)
        ### BEGIN SOLUTION hw5
        k, H4 = 1.0 / math.sqrt(hidden_size), 4 * hidden_size
        self.W_ih = _uniform(k, input_size, H4, device=device, dtype=dtype)
        self.W_hh = _uniform(k, hidden_size, H4, device=device, dtype=dtype)
        self.bias_ih = _uniform(k, H4, device=device, dtype=dtype) if bias else None
        self.bias_hh = _uniform(k, H4, device=device, dtype=dtype) if bias else None
        ### END SOLUTION

    def forward(self, X: Tensor, h: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        _check_step("LSTMCell", self, X, _state_pair("LSTMCell", h))
        ### BEGIN SOLUTION hw5
        return self._step(_input_part(self, X), h)
        ### END SOLUTION

    def _step(self, x_part: Tensor, h: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
        """One step from ``x_part = x W_ih + b_ih + b_hh``, precomputed."""
        ### BEGIN SOLUTION hw5
        if h is None:
            zeros = init.zeros(x_part.shape[0], self.hidden_size, device=x_part.device,
                               dtype=x_part.dtype)
            h = (zeros, zeros)
        h_next, c_next = lstm_gates(x_part + h[0] @ self.W_hh, h[1])
        return h_next, c_next
        ### END SOLUTION


class LSTM(Module):
    """A stack of ``num_layers`` LSTM cells run over a sequence, as ``torch.nn.LSTM``.

    ``forward(X, h)``: ``X`` ``(seq_len, batch, input_size)``, ``h = (h0, c0)`` each
    ``(num_layers, batch, hidden_size)`` (zeros when None) -> ``output`` ``(seq_len, batch,
    hidden_size)`` and ``(h_n, c_n)``, each ``(num_layers, batch, hidden_size)``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 device=None, dtype: str = "float32"):
        super().__init__()
        self.input_size = positive_int("LSTM", "input_size", input_size)
        self.hidden_size = positive_int("LSTM", "hidden_size", hidden_size)
        self.num_layers = positive_int("LSTM", "num_layers", num_layers)
        self.lstm_cells = [LSTMCell(input_size if i == 0 else hidden_size, hidden_size, bias,
                                    device=device, dtype=dtype) for i in range(num_layers)]

    def forward(self, X: Tensor, h: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        _check_sequence("LSTM", self, X, _state_pair("LSTM", h))
        ### BEGIN SOLUTION hw5
        states = (zip(ops.split(h[0], 0), ops.split(h[1], 0), strict=True) if h is not None
                  else [None] * self.num_layers)
        h_out, c_out = [], []
        for cell, state in zip(self.lstm_cells, states, strict=True):
            outputs = []
            for x_part in _step_inputs(cell, X):
                state = cell._step(x_part, state)
                outputs.append(state[0])
            assert state is not None  # (a sequence has a step: _check_sequence says so)
            h_out.append(state[0])
            c_out.append(state[1])
            X = ops.stack(outputs, 0)
        return X, (ops.stack(h_out, 0), ops.stack(c_out, 0))
        ### END SOLUTION


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of ``embedding_dim``, as ``torch.nn.Embedding``:
    ``(seq_len, batch)`` integer ids (any dtype) -> ``(seq_len, batch, embedding_dim)``.

    ``weight`` ``(num_embeddings, embedding_dim)`` is ``N(0, 1)``. The lookup is the op
    ``take_rows`` (a one-hot matrix times ``weight`` gives the same, at ``num_embeddings`` times
    the cost).

    Raises:
        TypeError, ValueError: for a size that is not a positive integer; in ``forward``,
            ValueError for an id that is fractional, NaN or outside ``0..num_embeddings - 1``.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, device=None, dtype: str = "float32"):
        super().__init__()
        self.num_embeddings = positive_int("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = positive_int("Embedding", "embedding_dim", embedding_dim)
        ### BEGIN SOLUTION hw5
        self.weight = Parameter(init.randn(num_embeddings, embedding_dim, device=device,
                                           dtype=dtype))
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        ids = integer_ids("Embedding", "id", x, self.num_embeddings)
        ### BEGIN SOLUTION hw5
        return ops.take_rows(self.weight, ids)
        ### END SOLUTION
