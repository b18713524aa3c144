"""The attention core: each query takes a weighted average of the values, with
weights from how well it matches each key.

Every attention layer of the package is projections around this one core:
:class:`~shapesafe_nn.layers.attention_head.AttentionHead` and
:class:`~shapesafe_nn.layers.multi_head_attention.MultiHeadAttention` (self-
attention: queries, keys and values from one sequence) and
:class:`~shapesafe_nn.layers.cross_attention.CrossAttention` (queries from the
target, keys and values from the source).  So the core takes two sequence
lengths: ``q_seq`` positions that ask and ``kv_seq`` positions that answer.
Self-attention is the case q_seq = kv_seq.

This file also holds the two choices every attention layer shares, each a
small table: how a query scores a key (:data:`SCORES`) and which keys a query
may see (:data:`MASKS`).  Change one and rerun training to see what the
standard choice buys (``benchmarks/experiments.py`` does all of them).
"""

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..core import Module
from ..core import Array, Bool, Float, checked, expect
from ..core.validate import option, probability
from .activations import softmax, softmax_backward
from .dropout import Dropout


# ---------------------------------------------------------------------------
# Scores: how much query q_t likes key k_s, for every pair (t, s) at once.
#
# Each score is a forward and its backward, side by side.  ``q`` is
# (..., q_seq, d_head) and ``k`` (..., kv_seq, d_head); the forward returns
# the (..., q_seq, kv_seq) scores, always a new array (the core runs the
# softmax in place in it), and what its backward needs; the backward takes
# ``dscores`` and those, and returns ``(dq, dk)``.  Every scale is a Python
# float: an np.float64 would turn float32 scores into float64.
# ---------------------------------------------------------------------------
def scaled_dot(q: Array, k: Array) -> tuple[Array, tuple]:
    """scores = q kᵀ / √d_head: Vaswani et al. 2017, eq. 1, and the default.

    With entries of unit variance, a dot product of two d_head-wide vectors
    has variance d_head; dividing by √d_head brings it back to 1 at any
    width, so the softmax starts soft and a head can learn where to look.
    """
    return q @ k.swapaxes(-1, -2) * (1.0 / math.sqrt(q.shape[-1])), (q, k)


def scaled_dot_backward(dscores: Array, q: Array, k: Array) -> tuple[Array, Array]:
    scale = 1.0 / math.sqrt(q.shape[-1])
    # scores = q kᵀ · scale: a matrix product, so dq = dscores k, dk = dscoresᵀ q
    return dscores @ k * scale, dscores.swapaxes(-1, -2) @ q * scale


def dot(q: Array, k: Array) -> tuple[Array, tuple]:
    """scores = q kᵀ, unscaled (Luong et al. 2015's "dot" score).

    The scores' spread grows like √d_head: the wider the head, the closer
    the softmax comes to a one-hot row (saturation), and the smaller the
    gradient through it (``w ⊙ (dw - Σ dw w)`` vanishes when one w is 1).
    """
    return q @ k.swapaxes(-1, -2), (q, k)


def dot_backward(dscores: Array, q: Array, k: Array) -> tuple[Array, Array]:
    return dscores @ k, dscores.swapaxes(-1, -2) @ q


def squared_dot(q: Array, k: Array) -> tuple[Array, tuple]:
    """scores = (q kᵀ / √d_head)²: what if the similarity were squared?

    The square loses the sign.  A key pointing opposite to the query
    (q·k = -c) scores exactly as high as one pointing with it (+c), so a
    head cannot push a position away by disagreeing with it: the only way
    to ignore a key is q·k ≈ 0, a much narrower target than q·k < 0.  It is
    the square of the *scaled* score, so that the lost sign, not the width
    of the scores, is what differs from ``scaled_dot``.  Squaring each number
    before the dot product is the other reading: ``dot_of_squares``.
    """
    u, _ = scaled_dot(q, k)
    return u * u, (q, k, u)


