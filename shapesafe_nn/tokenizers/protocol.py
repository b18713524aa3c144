"""What every tokenizer is: text -> token ids (seq,) -> text, and its special ids.

A model sees only ids.  Whatever cuts the text (characters, words, BPE
pieces), a tokenizer offers the same five things, so that a model, a
decoding loop or a checkpoint never asks which kind it holds::

    ids = tokenizer.encode("Zwei Männer")   # int64 (seq,), each in [0, vocab_size)
    tokenizer.decode(ids)                   # "Zwei Männer": text again, nothing left over
    tokenizer.vocab_size                    # the model's vocab dim
    tokenizer.specials                      # SpecialIds(pad=0, bos=1, eos=2, unk=3)
    tokenizer.to_json()                     # for a checkpoint; type(tokenizer).from_json reads it

The special ids belong to the tokenizer, which put the special tokens in
its vocabulary: a translator pads with its ``pad``, starts the decoder with
its ``bos`` and stops at its ``eos``.  A GPT's character vocabulary has
none: each field is None.
"""

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..core import Array


@dataclass(frozen=True)
class SpecialIds:
    """The ids of the special tokens, None where a vocabulary has no such token.

    ``pad`` fills a short sentence up to the batch's longest, ``bos`` starts
    the decoder's input, ``eos`` ends its output, and ``unk`` stands for
    text the vocabulary cannot write.
    """

    pad: int | None = None
    bos: int | None = None
    eos: int | None = None
    unk: int | None = None

    def missing_for_translation(self) -> list[str]:
        """The names of the ids a translator needs (pad, bos, eos) that are None."""
        return [name for name in ("pad", "bos", "eos") if getattr(self, name) is None]


@runtime_checkable
class Tokenizer(Protocol):
    """The protocol every tokenizer of :mod:`shapesafe_nn.tokenizers` follows."""

    @property
    def vocab_size(self) -> int:
        """How many ids there are, the special tokens included."""

    @property
    def specials(self) -> SpecialIds:
        """The special tokens' ids."""

    def encode(self, text: str) -> Array:
        """The ids of ``text``: int64, shape (seq,)."""

    def decode(self, ids) -> str:
        """The text of one sequence of ids (seq,)."""

    def to_json(self) -> str:
        """The whole tokenizer as JSON text (never a pickle)."""
