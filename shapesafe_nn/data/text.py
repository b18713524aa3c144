"""Text for a character-level language model, as in Karpathy's "Let's build GPT".

The whole pipeline, each step one function::

    text = load_text()                          # str: the bundled Shakespeare
    tokenizer = CharTokenizer.from_text(text)   # 73 characters, ids 0..72
    ids = tokenizer.encode(text)                # int64 (1158218,)
    train, val = split_train_val(ids)           # first 90 %, last 10 %
    x, y = get_batch(train, 32, 64, rng)        # int64 (batch, seq) each

``y`` is ``x`` moved one character on: at every position the model reads
``x[:, :t+1]`` and must predict ``y[:, t]``.
"""

import codecs
import importlib.resources
import json
import os
from collections.abc import Sequence

import numpy as np

from ..core import Array, check_ids
from ..saving.files import special_kind

BUNDLED_CORPUS = "shakespeare_tragedies.txt"


class TextDataError(ValueError):
    """A text file that cannot be used as a corpus; the message names the file."""


def load_text(path: str | os.PathLike | None = None) -> str:
    """The text of a UTF-8 file; with no ``path``, the bundled Shakespeare tragedies.

    The bundled corpus (about 1.16 million characters, all ASCII) is read
    through ``importlib.resources``, so it is found wherever the package is
    installed.  Raises :class:`TextDataError` naming the file if it is
    missing, is a directory, is not UTF-8 (the message gives the byte
    offset), or is empty.
    """
    if path is None:
        name = f"the bundled corpus {BUNDLED_CORPUS}"
        data = (importlib.resources.files("shapesafe_nn") / "data" / BUNDLED_CORPUS).read_bytes()
    else:
        name = os.fspath(path)
        if not os.path.exists(name):
            raise TextDataError(f"{name}: no such file")
        if os.path.isdir(name):
            raise TextDataError(f"{name} is a directory; give the path of a text file inside it")
        kind = special_kind(name)
        if kind is not None:  # a named pipe would block the read below forever
            raise TextDataError(f"{name} is {kind}, not an ordinary file: reading it would "
                                f"not end; save the text to a file")
        try:
            with open(name, "rb") as file:
                data = file.read()
        except OSError as error:
            raise TextDataError(f"{name} cannot be read: {error.strerror}") from error
    # A byte-order mark (EF BB BF, which some editors write first) is dropped,
    # not learned as a character that appears nowhere in the text
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[start:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = start + error.start
        raise TextDataError(f"{name} is not UTF-8 text: byte {data[offset]:#04x} at byte "
                            f"offset {offset} ({error.reason}); save the file as UTF-8"
                            ) from error
    if not text:
        raise TextDataError(f"{name} is empty: a language model needs text to learn from")
    return text


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
    def from_json(cls, text: str) -> "CharTokenizer":
        """The tokenizer that ``to_json`` saved."""
        try:
            saved = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"CharTokenizer.from_json: not JSON: {error}") from None
        if not isinstance(saved, dict) or not isinstance(saved.get("chars"), list):
            raise ValueError('CharTokenizer.from_json: expected {"chars": [...]}, '
                             "as to_json writes")
        return cls(saved["chars"])

    def __eq__(self, other) -> bool:
        return isinstance(other, CharTokenizer) and self.chars == other.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def _token_ids(where: str, ids) -> Array:
    if not isinstance(ids, np.ndarray) or ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        described = (f"{ids.dtype} {ids.shape}" if isinstance(ids, np.ndarray)
                     else type(ids).__name__)
        raise TypeError(f"{where}: ids must be a 1-D integer array, as encode returns, "
                        f"not {described}")
    return ids


def split_train_val(ids: Array, val_fraction: float = 0.1) -> tuple[Array, Array]:
    """The first ``1 - val_fraction`` of ``ids`` to train on, the rest to validate.

    Split by position, not at random, as Karpathy does
    (``n = int(0.9 * len(data))``): random windows from one shuffled pool
    would put the same passages in both halves, and the validation loss would
    no longer measure text the model has never seen.  Returns views of ``ids``.
    """
    ids = _token_ids("split_train_val", ids)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"split_train_val: val_fraction must be in (0, 1), not {val_fraction!r}")
    n = int((1.0 - val_fraction) * len(ids))
    if n == 0 or n == len(ids):
        raise ValueError(f"split_train_val: len(ids) = {len(ids)} is too short to split with "
                         f"val_fraction = {val_fraction}: one part would be empty")
    return ids[:n], ids[n:]


def get_batch(ids: Array, batch_size: int, block_size: int,
              rng: np.random.Generator) -> tuple[Array, Array]:
    """``batch_size`` random windows of ``block_size`` tokens, and the token after each.

    nanoGPT's ``get_batch``: draw starts ``s`` uniformly from
    ``[0, len(ids) - block_size)``, then ``x[i] = ids[s_i : s_i + block_size]``
    and ``y[i] = ids[s_i + 1 : s_i + block_size + 1]``.  Both are int64 of
    shape (batch, seq) with ``seq = block_size``.  The same ``rng`` state
    gives the same batch.
    """
    where = "get_batch"
    ids = _token_ids(where, ids)
    for name, value in (("batch_size", batch_size), ("block_size", block_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{where}: {name} must be a positive integer, not {value!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{where}: rng must be a numpy Generator, np.random.default_rng(seed), "
                        f"not {type(rng).__name__}")
    if len(ids) < block_size + 1:
        raise ValueError(f"{where}: the data holds {len(ids)} tokens, but one example needs "
                         f"block_size + 1 = {block_size + 1}; use a smaller block_size "
                         f"or more text")
    starts = rng.integers(0, len(ids) - block_size, size=batch_size)
    positions = starts[:, None] + np.arange(block_size)  # (batch, seq)
    x = ids[positions].astype(np.int64, copy=False)
    y = ids[positions + 1].astype(np.int64, copy=False)
    return x, y
