"""Multi-head attention: n_heads attention heads side by side, computed as one batch."""

import numpy as np

from ..module import Module, Parameter
from ..shapes import Array, Float, checked, expect
from .attention_head import MASKS, SCORES, mask_bias, option
from .dense import positive_int
from .dropout import Dropout


class MultiHeadAttention(Module):
    r"""MultiHead(x) = Concat(head_1, ..., head_h) W_o + b_o.

    Vaswani et al. 2017, *Attention Is All You Need*, §3.2.2, in the fused
    form of GPT-2 / nanoGPT's ``CausalSelfAttention``.  Each head is the
    :class:`~shapesafe_nn.layers.attention_head.AttentionHead` computation
    with its own d_head-wide slice of the projections; one matrix ``W_qkv``
    makes all queries, keys and values of all heads at once::

        qkv = x W_qkv + b_qkv                       (batch, seq, 3*d_model)
        q, k, v = split(qkv) -> per head            (batch, n_heads, seq, d_head) each
        scores  = q kᵀ / √d_head, causal -∞ mask    (batch, n_heads, seq, seq)
        weights = softmax(scores)                    (batch, n_heads, seq, seq)
        heads   = attn_dropout(weights) v            (batch, n_heads, seq, d_head)
        merged  = Concat(heads), side by side        (batch, seq, d_model)
        out     = resid_dropout(merged W_o + b_o)    (batch, seq, d_model)

    ``W_qkv``'s columns are ``[q | k | v]``, each ``d_model`` wide and made
    of ``n_heads`` blocks of ``d_head`` columns, one per head.  Weights
    multiply from the right, as in the paper; ``torch.nn.MultiheadAttention``
    stores ``in_proj_weight = W_qkvᵀ`` and ``out_proj.weight = W_oᵀ``.

    The score and the mask on the third line are options, the same as
    :class:`~shapesafe_nn.layers.attention_head.AttentionHead`'s and from
    the same tables (``SCORES`` and ``MASKS`` in ``attention_head.py``).

    Backward runs the lines above in reverse; the softmax and mask are
    differentiated as in ``AttentionHead.backward`` (masked entries have
    weight 0 and so gradient 0), the score by its own backward.  The
    weights of the last forward stay in ``self.attention_weights``
    (batch, n_heads, seq, seq), before dropout.

    Args:
        d_model: width of each position; must equal ``n_heads * d_head``.
        n_heads: number of heads; each is ``d_head = d_model // n_heads`` wide.
        mask: which keys a query may see: ``"causal"`` (the past, a language
            model), ``"none"`` (all) or ``"anti_causal"`` (the future).
        dropout: probability for the dropout on the attention weights and on
            the output, as nanoGPT's ``attn_dropout`` and ``resid_dropout``.
        score: how a query scores a key: ``"scaled_dot"`` (the line above),
            ``"dot"``, ``"squared_dot"`` or ``"cosine"``.
        rng: random generator for the initial weights (N(0, 0.02²), biases 0,
            as in GPT-2) and the dropout seeds.
        dtype: float32 (default) or float64.

    ``x``: (batch, seq, d_model), one row per position.

    The projections run on ``rows``, x reshaped to (batch*seq, d_model):
    every position is one row of one matrix product, the same numbers as
    ``x @ W`` on the 3-D array.  numpy computes a 3-D @ 2-D product as a
    loop of per-sequence products instead: 1.1 to 1.7 times slower on an
    idle machine, and far slower (17x measured) when another process shares
    the cores (``benchmarks/matmul_shapes.py``).
    """

    def __init__(self, d_model: int, n_heads: int, mask: str = "causal", dropout: float = 0.0,
                 *, score: str = "scaled_dot", rng: np.random.Generator | None = None,
                 dtype=np.float32):
        super().__init__()
        self.d_model = positive_int("MultiHeadAttention", "d_model", d_model)
        self.n_heads = positive_int("MultiHeadAttention", "n_heads", n_heads)
        if d_model % n_heads:
            raise ValueError(f"MultiHeadAttention: d_model {d_model} is not divisible by "
                             f"n_heads {n_heads}; d_model must be n_heads * d_head")
        self.d_head = d_model // n_heads
        self.mask = option("MultiHeadAttention", "mask", mask, MASKS)
        self.score = option("MultiHeadAttention", "score", score, SCORES)
        rng = rng if rng is not None else np.random.default_rng()
        self.W_qkv = Parameter((rng.standard_normal((d_model, 3 * d_model)) * 0.02).astype(dtype),
                               "d_model 3*d_model")
        self.b_qkv = Parameter(np.zeros(3 * d_model, dtype=dtype), "3*d_model")
        self.W_o = Parameter((rng.standard_normal((d_model, d_model)) * 0.02).astype(dtype),
                             "d_model d_model")
        self.b_o = Parameter(np.zeros(d_model, dtype=dtype), "d_model")
        # each Dropout owns a generator; seeding both from rng makes one seed fix the layer
        self.attn_dropout = Dropout(dropout, seed=int(rng.integers(2**63)))
        self.resid_dropout = Dropout(dropout, seed=int(rng.integers(2**63)))
        self.attention_weights: Array | None = None

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, n_heads={self.n_heads}, d_head={self.d_head}, "
                f"mask={self.mask}, score={self.score}")

    def _split_heads(self, a: Array) -> Array:
        """(batch, seq, d_model) -> (batch, n_heads, seq, d_head): head h is columns
        h*d_head to (h+1)*d_head."""
        batch, seq, _ = a.shape
        return a.reshape(batch, seq, self.n_heads, self.d_head).transpose(0, 2, 1, 3)

    def _merge_heads(self, a: Array) -> Array:
        """(batch, n_heads, seq, d_head) -> (batch, seq, d_model), the inverse of _split_heads."""
        batch, _, seq, _ = a.shape
        return a.transpose(0, 2, 1, 3).reshape(batch, seq, self.d_model)

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        batch, seq, _ = x.shape
        rows = x.reshape(batch * seq, self.d_model)  # one row per position (a view)
        qkv = expect("qkv", (rows @ self.W_qkv.value + self.b_qkv.value)
                     .reshape(batch, seq, 3 * self.d_model), "batch seq 3*d_model")
        q, k, v = (self._split_heads(part) for part in np.split(qkv, 3, axis=-1))
        expect("q", q, "batch n_heads seq d_head")
        expect("k", k, "batch n_heads seq d_head")
        expect("v", v, "batch n_heads seq d_head")
        scores, score_saved = SCORES[self.score].forward(q, k)
        expect("scores", scores, "batch n_heads seq seq")
        scores += mask_bias(self.mask, x.shape[1], scores.dtype)
        # softmax over the keys, as in AttentionHead.forward, computed in place
        # in `scores` (the largest array here: no temporaries of its size)
        scores -= scores.max(axis=-1, keepdims=True)
        weights = np.exp(scores, out=scores)
        weights /= weights.sum(axis=-1, keepdims=True)
        expect("weights", weights, "batch n_heads seq seq")
        dropped = expect("dropped", self.attn_dropout.forward(weights), "batch n_heads seq seq")
        heads = expect("heads", dropped @ v, "batch n_heads seq d_head")
        merged = expect("merged", self._merge_heads(heads), "batch seq d_model")
        merged_rows = merged.reshape(batch * seq, self.d_model)
        projected = expect("projected", (merged_rows @ self.W_o.value + self.b_o.value)
                           .reshape(batch, seq, self.d_model), "batch seq d_model")
        self.save_for_backward(rows=rows, v=v, weights=weights, dropped=dropped,
                               merged_rows=merged_rows, score_saved=score_saved)
        self.attention_weights = weights
        return self.resid_dropout.forward(projected)

    @checked
    def backward(self,
                 dout: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        rows, v, weights, dropped, merged_rows, score_saved = (
            self.saved[name]
            for name in ("rows", "v", "weights", "dropped", "merged_rows", "score_saved"))
        batch, seq, _ = dout.shape
        # out = resid_dropout(projected)
        dprojected = expect("dprojected", self.resid_dropout.backward(dout), "batch seq d_model")
        # projected = merged_rows @ W_o + b_o: each parameter's gradient sums over all
        # rows (every position of every sequence), which the row-matrix product does
        dprojected_rows = dprojected.reshape(batch * seq, self.d_model)
        self.W_o.grad += merged_rows.T @ dprojected_rows
        self.b_o.grad += dprojected_rows.sum(axis=0)
        dmerged = expect("dmerged", (dprojected_rows @ self.W_o.value.T)
                         .reshape(batch, seq, self.d_model), "batch seq d_model")
        # merged = merge_heads(heads): a reshape, undone by the inverse reshape
        dheads = expect("dheads", self._split_heads(dmerged), "batch n_heads seq d_head")
        # heads = dropped @ v
        ddropped = expect("ddropped", dheads @ v.swapaxes(-1, -2), "batch n_heads seq seq")
        dv = expect("dv", dropped.swapaxes(-1, -2) @ dheads, "batch n_heads seq d_head")
        # dropped = attn_dropout(weights)
        dweights = expect("dweights", self.attn_dropout.backward(ddropped),
                          "batch n_heads seq seq")
        # weights = softmax(scores)  (masked entries: weight 0, so gradient 0):
        # dscores = weights * (dweights - Σ_keys dweights * weights), in dweights'
        # memory (nothing reads dweights again; it is the size of the scores)
        dweights -= (dweights * weights).sum(axis=-1, keepdims=True)
        dscores = expect("dscores", np.multiply(dweights, weights, out=dweights),
                         "batch n_heads seq seq")
        # scores = score(q, k): its own backward
        dq, dk = SCORES[self.score].backward(dscores, *score_saved)
        expect("dq", dq, "batch n_heads seq d_head")
        expect("dk", dk, "batch n_heads seq d_head")
        # q, k, v = split(qkv): put the three gradients back side by side
        dqkv = np.concatenate([self._merge_heads(d) for d in (dq, dk, dv)], axis=-1)
        expect("dqkv", dqkv, "batch seq 3*d_model")
        # qkv = rows @ W_qkv + b_qkv, rows = x reshaped
        dqkv_rows = dqkv.reshape(batch * seq, 3 * self.d_model)
        self.W_qkv.grad += rows.T @ dqkv_rows
        self.b_qkv.grad += dqkv_rows.sum(axis=0)
        return (dqkv_rows @ self.W_qkv.value.T).reshape(batch, seq, self.d_model)
