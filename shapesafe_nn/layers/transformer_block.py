"""One transformer block: attention to mix positions, a feed-forward network to
think per position, each added onto the residual stream, with a norm at the
input of each sub-layer (pre) or after each addition (post)."""

import numpy as np

from ..core import Array, Bool, Float, Module, checked, expect
from ..core.validate import option, positive_int
from .activations import GELU_FORMS
from .attention import MASKS, SCORES
from .feed_forward import ACTIVATIONS, FeedForward
from .kv_cache import KVCache
from .multi_head_attention import MultiHeadAttention
from .norms import NORM_TYPES

# Where the norms sit: after each residual addition (Vaswani et al.), or at the
# input of each sub-layer (GPT-2)
NORM_PLACEMENTS = ("post", "pre")


def residual(placement: str, norm: Module, sublayer: Module, x: Array, *inputs,
             **options) -> Array:
    r"""x and what ``sublayer`` adds to it, normalized by ``norm``:

        pre:  out = x + sublayer(norm(x))      the stream itself is never normalized
        post: out = norm(x + sublayer(x))      every addition is normalized

    ``inputs`` and ``options`` go to the sub-layer after its x (a padding
    mask, a cache; cross-attention's memory).  Every block writes each of
    its sub-layers as one call of this function, so the wiring is written
    here once.
    """
    if placement == "pre":
        return x + sublayer.forward(norm.forward(x), *inputs, **options)
    return norm.forward(x + sublayer.forward(x, *inputs, **options))


def residual_backward(placement: str, norm: Module, sublayer: Module, dout: Array):
    """dx of :func:`residual`, from the gradient of its output: an addition
    copies its gradient to both of its terms.

    A sub-layer that also read a second sequence (cross-attention, the
    memory) returns ``(dx, dmemory)`` from its backward; then this returns
    ``(dx, dmemory)`` too, the memory's gradient as the sub-layer gave it.
    """
    if placement == "pre":  # out = x + sublayer(norm(x))
        dinput, *dmemory = _as_tuple(sublayer.backward(dout))
        dx = dout + norm.backward(dinput)
    else:  # out = norm(x + sublayer(x)): back through the norm first
        dsum = norm.backward(dout)
        dinput, *dmemory = _as_tuple(sublayer.backward(dsum))
        dx = dsum + dinput
    return (dx, *dmemory) if dmemory else dx


def _as_tuple(gradients) -> tuple:
    return gradients if isinstance(gradients, tuple) else (gradients,)


def block_settings(block: Module, d_model: int, d_ff: int | None, norm: str, norm_type: str,
                   activation: str, gelu: str) -> tuple[int, int, str, type]:
    """``(d_model, d_ff, norm, Norm)`` of a block, each option checked before any
    weight is drawn: d_ff ``None`` is ``4 * d_model`` (GPT-2; the paper's 2048
    for 512), and ``Norm`` is the class ``norm_type`` names."""
    d_model = positive_int(block, "d_model", d_model)
    d_ff = 4 * d_model if d_ff is None else positive_int(block, "d_ff", d_ff)
    option(block, "norm", norm, NORM_PLACEMENTS)
    option(block, "activation", activation, ACTIVATIONS)
    option(block, "gelu", gelu, GELU_FORMS)
    return d_model, d_ff, norm, NORM_TYPES[option(block, "norm_type", norm_type, NORM_TYPES)]


