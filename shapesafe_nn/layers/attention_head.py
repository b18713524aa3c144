"""One attention head: every position takes a weighted average of the values
at the positions it attends to, with weights from query-key similarity.

This file also holds the two choices both attention layers share, each a
small table: how a query scores a key (:data:`SCORES`) and which keys a
query may see (:data:`MASKS`).  Change one and rerun training to see what
the standard choice buys (``benchmarks/experiments.py`` does all of them).
"""

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..module import Module, Parameter
from ..shapes import Array, Float, checked, expect
from .dense import positive_int


def option(layer: str, argument: str, value, allowed) -> str:
    """``value`` if it is one of the names in ``allowed``, else a ValueError naming them."""
    if not (isinstance(value, str) and value in allowed):
        raise ValueError(f"{layer}: {argument} must be one of {', '.join(allowed)}, "
                         f"not {value!r}")
    return value


# ---------------------------------------------------------------------------
# Scores: how much query q_t likes key k_s, for every pair (t, s) at once.
#
# Each score is a forward and its backward, side by side.  ``q`` and ``k``
# are (..., seq, d_head): (batch, seq, d_head) in an AttentionHead,
# (batch, n_heads, seq, d_head) in MultiHeadAttention.  The forward returns
# the (..., seq, seq) scores, always a new array (the layers run the softmax
# in place in it), and what its backward needs; the backward takes
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
    of the scores, is what differs from ``scaled_dot``.
    """
    u, _ = scaled_dot(q, k)
    return u * u, (q, k, u)


def squared_dot_backward(dscores: Array, q: Array, k: Array, u: Array) -> tuple[Array, Array]:
    # scores = u², u = q kᵀ / √d_head: du = 2u dscores, then scaled_dot's backward
    return scaled_dot_backward(2 * u * dscores, q, k)


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
    in [-√d_head, √d_head], so the softmax cannot saturate and its gradient
    cannot vanish; the fixed temperature √d_head (4 at d_head 16) still lets
    one key be up to e^(2√d_head) (about 3,000) times as likely as another.
    The price: a head cannot grow its scores to become as sharp as it likes.
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
}


# ---------------------------------------------------------------------------
# Masks: (seq, seq) booleans, True where query t must not see key s.  Each is
# built once per ``seq`` and shared (read-only) by every layer that asks.
# Every mask leaves the diagonal visible, so no row of scores is all -∞.
# ---------------------------------------------------------------------------
def _read_only(array: Array) -> Array:
    array.flags.writeable = False
    return array


@functools.cache
def causal_mask(seq: int) -> Array:
    """True above the diagonal: position t sees itself and the past (a language model)."""
    return _read_only(np.triu(np.ones((seq, seq), dtype=bool), k=1))


@functools.cache
def no_mask(seq: int) -> Array:
    """All False: every position sees every other (an encoder, as BERT)."""
    return _read_only(np.zeros((seq, seq), dtype=bool))


@functools.cache
def anti_causal_mask(seq: int) -> Array:
    """True below the diagonal: position t sees itself and the future only."""
    return _read_only(np.tril(np.ones((seq, seq), dtype=bool), k=-1))


MASKS: dict[str, Callable[[int], Array]] = {
    "causal": causal_mask,
    "none": no_mask,
    "anti_causal": anti_causal_mask,
}


@functools.cache
def mask_bias(mask: str, seq: int, dtype) -> Array:
    """(seq, seq): -∞ where ``MASKS[mask]`` hides a key, 0 elsewhere.

    ``scores + mask_bias(...)`` applies the mask as one addition that
    broadcasts over batch (and heads): faster than writing -∞ through a
    boolean index, and the same numbers.  Built once per (mask, seq, dtype).
    """
    return _read_only(np.where(MASKS[mask](seq), -np.inf, 0.0).astype(dtype))


class AttentionHead(Module):
    r"""Scaled dot-product attention with its own projections, one head.

    Vaswani et al. 2017, *Attention Is All You Need*, eq. 1, and the
    ``Head`` of Karpathy's *Let's build GPT*::

        Q = x W_q,  K = x W_k,  V = x W_v          (batch, seq, d_head) each
        scores  = Q Kᵀ / √d_head                   (batch, seq, seq)
        scores[:, t, s] = -∞ for s > t  (causal)   a position sees only the past
        weights = softmax(scores) over the last axis (batch, seq, seq)
        out     = weights V                        (batch, seq, d_head)

    Row ``t`` of ``weights`` says how much position ``t`` takes from each
    position ``s``; dividing by √d_head keeps the scores of order 1 so the
    softmax does not saturate.  The projections multiply from the right, as
    in the paper (``W_q`` is d_model × d_head); torch's ``nn.Linear`` and our
    :class:`~shapesafe_nn.layers.dense.Dense` store the transpose.  No
    biases, as in *Let's build GPT*.

    The second and third lines are options, to try what else could be there:
    ``score`` picks a function of :data:`SCORES` (``scaled_dot``, the line
    above; ``dot``, ``squared_dot``, ``cosine``) and ``mask`` one of
    :data:`MASKS` (``causal``, the line above; ``none``, ``anti_causal``).

    Backward, given ``dout`` (batch, seq, d_head), undoes each line in turn.
    Through the softmax: ``dscores = w ⊙ (dw - Σ_s dw ⊙ w)`` per row.  A
    masked entry has ``w = 0``, so its ``dscores`` is 0: the mask needs no
    backward of its own.  Each score has its own backward, next to it.

    The weights of the last forward stay in ``self.attention_weights``
    (batch, seq, seq), to plot what the head looks at.

    Args:
        d_model: width of each input position.
        d_head: width of the queries, keys, values and output.
        mask: which keys a query may see: ``"causal"`` (the past, a language
            model), ``"none"`` (all, an encoder) or ``"anti_causal"`` (the future).
        score: how a query scores a key: ``"scaled_dot"``, ``"dot"``,
            ``"squared_dot"`` or ``"cosine"``; each function's docstring says why.
        rng: random generator for the initial weights, N(0, 0.02²) as in GPT-2.
        dtype: float32 (default) or float64.

    ``x``: (batch, seq, d_model), one row per position.
    """

    def __init__(self, d_model: int, d_head: int, mask: str = "causal", *,
                 score: str = "scaled_dot", rng: np.random.Generator | None = None,
                 dtype=np.float32):
        super().__init__()
        self.d_model = positive_int("AttentionHead", "d_model", d_model)
        self.d_head = positive_int("AttentionHead", "d_head", d_head)
        self.mask = option("AttentionHead", "mask", mask, MASKS)
        self.score = option("AttentionHead", "score", score, SCORES)
        rng = rng if rng is not None else np.random.default_rng()
        for name in ("W_q", "W_k", "W_v"):
            weight = (rng.standard_normal((d_model, d_head)) * 0.02).astype(dtype)
            setattr(self, name, Parameter(weight, "d_model d_head"))
        self.attention_weights: Array | None = None

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_head={self.d_head}, mask={self.mask}, "
                f"score={self.score}")

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_head"]:
        q = expect("q", x @ self.W_q.value, "batch seq d_head")
        k = expect("k", x @ self.W_k.value, "batch seq d_head")
        v = expect("v", x @ self.W_v.value, "batch seq d_head")
        scores, score_saved = SCORES[self.score].forward(q, k)
        expect("scores", scores, "batch seq seq")
        scores += mask_bias(self.mask, x.shape[1], scores.dtype)
        # softmax over the keys; subtracting the row max (never -inf: every
        # mask leaves the diagonal visible) keeps exp from overflowing
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights = expect("weights", e / e.sum(axis=-1, keepdims=True), "batch seq seq")
        out = expect("out", weights @ v, "batch seq d_head")
        self.save_for_backward(x=x, v=v, weights=weights, score_saved=score_saved)
        self.attention_weights = weights
        return out

    @checked
    def backward(self, dout: Float[Array, "batch seq d_head"]) -> Float[Array, "batch seq d_model"]:
        x, v, weights, score_saved = (self.saved[name]
                                      for name in ("x", "v", "weights", "score_saved"))
        # out = weights @ v
        dweights = expect("dweights", dout @ v.transpose(0, 2, 1), "batch seq seq")
        dv = expect("dv", weights.transpose(0, 2, 1) @ dout, "batch seq d_head")
        # weights = e / e.sum(axis=-1)  (softmax; masked entries have weight 0,
        # so they get dscores = 0 and the -inf never enters a product)
        dscores = weights * (dweights - (dweights * weights).sum(axis=-1, keepdims=True))
        expect("dscores", dscores, "batch seq seq")
        # scores = score(q, k): its own backward
        dq, dk = SCORES[self.score].backward(dscores, *score_saved)
        expect("dq", dq, "batch seq d_head")
        expect("dk", dk, "batch seq d_head")
        # q = x @ W_q, k = x @ W_k, v = x @ W_v: each dW = xᵀ d(q|k|v), summed
        # over batch and seq (tensordot over axes 0 and 1); x feeds all three
        # projections, so its gradient is the sum of the three paths
        self.W_q.grad += np.tensordot(x, dq, axes=([0, 1], [0, 1]))
        self.W_k.grad += np.tensordot(x, dk, axes=([0, 1], [0, 1]))
        self.W_v.grad += np.tensordot(x, dv, axes=([0, 1], [0, 1]))
        return dq @ self.W_q.value.T + dk @ self.W_k.value.T + dv @ self.W_v.value.T
