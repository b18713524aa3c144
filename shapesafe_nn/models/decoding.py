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

The special ids (PAD, BOS, EOS) are the target tokenizer's: pass its
``specials``.  How long a translation may grow is ``max_new_tokens``, one
number for the batch or one per sentence; :func:`length_limits` bounds each
by its source, 1.5 × its length + 10 tokens, for a joint vocabulary, where a
source token and a target token are the same kind of piece.
"""

import contextlib

import numpy as np

from ..core import no_grad
from ..core import Array
from ..core.validate import non_negative_number, positive_int
from ..tokenizers.protocol import SpecialIds
from .translator import Translator

# Where both translator tokenizers (words.py, subwords.py) put PAD, BOS and EOS:
# what the decoding functions assume when they are not given a tokenizer's specials
FIRST_THREE = SpecialIds(pad=0, bos=1, eos=2)
# a translation's length bound: LENGTH_RATIO × the source's tokens + LENGTH_EXTRA
LENGTH_RATIO, LENGTH_EXTRA = 1.5, 10


def length_limits(src_padding_mask: Array, max_len: int, ratio: float = LENGTH_RATIO,
                  extra: int = LENGTH_EXTRA) -> Array:
    """(batch,): the most tokens each sentence's translation may write after
    BOS, ``ceil(ratio · source length + extra)``, at most ``max_len - 1``.

    A translation is about as long as its source when both are counted in
    the same pieces; a decoder that has not learned to stop would otherwise
    run to ``max_len`` on every sentence, and the longest sets the batch's
    pace.  ``src_padding_mask`` (batch, src_seq) is True at the padding.
    """
    lengths = (~np.asarray(src_padding_mask, dtype=bool)).sum(axis=-1)
    return np.minimum(np.ceil(ratio * lengths + extra).astype(np.int64), max_len - 1)


def greedy_decode(model: Translator, src_ids: Array, src_padding_mask: Array | None = None,
                  max_new_tokens: int | Array | None = None, use_cache: bool = True, *,
                  specials: SpecialIds = FIRST_THREE) -> Array:
    """The most likely next token at each step, for a whole batch at once.

    Args:
        model: the translator; run in eval mode (no dropout) and inside
            ``no_grad()``, and put back in the mode it was in.
        src_ids: (batch, src_seq) source token ids, padded with PAD.
        src_padding_mask: (batch, src_seq), True at the padding.
        max_new_tokens: the most tokens written after BOS, for the batch or
            (batch,) one per sentence (:func:`length_limits`); the default,
            ``max_len - 1``, fills the model's position table.
        use_cache: keep each decoder block's keys and values (the default),
            or recompute the whole prefix at every step.
        specials: the target tokenizer's special ids (PAD, BOS, EOS).

    Returns (batch, 1 + steps) token ids: BOS, the translation, EOS, and PAD
    after the EOS of a sentence that finished before the longest one.  A
    sentence that never writes EOS stops after its ``max_new_tokens``.
    """
    batch = len(src_ids)
    limits = checked_max_new_tokens("greedy_decode", model, max_new_tokens, batch)
    pad, bos, eos = checked_specials("greedy_decode", specials)
    with inference(model):
        memory = model.encode(src_ids, src_padding_mask)  # once, for every step
        out = np.full((batch, 1), bos, dtype=np.int64)
        finished = np.zeros(batch, dtype=bool)
        cache = model.new_cache() if use_cache else None
        for step in range(int(limits.max())):
            logits = next_token_logits(model, out, memory, src_padding_mask, cache)
            next_ids = logits.argmax(axis=-1)
            next_ids[finished] = pad  # a finished sentence only pads
            out = np.concatenate([out, next_ids[:, None]], axis=1)
            finished |= (next_ids == eos) | (step + 1 >= limits)
            if finished.all():
                break
    return out


def beam_search(model: Translator, src_ids: Array, src_padding_mask: Array | None = None,
                beam_size: int = 4, length_penalty: float = 0.6,
                max_new_tokens: int | Array | None = None, use_cache: bool = True, *,
                specials: SpecialIds = FIRST_THREE) -> Array:
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
    batch = len(src_ids)
    limits = checked_max_new_tokens("beam_search", model, max_new_tokens, batch)
    pad, bos, eos = checked_specials("beam_search", specials)
    with inference(model):
        memory = np.repeat(model.encode(src_ids, src_padding_mask), beam, axis=0)
        mask = None if src_padding_mask is None else np.repeat(src_padding_mask, beam, axis=0)
        out = np.full((batch * beam, 1), bos, dtype=np.int64)
        # every hypothesis starts as the same BOS: only the first may grow, or
        # the beam would fill with beam copies of one prefix
        score = np.full((batch, beam), -np.inf)
        score[:, 0] = 0.0
        finished = np.zeros((batch, beam), dtype=bool)
        length = np.zeros((batch, beam), dtype=np.int64)  # tokens written, EOS included
        cache = model.new_cache() if use_cache else None
        for step in range(int(limits.max())):
            logits = next_token_logits(model, out, memory, mask, cache)
            log_p = log_softmax(logits.astype(np.float64))
            vocab = log_p.shape[-1]
            log_p = log_p.reshape(batch, beam, vocab)
            # a finished hypothesis has one continuation, PAD, which costs nothing
            log_p[finished] = -np.inf
            log_p[finished, pad] = 0.0
            candidates = (score[:, :, None] + log_p).reshape(batch, beam * vocab)
            # stable: of equal candidates the first wins, as argmax picks in greedy_decode
            best = np.argsort(-candidates, axis=-1, kind="stable")[:, :beam]  # (batch, beam)
            parent, token = np.divmod(best, vocab)
            rows = (np.arange(batch)[:, None] * beam + parent).ravel()
            score = np.take_along_axis(candidates, best, axis=-1)
            was_finished = np.take_along_axis(finished, parent, axis=-1)
            length = np.take_along_axis(length, parent, axis=-1) + ~was_finished
            # a sentence at its length limit ends each of its hypotheses there
            finished = was_finished | (token == eos) | (step + 1 >= limits[:, None])
            out = np.concatenate([out[rows], token.reshape(-1, 1)], axis=1)
            for block_cache in cache or []:  # each kept prefix, with its keys and values
                block_cache.select(rows)  # and its source's, the same rows of the memory
            if finished.all():
                break
        penalty = ((5.0 + length) / 6.0) ** alpha
        chosen = np.argmax(score / penalty, axis=-1)  # (batch,)
    return out.reshape(batch, beam, -1)[np.arange(batch), chosen]


def checked_max_new_tokens(where: str, model: Translator, max_new_tokens: int | Array | None,
                           batch: int) -> Array:
    """(batch,): each sentence's ``max_new_tokens`` (one number is every
    sentence's), or the default ``max_len - 1`` (BOS and the answer fill the
    model's position table); more, or fewer than 1, is a ValueError."""
    longest = model.config.max_len - 1
    if max_new_tokens is None:
        return np.full(batch, longest, dtype=np.int64)
    if np.ndim(max_new_tokens) == 0:
        max_new_tokens = np.full(batch, positive_int(where, "max_new_tokens", max_new_tokens))
    limits = np.asarray(max_new_tokens)
    if limits.shape != (batch,) or not np.issubdtype(limits.dtype, np.integer):
        raise ValueError(f"{where}: max_new_tokens must be one whole number or one per "
                         f"sentence, ({batch},) integers, not {limits.dtype} {limits.shape}")
    if limits.min() < 1:
        raise ValueError(f"{where}: max_new_tokens holds {limits.min()}; each must be at least 1")
    if limits.max() > longest:
        raise ValueError(f"{where}: max_new_tokens is {limits.max()}, but BOS and "
                         f"{limits.max()} tokens exceed the model's max_len "
                         f"{model.config.max_len}; at most {longest}")
    return limits


def checked_specials(where: str, specials: SpecialIds) -> tuple[int, int, int]:
    """``(pad, bos, eos)`` of a tokenizer's specials; a ValueError if it lacks one
    (a GPT's character vocabulary has none)."""
    missing = specials.missing_for_translation()
    if missing:
        raise ValueError(f"{where}: the target tokenizer has no {', '.join(missing)} token; a "
                         f"translator's vocabulary needs PAD, BOS and EOS")
    return specials.pad, specials.bos, specials.eos


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