class TransformerBlock(Module):
    r"""Pre-LN:  h = x + MHA(N₁(x));  out = h + FFN(N₂(h))      (``norm="pre"``, the default)
    Post-LN: h = N₁(x + MHA(x));  out = N₂(h + FFN(h))      (``norm="post"``)

    The pre-LN block is GPT-2's (Radford et al. 2019, §2.3: layer norm moved
    to the input of each sub-block), nanoGPT's ``Block`` and the ``Block``
    of Karpathy's *Let's build GPT*.  The post-LN block is the encoder
    layer of Vaswani et al. 2017, §3.1: "a multi-head self-attention
    mechanism, and a simple, position-wise fully connected feed-forward
    network", each wrapped as ``LayerNorm(x + Sublayer(x))``.  A stack of
    pre-LN blocks needs one more norm at its end (a GPT's ``ln_f``); a
    post-LN stack ends with one already.

    ``x`` flows along the residual stream and each sub-layer adds to it::

        x (batch, seq, d_model) -> ln1 -> attn -> + x  = h (batch, seq, d_model)   pre
        h                       -> ln2 -> ff   -> + h  = out (batch, seq, d_model)

    ``mask`` says which positions attention may read: ``"causal"`` (the
    past, a language model, the default) or ``"none"`` (every position, a
    translator's encoder, where the whole source is known).
    ``padding_mask`` (batch, seq), True at the padding of sentences shorter
    than the batch's longest, hides those positions as keys; the padded
    positions still get outputs, which nothing should read.

    Backward: an addition copies its gradient to both terms, so each
    residual branch gets ``dout`` directly plus what comes back through its
    sub-layer (pre-LN)::

        dh = dout + ln2.backward(ff.backward(dout))
        dx = dh   + ln1.backward(attn.backward(dh))

    and, post-LN, each norm's backward comes first::

        dsum2 = ln2.backward(dout);  dh = dsum2 + ff.backward(dsum2)
        dsum1 = ln1.backward(dh);    dx = dsum1 + attn.backward(dsum1)

    Both are :func:`residual_backward`, the one place this wiring is written.

    ``cache``, a :class:`~shapesafe_nn.layers.kv_cache.KVCache`, goes to the
    attention: ``x`` then holds only the new positions (writing one token at a
    time, inside ``no_grad()``, causal mask only).  Nothing else needs one:
    the norms and the feed-forward work on each position alone.

    The sub-layers are registered in the order they compute: a pre-LN block
    lists ``ln1`` before ``attn``, a post-LN block after it.

    Args:
        d_model: width of the residual stream.
        n_heads: attention heads; ``d_model`` must be divisible by it.
        d_ff: feed-forward hidden width; ``None`` gives ``4 * d_model`` (GPT-2;
            the paper's 2048 for 512).
        dropout: probability for every dropout inside (attention weights,
            attention output, feed-forward output): nanoGPT's and the paper's P_drop.
        mask: ``"causal"``, ``"none"`` or ``"anti_causal"`` (the future); see
            ``attention.MASKS``.
        norm: where the norms sit, ``"pre"`` (GPT-2) or ``"post"`` (the paper).
        norm_type: which norm, a name in ``norms.NORM_TYPES``: ``"layer"``
            (LayerNorm) or ``"rms"`` (RMSNorm).
        score: how a query scores a key: ``"scaled_dot"`` (GPT's), ``"dot"``,
            ``"squared_dot"`` or ``"cosine"``; see ``attention.SCORES``.
        activation: the feed-forward's, ``"gelu"`` (GPT-2) or ``"relu"`` (the paper).
        gelu: GELU's form, ``"tanh"`` (GPT-2) or ``"erf"`` (nanoGPT).
        rng: random generator for the initial weights and dropout seeds.
        dtype: float32 (default) or float64.
    """

    # the parameters belong to the sub-layers: bind d_model from one of them
    # before x, so a wrong x is reported here, in the block's names
    shape_anchors = (("ln1.gamma", "d_model"),)

    def __init__(self, d_model: int, n_heads: int, d_ff: int | None = None,
                 dropout: float = 0.0, mask: str = "causal", *, norm: str = "pre",
                 norm_type: str = "layer", score: str = "scaled_dot", activation: str = "gelu",
                 gelu: str = "tanh", rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        self.d_model, self.d_ff, self.norm, Norm = block_settings(self, d_model, d_ff, norm,
                                                                  norm_type, activation, gelu)
        option(self, "mask", mask, MASKS)
        option(self, "score", score, SCORES)
        self.n_heads = n_heads
        rng = rng if rng is not None else np.random.default_rng()
        ln1 = Norm(d_model, dtype=dtype)
        attn = MultiHeadAttention(d_model, n_heads, mask, dropout, score=score, rng=rng,
                                  dtype=dtype)
        ln2 = Norm(d_model, dtype=dtype)
        ff = FeedForward(d_model, self.d_ff, dropout, gelu=gelu, activation=activation, rng=rng,
                         dtype=dtype)
        if self.norm == "pre":
            self.ln1, self.attn, self.ln2, self.ff = ln1, attn, ln2, ff
        else:
            self.attn, self.ln1, self.ff, self.ln2 = attn, ln1, ff, ln2

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}, d_ff={self.d_ff}, norm={self.norm}"

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"],
                padding_mask: Bool[Array, "batch seq"] | None = None,
                cache: KVCache | None = None) -> Float[Array, "batch seq d_model"]:
        h = expect("h", residual(self.norm, self.ln1, self.attn, x,
                                 key_padding_mask=padding_mask, cache=cache), "batch seq d_model")
        return residual(self.norm, self.ln2, self.ff, h)

    @checked
    def remember(self, x: Float[Array, "batch seq d_model"], cache: KVCache) -> None:
        """Append to ``cache`` the keys and values :meth:`forward` would, and
        compute nothing else: ``attn.remember`` of what the attention reads,
        ``ln1(x)`` pre-LN, ``x`` post-LN.  For positions whose output nothing
        reads (see ``MultiHeadAttention.remember``)."""
        self.attn.remember(self.ln1.forward(x) if self.norm == "pre" else x, cache)

    @checked
    def backward(self,
                 dout: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        dh = expect("dh", residual_backward(self.norm, self.ln2, self.ff, dout),
                    "batch seq d_model")
        return residual_backward(self.norm, self.ln1, self.attn, dh)