def squared_dot_backward(dscores: Array, q: Array, k: Array, u: Array) -> tuple[Array, Array]:
    # scores = u², u = q kᵀ / √d_head: du = 2u dscores, then scaled_dot's backward
    return scaled_dot_backward(2 * u * dscores, q, k)


def dot_of_squares(q: Array, k: Array) -> tuple[Array, tuple]:
    """scores = (q ∘ q)(k ∘ k)ᵀ / √d_head: square each number first, then the dot product.

    The other reading of "what if we used a squared dot product?" (compare
    ``squared_dot``, which squares the dot product itself).  Every entry is
    squared, so the score ignores every sign: q = (1, -1) likes k = (1, 1)
    exactly as much as k = (1, -1).  All that is left of direction is how
    the squared sizes line up.  Scaled by √d_head as ``scaled_dot``.
    """
    q_squared, k_squared = q * q, k * k
    scale = 1.0 / math.sqrt(q.shape[-1])
    return q_squared @ k_squared.swapaxes(-1, -2) * scale, (q, k, q_squared, k_squared)


def dot_of_squares_backward(dscores: Array, q: Array, k: Array, q_squared: Array,
                            k_squared: Array) -> tuple[Array, Array]:
    scale = 1.0 / math.sqrt(q.shape[-1])
    # scores = (q²)(k²)ᵀ · scale, a matrix product of the squares; d(a²)/da = 2a
    dq_squared = dscores @ k_squared * scale
    dk_squared = dscores.swapaxes(-1, -2) @ q_squared * scale
    return 2 * q * dq_squared, 2 * k * dk_squared


def negative_dot(q: Array, k: Array) -> tuple[Array, tuple]:
    """scores = -q kᵀ / √d_head: what if the inverse of the dot product?

    A query now prefers the keys that point *away* from it.  Nothing is lost:
    -q·k = q·(-k), so a head with this score computes exactly what a
    ``scaled_dot`` head computes with W_k negated, and training can find that
    W_k as easily.  It should learn as well: the experiment that says so is
    the check that the sign of a score is only a convention.
    """
    scores, saved = scaled_dot(q, k)
    return np.negative(scores, out=scores), saved


def negative_dot_backward(dscores: Array, q: Array, k: Array) -> tuple[Array, Array]:
    # scores = -(scaled_dot): the same backward, with the sign of dscores flipped
    return scaled_dot_backward(-dscores, q, k)


def negative_squared_distance(q: Array, k: Array) -> tuple[Array, tuple]:
    """scores = -‖q - k‖² / √d_head: the nearer the key, the higher the score.

    Another reading of "inverse": a distance instead of a similarity.
    -‖q - k‖² = 2 q·k - ‖q‖² - ‖k‖²: twice the dot product, minus ‖q‖², which
    is the same for every key of a row and so changes no softmax weight, minus
    ‖k‖², which penalizes long keys.  So it is a dot product with a key-length
    term: a key can no longer win a query just by being long.
    """
    q_length = (q * q).sum(axis=-1, keepdims=True)  # (..., q_seq, 1)
    k_length = (k * k).sum(axis=-1)[..., None, :]  # (..., 1, kv_seq)
    scores = q @ k.swapaxes(-1, -2)
    scores *= 2.0
    scores -= q_length
    scores -= k_length
    scores *= 1.0 / math.sqrt(q.shape[-1])
    return scores, (q, k)


def negative_squared_distance_backward(dscores: Array, q: Array,
                                       k: Array) -> tuple[Array, Array]:
    scale = 1.0 / math.sqrt(q.shape[-1])
    # scores = (2 q kᵀ - ‖q‖² - ‖k‖²) · scale: each query's row sums its dscores
    # into the ‖q‖² term, each key's column into the ‖k‖² term
    dq = (2 * (dscores @ k) - 2 * q * dscores.sum(axis=-1, keepdims=True)) * scale
    dk = (2 * (dscores.swapaxes(-1, -2) @ q)
          - 2 * k * dscores.sum(axis=-2)[..., None]) * scale
    return dq, dk


