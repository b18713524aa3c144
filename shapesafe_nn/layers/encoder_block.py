"""One encoder block of a translator: every source position reads every other,
then thinks on its own, each step added onto the residual stream."""

import numpy as np

from ..core import Module
from ..core import Array, Bool, Float, checked, expect
from ..core.validate import option, positive_int
from .activations import GELU_FORMS
from .feed_forward import ACTIVATIONS, FeedForward
from .layer_norm import LayerNorm
from .multi_head_attention import MultiHeadAttention

# Where the layer norms sit: after each residual addition (Vaswani et al.), or
# at the input of each sub-block (GPT-2)
NORMS = ("post", "pre")


class EncoderBlock(Module):
    r"""Post-LN: h = LN₁(x + MHA(x));  out = LN₂(h + FFN(h)).
    Pre-LN:  h = x + MHA(LN₁(x));  out = h + FFN(LN₂(h)).

    The encoder layer of Vaswani et al. 2017, *Attention Is All You Need*,
    §3.1: "a multi-head self-attention mechanism, and a simple, position-wise
    fully connected feed-forward network", each wrapped as
    ``LayerNorm(x + Sublayer(x))`` (post-LN, the paper's, the default).
    Pre-LN moves each norm to the input of its sub-block, as GPT-2 does
    (:class:`~shapesafe_nn.layers.transformer_block.TransformerBlock`); a
    stack of pre-LN blocks then needs one more norm at its end.

    Unlike a language model's block, the attention has no causal mask: the
    whole source sentence is known before translating, so every position may
    read every other, the later ones included.  Only padding is hidden::

        x (batch, src_seq, d_model)
        a = attn(x, padding_mask)   scores (batch, n_heads, src_seq, src_seq)
        h = ln1(x + a)              (batch, src_seq, d_model)
        out = ln2(h + ff(h))        (batch, src_seq, d_model)

    ``padding_mask`` (batch, src_seq), True at the padding of sentences
    shorter than the batch's longest: no position reads a padded one.  The
    padded positions still get outputs, which nothing should read.

    Backward (post-LN): a norm's backward comes first, then the addition
    copies the gradient to both of its terms::

        dsum2 = ln2.backward(dout);  dh = dsum2 + ff.backward(dsum2)
        dsum1 = ln1.backward(dh);    dx = dsum1 + attn.backward(dsum1)

    Args:
        d_model: width of the residual stream.
        n_heads: attention heads; ``d_model`` must be divisible by it.
        d_ff: feed-forward hidden width; ``None`` gives ``4 * d_model`` (the paper's 2048 for 512).
        dropout: probability for every dropout inside (attention weights,
            attention output, feed-forward output): the paper's P_drop.
        norm: ``"post"`` (the paper) or ``"pre"`` (GPT-2).
        activation: the feed-forward's ``"relu"`` (the paper) or ``"gelu"``.
        gelu: GELU's form, ``"tanh"`` or ``"erf"``, when ``activation="gelu"``.
        rng: random generator for the initial weights and dropout seeds.
        dtype: float32 (default) or float64.
    """

    # the parameters belong to the sub-layers: bind d_model from one of them
    # before x, so a wrong x is reported here, in the block's names
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
        self.attn = MultiHeadAttention(d_model, n_heads, "none", dropout, rng=rng, dtype=dtype)
        self.ln1 = LayerNorm(d_model, dtype=dtype)
        self.ff = FeedForward(d_model, self.d_ff, dropout, gelu=gelu, activation=activation,
                              rng=rng, dtype=dtype)
        self.ln2 = LayerNorm(d_model, dtype=dtype)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, n_heads={self.attn.n_heads}, d_ff={self.d_ff}, "
                f"norm={self.norm}")

    @checked
    def forward(self, x: Float[Array, "batch src_seq d_model"],
                padding_mask: Bool[Array, "batch src_seq"] | None = None,
                ) -> Float[Array, "batch src_seq d_model"]:
        if self.norm == "post":
            h = self.ln1.forward(x + self.attn.forward(x, padding_mask))
            expect("h", h, "batch src_seq d_model")
            return self.ln2.forward(h + self.ff.forward(h))
        h = expect("h", x + self.attn.forward(self.ln1.forward(x), padding_mask),
                   "batch src_seq d_model")
        return h + self.ff.forward(self.ln2.forward(h))

    @checked
    def backward(self, dout: Float[Array, "batch src_seq d_model"]
                 ) -> Float[Array, "batch src_seq d_model"]:
        if self.norm == "post":
            # out = ln2(h + ff(h))
            dsum2 = self.ln2.backward(dout)
            dh = expect("dh", dsum2 + self.ff.backward(dsum2), "batch src_seq d_model")
            # h = ln1(x + attn(x))
            dsum1 = self.ln1.backward(dh)
            return dsum1 + self.attn.backward(dsum1)
        # out = h + ff(ln2(h))
        dh = expect("dh", dout + self.ln2.backward(self.ff.backward(dout)),
                    "batch src_seq d_model")
        # h = x + attn(ln1(x))
        return dh + self.ln1.backward(self.attn.backward(dh))
