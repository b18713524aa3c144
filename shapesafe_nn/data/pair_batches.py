"""Sentence pairs as token ids, and the padded batches a translator trains on.

A batch of pairs is two rectangles of different widths: the sources padded
to the longest source, the targets to the longest target::

    src_ids           (batch, src_seq)     the source tokens, then PAD
    src_padding_mask  (batch, src_seq)     True at the PAD
    tgt_in            (batch, tgt_seq)     BOS t₁ ... t_n, then PAD: what the decoder reads
    tgt_out           (batch, tgt_seq)     t₁ ... t_n EOS, then PAD: what it must predict
    tgt_padding_mask  (batch, tgt_seq)     True at tgt_in's PAD

``tgt_out`` is ``tgt_in`` shifted left by one (teacher forcing): position
t reads the true target up to t and predicts token t + 1.

**Bucketing.**  Every PAD costs as much arithmetic as a real token.  Pairs
drawn at random from the bundled numbers have sources from 1 to 22 tokens,
so a random batch is mostly padding around its one long sentence.
:class:`LengthBuckets` draws each batch from a window of neighbours in
length order instead, so a batch holds sentences of about one length.

**A token budget.**  A batch of 64 sentences of 4 tokens and one of 64
sentences of 40 are not the same work.  :class:`TokenBudget` fills each
batch with as many neighbours in length as fit ``batch_tokens`` tokens a
side, padding included, as the paper's batches of "approximately 25000
source tokens and 25000 target tokens" (Vaswani et al. 2017, §5.1): short
sentences come many to a batch, long ones few, and each step costs about
the same.
"""

from dataclasses import dataclass

import numpy as np

from ..core import Array
from ..core.validate import positive_int
from ..tokenizers.protocol import Tokenizer
from ..tokenizers.words import PAD_ID, pad_batch


class UnknownToken(ValueError):
    """A sentence holds a token its tokenizer has no id for."""


@dataclass
class EncodedPairs:
    """Pairs as ids: ``sources[i]`` the source tokens (src_len,), ``targets[i]``
    BOS, the target tokens and EOS (tgt_len + 2,); ``pad_id`` pads a batch
    (the tokenizers' ``specials.pad``)."""

    sources: list[Array]
    targets: list[Array]
    pad_id: int = PAD_ID

    def __len__(self) -> int:
        return len(self.sources)

    @classmethod
    def encode(cls, pairs: list[tuple[str, str]], source: Tokenizer, target: Tokenizer,
               max_len: int, where: str, lines: list[int] | None = None) -> "EncodedPairs":
        """Each pair's ids.  A sentence longer than ``max_len`` tokens (the
        target with BOS and EOS) is a ValueError, one with a token its
        tokenizer lacks an :class:`UnknownToken`, naming ``where`` and the
        pair: its line in the file, given ``lines`` (each pair's), else its
        number."""
        pad, bos, eos = target.specials.pad, target.specials.bos, target.specials.eos
        if source.specials.pad != pad:
            raise ValueError(f"{where}: the source tokenizer pads with {source.specials.pad} "
                             f"and the target's with {pad}; a batch has one PAD")
        sources, targets = [], []
        for index, (src, tgt) in enumerate(pairs):
            pair = f"pair {index + 1}" if lines is None else f"line {lines[index]}"
            try:
                src_ids = source.encode(src)
                tgt_ids = np.concatenate([[bos], target.encode(tgt), [eos]]).astype(np.int64)
            except ValueError as error:  # the tokenizers' one refusal: a token they lack
                raise UnknownToken(f"{where}, {pair}: {error}") from None
            for side, ids in (("source", src_ids), ("target", tgt_ids)):
                if len(ids) > max_len:
                    raise ValueError(f"{where}, {pair}: the {side} is {len(ids)} "
                                     f"tokens long, more than max_len {max_len}; raise "
                                     f"--max-len or drop the pair: {src[:40]!r}")
            sources.append(src_ids)
            targets.append(tgt_ids)
        return cls(sources, targets, pad)

    def count(self, token_id: int | None) -> int:
        """How many times ``token_id`` occurs in the sources and targets (0 for
        None): with a tokenizer's ``specials.unk``, the characters it could
        not write."""
        if token_id is None:
            return 0
        return sum(int(np.count_nonzero(ids == token_id)) for ids in self.sources + self.targets)

    def longest(self) -> int:
        """The most tokens of any source or target (BOS and EOS included)."""
        return max(len(ids) for ids in self.sources + self.targets)

    def batch(self, indices) -> tuple[Array, Array, Array, Array, Array]:
        """``(src_ids, src_padding_mask, tgt_in, tgt_out, tgt_padding_mask)`` of
        the pairs at ``indices``, each padded to its longest (see the module)."""
        src_ids, src_padding_mask = pad_batch([self.sources[i] for i in indices], self.pad_id)
        # each target without its EOS, and without its BOS: one token apart
        tgt_in, tgt_padding_mask = pad_batch([self.targets[i][:-1] for i in indices],
                                             self.pad_id)
        tgt_out, _ = pad_batch([self.targets[i][1:] for i in indices], self.pad_id)
        return src_ids, src_padding_mask, tgt_in, tgt_out, tgt_padding_mask


