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
import os

import numpy as np

from ..core import Array, Integer
from ..saving.files import special_kind
# the tokenizer lives with the others; imported here, where the pipeline above uses it
from ..tokenizers.characters import CharTokenizer

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


def get_batch(ids: Array, batch_size: int, block_size: int, rng: np.random.Generator
              ) -> tuple[Integer[Array, "batch seq"], Integer[Array, "batch seq"]]:
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