def _unit(a: Array) -> tuple[Array, Array]:
    """(a / ‖a‖, ‖a‖) along the last axis.  ‖a‖ = √(Σa² + 1e-30): the 1e-30
    only keeps a zero vector from dividing 0 by 0, and is far below any real Σa²."""
    norm = np.sqrt((a * a).sum(axis=-1, keepdims=True) + 1e-30)
    return a / norm, norm


def _unit_backward(dunit: Array, unit: Array, norm: Array) -> Array:
    # â = a / ‖a‖: da = (dâ - â (â·dâ)) / ‖a‖, dâ without its part along â,
    # because a change of a's length does not change â
    return (dunit - unit * (unit * dunit).sum(axis=-1, keepdims=True)) / norm


def cosine(q: Array, k: Array) -> tuple[Array, tuple]:
    """scores = √d_head · cos(q, k) = √d_head (q/‖q‖)(k/‖k‖)ᵀ: "QK-norm".

    Henry et al. 2020, *Query-Key Normalization for Transformers* (with a
    learned temperature; Dehghani et al. 2023 normalize q and k for the same
    reason in ViT-22B).  Why: whatever the weights grow to, every score stays
    in [-√d_head, √d_head], so the scores cannot grow without bound and the
    softmax cannot become arbitrarily sharp; the fixed temperature √d_head (4
    at d_head 16) still lets one key be up to e^(2√d_head) (about 3,000)
    times as likely as another, so with few keys a row can still come close
    to one-hot.  The price: a head cannot make its scores as sharp as it likes.
    """
    q_unit, q_norm = _unit(q)
    k_unit, k_norm = _unit(k)
    scores = q_unit @ k_unit.swapaxes(-1, -2) * math.sqrt(q.shape[-1])
    return scores, (q_unit, k_unit, q_norm, k_norm)


def cosine_backward(dscores: Array, q_unit: Array, k_unit: Array, q_norm: Array,
                    k_norm: Array) -> tuple[Array, Array]:
    temperature = math.sqrt(q_unit.shape[-1])
    # scores = q̂ k̂ᵀ · temperature, then each unit vector back to its vector
    dq_unit = dscores @ k_unit * temperature
    dk_unit = dscores.swapaxes(-1, -2) @ q_unit * temperature
    return _unit_backward(dq_unit, q_unit, q_norm), _unit_backward(dk_unit, k_unit, k_norm)


class Score(NamedTuple):
    forward: Callable[[Array, Array], tuple[Array, tuple]]
    backward: Callable[..., tuple[Array, Array]]


SCORES: dict[str, Score] = {
    "scaled_dot": Score(scaled_dot, scaled_dot_backward),
    "dot": Score(dot, dot_backward),
    "squared_dot": Score(squared_dot, squared_dot_backward),
    "cosine": Score(cosine, cosine_backward),
    "dot_of_squares": Score(dot_of_squares, dot_of_squares_backward),
    "negative_dot": Score(negative_dot, negative_dot_backward),
    "negative_squared_distance": Score(negative_squared_distance,
                                       negative_squared_distance_backward),
}


# ---------------------------------------------------------------------------
# Masks: (q_seq, kv_seq) booleans, True where query t must not see key s.
# Each is built once per size and shared (read-only) by every layer that asks.
#
# When q_seq < kv_seq, the queries are the *last* q_seq positions of the
# key sequence (as when a decoder extends a sequence one token at a time):
# query t sits at position t + kv_seq - q_seq.  For q_seq = kv_seq that is
# the usual square mask, and every mask leaves the diagonal visible.
# ---------------------------------------------------------------------------
def _read_only(array: Array) -> Array:
    array.flags.writeable = False
    return array


@functools.cache
def causal_mask(q_seq: int, kv_seq: int | None = None) -> Array:
    """True where key s lies after query t: each position sees itself and the
    past (a language model).  Square (q_seq, q_seq) when kv_seq is left out."""
    kv_seq = q_seq if kv_seq is None else kv_seq
    return _read_only(np.triu(np.ones((q_seq, kv_seq), dtype=bool), k=1 + kv_seq - q_seq))


