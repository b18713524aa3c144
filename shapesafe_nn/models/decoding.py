"""Decoding: turn a trained translator's next-token scores into a sentence.

Training sees the whole target at once (teacher forcing); a translation has
no target to read, so the decoder writes one token at a time and reads its
own output back::

    memory = encode(source)                  (batch, src_seq, d_model), once
    out = [BOS]                              (batch, 1)
    repeat: logits = decode(out, memory)[:, -1]   (batch, vocab)
            out = out + [argmax logits]      (batch, length + 1)
    until every sentence has written EOS, or max_new_tokens steps.

Every step here recomputes the decoder over the whole prefix: no key/value
cache, so the cost of step t grows with t.
"""

import numpy as np

from ..records import no_grad
from ..shapes import Array
from ..validate import positive_int
from ..word_tokenizer import BOS_ID, EOS_ID, PAD_ID
from .translator import Translator


def greedy_decode(model: Translator, src_ids: Array, src_padding_mask: Array | None = None,
                  max_new_tokens: int | None = None) -> Array:
    """The most likely next token at each step, for a whole batch at once.

    Args:
        model: the translator; run in eval mode (no dropout) and inside
            ``no_grad()``, and put back in the mode it was in.
        src_ids: (batch, src_seq) source token ids, padded with PAD.
        src_padding_mask: (batch, src_seq), True at the padding.
        max_new_tokens: the most tokens written after BOS; the default,
            ``max_len - 1``, fills the model's position table.

    Returns (batch, 1 + steps) token ids: BOS, the translation, EOS, and PAD
    after the EOS of a sentence that finished before the longest one.  A
    sentence that never writes EOS stops after ``max_new_tokens``.
    """
    longest = model.config.max_len - 1
    max_new_tokens = longest if max_new_tokens is None else positive_int(
        "greedy_decode", "max_new_tokens", max_new_tokens)
    if max_new_tokens > longest:
        raise ValueError(f"greedy_decode: max_new_tokens is {max_new_tokens}, but BOS and "
                         f"{max_new_tokens} tokens exceed the model's max_len "
                         f"{model.config.max_len}; at most {longest}")
    was_training = model.training
    model.eval()
    try:
        with no_grad():  # nothing here is differentiated: keep no records
            memory = model.encode(src_ids, src_padding_mask)  # once, for every step
            out = np.full((len(src_ids), 1), BOS_ID, dtype=np.int64)
            finished = np.zeros(len(src_ids), dtype=bool)
            E = model.tgt_embedding.W.value  # the tied output projection
            for _ in range(max_new_tokens):
                h = model.decode(out, memory, src_padding_mask)  # (batch, length, d_model)
                next_ids = (h[:, -1] @ E.T).argmax(axis=-1)  # (batch,)
                next_ids[finished] = PAD_ID  # a finished sentence only pads
                out = np.concatenate([out, next_ids[:, None]], axis=1)
                finished |= next_ids == EOS_ID
                if finished.all():
                    break
    finally:
        model.train(was_training)
    return out
