"""GPT-2's tokenizer: byte-level byte-pair encoding, text -> token ids (seq,) -> text.

:class:`BPETokenizer` is GPT-2's byte-level byte-pair encoding (Sennrich et
al. 2016; Radford et al. 2019, §2.2), run by Hugging Face's ``tokenizers``
package (the ``interop`` extra).  Text is split into bytes, and the most
frequent adjacent pair is merged into a new token, again and again: GPT-2
made 50,000 merges, so its ``vocab`` is 256 bytes + 50,000 merges + one
``<|endoftext|>`` = 50,257, and a token is a word or a piece of one.

It follows the protocol of every tokenizer (``protocol.py``):
``vocab_size``, ``specials``, ``encode``, ``decode`` and ``to_json``.
"""

from pathlib import Path

import numpy as np

from ..core import check_ids
from .protocol import SpecialIds

END_OF_TEXT = "<|endoftext|>"  # GPT-2's id 50256
MISSING = ("a BPE tokenizer needs the tokenizers package: "
           "pip install 'shapesafe_nn[interop]'")


def _byte_alphabet() -> tuple[str, ...]:
    """GPT-2's byte-level alphabet: character ``i`` stands for byte ``i``.

    A byte-level BPE's tokens are text, so each of the 256 bytes needs a
    printable character.  The 188 bytes that are printable Latin-1
    characters ('!' to '~', '¡' to '¬', '®' to 'ÿ') stand for themselves;
    the other 68 (controls, the space, the soft hyphen) take the characters
    from U+0100 on, in byte order.  So a space is 'Ġ' and a line break 'Ċ'.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    others = iter(range(256, 256 + 256 - len(printable)))
    return tuple(chr(byte) if byte in printable else chr(next(others)) for byte in range(256))


BYTE_ALPHABET = _byte_alphabet()


def byte_level(text: str) -> str:
    """``text`` as GPT-2's byte-level BPE sees it: its UTF-8 bytes, each as the
    character of :data:`BYTE_ALPHABET` (``"é ø"`` -> ``"Ã©ĠÃ¸"``)."""
    return "".join(BYTE_ALPHABET[byte] for byte in text.encode("utf-8"))


def hugging_face_tokenizers():
    """Hugging Face's ``tokenizers`` package, imported when a BPE is first used:
    it is an extra, and the character tokenizer never needs it."""
    try:
        import tokenizers
    except ImportError:
        raise ValueError(MISSING) from None
    return tokenizers


class BPETokenizer:
    """A byte-level BPE, as GPT-2's: wraps a ``tokenizers.Tokenizer``."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    @classmethod
    def from_file(cls, path) -> "BPETokenizer":
        """Read a ``tokenizer.json`` as Hugging Face writes it (GPT-2's included)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: cannot read the tokenizer ({error})") from None
        return cls.from_json(text, source=str(path))

    @classmethod
    def from_json(cls, text: str, source: str = "BPETokenizer.from_json") -> "BPETokenizer":
        tokenizers = hugging_face_tokenizers()
        try:
            return cls(tokenizers.Tokenizer.from_str(text))
        except Exception as error:  # the Rust side raises plain Exceptions
            raise ValueError(f"{source}: not a tokenizer.json the tokenizers package can read "
                             f"({error})") from None

    @classmethod
    def train(cls, text: str, vocab_size: int) -> "BPETokenizer":
        """Learn a byte-level BPE of ``vocab_size`` tokens from ``text``: the 256
        bytes, then the merges, most frequent pair first."""
        tokenizers = hugging_face_tokenizers()
        tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE())
        tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = tokenizers.decoders.ByteLevel()
        trainer = tokenizers.trainers.BpeTrainer(
            vocab_size=vocab_size, show_progress=False,
            initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
        tokenizer.train_from_iterator([text], trainer=trainer)
        return cls(tokenizer)

    @property
    def vocab_size(self) -> int:
        """How many tokens there are: at most the model's ``vocab`` dim."""
        return self.tokenizer.get_vocab_size()

    @property
    def specials(self) -> SpecialIds:
        """GPT-2's one special token, ``<|endoftext|>``, which ends a document, as
        ``eos`` (None in a BPE without it); no pad, bos or unk: every byte has
        a token."""
        return SpecialIds(eos=self.tokenizer.token_to_id(END_OF_TEXT))

    def encode(self, text: str) -> np.ndarray:
        """The token ids of ``text``: int64, shape (seq,)."""
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.encode takes a str, not {type(text).__name__}")
        return np.array(self.tokenizer.encode(text).ids, dtype=np.int64)

    def decode(self, ids) -> str:
        """The text of a 1-D sequence of ids, each in ``[0, vocab_size)``."""
        ids = np.asarray(ids)
        if ids.size == 0:
            return ""
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"BPETokenizer.decode: ids must be one sequence (seq,) of "
                             f"integers, not {ids.dtype} {ids.shape}")
        check_ids("BPETokenizer.decode", "ids", ids, self.vocab_size)
        return self.tokenizer.decode(ids.tolist())

    def to_json(self) -> str:
        """The whole tokenizer as Hugging Face's ``tokenizer.json`` text."""
        return self.tokenizer.to_str()
