"""One attention head: every position takes a weighted average of the values
at the positions it attends to, with weights from query-key similarity.

The head is three projections around the attention core
(:class:`~shapesafe_nn.layers.attention.Attention`), where the scores, the
masks and the softmax live.
"""

import numpy as np

from ..core import Module
from ..core import Array, Float, checked, expect
from ..core.validate import option, positive_int
from .attention import MASKS, SCORES, Attention
from .dense import Dense


class AttentionHead(Module):
    r"""Scaled dot-product attention with its own projections, one head.

    Vaswani et al. 2017, *Attention Is All You Need*, eq. 1, and the
    ``Head`` of Karpathy's *Let's build GPT*::

        Q = x W_qᵀ, K = x W_kᵀ, V = x W_vᵀ         (batch, seq, d_head) each
        scores  = Q Kᵀ / √d_head                   (batch, seq, seq)
        scores[:, t, s] = -∞ for s > t  (causal)   a position sees only the past
        weights = softmax(scores) over the last axis (batch, seq, seq)
        out     = weights V                        (batch, seq, d_head)

    Row ``t`` of ``weights`` says how much position ``t`` takes from each
    position ``s``; dividing by √d_head keeps the scores of order 1 so the
    softmax does not saturate.  The paper writes ``x W_q`` with ``W_q``
    d_model × d_head; here each projection is a
    :class:`~shapesafe_nn.layers.dense.Dense` (``query``, ``key``, ``value``)
    storing its W as (d_head, d_model), the package's one layout, so
    ``Q = x W_qᵀ`` with the same numbers.  No biases, as in *Let's build GPT*.

    The second and third lines are options, to try what else could be there:
    ``score`` picks a function of ``attention.SCORES`` (``scaled_dot``, the line
    above; ``dot``, ``squared_dot``, ``cosine``) and ``mask`` one of
    ``attention.MASKS`` (``causal``, the line above; ``none``, ``anti_causal``).
    Lines two to five are the core's, ``self.attend``.

    Backward, given ``dout`` (batch, seq, d_head): the core's backward gives
    dq, dk and dv, each projection's backward turns its own into a part of
    dx, and the three parts add up, because x feeds all three projections.

    The weights of the last forward stay in ``self.attention_weights``
    (batch, seq, seq), to plot what the head looks at.

    Args:
        d_model: width of each input position.
        d_head: width of the queries, keys, values and output.
        mask: which keys a query may see: ``"causal"`` (the past, a language
            model), ``"none"`` (all, an encoder) or ``"anti_causal"`` (the future).
        score: how a query scores a key: ``"scaled_dot"``, ``"dot"``,
            ``"squared_dot"`` or ``"cosine"``; each function's docstring says why.
        rng: random generator for the initial weights, N(0, 0.02²) as in GPT-2
            (a normal distribution with mean 0 and standard deviation 0.02).
        dtype: float32 (default) or float64.

    ``x``: (batch, seq, d_model), one row per position.
    """

    # the weights live in the three Dense layers: bind d_model and d_head from
    # one of them before x, so a wrong x is reported here, in the head's names
    shape_anchors = (("query.W", "d_head d_model"),)

    def __init__(self, d_model: int, d_head: int, mask: str = "causal", *,
                 score: str = "scaled_dot", rng: np.random.Generator | None = None,
                 dtype=np.float32):
        super().__init__()
        self.d_model = positive_int(self, "d_model", d_model)
        self.d_head = positive_int(self, "d_head", d_head)
        self.attend = Attention(option(self, "score", score, SCORES),
                                option(self, "mask", mask, MASKS))
        rng = rng if rng is not None else np.random.default_rng()
        for name in ("query", "key", "value"):
            setattr(self, name, Dense(d_model, d_head, rng=rng, weight_std=0.02, bias=False,
                                      dtype=dtype))

    @property
    def attention_weights(self) -> Array | None:
        """(batch, seq, seq): the weights of the last forward."""
        return self.attend.attention_weights

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_head={self.d_head}, mask={self.attend.mask}, "
                f"score={self.attend.score}")

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_head"]:
        batch, seq, _ = x.shape
        rows = x.reshape(batch * seq, self.d_model)  # one row per position (a view)
        q, k, v = (expect(name, projection.forward(rows).reshape(batch, seq, self.d_head),
                          "batch seq d_head")
                   for name, projection in (("q", self.query), ("k", self.key),
                                            ("v", self.value)))
        return self.attend.forward(q, k, v)

    @checked
    def backward(self, dout: Float[Array, "batch seq d_head"]) -> Float[Array, "batch seq d_model"]:
        batch, seq, _ = dout.shape
        dq, dk, dv = self.attend.backward(dout)
        # q = x W_qᵀ, k = x W_kᵀ, v = x W_vᵀ: x feeds all three, so its gradient
        # is the sum of the three paths (the backwards run in reverse order)
        drows = self.value.backward(dv.reshape(batch * seq, self.d_head))
        drows += self.key.backward(dk.reshape(batch * seq, self.d_head))
        drows += self.query.backward(dq.reshape(batch * seq, self.d_head))
        return drows.reshape(batch, seq, self.d_model)
