"""Cross-attention: the positions of one sequence read another sequence.

A translator's decoder asks its questions from the target sentence it is
writing, and finds the answers in the source sentence its encoder read.
"""

import numpy as np

from ..core import Module
from ..core import Array, Bool, Float, checked, expect
from ..core.validate import head_width, option, positive_int, probability
from .attention import SCORES, Attention
from .dense import Dense
from .dropout import Dropout
from .kv_cache import KVCache
from .multi_head_attention import merge_heads, split_heads


class CrossAttention(Module):
    r"""out = MultiHead(queries from x; keys and values from memory).

    Vaswani et al. 2017, §3.2.3: "encoder-decoder attention", where "the
    queries come from the previous decoder layer, and the memory keys and
    values come from the output of the encoder".  The same computation as
    :class:`~shapesafe_nn.layers.multi_head_attention.MultiHeadAttention`,
    with two sequences of different lengths::

        q    = x W_qᵀ + b_q                   (batch, tgt_seq, d_model)
        k, v = split(memory W_kvᵀ + b_kv)     (batch, src_seq, d_model) each
        heads  = attend(q, k, v) per head     scores (batch, n_heads, tgt_seq, src_seq)
        merged = Concat(heads)                (batch, tgt_seq, d_model)
        out    = resid_dropout(merged W_oᵀ + b_o)   (batch, tgt_seq, d_model)

    ``attend`` is the attention core with no mask: every target position
    may read every source position (the source is already whole).  A
    source padded to the batch's longest sentence passes
    ``memory_padding_mask`` (batch, src_seq), True at the padding, and the
    padded positions get weight exactly 0.

    ``cache``, a :class:`~shapesafe_nn.layers.kv_cache.KVCache`, keeps the
    memory's keys and values while a decoder writes one token at a time
    (inside ``no_grad()``): the source does not change while its translation
    is written, so they are computed at the first call and read back at
    every later one, (batch, n_heads, src_seq, d_head).  The memory of every
    call must be the one the cache was filled from (or its rows in the order
    of ``cache.select(rows)``); one of another shape is refused.

    Backward returns two gradients, ``(dx, dmemory)``: the target's, which
    goes back into the decoder, and the source's, which goes back into the
    encoder (added over every decoder layer that read it).

    The projections are :class:`~shapesafe_nn.layers.dense.Dense` layers
    in the package's one layout, W stored (d_out, d_in): ``query.W``
    (d_model, d_model), ``kv.W`` (2*d_model, d_model) with rows ``[k | v]``,
    ``proj.W`` (d_model, d_model).  Stacked, ``[query.W; kv.W]`` is the
    ``in_proj_weight`` of ``torch.nn.MultiheadAttention``.

    Args:
        d_model: width of each position, in both sequences.
        n_heads: number of heads; ``d_model`` must be divisible by it.
        dropout: probability for the dropout on the weights and on the output.
        score: how a query scores a key, a name in ``attention.SCORES``.
        rng: random generator for the initial weights (N(0, 0.02²), biases 0)
            and the dropout seeds.
        dtype: float32 (default) or float64.
    """

    # the weights live in the Dense layers: bind d_model from one of them first,
    # so a wrong x or memory is reported here, in this layer's names
    shape_anchors = (("query.W", "d_model d_model"),)

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, *,
                 score: str = "scaled_dot", rng: np.random.Generator | None = None,
                 dtype=np.float32):
        super().__init__()
        self.d_model = positive_int(self, "d_model", d_model)
        self.n_heads = positive_int(self, "n_heads", n_heads)
        self.d_head = head_width(self, self.d_model, self.n_heads)
        rng = rng if rng is not None else np.random.default_rng()
        self.query = Dense(d_model, d_model, rng=rng, weight_std=0.02, dtype=dtype)
        self.kv = Dense(d_model, 2 * d_model, rng=rng, weight_std=0.02, dtype=dtype)
        self.attend = Attention(option(self, "score", score, SCORES), "none",
                                probability(self, "dropout", dropout),
                                seed=int(rng.integers(2**63)))
        self.proj = Dense(d_model, d_model, rng=rng, weight_std=0.02, dtype=dtype)
        self.resid_dropout = Dropout(dropout, seed=int(rng.integers(2**63)))

    @property
    def attention_weights(self) -> Array | None:
        """(batch, n_heads, tgt_seq, src_seq): the weights of the last forward."""
        return self.attend.attention_weights

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, n_heads={self.n_heads}, d_head={self.d_head}, "
                f"score={self.attend.score}")

    @checked
    def forward(self, x: Float[Array, "batch tgt_seq d_model"],
                memory: Float[Array, "batch src_seq d_model"],
                memory_padding_mask: Bool[Array, "batch src_seq"] | None = None,
                cache: KVCache | None = None) -> Float[Array, "batch tgt_seq d_model"]:
        batch, tgt_seq, _ = x.shape
        src_seq = memory.shape[1]
        q = self.query.forward(x.reshape(batch * tgt_seq, self.d_model))
        q = expect("q", split_heads(q.reshape(batch, tgt_seq, self.d_model), self.n_heads),
                   "batch n_heads tgt_seq d_head")
        if cache is not None:
            cache.refuse_while_recording()
        if cache is not None and cache.seq_so_far:  # computed from this memory at the first call
            k, v = cache.keys, cache.values
        else:
            kv = self.kv.forward(memory.reshape(batch * src_seq, self.d_model))
            k, v = (split_heads(part, self.n_heads) for part in
                    np.split(kv.reshape(batch, src_seq, 2 * self.d_model), 2, axis=-1))
            if cache is not None:
                cache.append(k, v)
        expect("k", k, "batch n_heads src_seq d_head")
        expect("v", v, "batch n_heads src_seq d_head")
        heads = self.attend.forward(q, k, v, key_padding_mask=memory_padding_mask)
        expect("weights", self.attend.attention_weights, "batch n_heads tgt_seq src_seq")
        merged = expect("merged", merge_heads(heads), "batch tgt_seq d_model")
        projected = self.proj.forward(merged.reshape(batch * tgt_seq, self.d_model))
        return self.resid_dropout.forward(projected.reshape(batch, tgt_seq, self.d_model))

    @checked
    def backward(self, dout: Float[Array, "batch tgt_seq d_model"]
                 ) -> tuple[Float[Array, "batch tgt_seq d_model"],
                            Float[Array, "batch src_seq d_model"]]:
        batch, tgt_seq, _ = dout.shape
        dprojected = self.resid_dropout.backward(dout).reshape(batch * tgt_seq, self.d_model)
        dmerged = self.proj.backward(dprojected).reshape(batch, tgt_seq, self.d_model)
        dq, dk, dv = self.attend.backward(split_heads(dmerged, self.n_heads))
        expect("dk", dk, "batch n_heads src_seq d_head")
        # k, v = split(kv): their gradients side by side, as kv's columns
        dkv = np.concatenate([merge_heads(dk), merge_heads(dv)], axis=-1)
        src_seq = dkv.shape[1]
        dmemory = self.kv.backward(dkv.reshape(batch * src_seq, 2 * self.d_model))
        dx = self.query.backward(merge_heads(dq).reshape(batch * tgt_seq, self.d_model))
        return (dx.reshape(batch, tgt_seq, self.d_model),
                dmemory.reshape(batch, src_seq, self.d_model))
