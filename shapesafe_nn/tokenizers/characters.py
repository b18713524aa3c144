"""Characters: each distinct character of a text is one token.

The tokenizer of Karpathy's "Let's build GPT": ``chars = sorted(set(text))``
is the vocabulary, a few dozen ids for English prose.  It has no special
tokens (a GPT reads a stream of text with none), so each of its
:class:`~shapesafe_nn.tokenizers.protocol.SpecialIds` is None; the
translator's characters, which need PAD, BOS and EOS, are
``WordTokenizer.from_texts(texts, whole_words=False)`` (``words.py``).
"""

import json
from collections.abc import Sequence

import numpy as np

from ..core import Array, check_ids
from .protocol import SpecialIds


class CharTokenizer:
    """Each distinct character is one token; its id is its place in the vocabulary.

    ``CharTokenizer.from_text(text)`` builds the vocabulary as Karpathy does,
    ``chars = sorted(set(text))``; ``CharTokenizer(chars)`` rebuilds a saved
    one.  ``chars`` is his ``itos`` (id -> character) and ``encode`` uses his
    ``stoi`` (character -> id).  A model trained with one vocabulary needs
    exactly that vocabulary again: save it with ``to_json``.
    """

    def __init__(self, chars: Sequence[str]):
        chars = tuple(chars)
        for position, char in enumerate(chars):
            if not isinstance(char, str) or len(char) != 1:
                raise ValueError(f"CharTokenizer: the vocabulary must be single characters, "
                                 f"but entry {position} is {char!r}")
        if len(set(chars)) != len(chars):
            repeated = sorted({char for char in chars if chars.count(char) > 1})
            raise ValueError(f"CharTokenizer: the vocabulary lists {repeated} more than once")
        if not chars:
            raise ValueError("CharTokenizer: the vocabulary is empty")
        self.chars = chars
        self._ids = {char: i for i, char in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """The vocabulary of ``text``: its distinct characters, sorted."""
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        """How many tokens there are: the size of the model's ``vocab`` dim."""
        return len(self.chars)

    @property
    def specials(self) -> SpecialIds:
        """None for each: a stream of characters has no special tokens."""
        return SpecialIds()

    def encode(self, text: str) -> Array:
        """The ids of the characters of ``text``: int64, shape (len(text),)."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.encode takes a str, not {type(text).__name__}")
        try:
            return np.fromiter((self._ids[char] for char in text), dtype=np.int64,
                               count=len(text))
        except KeyError as error:
            char = error.args[0]
            raise ValueError(f"CharTokenizer.encode: the character {char!r} at position "
                             f"{text.index(char)} is not in the vocabulary of "
                             f"{self.vocab_size} characters") from None

    def decode(self, ids: Array | Sequence[int]) -> str:
        """The text of a 1-D sequence of ids, each in ``[0, vocab_size)``."""
        ids = np.asarray(ids)
        if ids.size == 0:
            return ""
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"CharTokenizer.decode: ids must be integers, not {ids.dtype}")
        if ids.ndim != 1:
            raise ValueError(f"CharTokenizer.decode: ids must be one sequence (seq,), not shape "
                             f"{ids.shape}; decode a batch one row at a time: ids[0]")
        check_ids("CharTokenizer.decode", "ids", ids, self.vocab_size)
        return "".join(self.chars[i] for i in ids.tolist())

    def to_json(self) -> str:
        """The vocabulary as JSON, to store next to a model's weights."""
        return json.dumps({"chars": list(self.chars)})

    @classmethod
    def from_json(cls, text: str, source: str = "CharTokenizer.from_json") -> "CharTokenizer":
        """The tokenizer that ``to_json`` saved."""
        try:
            saved = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{source}: not JSON: {error}") from None
        if not isinstance(saved, dict) or not isinstance(saved.get("chars"), list):
            raise ValueError(f'{source}: expected {{"chars": [...]}}, as to_json writes')
        return cls(saved["chars"])

    def __eq__(self, other) -> bool:
        return isinstance(other, CharTokenizer) and self.chars == other.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
