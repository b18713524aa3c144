"""One attention head: every position takes a weighted average of the values
at the positions it attends to, with weights from query-key similarity."""

import functools
import math

import numpy as np

from ..module import Module, Parameter
from ..shapes import Array, Float, checked, expect
from .dense import positive_int


@functools.cache
def causal_mask(seq: int) -> Array:
    """(seq, seq) booleans, True above the diagonal: the future a position must not see.

    Built once per ``seq`` and shared (read-only) by every layer that asks.
    """
    mask = np.triu(np.ones((seq, seq), dtype=bool), k=1)
    mask.flags.writeable = False
    return mask


@functools.cache
def causal_bias(seq: int, dtype) -> Array:
    """(seq, seq): -∞ above the diagonal, 0 elsewhere.

    ``scores + causal_bias(seq)`` is the causal mask as one addition that
    broadcasts over batch (and heads): faster than writing -∞ through a
    boolean index, and the same numbers.  Built once per (seq, dtype).
    """
    bias = np.where(causal_mask(seq), -np.inf, 0.0).astype(dtype)
    bias.flags.writeable = False
    return bias


class AttentionHead(Module):
    r"""Scaled dot-product attention with its own projections, one head.

    Vaswani et al. 2017, *Attention Is All You Need*, eq. 1, and the
    ``Head`` of Karpathy's *Let's build GPT*::

        Q = x W_q,  K = x W_k,  V = x W_v          (batch, seq, d_head) each
        scores  = Q Kᵀ / √d_head                   (batch, seq, seq)
        scores[:, t, s] = -∞ for s > t  (causal)   a position sees only the past
        weights = softmax(scores) over the last axis (batch, seq, seq)
        out     = weights V                        (batch, seq, d_head)

    Row ``t`` of ``weights`` says how much position ``t`` takes from each
    position ``s``; dividing by √d_head keeps the scores of order 1 so the
    softmax does not saturate.  The projections multiply from the right, as
    in the paper (``W_q`` is d_model × d_head); torch's ``nn.Linear`` and our
    :class:`~shapesafe_nn.layers.dense.Dense` store the transpose.  No
    biases, as in *Let's build GPT*.

    Backward, given ``dout`` (batch, seq, d_head), undoes each line in turn.
    Through the softmax: ``dscores = w ⊙ (dw - Σ_s dw ⊙ w)`` per row.  A
    masked entry has ``w = 0``, so its ``dscores`` is 0: the mask needs no
    backward of its own.

    The weights of the last forward stay in ``self.attention_weights``
    (batch, seq, seq), to plot what the head looks at.

    Args:
        d_model: width of each input position.
        d_head: width of the queries, keys, values and output.
        causal: hide later positions (a language model); ``False`` lets every
            position see every other (an encoder).
        rng: random generator for the initial weights, N(0, 0.02²) as in GPT-2.
        dtype: float32 (default) or float64.

    ``x``: (batch, seq, d_model), one row per position.
    """

    def __init__(self, d_model: int, d_head: int, causal: bool = True, *,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        self.d_model = positive_int("AttentionHead", "d_model", d_model)
        self.d_head = positive_int("AttentionHead", "d_head", d_head)
        self.causal = bool(causal)
        # 1/√d_head as a Python float: an np.float64 would turn float32 scores into float64
        self.scale = 1.0 / math.sqrt(self.d_head)
        rng = rng if rng is not None else np.random.default_rng()
        for name in ("W_q", "W_k", "W_v"):
            weight = (rng.standard_normal((d_model, d_head)) * 0.02).astype(dtype)
            setattr(self, name, Parameter(weight, "d_model d_head"))
        self.attention_weights: Array | None = None

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, d_head={self.d_head}, causal={self.causal}"

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_head"]:
        q = expect("q", x @ self.W_q.value, "batch seq d_head")
        k = expect("k", x @ self.W_k.value, "batch seq d_head")
        v = expect("v", x @ self.W_v.value, "batch seq d_head")
        scores = expect("scores", q @ k.transpose(0, 2, 1) * self.scale, "batch seq seq")
        if self.causal:
            scores += causal_bias(x.shape[1], scores.dtype)
        # softmax over the keys; subtracting the row max (never -inf: the
        # diagonal is always visible) keeps exp from overflowing
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights = expect("weights", e / e.sum(axis=-1, keepdims=True), "batch seq seq")
        out = expect("out", weights @ v, "batch seq d_head")
        self.save_for_backward(x=x, q=q, k=k, v=v, weights=weights)
        self.attention_weights = weights
        return out

    @checked
    def backward(self, dout: Float[Array, "batch seq d_head"]) -> Float[Array, "batch seq d_model"]:
        x, q, k, v, weights = (self.saved[name] for name in ("x", "q", "k", "v", "weights"))
        # out = weights @ v
        dweights = expect("dweights", dout @ v.transpose(0, 2, 1), "batch seq seq")
        dv = expect("dv", weights.transpose(0, 2, 1) @ dout, "batch seq d_head")
        # weights = e / e.sum(axis=-1)  (softmax; masked entries have weight 0,
        # so they get dscores = 0 and the -inf never enters a product)
        dscores = weights * (dweights - (dweights * weights).sum(axis=-1, keepdims=True))
        expect("dscores", dscores, "batch seq seq")
        # scores = q @ k.transpose(0, 2, 1) * self.scale
        dq = expect("dq", dscores @ k * self.scale, "batch seq d_head")
        dk = expect("dk", dscores.transpose(0, 2, 1) @ q * self.scale, "batch seq d_head")
        # q = x @ W_q, k = x @ W_k, v = x @ W_v: each dW = xᵀ d(q|k|v), summed
        # over batch and seq (tensordot over axes 0 and 1); x feeds all three
        # projections, so its gradient is the sum of the three paths
        self.W_q.grad += np.tensordot(x, dq, axes=([0, 1], [0, 1]))
        self.W_k.grad += np.tensordot(x, dk, axes=([0, 1], [0, 1]))
        self.W_v.grad += np.tensordot(x, dv, axes=([0, 1], [0, 1]))
        return dq @ self.W_q.value.T + dk @ self.W_k.value.T + dv @ self.W_v.value.T
