"""hw5: multi-head self-attention and the decoder-only Transformer (Vaswani et al., "Attention
is all you need", NeurIPS 2017), with pre-norm residual blocks (Xiong et al., ICML 2020) and a
learned positional embedding (as GPT-2).

Shapes: ``(batch, seq_len, features)`` inside; ``Transformer`` takes ``(seq_len, batch,
features)`` unless ``batch_first``, like the recurrent modules.
"""
from __future__ import annotations

import math

import numpy as np

import needle.init as init
from needle import ops
from needle.autograd import Tensor
from needle.checks import positive_int

from .nn_basic import Dropout, LayerNorm1d, Linear, Module, ReLU, Sequential
from .nn_sequence import Embedding

__all__ = ["MultiHeadAttention", "AttentionLayer", "TransformerLayer", "Transformer"]

MASKED = -1e9  # added to the scores a causal mask hides: exp underflows to exactly 0


def _rows(x: Tensor, fn) -> Tensor:
    """Apply a ``(rows, features)`` module ``fn`` to every position of ``(..., features)``."""
    flat = ops.reshape(x, (int(np.prod(x.shape[:-1])), x.shape[-1]))
    out = fn(flat)
    return ops.reshape(out, (*x.shape[:-1], out.shape[-1]))


class MultiHeadAttention(Module):
    """Scaled dot-product attention over heads: ``softmax(Q K^T / sqrt(D) + M) V``.

    ``forward(q, k, v)``: ``q`` ``(B, heads, T, D)``, ``k`` and ``v`` ``(B, heads, S, D)`` ->
    ``(result (B, heads, T, D), probs (B, heads, T, S))``. With ``causal``, ``M`` hides every key
    after the query's position (query ``t`` of ``T`` sees keys ``0 .. t + S - T``). Dropout, in
    training, applies to the attention probabilities.
    """

    def __init__(self, *, dropout: float = 0.0, causal: bool = False, device=None,
                 dtype: str = "float32"):
        super().__init__()
        self.causal, self.device, self.dtype = causal, device, dtype
        self.dropout = Dropout(dropout)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        if q.ndim != 4 or k.shape != v.shape or k.ndim != 4 or q.shape[:2] != k.shape[:2] \
                or q.shape[3] != k.shape[3]:
            raise ValueError(f"MultiHeadAttention: expected q (B, heads, T, D) and k, v (B, heads, "
                             f"S, D), got {q.shape}, {k.shape}, {v.shape}")
        ### BEGIN SOLUTION hw5
        B, heads, T, D = q.shape
        S = k.shape[2]
        scores = (q @ ops.transpose(k)) / math.sqrt(D)                  # (B, heads, T, S)
        if self.causal:
            future = np.triu(np.full((T, S), MASKED, dtype=np.float32), k=S - T + 1)
            mask = Tensor(future.reshape(1, 1, T, S), device=q.device, dtype=q.dtype)
            scores = scores + ops.broadcast_to(mask, scores.shape)
        lse = ops.reshape(ops.logsumexp(scores, (3,)), (B, heads, T, 1))
        probs = ops.exp(scores - ops.broadcast_to(lse, scores.shape))   # softmax over keys
        probs = self.dropout(probs)
        return probs @ v, probs
        ### END SOLUTION


