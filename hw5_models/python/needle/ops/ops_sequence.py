"""hw5: the fused gate arithmetic of one LSTM step, an op with one kernel each way.

``nn.LSTMCell`` calls ``lstm_gates`` once a step; ``nn`` re-exports both names.
"""
from __future__ import annotations

from ..autograd import NDArray, Tensor, TensorTuple, TensorTupleOp, is_grad_enabled
from ..backend_selection import array_api
from .ops_mathematic import reshape, sigmoid, tanh
from .ops_tuple import stack

__all__ = ["LSTMGates", "lstm_gates"]


def _lstm_gates_backward(pre: Tensor, c: Tensor, dh: Tensor, dc: Tensor) -> tuple[Tensor, Tensor]:
    """``LSTMGates``'s adjoints ``(d pre, d c)`` from ``(dh', dc')``, written with needle ops (so
    that they can be differentiated again)."""
    H = c.shape[1]
    i, f = sigmoid(pre[:, :H]), sigmoid(pre[:, H:2 * H])
    g, o = tanh(pre[:, 2 * H:3 * H]), sigmoid(pre[:, 3 * H:])
    t = tanh(f * c + i * g)
    dc2 = dc + dh * o * (1 - t * t)          # c' reaches the loss directly and through h'
    blocks = [dc2 * g * i * (1 - i), dc2 * c * f * (1 - f), dc2 * i * (1 - g * g),
              dh * t * o * (1 - o)]
    return reshape(stack(blocks, 1), pre.shape), dc2 * f


class LSTMGates(TensorTupleOp):
    """The gate arithmetic of one LSTM step fused into one op: from ``pre = x W_ih + b_ih +
    h W_hh + b_hh`` ``(B, 4H)`` and ``c`` ``(B, H)`` to the TensorTuple ``(h', c')``, with ``H`` the
    hidden size (the course notation's ``d_h``; ``docs/notation.md``, sequences)::

        i, f, g, o = sigmoid(pre[:, :H]), sigmoid(pre[:, H:2H]), tanh(pre[:, 2H:3H]), sigmoid(pre[:, 3H:])
        c' = f * c + i * g;    h' = o * tanh(c')

    Why fused: written with needle's ops this is 15 ops a step forward and some 40 backward, each
    paying ~15 us of Python; here it is one kernel each way (``lstm_gates`` and
    ``lstm_gates_backward`` of the backends, as PyTorch's fused LSTM cell), and an LSTM language
    model step runs several times faster (``make bench``). When the backward pass is itself
    recorded (``backward(create_graph=True)``), the gradient is built from needle ops instead,
    so that it can be differentiated again.
    """

    def compute(self, pre: NDArray, c: NDArray) -> tuple[NDArray, NDArray]:
        # TODO (hw5, question 3): implement LSTMGates.compute (Recurrent networks)
        raise NotImplementedError("LSTMGates.compute: hw5")

    def gradient(self, out_grad: TensorTuple, node: TensorTuple) -> tuple[Tensor, Tensor]:
        # TODO (hw5, question 3): implement LSTMGates.gradient (Recurrent networks)
        raise NotImplementedError("LSTMGates.gradient: hw5")


def lstm_gates(pre: Tensor, c: Tensor) -> TensorTuple:
    """``(h', c')`` of an LSTM step from the pre-activations and the cell state (``LSTMGates``)."""
    return LSTMGates()(pre, c)