@functools.cache
def no_mask(q_seq: int, kv_seq: int | None = None) -> Array:
    """All False: every query sees every key (an encoder, as BERT; cross-attention)."""
    kv_seq = q_seq if kv_seq is None else kv_seq
    return _read_only(np.zeros((q_seq, kv_seq), dtype=bool))


@functools.cache
def anti_causal_mask(q_seq: int, kv_seq: int | None = None) -> Array:
    """True where key s lies before query t: each position sees itself and the future only."""
    kv_seq = q_seq if kv_seq is None else kv_seq
    return _read_only(np.tril(np.ones((q_seq, kv_seq), dtype=bool), k=-1 + kv_seq - q_seq))


MASKS: dict[str, Callable[..., Array]] = {
    "causal": causal_mask,
    "none": no_mask,
    "anti_causal": anti_causal_mask,
}


@functools.cache
def mask_bias(mask: str, q_seq: int, kv_seq: int, dtype) -> Array:
    """(q_seq, kv_seq): -∞ where ``MASKS[mask]`` hides a key, 0 elsewhere.

    ``scores + mask_bias(...)`` applies the mask as one addition that
    broadcasts over batch (and heads): faster than writing -∞ through a
    boolean index, and the same numbers, since e^-∞ = 0 exactly.  Built once
    per (mask, q_seq, kv_seq, dtype).  A mask that hides every key of some
    query is refused here, once, instead of at every call.
    """
    hidden = MASKS[mask](q_seq, kv_seq)
    _refuse_blind_queries(hidden[None], f"the {mask!r} mask")
    return _read_only(np.where(hidden, -np.inf, 0.0).astype(dtype))


def _refuse_blind_queries(hidden: Array, what: str) -> None:
    """Refuse a (batch, q_seq, kv_seq) ``hidden`` with a row of only True: that
    query's softmax would be over no key at all, 0/0 = NaN."""
    blind = hidden.all(axis=-1)  # (batch, q_seq)
    if blind.any():
        row, query = (int(i) for i in np.argwhere(blind)[0])
        raise ValueError(f"Attention.forward: query {query} of sequence {row} can see no key: "
                         f"all {hidden.shape[-1]} are hidden by {what}, and a softmax over no "
                         f"key is 0/0 = NaN")


