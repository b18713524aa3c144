"""One decoder block of a translator: the target reads its own past, then the
source, then thinks on its own, each step added onto the residual stream."""

from typing import NamedTuple

import numpy as np

from ..core import Array, Bool, Float, Module, checked, expect
from .cross_attention import CrossAttention
from .feed_forward import FeedForward
from .kv_cache import KVCache
from .multi_head_attention import MultiHeadAttention
from .transformer_block import TransformerBlock, block_settings, residual, residual_backward


class DecoderCache(NamedTuple):
    """What one decoder block keeps while a target is written one token at a time."""

    self_attn: KVCache  # the target's keys and values so far: (batch, n_heads, t, d_head)
    memory: KVCache  # the source's, from the first step on: (batch, n_heads, kv_seq, d_head)

    @property
    def seq_so_far(self) -> int:
        """The target positions written so far."""
        return self.self_attn.seq_so_far

    def select(self, rows: Array) -> None:
        """Keep the sequences ``rows``, in that order, in both caches (a beam
        search's surviving hypotheses; see ``KVCache.select``)."""
        self.self_attn.select(rows)
        self.memory.select(rows)


class DecoderBlock(Module):
    r"""A :class:`~shapesafe_nn.layers.transformer_block.TransformerBlock` with
    cross-attention between its two sub-layers.

    Post-LN: h₁ = N₁(x + MHA(x));  h₂ = N₂(h₁ + Cross(h₁, memory));
             out = N₃(h₂ + FFN(h₂)).
    Pre-LN puts each norm at its sub-layer's input instead.

    The decoder layer of Vaswani et al. 2017, §3.1: the encoder layer's two
    sub-layers with "a third sub-layer, which performs multi-head attention
    over the output of the encoder stack" between them.  ``x`` is the target
    written so far (batch, seq, d_model); ``memory`` is the encoder's output
    for the source (batch, kv_seq, d_model)::

        a  = self_attn(x)            causal: scores (batch, n_heads, seq, seq)
        h1 = ln1(x + a)              (batch, seq, d_model)
        c  = cross_attn(h1, memory)  scores (batch, n_heads, seq, kv_seq)
        h2 = ln2(h1 + c)             (batch, seq, d_model)
        out = ln3(h2 + ff(h2))       (batch, seq, d_model)

    Each addition with its norm is one call of
    :func:`~shapesafe_nn.layers.transformer_block.residual`, the wiring the
    TransformerBlock uses, pre or post.  In a translator, seq is the
    target's tgt_seq and kv_seq the source's src_seq.

    The self-attention is causal: position t reads targets 0..t only, so that
    training on a whole target at once (teacher forcing) predicts token t+1
    from what a decoder writing one token at a time would have seen.  The
    cross-attention has no such mask: the whole source is known.
    ``memory_padding_mask`` (batch, kv_seq) hides the source's padding;
    ``padding_mask`` (batch, seq) the target's (with padding at the end,
    causality already hides it from every real position; it matters to the
    padded positions only, whose outputs nothing should read).

    ``cache``, a :class:`DecoderCache`, is for decoding one token at a time
    inside ``no_grad()``: ``x`` then holds the new positions only.  Its
    ``self_attn`` goes to the causal self-attention, whose new queries read
    the keys and values it kept of the earlier positions; its ``memory`` to
    the cross-attention, which computes the source's keys and values once,
    at the first step, and reads them back at every later one.

    Backward returns ``(dx, dmemory)``: ``dmemory`` goes back to the encoder,
    which adds it up over every decoder block that read its output.
    Post-LN, each norm's backward first, then each addition's copy::

        ds3 = ln3.backward(dout);   dh2 = ds3 + ff.backward(ds3)
        ds2 = ln2.backward(dh2);    dh1, dmemory = cross_attn.backward(ds2);  dh1 += ds2
        ds1 = ln1.backward(dh1);    dx = ds1 + self_attn.backward(ds1)

    Args: as :class:`~shapesafe_nn.layers.transformer_block.TransformerBlock`,
    whose ``mask`` here is always causal; ``norm`` defaults to ``"post"``
    and ``activation`` to ``"relu"``, the paper's.
    """

    # the parameters belong to the sub-layers: bind d_model from one of them
    # before x, so a wrong x or memory is reported here, in the block's names
    shape_anchors = (("ln1.gamma", "d_model"),)

    def __init__(self, d_model: int, n_heads: int, d_ff: int | None = None,
                 dropout: float = 0.0, *, norm: str = "post", norm_type: str = "layer",
                 activation: str = "relu", gelu: str = "tanh",
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        self.d_model, self.d_ff, self.norm, Norm = block_settings(self, d_model, d_ff, norm,
                                                                  norm_type, activation, gelu)
        self.n_heads = n_heads
        rng = rng if rng is not None else np.random.default_rng()
        ln1, ln2, ln3 = (Norm(d_model, dtype=dtype) for _ in range(3))
        self_attn = MultiHeadAttention(d_model, n_heads, "causal", dropout, rng=rng, dtype=dtype)
        cross_attn = CrossAttention(d_model, n_heads, dropout, rng=rng, dtype=dtype)
        ff = FeedForward(d_model, self.d_ff, dropout, gelu=gelu, activation=activation, rng=rng,
                         dtype=dtype)
        # registered in the order they compute, as in a TransformerBlock
        if self.norm == "pre":
            (self.ln1, self.self_attn, self.ln2, self.cross_attn, self.ln3,
             self.ff) = ln1, self_attn, ln2, cross_attn, ln3, ff
        else:
            (self.self_attn, self.ln1, self.cross_attn, self.ln2, self.ff,
             self.ln3) = self_attn, ln1, cross_attn, ln2, ff, ln3

    extra_repr = TransformerBlock.extra_repr  # the same sizes, the same words

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"],
                memory: Float[Array, "batch kv_seq d_model"],
                memory_padding_mask: Bool[Array, "batch kv_seq"] | None = None,
                padding_mask: Bool[Array, "batch seq"] | None = None,
                cache: DecoderCache | None = None) -> Float[Array, "batch seq d_model"]:
        self_cache, memory_cache = (None, None) if cache is None else cache
        h1 = expect("h1", residual(self.norm, self.ln1, self.self_attn, x, padding_mask,
                                   cache=self_cache), "batch seq d_model")
        h2 = expect("h2", residual(self.norm, self.ln2, self.cross_attn, h1, memory,
                                   memory_padding_mask, cache=memory_cache), "batch seq d_model")
        return residual(self.norm, self.ln3, self.ff, h2)

    @checked
    def backward(self, dout: Float[Array, "batch seq d_model"]
                 ) -> tuple[Float[Array, "batch seq d_model"],
                            Float[Array, "batch kv_seq d_model"]]:
        dh2 = expect("dh2", residual_backward(self.norm, self.ln3, self.ff, dout),
                     "batch seq d_model")
        dh1, dmemory = residual_backward(self.norm, self.ln2, self.cross_attn, dh2)
        expect("dh1", dh1, "batch seq d_model")
        return residual_backward(self.norm, self.ln1, self.self_attn, dh1), dmemory