class AttentionLayer(Module):
    """Multi-head attention with pre-norm and projections, as the attention half of a pre-norm
    Transformer block::

        Q, K, V = LN_q(q) W_q, LN_k(k) W_k, LN_v(v) W_v     # split into heads of dim_head
        out = concat_heads(MultiHeadAttention(Q, K, V)) W_out

    ``forward(q, k=None, v=None)``: ``q`` ``(B, T, q_features)``, ``k`` and ``v`` ``(B, S,
    k_features)`` and ``(B, S, v_features)``, defaulting to ``q`` (self-attention) ->
    ``(B, T, out_features)``. The projections have no bias; each LayerNorm has its own weights.

    Raises:
        TypeError, ValueError: for a size (features, ``num_head``, ``dim_head``) that is not a
            positive integer, naming it; in ``forward``, ValueError for inputs that are not
            ``(B, T, q_features)``, ``(B, S, k_features)`` and ``(B, S, v_features)``.
    """

    def __init__(self, q_features: int, num_head: int, dim_head: int, *,
                 k_features: int | None = None, v_features: int | None = None,
                 out_features: int | None = None, dropout: float = 0.0, causal: bool = True,
                 device=None, dtype: str = "float32"):
        super().__init__()
        q_features = positive_int("AttentionLayer", "q_features", q_features)
        k_features = positive_int("AttentionLayer", "k_features",
                                  q_features if k_features is None else k_features)
        v_features = positive_int("AttentionLayer", "v_features",
                                  q_features if v_features is None else v_features)
        out_features = positive_int("AttentionLayer", "out_features",
                                    q_features if out_features is None else out_features)
        self.q_features, self.k_features, self.v_features = q_features, k_features, v_features
        self.num_head = positive_int("AttentionLayer", "num_head", num_head)
        self.dim_head = positive_int("AttentionLayer", "dim_head", dim_head)
        inner = num_head * dim_head
        # Given: the tests set these weights by name.
        self.prenorm_q = LayerNorm1d(q_features, device=device, dtype=dtype)
        self.prenorm_k = LayerNorm1d(k_features, device=device, dtype=dtype)
        self.prenorm_v = LayerNorm1d(v_features, device=device, dtype=dtype)
        self.q_projection = Linear(q_features, inner, bias=False, device=device, dtype=dtype)
        self.k_projection = Linear(k_features, inner, bias=False, device=device, dtype=dtype)
        self.v_projection = Linear(v_features, inner, bias=False, device=device, dtype=dtype)
        self.attn = MultiHeadAttention(dropout=dropout, causal=causal, device=device, dtype=dtype)
        self.out_projection = Linear(inner, out_features, bias=False, device=device, dtype=dtype)

    def forward(self, q: Tensor, k: Tensor | None = None, v: Tensor | None = None) -> Tensor:
        k = q if k is None else k
        v = q if v is None else v
        if q.ndim != 3 or k.ndim != 3 or v.ndim != 3 or q.shape[-1] != self.q_features \
                or k.shape[-1] != self.k_features or v.shape[-1] != self.v_features \
                or k.shape[:2] != v.shape[:2] or q.shape[0] != k.shape[0]:
            raise ValueError(f"{self._name()} expected q (B, T, "
                             f"{self.q_features}), k (B, S, {self.k_features}) and v (B, S, "
                             f"{self.v_features}), got {q.shape}, {k.shape}, {v.shape}")
        ### BEGIN SOLUTION hw5
        def heads(x: Tensor, norm: Module, projection: Module) -> Tensor:
            B, S = x.shape[:2]   # (B, S, features) -> (B, heads, S, dim_head)
            x = _rows(x, lambda rows: projection(norm(rows)))
            return ops.transpose(ops.reshape(x, (B, S, self.num_head, self.dim_head)), (1, 2))

        B, T = q.shape[:2]
        result, self.probs = self.attn(heads(q, self.prenorm_q, self.q_projection),
                                       heads(k, self.prenorm_k, self.k_projection),
                                       heads(v, self.prenorm_v, self.v_projection))
        result = ops.reshape(ops.transpose(result, (1, 2)), (B, T, self.num_head * self.dim_head))
        return _rows(result, self.out_projection)
        ### END SOLUTION


