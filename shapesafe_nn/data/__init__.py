"""Data sets, read from files into checked arrays.

Nothing is downloaded but by the explicit ``shapesafe-nn download`` command
(``corpora.py``: Multi30k into a cache folder, each file's SHA-256
checked); the rest is bundled or the user's own files.

MNIST (:mod:`shapesafe_nn.data.mnist`): images x (N, 784) uint8 and labels
y (N,) int64, from the 5,000 bundled digits, MNIST's IDX files or an .npz::

    x, y = load_mnist()                                    # the bundled 5,000
    x_train, y_train, x_test, y_test = stratified_split(x, y, holdout=1000)
    inputs = to_inputs(x_train)                            # (4000, 784) in [0, 1]

Text (:mod:`shapesafe_nn.data.text`): a corpus as one string, a character
tokenizer, and random (batch, block) windows for a character-level GPT::

    text = load_text()                                     # the bundled tragedies
    tokenizer = CharTokenizer.from_text(text)              # 73 characters
    train, val = split_train_val(tokenizer.encode(text))   # 90 % / 10 % by position
    x, y = get_batch(train, 12, 64, rng)                   # (12, 64) ids, y = x shifted
"""

from .mnist import (
    DataError,
    load_bundled,
    load_idx,
    load_idx_dir,
    load_mnist,
    load_npz,
    stratified_split,
    to_inputs,
)
from .text import CharTokenizer, TextDataError, get_batch, load_text, split_train_val

__all__ = [
    "CharTokenizer", "TextDataError", "get_batch", "load_text", "split_train_val",
    "DataError", "load_bundled", "load_idx", "load_idx_dir", "load_mnist", "load_npz",
    "stratified_split", "to_inputs",
]
