"""Cross-attention: the positions of one sequence read another sequence.

A translator's decoder asks its questions from the target sentence it is
writing, and finds the answers in the source sentence its encoder read.
"""

import numpy as np

from ..core import Array, Bool, Float, checked, expect
from .dense import Dense
from .kv_cache import KVCache
from .multi_head import MultiHead


class CrossAttention(MultiHead):
    r"""out = MultiHead(queries from x; keys and values from memory).

    Vaswani et al. 2017, §3.2.3: "encoder-decoder attention", where "the
    queries come from the previous decoder layer, and the memory keys and
    values come from the output of the encoder".  The same computation as
    :class:`~shapesafe_nn.layers.multi_head_attention.MultiHeadAttention`
    (the projection into heads and the output half are
    :class:`~shapesafe_nn.layers.multi_head.MultiHead`'s, shared), with two
    sequences of different lengths: ``seq``, the queries', and ``kv_seq``,
    the memory's (in a translator, the target's and the source's)::

        q    = x W_qᵀ + b_q  -> per head              (batch, n_heads, seq, d_head)
        k, v = split(memory W_kvᵀ + b_kv) -> per head  (batch, n_heads, kv_seq, d_head) each
        heads  = attend(q, k, v)                      scores (batch, n_heads, seq, kv_seq)
        merged = Concat(heads)                        (batch, seq, d_model)
        out    = resid_dropout(merged W_oᵀ + b_o)     (batch, seq, d_model)

    ``attend`` is the attention core with no mask: every query position
    may read every memory position (the source is already whole).  A
    source padded to the batch's longest sentence passes
    ``memory_padding_mask`` (batch, kv_seq), True at the padding, and the
    padded positions get weight exactly 0.

    ``cache``, a :class:`~shapesafe_nn.layers.kv_cache.KVCache`, keeps the
    memory's keys and values while a decoder writes one token at a time
    (inside ``no_grad()``): the source does not change while its translation
    is written, so they are computed at the first call and read back at
    every later one, (batch, n_heads, kv_seq, d_head).  The memory of every
    call must be the one the cache was filled from (or its rows in the order
    of ``cache.select(rows)``); one of another shape is refused.

    Backward returns two gradients, ``(dx, dmemory)``: the queries', which
    go back into the decoder, and the memory's, which go back into the
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
        super().__init__(d_model, n_heads)
        rng = rng if rng is not None else np.random.default_rng()
        self.query = Dense(d_model, d_model, rng=rng, weight_std=0.02, dtype=dtype)
        self.kv = Dense(d_model, 2 * d_model, rng=rng, weight_std=0.02, dtype=dtype)
        self._add_core_and_output(score, "none", dropout, rng, dtype)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, n_heads={self.n_heads}, d_head={self.d_head}, "
                f"score={self.attend.score}")

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"],
                memory: Float[Array, "batch kv_seq d_model"],
                memory_padding_mask: Bool[Array, "batch kv_seq"] | None = None,
                cache: KVCache | None = None) -> Float[Array, "batch seq d_model"]:
        if cache is not None:  # before any work, so a refused call leaves nothing behind
            cache.serve(self)  # inside no_grad(), and this layer's cache, no other's
        (q,) = self._into_heads(self.query, x, 1)
        expect("q", q, "batch n_heads seq d_head")
        if cache is not None and cache.seq_so_far:  # computed from this memory at the first call
            k, v = cache.keys, cache.values
        else:
            k, v = self._into_heads(self.kv, memory, 2)
            if cache is not None:
                cache.append(k, v)
        expect("k", k, "batch n_heads kv_seq d_head")
        expect("v", v, "batch n_heads kv_seq d_head")
        heads = self.attend.forward(q, k, v, key_padding_mask=memory_padding_mask)
        expect("weights", self.attend.attention_weights, "batch n_heads seq kv_seq")
        return self._out_of_heads(heads)

    @checked
    def backward(self, dout: Float[Array, "batch seq d_model"]
                 ) -> tuple[Float[Array, "batch seq d_model"],
                            Float[Array, "batch kv_seq d_model"]]:
        dq, dk, dv = self.attend.backward(self._out_of_heads_backward(dout))
        expect("dk", dk, "batch n_heads kv_seq d_head")
        # q came from x alone; k and v were cut from one projection of the memory
        return (self._into_heads_backward(self.query, (dq,)),
                self._into_heads_backward(self.kv, (dk, dv)))
