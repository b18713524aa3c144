"""One decoder block of a translator: the target reads its own past, then the
source, then thinks on its own, each step added onto the residual stream."""

from typing import NamedTuple

import numpy as np

from ..core import Module
from ..core import Array, Bool, Float, checked, expect
from ..core.validate import option, positive_int
from .activations import GELU_FORMS
from .cross_attention import CrossAttention
from .encoder_block import NORMS
from .feed_forward import ACTIVATIONS, FeedForward
from .kv_cache import KVCache
from .layer_norm import LayerNorm
from .multi_head_attention import MultiHeadAttention


class DecoderCache(NamedTuple):
    """What one decoder block keeps while a target is written one token at a time."""

    self_attn: KVCache  # the target's keys and values so far: (batch, n_heads, t, d_head)
    memory: KVCache  # the source's, from the first step on: (batch, n_heads, src_seq, d_head)

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
    r"""Post-LN: h₁ = LN₁(x + MHA(x));  h₂ = LN₂(h₁ + Cross(h₁, memory));
    out = LN₃(h₂ + FFN(h₂)).  Pre-LN puts each LN at its sub-block's input.

    The decoder layer of Vaswani et al. 2017, §3.1: the encoder layer's two
    sub-layers with "a third sub-layer, which performs multi-head attention
    over the output of the encoder stack" between them.  ``x`` is the target
    written so far (batch, tgt_seq, d_model); ``memory`` is the encoder's
    output for the source (batch, src_seq, d_model)::

        a  = self_attn(x)            causal: scores (batch, n_heads, tgt_seq, tgt_seq)
        h1 = ln1(x + a)              (batch, tgt_seq, d_model)
        c  = cross_attn(h1, memory)  scores (batch, n_heads, tgt_seq, src_seq)
        h2 = ln2(h1 + c)             (batch, tgt_seq, d_model)
        out = ln3(h2 + ff(h2))       (batch, tgt_seq, d_model)

    The self-attention is causal: position t reads targets 0..t only, so that
    training on a whole target at once (teacher forcing) predicts token t+1
    from what a decoder writing one token at a time would have seen.  The
    cross-attention has no such mask: the whole source is known.
    ``memory_padding_mask`` (batch, src_seq) hides the source's padding;
    ``padding_mask`` (batch, tgt_seq) the target's (with padding at the end,
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

    Args: as :class:`~shapesafe_nn.layers.encoder_block.EncoderBlock`.
    """

    # the parameters belong to the sub-layers: bind d_model from one of them
    # before x, so a wrong x or memory is reported here, in the block's names
    shape_anchors = (("ln1.gamma", "d_model"),)

    def __init__(self, d_model: int, n_heads: int, d_ff: int | None = None,
                 dropout: float = 0.0, *, norm: str = "post", activation: str = "relu",
                 gelu: str = "tanh", rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        self.d_model = positive_int(self, "d_model", d_model)
        self.d_ff = 4 * self.d_model if d_ff is None else positive_int(self, "d_ff", d_ff)
        self.norm = option(self, "norm", norm, NORMS)
        option(self, "activation", activation, ACTIVATIONS)
        option(self, "gelu", gelu, GELU_FORMS)
        rng = rng if rng is not None else np.random.default_rng()
        self.self_attn = MultiHeadAttention(d_model, n_heads, "causal", dropout, rng=rng,
                                            dtype=dtype)
        self.ln1 = LayerNorm(d_model, dtype=dtype)
        self.cross_attn = CrossAttention(d_model, n_heads, dropout, rng=rng, dtype=dtype)
        self.ln2 = LayerNorm(d_model, dtype=dtype)
        self.ff = FeedForward(d_model, self.d_ff, dropout, gelu=gelu, activation=activation,
                              rng=rng, dtype=dtype)
        self.ln3 = LayerNorm(d_model, dtype=dtype)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, n_heads={self.self_attn.n_heads}, d_ff={self.d_ff}, "
                f"norm={self.norm}")

    @checked
    def forward(self, x: Float[Array, "batch tgt_seq d_model"],
                memory: Float[Array, "batch src_seq d_model"],
                memory_padding_mask: Bool[Array, "batch src_seq"] | None = None,
                padding_mask: Bool[Array, "batch tgt_seq"] | None = None,
                cache: DecoderCache | None = None) -> Float[Array, "batch tgt_seq d_model"]:
        self_cache, memory_cache = (None, None) if cache is None else (cache.self_attn,
                                                                       cache.memory)
        if self.norm == "post":
            h1 = self.ln1.forward(x + self.self_attn.forward(x, padding_mask, cache=self_cache))
            expect("h1", h1, "batch tgt_seq d_model")
            h2 = self.ln2.forward(h1 + self.cross_attn.forward(h1, memory, memory_padding_mask,
                                                               cache=memory_cache))
            expect("h2", h2, "batch tgt_seq d_model")
            return self.ln3.forward(h2 + self.ff.forward(h2))
        h1 = expect("h1", x + self.self_attn.forward(self.ln1.forward(x), padding_mask,
                                                     cache=self_cache),
                    "batch tgt_seq d_model")
        h2 = expect("h2", h1 + self.cross_attn.forward(self.ln2.forward(h1), memory,
                                                        memory_padding_mask, cache=memory_cache),
                    "batch tgt_seq d_model")
        return h2 + self.ff.forward(self.ln3.forward(h2))

    @checked
    def backward(self, dout: Float[Array, "batch tgt_seq d_model"]
                 ) -> tuple[Float[Array, "batch tgt_seq d_model"],
                            Float[Array, "batch src_seq d_model"]]:
        if self.norm == "post":
            # out = ln3(h2 + ff(h2))
            dsum3 = self.ln3.backward(dout)
            dh2 = expect("dh2", dsum3 + self.ff.backward(dsum3), "batch tgt_seq d_model")
            # h2 = ln2(h1 + cross_attn(h1, memory))
            dsum2 = self.ln2.backward(dh2)
            dh1, dmemory = self.cross_attn.backward(dsum2)
            dh1 = expect("dh1", dh1 + dsum2, "batch tgt_seq d_model")
            # h1 = ln1(x + self_attn(x))
            dsum1 = self.ln1.backward(dh1)
            return dsum1 + self.self_attn.backward(dsum1), dmemory
        # out = h2 + ff(ln3(h2))
        dh2 = expect("dh2", dout + self.ln3.backward(self.ff.backward(dout)),
                     "batch tgt_seq d_model")
        # h2 = h1 + cross_attn(ln2(h1), memory)
        dnormed, dmemory = self.cross_attn.backward(dh2)
        dh1 = expect("dh1", dh2 + self.ln2.backward(dnormed), "batch tgt_seq d_model")
        # h1 = x + self_attn(ln1(x))
        return dh1 + self.ln1.backward(self.self_attn.backward(dh1)), dmemory
