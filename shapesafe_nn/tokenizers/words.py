"""Words and characters: Latin words whole, every other character on its own.

A translator reads a sentence as a sequence of token ids.  One token per
character works for every language but makes long sequences: "nine hundred
and ninety-nine thousand, nine hundred and ninety-nine" is 67 characters.
Kept whole, each Latin word is one token, and each space, hyphen, comma or
kanji is one more::

    nine| |hundred| |and| |ninety|-|nine| |thousand|,| |nine|...   22 tokens
    九|十|九|万|九|千|九|百|九|十|九                                  11 tokens

On the bundled number words this makes English 3.1 times and French 3.1
times shorter than characters (48.9 -> 15.8 and 40.5 -> 13.2 tokens on
average, for vocabularies of 37 and 32 tokens instead of 25 and 27
characters): attention's cost grows with the square of the length, and a
word is one thing to predict instead of several letters in a row.

The tokens concatenate back to the text exactly, so decoding needs no
rule for spaces.  Japanese has no Latin words and stays one token per
character.  A language that writes numbers as one compound word (German's
"dreihunderteinundzwanzigtausend") gets one token per distinct number: its
vocabulary is as large as the data (20,003 tokens for the 20,000 bundled
German training numbers, and every test number unknown), so such a language
must be read character by character.

``WordTokenizer.from_texts(texts, whole_words=False)`` makes every character
a token: the reading German needs.

Three tokens are added to every vocabulary, at fixed ids: PAD (0) fills a
short sentence up to the batch's longest, BOS (1) starts the decoder's
input, EOS (2) ends its output.
"""

import json
import re

import numpy as np

from ..core import Array, check_ids
from .protocol import SpecialIds

# A Latin letter: ASCII, and the accented letters of Latin-1 and Latin
# Extended-A/B (é, ü, ß, ...) without the signs × and ÷ that sit among them.
LATIN_WORD = "[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]+"
TOKEN = re.compile(f"{LATIN_WORD}|.", re.DOTALL)
CHARACTER = re.compile(".", re.DOTALL)

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIALS = (PAD, BOS, EOS)  # ids 0, 1, 2
PAD_ID, BOS_ID, EOS_ID = range(len(SPECIALS))


def split_tokens(text: str, whole_words: bool = True) -> list[str]:
    """``text`` as tokens, ``"".join(split_tokens(text)) == text``: each Latin
    word is one, and each other character (space, digit, hyphen, kanji) one;
    with ``whole_words=False``, every character is one."""
    return (TOKEN if whole_words else CHARACTER).findall(text)


class WordTokenizer:
    """Text <-> token ids (seq,), with Latin words whole (see the module docstring).

    Build it from the texts it must read, ``WordTokenizer.from_texts(texts)``;
    the vocabulary is the three special tokens, then every token of the texts
    in sorted order, so the same texts always give the same ids.
    ``whole_words=False`` reads one character per token instead.
    """

    def __init__(self, tokens: list[str], whole_words: bool = True):
        tokens = list(tokens)
        if len(set(tokens)) != len(tokens) or set(tokens) & set(SPECIALS):
            raise ValueError("WordTokenizer: tokens must be distinct and must not include "
                             f"the special tokens {', '.join(SPECIALS)}")
        if not whole_words and any(len(token) != 1 for token in tokens):
            raise ValueError("WordTokenizer: with whole_words=False every token must be one "
                             "character")
        self.whole_words = whole_words
        self.tokens = [*SPECIALS, *tokens]  # id -> token
        self.ids = {token: i for i, token in enumerate(self.tokens)}  # token -> id

    @classmethod
    def from_texts(cls, texts, whole_words: bool = True) -> "WordTokenizer":
        return cls(sorted({token for text in texts
                           for token in split_tokens(text, whole_words)}), whole_words)

    @property
    def unit(self) -> str:
        """What one token is: "words" (Latin words whole) or "characters"."""
        return "words" if self.whole_words else "characters"

    @property
    def vocab_size(self) -> int:
        """How many ids there are, the special tokens included: the model's ``vocab``."""
        return len(self.tokens)

    @property
    def specials(self) -> SpecialIds:
        """PAD, BOS and EOS at their fixed ids, and no UNK: a token the
        vocabulary lacks is an error that names it (:meth:`encode`)."""
        return SpecialIds(pad=PAD_ID, bos=BOS_ID, eos=EOS_ID)

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> Array:
        """The ids of ``text``, int64 (seq,), with BOS before and EOS after if asked.

        A token the vocabulary does not hold is a ValueError that names every
        such token, so a typo or a foreign character is found at once.
        """
        if not isinstance(text, str):
            raise TypeError(f"WordTokenizer.encode takes a str, not {type(text).__name__}")
        tokens = split_tokens(text, self.whole_words)
        unknown = sorted({token for token in tokens if token not in self.ids})
        if unknown:
            raise ValueError(f"WordTokenizer.encode: {len(unknown)} token(s) of {text!r} are "
                             f"not in the vocabulary: {', '.join(map(repr, unknown))}")
        ids = [BOS_ID] * bos + [self.ids[token] for token in tokens] + [EOS_ID] * eos
        return np.array(ids, dtype=np.int64)

    def decode(self, ids) -> str:
        """The text of a 1-D sequence of ids: BOS and PAD are skipped, and the
        text ends at the first EOS (a decoder's output goes on after it)."""
        ids = np.asarray(ids)
        if ids.ndim != 1 or not (ids.size == 0 or np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(f"WordTokenizer.decode: ids must be one sequence (seq,) of "
                             f"integers, not {ids.dtype} {ids.shape}")
        check_ids("WordTokenizer.decode", "ids", ids, self.vocab_size)
        pieces = []
        for i in ids.tolist():
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                pieces.append(self.tokens[i])
        return "".join(pieces)

    def token_text(self, token_id: int) -> str:
        """The text of one token, as a picture labels it: ``"hundred"``, ``" "``."""
        return self.tokens[token_id]

    def to_json(self) -> str:
        """The vocabulary as JSON text, for a checkpoint (never a pickle)."""
        return json.dumps({"word_tokens": self.tokens[len(SPECIALS):],
                           "whole_words": self.whole_words}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, source: str = "WordTokenizer.from_json") -> "WordTokenizer":
        """The tokenizer :meth:`to_json` wrote."""
        try:
            saved = json.loads(text)
            tokens, whole_words = saved["word_tokens"], saved.get("whole_words", True)
        except (TypeError, KeyError, AttributeError, json.JSONDecodeError) as error:
            raise ValueError(f"{source}: not a word tokenizer's JSON ({error!r})") from None
        if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
            raise ValueError(f"{source}: word_tokens must be a list of non-empty strings")
        if not isinstance(whole_words, bool):
            raise ValueError(f"{source}: whole_words must be true or false")
        return cls(tokens, whole_words)


def pad_batch(sequences: list[Array], pad_id: int = PAD_ID) -> tuple[Array, Array]:
    """Sequences of different lengths as one rectangular batch.

    Returns ``ids`` (batch, seq), each sequence followed by ``pad_id`` (the
    tokenizer's ``specials.pad``) up to the longest, and ``padding_mask``
    (batch, seq), True at the padding: what the attention layers take as a
    key padding mask.
    """
    if not sequences or any(len(s) == 0 for s in sequences):
        raise ValueError("pad_batch: needs at least one sequence, and no empty one")
    seq = max(len(s) for s in sequences)
    ids = np.full((len(sequences), seq), pad_id, dtype=np.int64)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = sequence
    lengths = np.array([len(s) for s in sequences])
    return ids, np.arange(seq)[None, :] >= lengths[:, None]