class TransformerLayer(Module):
    """A pre-norm Transformer block::

        x = x + Dropout(AttentionLayer(x))
        x = x + Dropout(Linear_2(Dropout(ReLU(Linear_1(LayerNorm(x))))))

    ``(B, T, q_features)`` -> ``(B, T, q_features)``; ``Linear_1`` maps to ``hidden_size``.

    Raises:
        TypeError, ValueError: for a size that is not a positive integer, naming it; in
            ``forward``, ValueError for input that is not ``(B, T, q_features)``.
    """

    def __init__(self, q_features: int, num_head: int, dim_head: int, hidden_size: int, *,
                 dropout: float = 0.0, causal: bool = True, device=None, dtype: str = "float32"):
        super().__init__()
        self.q_features = positive_int("TransformerLayer", "q_features", q_features)
        positive_int("TransformerLayer", "hidden_size", hidden_size)
        # Given: the tests set these weights by name (mlp.modules_[1] and [4] are the Linears).
        self.attn = AttentionLayer(q_features, num_head, dim_head, dropout=dropout, causal=causal,
                                   device=device, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.mlp = Sequential(
            LayerNorm1d(q_features, device=device, dtype=dtype),
            Linear(q_features, hidden_size, device=device, dtype=dtype), ReLU(), Dropout(dropout),
            Linear(hidden_size, q_features, device=device, dtype=dtype), Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3 or x.shape[-1] != self.q_features:
            raise ValueError(f"{self._name()} expected input "
                             f"(B, T, {self.q_features}), got {x.shape}")
        ### BEGIN SOLUTION hw5
        x = x + self.dropout(self.attn(x))
        return x + _rows(x, self.mlp)
        ### END SOLUTION


class Transformer(Module):
    """A decoder-only Transformer: a learned positional embedding added to the input, then
    ``num_layers`` ``TransformerLayer`` blocks (causal by default).

    ``forward(x, h=None)``: ``x`` ``(T, B, embedding_size)`` (``(B, T, ...)`` with
    ``batch_first``), ``T <= sequence_len`` -> ``(output of x's shape, zeros of x's shape)``;
    the second item stands in for the recurrent modules' state and ``h`` is ignored, so that a
    language model can swap an LSTM for a Transformer.

    Raises:
        TypeError, ValueError: for a size (``embedding_size``, ``hidden_size``, ``num_layers``,
            ``num_head``, ``dim_head``, ``sequence_len``) that is not a positive integer, naming
            it; in ``forward``, ValueError for input that is not 3-d with ``embedding_size``
            features, or a sequence longer than ``sequence_len``.
    """

    def __init__(self, embedding_size: int, hidden_size: int, num_layers: int, *,
                 num_head: int = 8, dim_head: int = 32, dropout: float = 0.0, causal: bool = True,
                 device=None, dtype: str = "float32", batch_first: bool = False,
                 sequence_len: int = 2048):
        super().__init__()
        self.embedding_size = positive_int("Transformer", "embedding_size", embedding_size)
        self.sequence_len = positive_int("Transformer", "sequence_len", sequence_len)
        self.batch_first = batch_first
        for name, size in (("hidden_size", hidden_size), ("num_layers", num_layers),
                           ("num_head", num_head), ("dim_head", dim_head)):
            positive_int("Transformer", name, size)
        # Given: the tests set these weights by name.
        self.positional_embedding = Embedding(sequence_len, embedding_size, device=device,
                                              dtype=dtype)
        self.layers = Sequential(*[
            TransformerLayer(embedding_size, num_head, dim_head, hidden_size, dropout=dropout,
                             causal=causal, device=device, dtype=dtype)
            for _ in range(num_layers)])

    def forward(self, x: Tensor, h=None) -> tuple[Tensor, Tensor]:
        if x.ndim != 3 or x.shape[-1] != self.embedding_size:
            layout = "(B, T, " if self.batch_first else "(T, B, "
            raise ValueError(f"{self._name()} expected input "
                             f"{layout}{self.embedding_size}), got {x.shape}")
        T = x.shape[1] if self.batch_first else x.shape[0]
        if self.sequence_len < T:
            raise ValueError(f"Transformer: sequence of length {T} is longer than "
                             f"sequence_len={self.sequence_len}")
        ### BEGIN SOLUTION hw5
        if not self.batch_first:
            x = ops.transpose(x, (0, 1))                     # (B, T, D)
        B = x.shape[0]
        positions = np.broadcast_to(np.arange(T).reshape(1, T), (B, T))
        x = self.layers(x + self.positional_embedding(positions))
        if not self.batch_first:
            x = ops.transpose(x, (0, 1))
        return x, init.zeros_like(x)
        ### END SOLUTION
