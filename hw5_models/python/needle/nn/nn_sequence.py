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
        # TODO (hw5, question 3): implement RNNCell.__init__ (Recurrent networks)
        raise NotImplementedError("RNNCell.__init__: hw5")

    def forward(self, X: Tensor, h: Tensor | None = None) -> Tensor:
        _check_step("RNNCell", self, X, [h])
        # TODO (hw5, question 3): implement RNNCell.forward (Recurrent networks)
        raise NotImplementedError("RNNCell.forward: hw5")

    def _step(self, x_part: Tensor, h: Tensor | None) -> Tensor:
        """``f(x_part + h W_hh)``, where ``x_part = x W_ih + b_ih + b_hh`` was precomputed.

        ``h`` None means zeros ``(batch, hidden_size)``, and ``h W_hh`` is still computed then,
        so that ``W_hh`` is in the graph and gets a (zero) gradient, as in PyTorch: skipping it
        would leave ``W_hh.grad`` None after a length-1 sequence and break an optimiser step."""
        # TODO (hw5, question 3): implement RNNCell._step (Recurrent networks)
        raise NotImplementedError("RNNCell._step: hw5")


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
        # TODO (hw5, question 3): implement RNN.forward (Recurrent networks)
        raise NotImplementedError("RNN.forward: hw5")


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
        # TODO (hw5, question 3): implement LSTMCell.__init__ (Recurrent networks)
        raise NotImplementedError("LSTMCell.__init__: hw5")

    def forward(self, X: Tensor, h: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        _check_step("LSTMCell", self, X, _state_pair("LSTMCell", h))
        # TODO (hw5, question 3): implement LSTMCell.forward (Recurrent networks)
        raise NotImplementedError("LSTMCell.forward: hw5")

    def _step(self, x_part: Tensor, h: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
        """One step from ``x_part = x W_ih + b_ih + b_hh``, precomputed."""
        # TODO (hw5, question 3): implement LSTMCell._step (Recurrent networks)
        raise NotImplementedError("LSTMCell._step: hw5")


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
        # TODO (hw5, question 3): implement LSTM.forward (Recurrent networks)
        raise NotImplementedError("LSTM.forward: hw5")


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
        # TODO (hw5, question 3): implement Embedding.__init__ (Recurrent networks)
        raise NotImplementedError("Embedding.__init__: hw5")

    def forward(self, x: Tensor) -> Tensor:
        ids = integer_ids("Embedding", "id", x, self.num_embeddings)
        # TODO (hw5, question 3): implement Embedding.forward (Recurrent networks)
        raise NotImplementedError("Embedding.forward: hw5")
