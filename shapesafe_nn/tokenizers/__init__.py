"""Tokenizers: text -> token ids (seq,) -> text.  A model sees only the ids.

Every tokenizer follows one protocol (``protocol.py``): ``encode``,
``decode``, ``vocab_size``, its special ids (``specials``: pad, bos, eos,
unk, None where it has none) and ``to_json``/``from_json`` for checkpoints.

- ``characters.py``: :class:`CharTokenizer`, one token per character,
  Karpathy's ``stoi``/``itos``, a character GPT's; no special tokens;
- ``words.py``: :class:`WordTokenizer`, the translator's words: Latin words
  whole, every other character on its own (or every character, for
  German's compound numbers), with PAD, BOS and EOS at fixed ids, and
  :func:`pad_batch`, which pads sentences to one length;
- ``subwords.py``: :class:`SubwordTokenizer`, a BPE learned from the
  translator's own sentences, one vocabulary for both languages, with PAD,
  BOS, EOS and UNK;
- ``bpe.py``: :class:`BPETokenizer`, GPT-2's byte-level BPE;
- ``choice.py``: which of them a translator reads (``--tokens auto``);
- ``tokenizer_json.py``: a tokenizer saved as JSON text in a checkpoint,
  and read back as the kind it was.
"""

from .bpe import BPETokenizer
from .characters import CharTokenizer
from .protocol import SpecialIds, Tokenizer
from .subwords import SubwordTokenizer
from .tokenizer_json import char_tokenizer_json, read_tokenizer_json, tokenizer_from_json
from .words import (BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, SPECIALS, WordTokenizer, pad_batch,
                    split_tokens)

__all__ = [
    "BOS", "BOS_ID", "EOS", "EOS_ID", "PAD", "PAD_ID", "SPECIALS", "BPETokenizer",
    "CharTokenizer", "SpecialIds", "SubwordTokenizer", "Tokenizer", "WordTokenizer",
    "char_tokenizer_json", "pad_batch", "read_tokenizer_json", "split_tokens",
    "tokenizer_from_json",
]
