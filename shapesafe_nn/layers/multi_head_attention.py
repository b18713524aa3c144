"""Multi-head attention: n_heads attention heads side by side, computed as one batch."""

import numpy as np

from ..core import Array, Bool, Float, checked, expect
from .dense import Dense
from .kv_cache import KVCache
from .multi_head import MultiHead


class MultiHeadAttention(MultiHead):
    r"""MultiHead(x) = Concat(head_1, ..., head_h) W_oᵀ + b_o.

    Vaswani et al. 2017, *Attention Is All You Need*, §3.2.2, in the fused
    form of GPT-2 / nanoGPT's ``CausalSelfAttention``.  Each head is the
    :class:`~shapesafe_nn.layers.attention_head.AttentionHead` computation
    with its own d_head-wide slice of the projections; one
    :class:`~shapesafe_nn.layers.dense.Dense`, ``qkv``, makes all queries,
    keys and values of all heads at once::

        qkv = x W_qkvᵀ + b_qkv                      (batch, seq, 3*d_model)
        q, k, v = split(qkv) -> per head            (batch, n_heads, seq, d_head) each
        heads   = attend(q, k, v)                   (batch, n_heads, seq, d_head)
        merged  = Concat(heads), side by side        (batch, seq, d_model)
        out     = resid_dropout(merged W_oᵀ + b_o)   (batch, seq, d_model)

    (W_qkv, b_qkv are ``qkv.W``, ``qkv.b``; W_o, b_o are ``proj.W``, ``proj.b``.)

    ``attend`` is the attention core,
    :class:`~shapesafe_nn.layers.attention.Attention`: softmax(score(q, k) +
    mask) with dropout on the weights, then times v, for every head at once:
    its scores are (batch, n_heads, seq, seq).  ``qkv.W`` is (3*d_model,
    d_model), in the package's one layout (d_out, d_in): its rows are
    ``[q | k | v]``, each d_model rows made of n_heads blocks of d_head rows,
    one per head.  It is nanoGPT's ``c_attn.weight`` and the
    ``in_proj_weight`` of ``torch.nn.MultiheadAttention``; ``proj.W`` is
    ``c_proj.weight`` / ``out_proj.weight``.

    Backward runs the lines above in reverse.

    Args:
        d_model: width of each position; must equal ``n_heads * d_head``.
        n_heads: number of heads; each is ``d_head = d_model // n_heads`` wide.
        mask: which keys a query may see: ``"causal"`` (the past, a language
            model), ``"none"`` (all, an encoder) or ``"anti_causal"`` (the future).
        dropout: probability for the dropout on the attention weights and on
            the output, as nanoGPT's ``attn_dropout`` and ``resid_dropout``.
        score: how a query scores a key: ``"scaled_dot"`` (the default),
            ``"dot"``, ``"squared_dot"`` or ``"cosine"`` (``attention.SCORES``).
        rng: random generator for the initial weights (N(0, 0.02²), biases 0,
            as in GPT-2) and the dropout seeds.
        dtype: float32 (default) or float64.

    ``x``: (batch, seq, d_model), one row per position.  ``key_padding_mask``
    (batch, seq), True at padding, hides those positions as keys (an
    encoder reading sentences of different lengths).

    ``cache``, a :class:`~shapesafe_nn.layers.kv_cache.KVCache`, is for
    writing one token at a time (inside ``no_grad()``, causal mask only):
    ``x`` holds only the *new* positions, and their keys and values are
    appended to the cache's before attending::

        q, k, v = split(qkv) -> per head            (batch, n_heads, seq, d_head) each
        keys, values = cache.append(k, v)           (batch, n_heads, kv_seq, d_head)
        heads   = attend(q, keys, values)           (batch, n_heads, seq, d_head)

    where kv_seq = the positions so far, the new ones last.  The causal mask
    for seq queries over kv_seq keys puts the queries at the last seq
    positions (``attention.causal_mask``), so each new position sees itself
    and everything before it, as in the plain forward.

    The projection into heads and the output half are
    :class:`~shapesafe_nn.layers.multi_head.MultiHead`'s, which
    cross-attention shares; :meth:`remember` projects as :meth:`forward` does.
    """

    # the weights live in the Dense layers: bind d_model from one of them before
    # x, so a wrong x is reported here, in this layer's names
    shape_anchors = (("proj.W", "d_model d_model"),)

    def __init__(self, d_model: int, n_heads: int, mask: str = "causal", dropout: float = 0.0,
                 *, score: str = "scaled_dot", rng: np.random.Generator | None = None,
                 dtype=np.float32):
        super().__init__(d_model, n_heads)
        rng = rng if rng is not None else np.random.default_rng()
        self.qkv = Dense(d_model, 3 * d_model, rng=rng, weight_std=0.02, dtype=dtype)
        self._add_core_and_output(score, mask, dropout, rng, dtype)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, n_heads={self.n_heads}, d_head={self.d_head}, "
                f"mask={self.attend.mask}, score={self.attend.score}")

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"],
                key_padding_mask: Bool[Array, "batch seq"] | None = None,
                cache: KVCache | None = None,
                ) -> Float[Array, "batch seq d_model"]:
        if cache is not None:  # before any work, so a refused call leaves nothing behind
            self._refuse_what_a_cache_cannot_do(cache, key_padding_mask)
        q, k, v = self._queries_keys_values(x)
        if cache is not None:
            k, v = self._append(cache, k, v)
        heads = expect("heads", self.attend.forward(q, k, v, key_padding_mask=key_padding_mask),
                       "batch n_heads seq d_head")
        return self._out_of_heads(heads)

    @checked
    def remember(self, x: Float[Array, "batch seq d_model"], cache: KVCache) -> None:
        """Append the keys and values of ``x``'s positions to ``cache``, and compute
        nothing else: no attention, no output.

        For positions whose output nothing will read, but whose keys and values
        later positions attend over: the earlier positions of a window in a
        GPT's last block, when only the next token's logits are wanted
        (:meth:`~shapesafe_nn.models.gpt.GPT.next_token_logits`)::

            k, v = split(x W_qkvᵀ + b_qkv)    (batch, n_heads, seq, d_head) each

        The product is the fused one of :meth:`forward`, queries included: a
        third of one projection, for the same keys and values as ``forward``.
        """
        self._refuse_what_a_cache_cannot_do(cache, None)
        _, k, v = self._queries_keys_values(x)
        self._append(cache, k, v)

    def _queries_keys_values(self, x: Array) -> tuple[Array, Array, Array]:
        """q, k, v, (batch, n_heads, seq, d_head) each: one fused product, cut into three."""
        q, k, v = self._into_heads(self.qkv, x, 3)
        return (expect("q", q, "batch n_heads seq d_head"),
                expect("k", k, "batch n_heads seq d_head"),
                expect("v", v, "batch n_heads seq d_head"))

    @staticmethod
    def _append(cache: KVCache, k: Array, v: Array) -> tuple[Array, Array]:
        """The keys and values of every position so far, these new ones last."""
        keys, values = cache.append(k, v)
        return (expect("keys", keys, "batch n_heads kv_seq d_head"),
                expect("values", values, "batch n_heads kv_seq d_head"))

    def _refuse_what_a_cache_cannot_do(self, cache: KVCache,
                                       key_padding_mask: Array | None) -> None:
        cache.serve(self)  # inside no_grad(), and this layer's cache, no other's
        if self.attend.mask != "causal":
            # without it, an earlier position reads later ones: its keys and values
            # change with every new token, and stored ones would be stale
            raise ValueError(f"MultiHeadAttention.forward: a KVCache needs the causal mask, "
                             f"not {self.attend.mask!r}: with it a position's keys and values "
                             f"would change as later tokens arrive")
        if key_padding_mask is not None:
            raise ValueError("MultiHeadAttention.forward: a key_padding_mask with a KVCache "
                             "would cover only the new positions, not the cached ones; pad "
                             "nothing when writing one token at a time")

    @checked
    def backward(self,
                 dout: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        dq, dk, dv = self.attend.backward(self._out_of_heads_backward(dout))
        # q, k, v were cut from one projection, qkv, in that order
        return self._into_heads_backward(self.qkv, (dq, dk, dv))
