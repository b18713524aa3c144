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
"""

from dataclasses import dataclass

import numpy as np

from ..core import Array
from ..tokenizers.words import WordTokenizer, pad_batch
from ..core.validate import positive_int


@dataclass
class EncodedPairs:
    """Pairs as ids: ``sources[i]`` the source tokens (src_len,), ``targets[i]``
    BOS, the target tokens and EOS (tgt_len + 2,)."""

    sources: list[Array]
    targets: list[Array]

    def __len__(self) -> int:
        return len(self.sources)

    @classmethod
    def encode(cls, pairs: list[tuple[str, str]], source: WordTokenizer,
               target: WordTokenizer, max_len: int, where: str) -> "EncodedPairs":
        """Each pair's ids.  A sentence longer than ``max_len`` tokens (the
        target with BOS and EOS), or with a token its tokenizer lacks, is a
        ValueError naming ``where`` and the pair."""
        sources, targets = [], []
        for index, (src, tgt) in enumerate(pairs):
            try:
                src_ids = source.encode(src)
                tgt_ids = target.encode(tgt, bos=True, eos=True)
            except ValueError as error:
                raise ValueError(f"{where}, pair {index + 1}: {error}") from None
            for side, ids in (("source", src_ids), ("target", tgt_ids)):
                if len(ids) > max_len:
                    raise ValueError(f"{where}, pair {index + 1}: the {side} is {len(ids)} "
                                     f"tokens long, more than max_len {max_len}; raise "
                                     f"--max-len or drop the pair: {src[:40]!r}")
            sources.append(src_ids)
            targets.append(tgt_ids)
        return cls(sources, targets)

    def longest(self) -> int:
        """The most tokens of any source or target (BOS and EOS included)."""
        return max(len(ids) for ids in self.sources + self.targets)

    def batch(self, indices) -> tuple[Array, Array, Array, Array, Array]:
        """``(src_ids, src_padding_mask, tgt_in, tgt_out, tgt_padding_mask)`` of
        the pairs at ``indices``, each padded to its longest (see the module)."""
        src_ids, src_padding_mask = pad_batch([self.sources[i] for i in indices])
        # each target without its EOS, and without its BOS: one token apart
        tgt_in, tgt_padding_mask = pad_batch([self.targets[i][:-1] for i in indices])
        tgt_out, _ = pad_batch([self.targets[i][1:] for i in indices])
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
