"""What every multi-head attention shares, self- or cross-: the projection into
heads, and the output half that merges the heads and projects them back."""

import numpy as np

from ..core import Array, Module, expect
from ..core.validate import head_width, option, positive_int, probability
from .attention import MASKS, SCORES, Attention
from .dense import Dense
from .dropout import Dropout


def split_heads(a: Array, n_heads: int) -> Array:
    """(batch, seq, d_model) -> (batch, n_heads, seq, d_head): head h is columns
    ``h * d_head`` to ``(h + 1) * d_head``."""
    batch, seq, d_model = a.shape
    return a.reshape(batch, seq, n_heads, d_model // n_heads).transpose(0, 2, 1, 3)


def merge_heads(a: Array) -> Array:
    """(batch, n_heads, seq, d_head) -> (batch, seq, d_model), the inverse of split_heads:
    the heads' outputs side by side."""
    batch, n_heads, seq, d_head = a.shape
    return a.transpose(0, 2, 1, 3).reshape(batch, seq, n_heads * d_head)


class MultiHead(Module):
    r"""MultiHead = Concat(head_1, ..., head_h) W_oᵀ + b_o,  head_i = attend(q_i, k_i, v_i).

    Vaswani et al. 2017, §3.2.2.  Self-attention
    (:class:`~shapesafe_nn.layers.multi_head_attention.MultiHeadAttention`)
    and cross-attention
    (:class:`~shapesafe_nn.layers.cross_attention.CrossAttention`) differ
    only in where the queries, keys and values come from; everything else
    is written here once.

    Into the heads (:meth:`_into_heads`): one ``Dense`` projection, applied
    to every position at once, makes ``parts`` arrays side by side (q, k
    and v: 3; k and v: 2; q: 1), and each is cut into n_heads heads of d_head::

        projected = x Wᵀ + b                   (batch, seq, parts*d_model)
        parts     = split(projected)           (batch, seq, d_model) each
                 -> per head                   (batch, n_heads, seq, d_head) each

    The projection runs on ``rows``, x reshaped to (batch*seq, d_model):
    every position is one row of one matrix product, the same numbers as a
    3-D product.  numpy computes a 3-D @ 2-D product as a loop of
    per-sequence products instead: 1.1 to 1.7 times slower on an idle
    machine, and far slower (17x measured) when another process shares the
    cores (``benchmarks/matmul_shapes.py``).

    Out of the heads (:meth:`_out_of_heads`), after the attention core
    ``attend`` has read every head::

        merged = Concat(heads), side by side         (batch, seq, d_model)
        out    = resid_dropout(merged W_oᵀ + b_o)    (batch, seq, d_model)

    (W_o, b_o are ``proj.W``, ``proj.b``.)  Each half has its backward
    beside it, the same lines in reverse.

    A subclass builds its projections into heads, then calls
    :meth:`_add_core_and_output`, so that one seed draws every weight in
    the order the layer uses them.
    """

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.d_model = positive_int(self, "d_model", d_model)
        self.n_heads = positive_int(self, "n_heads", n_heads)
        self.d_head = head_width(self, self.d_model, self.n_heads)

    def _add_core_and_output(self, score: str, mask: str, dropout: float,
                             rng: np.random.Generator, dtype) -> None:
        """The attention core, the output projection (N(0, 0.02²) weights, biases 0,
        as in GPT-2) and the output's dropout."""
        # each Dropout owns a generator; seeding both from rng makes one seed fix the layer
        self.attend = Attention(option(self, "score", score, SCORES),
                                option(self, "mask", mask, MASKS),
                                probability(self, "dropout", dropout),
                                seed=int(rng.integers(2**63)))
        self.proj = Dense(self.d_model, self.d_model, rng=rng, weight_std=0.02, dtype=dtype)
        self.resid_dropout = Dropout(dropout, seed=int(rng.integers(2**63)))

    @property
    def attention_weights(self) -> Array | None:
        """(batch, n_heads, seq, kv_seq): the weights of the last forward, before dropout."""
        return self.attend.attention_weights

    def _into_heads(self, projection: Dense, x: Array, parts: int) -> list[Array]:
        """x (batch, seq, d_model) -> ``parts`` arrays (batch, n_heads, seq, d_head)."""
        batch, seq, _ = x.shape
        rows = x.reshape(batch * seq, self.d_model)  # one row per position (a view)
        projected = projection.forward(rows).reshape(batch, seq, parts * self.d_model)
        return [split_heads(part, self.n_heads) for part in np.split(projected, parts, axis=-1)]

    def _into_heads_backward(self, projection: Dense, dparts: tuple[Array, ...]) -> Array:
        """dx (batch, seq, d_model) from the gradients of :meth:`_into_heads`'s parts."""
        # the parts were cut from one projection: put their gradients back side by side
        dprojected = np.concatenate([merge_heads(d) for d in dparts], axis=-1)
        batch, seq, width = dprojected.shape
        drows = projection.backward(dprojected.reshape(batch * seq, width))
        return drows.reshape(batch, seq, self.d_model)

    def _out_of_heads(self, heads: Array) -> Array:
        """heads (batch, n_heads, seq, d_head) -> out (batch, seq, d_model)."""
        batch, _, seq, _ = heads.shape
        merged = expect("merged", merge_heads(heads), "batch seq d_model")
        projected = self.proj.forward(merged.reshape(batch * seq, self.d_model))
        return self.resid_dropout.forward(projected.reshape(batch, seq, self.d_model))

    def _out_of_heads_backward(self, dout: Array) -> Array:
        """dheads (batch, n_heads, seq, d_head) from the gradient of :meth:`_out_of_heads`."""
        batch, seq, _ = dout.shape
        # out = resid_dropout(projected), projected = merged W_oᵀ + b_o on rows
        dprojected = self.resid_dropout.backward(dout).reshape(batch * seq, self.d_model)
        dmerged = expect("dmerged", self.proj.backward(dprojected).reshape(
            batch, seq, self.d_model), "batch seq d_model")
        # merged = merge_heads(heads): a reshape, undone by the inverse reshape
        return expect("dheads", split_heads(dmerged, self.n_heads), "batch n_heads seq d_head")
