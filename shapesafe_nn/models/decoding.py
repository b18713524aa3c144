"""Decoding: turn a trained translator's next-token scores into a sentence.

Training sees the whole target at once (teacher forcing); a translation has
no target to read, so the decoder writes one token at a time and reads its
own output back::

    memory = encode(source)                  (batch, src_seq, d_model), once
    out = [BOS]                              (batch, 1)
    repeat: logits = decode(out, memory)[:, -1]   (batch, vocab)
            out = out + [argmax logits]      (batch, length + 1)
    until every sentence has written EOS, or max_new_tokens steps.

That is :func:`greedy_decode`, which takes the most likely token at each
step.  :func:`beam_search` keeps the ``beam_size`` most likely prefixes
instead, so that a token that looks worse now can win later.

Each decoder block keeps the keys and values of its self-attention in a
:class:`~shapesafe_nn.layers.kv_cache.KVCache`, and those of the source its
cross-attention reads in another (a
:class:`~shapesafe_nn.layers.decoder_block.DecoderCache` per block, from
``Translator.new_cache``), so a step feeds the decoder the newest token
alone and costs one position's work::

    step 1: decode([BOS], memory, cache)        keys, values (batch, n_heads, 1, d_head)
                                                 the source's (batch, n_heads, src_seq, d_head)
    step t: decode([token t-1], memory, cache)   keys, values (batch, n_heads, t, d_head)
                                                 the source's, as computed at step 1

``use_cache=False`` recomputes the whole prefix each step instead; both give
the same tokens (``tests/models/test_decoding.py``).
"""

import contextlib

import numpy as np

from ..core import no_grad
from ..core import Array
from ..tokenizers.words import BOS_ID, EOS_ID, PAD_ID
from ..core.validate import non_negative_number, positive_int
from .translator import Translator


def greedy_decode(model: Translator, src_ids: Array, src_padding_mask: Array | None = None,
                  max_new_tokens: int | None = None, use_cache: bool = True) -> Array:
    """The most likely next token at each step, for a whole batch at once.

    Args:
        model: the translator; run in eval mode (no dropout) and inside
            ``no_grad()``, and put back in the mode it was in.
        src_ids: (batch, src_seq) source token ids, padded with PAD.
        src_padding_mask: (batch, src_seq), True at the padding.
        max_new_tokens: the most tokens written after BOS; the default,
            ``max_len - 1``, fills the model's position table.
        use_cache: keep each decoder block's keys and values (the default),
            or recompute the whole prefix at every step.

    Returns (batch, 1 + steps) token ids: BOS, the translation, EOS, and PAD
    after the EOS of a sentence that finished before the longest one.  A
    sentence that never writes EOS stops after ``max_new_tokens``.
    """
    max_new_tokens = checked_max_new_tokens("greedy_decode", model, max_new_tokens)
    with inference(model):
        memory = model.encode(src_ids, src_padding_mask)  # once, for every step
        out = np.full((len(src_ids), 1), BOS_ID, dtype=np.int64)
        finished = np.zeros(len(src_ids), dtype=bool)
        cache = model.new_cache() if use_cache else None
        for _ in range(max_new_tokens):
            logits = next_token_logits(model, out, memory, src_padding_mask, cache)
            next_ids = logits.argmax(axis=-1)
            next_ids[finished] = PAD_ID  # a finished sentence only pads
            out = np.concatenate([out, next_ids[:, None]], axis=1)
            finished |= next_ids == EOS_ID
            if finished.all():
                break
    return out