class LengthBuckets:
    """Random batches of pairs of about one length.

    The pairs are sorted by length (source plus target); each batch takes
    ``batch_size`` of them at random from a window of ``window`` neighbours in
    that order, the window itself placed at random.  Every draw is new, so
    there are no fixed batches to memorize, and the only state is the
    random generator (what a checkpoint saves to resume).

    A pair among the first or last ``window`` in length order sits in fewer
    windows than one in the middle, so the shortest and longest sentences
    are drawn somewhat less often.
    """

    def __init__(self, pairs: EncodedPairs, batch_size: int, window: int | None = None):
        self.batch_size = positive_int("LengthBuckets", "batch_size", batch_size)
        # 4 batches' worth: enough choice that batches differ, few enough lengths
        # that little is padding
        window = 4 * batch_size if window is None else positive_int("LengthBuckets", "window",
                                                                     window)
        lengths = np.array([len(s) + len(t) for s, t in zip(pairs.sources, pairs.targets)])
        # stable: equal lengths keep the file's order, so the same data gives the same draws
        self.order = np.argsort(lengths, kind="stable")
        self.window = min(window, len(self.order))
        self.size = min(batch_size, self.window)

    def draw(self, rng: np.random.Generator) -> Array:
        """The indices (batch,) of one batch's pairs."""
        start = rng.integers(0, len(self.order) - self.window + 1)
        chosen = rng.choice(self.window, size=self.size, replace=False)
        return self.order[start + chosen]


class TokenBudget:
    """Random batches of pairs of about one length, as many as fit a token budget.

    As :class:`LengthBuckets`, a batch is drawn from a window of neighbours
    in length order, placed at random; it then takes them in a random order
    while the batch, padded, holds at most ``batch_tokens`` source tokens
    and at most ``batch_tokens`` decoder tokens::

        count · longest source ≤ batch_tokens   and   count · longest tgt_in ≤ batch_tokens

    The window holds four batches' worth of pairs of the median length.
    The only state is the random generator, as for :class:`LengthBuckets`.
    """

    def __init__(self, pairs: EncodedPairs, batch_tokens: int, window: int | None = None):
        self.batch_tokens = positive_int("TokenBudget", "batch_tokens", batch_tokens)
        # a pair's width on each side: its source, and its target less one (tgt_in)
        self.source_lengths = np.array([len(s) for s in pairs.sources])
        self.target_lengths = np.array([len(t) - 1 for t in pairs.targets])
        widest = int(max(self.source_lengths.max(), self.target_lengths.max()))
        if widest > batch_tokens:
            raise ValueError(f"TokenBudget: batch_tokens {batch_tokens} cannot hold the longest "
                             f"pair, {widest} tokens on one side; give at least {widest}")
        # stable: equal lengths keep the file's order, so the same data gives the same draws
        self.order = np.argsort(self.source_lengths + self.target_lengths, kind="stable")
        if window is None:
            median = float(np.median(np.maximum(self.source_lengths, self.target_lengths)))
            window = 4 * max(1, int(batch_tokens // median))
        self.window = min(positive_int("TokenBudget", "window", window), len(self.order))

    def draw(self, rng: np.random.Generator) -> Array:
        """The indices (batch,) of one batch's pairs; batch varies with their length."""
        start = rng.integers(0, len(self.order) - self.window + 1)
        candidates = self.order[start + rng.permutation(self.window)]
        count = np.arange(1, self.window + 1)
        # the padded size of the first k candidates only grows with k: keep those that fit
        fits = ((count * np.maximum.accumulate(self.source_lengths[candidates])
                 <= self.batch_tokens)
                & (count * np.maximum.accumulate(self.target_lengths[candidates])
                   <= self.batch_tokens))
        return candidates[:int(fits.sum())]


def batches_for(pairs: EncodedPairs, batch_size: int, batch_tokens: int = 0):
    """The batches a run draws: by token budget when ``batch_tokens`` is above
    0 (:class:`TokenBudget`), else ``batch_size`` pairs (:class:`LengthBuckets`)."""
    return TokenBudget(pairs, batch_tokens) if batch_tokens else LengthBuckets(pairs, batch_size)