class Attention(Module):
    r"""out = softmax(score(q, k) + mask) v: the core of every attention layer.

    Vaswani et al. 2017, *Attention Is All You Need*, eq. 1, with the score
    and mask taken from the tables above::

        scores  = score(q, k)               (batch, *heads, q_seq, kv_seq)
        scores += -∞ where the mask or the key padding hides a key
        weights = softmax(scores)           over the keys, the last axis
        out     = dropout(weights) v        (batch, *heads, q_seq, d_head)

    ``*heads`` is ``n_heads`` in multi-head attention and nothing in a single
    head.  Row ``t`` of ``weights`` says how much query ``t`` takes from each
    key ``s``; a hidden key gets weight exactly 0.

    Two kinds of mask, both True where a key is hidden:

    - ``mask`` (q_seq, kv_seq), the same for every sequence: by name from
      :data:`MASKS` in the constructor, or an array given to ``forward``;
    - ``key_padding_mask`` (batch, kv_seq): per sequence, the padding that
      makes sentences of different lengths one rectangular batch.

    A query that would see no key at all is an error, never NaN.

    Backward undoes each line in turn.  Through the softmax,
    ``dscores = w ⊙ (dw - Σ_s dw ⊙ w)`` per row (:func:`softmax_backward`); a
    hidden key has ``w = 0`` and so gets no gradient: the masks need no
    backward of their own.  The score has its own backward, next to it above.

    The weights of the last forward stay in ``self.attention_weights``
    (before dropout), to plot what each query looks at.

    Args:
        score: how a query scores a key, a name in :data:`SCORES`.
        mask: which keys a query may see, a name in :data:`MASKS`.
        dropout: probability for the dropout on the weights (nanoGPT's
            ``attn_dropout``).
        seed: seeds the dropout's generator.
    """

    def __init__(self, score: str = "scaled_dot", mask: str = "causal", dropout: float = 0.0,
                 *, seed: int | None = None):
        super().__init__()
        self.score = option(self, "score", score, SCORES)
        self.mask = option(self, "mask", mask, MASKS)
        self.dropout = Dropout(probability(self, "dropout", dropout), seed=seed)
        self.attention_weights: Array | None = None

    def extra_repr(self) -> str:
        return f"score={self.score}, mask={self.mask}"

    def _hiding_bias(self, scores: Array, mask: Array | None,
                     key_padding_mask: Array | None) -> Array:
        """What to add to ``scores`` (broadcasting): -∞ on every hidden key."""
        q_seq, kv_seq = scores.shape[-2:]
        if mask is None and key_padding_mask is None:
            return mask_bias(self.mask, q_seq, kv_seq, scores.dtype)  # checked once, cached
        hidden = MASKS[self.mask](q_seq, kv_seq) if mask is None else mask
        if key_padding_mask is None:
            _refuse_blind_queries(hidden[None], "the mask")
            return np.where(hidden, -np.inf, 0.0).astype(scores.dtype)
        # (batch, q_seq, kv_seq): a key is hidden by the mask or by padding
        hidden = hidden[None] | key_padding_mask[:, None, :]
        _refuse_blind_queries(hidden, "the mask and the key padding together")
        heads = (1,) * (scores.ndim - 3)  # broadcast over the head axis, if any
        batch = hidden.shape[0]
        return np.where(hidden, -np.inf, 0.0).astype(scores.dtype).reshape(
            batch, *heads, q_seq, kv_seq)

    @checked
    def forward(self, q: Float[Array, "batch *heads q_seq d_head"],
                k: Float[Array, "batch *heads kv_seq d_head"],
                v: Float[Array, "batch *heads kv_seq d_head"],
                mask: Bool[Array, "q_seq kv_seq"] | None = None,
                key_padding_mask: Bool[Array, "batch kv_seq"] | None = None,
                ) -> Float[Array, "batch *heads q_seq d_head"]:
        scores, score_saved = SCORES[self.score].forward(q, k)
        expect("scores", scores, "batch *heads q_seq kv_seq")
        scores += self._hiding_bias(scores, mask, key_padding_mask)
        # softmax over the keys, in place in `scores` (the largest array here)
        weights = expect("weights", softmax(scores, out=scores), "batch *heads q_seq kv_seq")
        dropped = expect("dropped", self.dropout.forward(weights), "batch *heads q_seq kv_seq")
        out = dropped @ v
        self.save_for_backward(v=v, weights=weights, dropped=dropped, score_saved=score_saved)
        self.attention_weights = weights
        return out

    @checked
    def backward(self, dout: Float[Array, "batch *heads q_seq d_head"]
                 ) -> tuple[Float[Array, "batch *heads q_seq d_head"],
                            Float[Array, "batch *heads kv_seq d_head"],
                            Float[Array, "batch *heads kv_seq d_head"]]:
        v, weights, dropped, score_saved = (
            self.saved[name] for name in ("v", "weights", "dropped", "score_saved"))
        # out = dropped @ v
        ddropped = expect("ddropped", dout @ v.swapaxes(-1, -2), "batch *heads q_seq kv_seq")
        dv = expect("dv", dropped.swapaxes(-1, -2) @ dout, "batch *heads kv_seq d_head")
        # dropped = dropout(weights)
        dweights = self.dropout.backward(ddropped)
        # weights = softmax(scores), in dweights' memory (nothing reads it again)
        dscores = expect("dscores", softmax_backward(dweights, weights, out=dweights),
                         "batch *heads q_seq kv_seq")
        # scores = score(q, k): its own backward
        dq, dk = SCORES[self.score].backward(dscores, *score_saved)
        return dq, dk, dv