def beam_search(model: Translator, src_ids: Array, src_padding_mask: Array | None = None,
                beam_size: int = 4, length_penalty: float = 0.6,
                max_new_tokens: int | None = None, use_cache: bool = True) -> Array:
    """The best of ``beam_size`` prefixes kept at each step, for a whole batch at once.

    Each sentence keeps ``beam_size`` hypotheses, prefixes with the sum of
    their tokens' log-probabilities.  At each step every hypothesis is
    extended by every token of the vocabulary, and the ``beam_size`` best of
    those beam_size · vocab candidates are kept::

        memory                        (batch · beam, src_seq, d_model)  each sentence's, repeated
        prefixes                      (batch · beam, length)
        log p(next token)             (batch · beam, vocab)
        candidates = score + log p    (batch, beam · vocab)   -> keep the beam best

    A hypothesis that wrote EOS is finished: it stays in the beam with its
    score, extended by PAD at no cost, and competes with the others.  The
    search stops when every hypothesis is finished, or after
    ``max_new_tokens``.  Then each sentence's answer is the hypothesis of the
    best score divided by the length penalty of Wu et al. 2016 (GNMT, eq. 14),
    ``lp = ((5 + length) / 6) ** length_penalty``: log-probabilities only
    fall as a sentence grows, so without it (``length_penalty`` 0) the
    search prefers short answers.  ``beam_size`` 1 is :func:`greedy_decode`.

    Args and result as :func:`greedy_decode`; ``beam_size`` is at least 1,
    ``length_penalty`` (α) at least 0.
    """
    beam = positive_int("beam_search", "beam_size", beam_size)
    alpha = non_negative_number("beam_search", "length_penalty", length_penalty)
    max_new_tokens = checked_max_new_tokens("beam_search", model, max_new_tokens)
    batch = len(src_ids)
    with inference(model):
        memory = np.repeat(model.encode(src_ids, src_padding_mask), beam, axis=0)
        mask = None if src_padding_mask is None else np.repeat(src_padding_mask, beam, axis=0)
        out = np.full((batch * beam, 1), BOS_ID, dtype=np.int64)
        # every hypothesis starts as the same BOS: only the first may grow, or
        # the beam would fill with beam copies of one prefix
        score = np.full((batch, beam), -np.inf)
        score[:, 0] = 0.0
        finished = np.zeros((batch, beam), dtype=bool)
        length = np.zeros((batch, beam), dtype=np.int64)  # tokens written, EOS included
        cache = model.new_cache() if use_cache else None
        for _ in range(max_new_tokens):
            logits = next_token_logits(model, out, memory, mask, cache)
            log_p = log_softmax(logits.astype(np.float64))
            vocab = log_p.shape[-1]
            log_p = log_p.reshape(batch, beam, vocab)
            # a finished hypothesis has one continuation, PAD, which costs nothing
            log_p[finished] = -np.inf
            log_p[finished, PAD_ID] = 0.0
            candidates = (score[:, :, None] + log_p).reshape(batch, beam * vocab)
            # stable: of equal candidates the first wins, as argmax picks in greedy_decode
            best = np.argsort(-candidates, axis=-1, kind="stable")[:, :beam]  # (batch, beam)
            parent, token = np.divmod(best, vocab)
            rows = (np.arange(batch)[:, None] * beam + parent).ravel()
            score = np.take_along_axis(candidates, best, axis=-1)
            was_finished = np.take_along_axis(finished, parent, axis=-1)
            length = np.take_along_axis(length, parent, axis=-1) + ~was_finished
            finished = was_finished | (token == EOS_ID)
            out = np.concatenate([out[rows], token.reshape(-1, 1)], axis=1)
            for block_cache in cache or []:  # each kept prefix, with its keys and values
                block_cache.select(rows)  # and its source's, the same rows of the memory
            if finished.all():
                break
        penalty = ((5.0 + length) / 6.0) ** alpha
        chosen = np.argmax(score / penalty, axis=-1)  # (batch,)
    return out.reshape(batch, beam, -1)[np.arange(batch), chosen]


def checked_max_new_tokens(where: str, model: Translator, max_new_tokens: int | None) -> int:
    """``max_new_tokens``, or the default ``max_len - 1`` (BOS and the answer
    fill the model's position table); more is a ValueError."""
    longest = model.config.max_len - 1
    if max_new_tokens is None:
        return longest
    positive_int(where, "max_new_tokens", max_new_tokens)
    if max_new_tokens > longest:
        raise ValueError(f"{where}: max_new_tokens is {max_new_tokens}, but BOS and "
                         f"{max_new_tokens} tokens exceed the model's max_len "
                         f"{model.config.max_len}; at most {longest}")
    return max_new_tokens


@contextlib.contextmanager
def inference(model: Translator):
    """Eval mode (no dropout) and ``no_grad()`` (no records kept: nothing here
    is differentiated); the model's mode is put back after."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        model.train(was_training)


def next_token_logits(model: Translator, prefixes: Array, memory: Array,
                      src_padding_mask: Array | None, cache) -> Array:
    """(batch, vocab): the scores of each prefix's next token, h[:, -1] Eᵀ with the
    tied output projection E.  With a cache, only the newest token is fed: the
    cache holds the keys and values of the ones before it."""
    new = prefixes if cache is None else prefixes[:, -1:]
    h = model.decode(new, memory, src_padding_mask, cache=cache)  # (batch, new, d_model)
    return h[:, -1] @ model.tgt_embedding.W.value.T


def log_softmax(logits: Array) -> Array:
    """log p = logits - log Σ exp(logits), over the last axis, by log-sum-exp."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
