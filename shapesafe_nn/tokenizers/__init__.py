"""Tokenizers: text -> token ids (seq,) -> text.  A model sees only the ids.

- the character tokenizer (:class:`~shapesafe_nn.data.text.CharTokenizer`,
  beside the text it reads, in ``data/text.py``): one token per character,
  Karpathy's ``stoi``/``itos``; a vocabulary of a few dozen;
- ``bpe.py``: :class:`BPETokenizer`, GPT-2's byte-level byte-pair encoding,
  where a token is a word or a piece of one;
- ``words.py``: :class:`WordTokenizer`, the translator's: Latin words whole,
  every other character on its own, with the PAD, BOS and EOS tokens at
  fixed ids, and :func:`pad_batch`, which pads sentences to one length;
- ``tokenizer_json.py``: a tokenizer saved as JSON text in a checkpoint, and
  read back as the kind it was.
"""

from ..data.text import CharTokenizer
from .bpe import BPETokenizer
from .tokenizer_json import char_tokenizer_json, read_tokenizer_json, tokenizer_from_json
from .words import (BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, SPECIALS, WordTokenizer, pad_batch,
                    split_tokens)

__all__ = [
    "BOS", "BOS_ID", "EOS", "EOS_ID", "PAD", "PAD_ID", "SPECIALS", "BPETokenizer",
    "CharTokenizer", "WordTokenizer", "char_tokenizer_json", "pad_batch", "read_tokenizer_json",
    "split_tokens", "tokenizer_from_json",
]
