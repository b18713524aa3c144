"""One transformer block: attention to mix positions, a feed-forward network to
think per position, each added onto the residual stream."""

import numpy as np

from ..core import Module
from ..core import Array, Float, checked, expect
from ..core.validate import option, positive_int
from .activations import GELU_FORMS
from .attention import MASKS, SCORES
from .feed_forward import FeedForward
from .kv_cache import KVCache
from .layer_norm import LayerNorm
from .multi_head_attention import MultiHeadAttention


class TransformerBlock(Module):
    r"""h = x + MHA(LN₁(x));  out = h + FFN(LN₂(h)).

    The pre-LN block of GPT-2 (Radford et al. 2019, §2.3: layer norm moved
    to the input of each sub-block), nanoGPT's ``Block`` and the ``Block``
    of Karpathy's *Let's build GPT*; Vaswani et al. 2017 normalize after the
    addition instead.  ``x`` flows unchanged along the residual stream and
    each sub-block only adds to it::

        x (batch, seq, d_model) -> ln1 -> attn -> + x  = h (batch, seq, d_model)
        h                       -> ln2 -> ff   -> + h  = out (batch, seq, d_model)

    Backward: an addition copies its gradient to both terms, so each
    residual branch gets ``dout`` directly plus what comes back through its
    sub-block::

        dh = dout + ln2.backward(ff.backward(dout))
        dx = dh   + ln1.backward(attn.backward(dh))

    ``cache``, a :class:`~shapesafe_nn.layers.kv_cache.KVCache`, goes to the
    attention: ``x`` then holds only the new positions (writing one token at a
    time, inside ``no_grad()``).  Nothing else needs one: layer norm and the
    feed-forward work on each position alone.

    Args:
        d_model: width of the residual stream.
        n_heads: attention heads; ``d_model`` must be divisible by it.
        d_ff: feed-forward hidden width; ``None`` gives ``4 * d_model`` (GPT-2).
        dropout: probability for every dropout inside (attention weights,
            attention output, feed-forward output), as nanoGPT.
        mask: which keys a query may see: ``"causal"`` (the past, a language
            model), ``"none"`` (all) or ``"anti_causal"`` (the future).
        score: how a query scores a key: ``"scaled_dot"`` (GPT's), ``"dot"``,
            ``"squared_dot"`` or ``"cosine"``; see ``attention.SCORES``.
        gelu: the feed-forward's GELU, ``"tanh"`` (GPT-2) or ``"erf"`` (nanoGPT).
        rng: random generator for the initial weights and dropout seeds.
        dtype: float32 (default) or float64.
    """

    # the parameters belong to the sub-layers: bind d_model from one of them
    # before x, so a wrong x is reported here, in the block's names
    shape_anchors = (("ln1.gamma", "d_model"),)

    def __init__(self, d_model: int, n_heads: int, d_ff: int | None = None,
                 dropout: float = 0.0, mask: str = "causal", *, score: str = "scaled_dot",
                 gelu: str = "tanh", rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        self.d_model = positive_int(self, "d_model", d_model)
        self.d_ff = 4 * self.d_model if d_ff is None else positive_int(self,
                                                                        "d_ff", d_ff)
        option(self, "mask", mask, MASKS)
        option(self, "score", score, SCORES)
        option(self, "gelu", gelu, GELU_FORMS)
        rng = rng if rng is not None else np.random.default_rng()
        self.ln1 = LayerNorm(d_model, dtype=dtype)
        self.attn = MultiHeadAttention(d_model, n_heads, mask, dropout, score=score, rng=rng,
                                       dtype=dtype)
        self.ln2 = LayerNorm(d_model, dtype=dtype)
        self.ff = FeedForward(d_model, self.d_ff, dropout, gelu=gelu, rng=rng, dtype=dtype)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.attn.n_heads}, d_ff={self.d_ff}"

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"],
                cache: KVCache | None = None) -> Float[Array, "batch seq d_model"]:
        h = expect("h", x + self.attn.forward(self.ln1.forward(x), cache=cache),
                   "batch seq d_model")
        return h + self.ff.forward(self.ln2.forward(h))

    @checked
    def remember(self, x: Float[Array, "batch seq d_model"], cache: KVCache) -> None:
        """Append to ``cache`` the keys and values :meth:`forward` would, and
        compute nothing else: ``attn.remember(ln1(x))``.  For positions whose
        output nothing reads (see ``MultiHeadAttention.remember``)."""
        self.attn.remember(self.ln1.forward(x), cache)

    @checked
    def backward(self,
                 dout: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        # out = h + ff(ln2(h))
        dh = expect("dh", dout + self.ln2.backward(self.ff.backward(dout)), "batch seq d_model")
        # h = x + attn(ln1(x))
        return dh + self.ln1.backward(self.attn.backward(dh))
