"""llama.cpp's GPT-2 tokenizer and GELU, in Python, for tests.

llama.cpp itself takes a compile of about 15 minutes, so the tests check our
GGUF files against these twins, written from its C++ (``llama-vocab.cpp``
and ggml's CPU ``vec.h``, as of llama-cpp-python 0.3):

- :class:`LlamaCppBPE` encodes text as llama.cpp does for a ``gpt2`` vocabulary
  with the ``gpt-2`` pre-tokenizer: GPT-2's regex cuts the text into words;
  each word becomes its UTF-8 bytes in GPT-2's byte alphabet, one symbol a
  byte; the adjacent pair of lowest merge rank is joined (the leftmost on a
  tie) until no pair has a rank; each symbol is then looked up.  A symbol
  that is not a token falls back to its bytes, each looked up as a one-byte
  string: a byte below 0x80 finds its ASCII token, any other is dropped.
- :func:`gelu_through_half_table` is ggml's GELU on float32: the tanh form,
  read from a table of float16 values (``GGML_GELU_FP16``);
  :class:`HalfTableGELU` is that GELU as a layer, to put in a model's place.

Needs the ``regex`` package for ``\\p{L}`` (it comes with ``transformers``,
in the ``interop`` extra) and ``gguf`` to read a file.
"""

import math

import numpy as np
import regex

from ..layers.activations import GELU
from ..tokenizers.bpe import byte_level

# llama.cpp's GPT-2 split (its custom code for this regex ends with a plain \s+)
GPT2_WORDS = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


class LlamaCppBPE:
    """A ``gpt2`` vocabulary as llama.cpp loads it: tokens by id and merge ranks."""

    def __init__(self, tokens: list[str], merges: list[str]):
        self.ids = {token: i for i, token in enumerate(tokens)}
        self.ranks = {}
        for rank, merge in enumerate(merges):
            cut = merge.find(" ", 1)  # llama.cpp: the first space after the first character
            pair = (merge[:cut], merge[cut + 1:]) if cut != -1 else ("", "")
            self.ranks.setdefault(pair, rank)  # std::unordered_map::emplace keeps the first

    @classmethod
    def from_gguf(cls, path) -> "LlamaCppBPE":
        import gguf
        reader = gguf.GGUFReader(path)
        return cls(reader.get_field("tokenizer.ggml.tokens").contents(),
                   reader.get_field("tokenizer.ggml.merges").contents())

    def encode(self, text: str) -> list[int]:
        ids = []
        for word in GPT2_WORDS.findall(text):
            symbols = list(byte_level(word))
            while True:
                ranked = [(self.ranks[pair], i) for i, pair in enumerate(zip(symbols, symbols[1:]))
                          if pair in self.ranks]
                if not ranked:
                    break
                _, i = min(ranked)  # lowest rank, then leftmost
                symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
            for symbol in symbols:
                if symbol in self.ids:
                    ids.append(self.ids[symbol])
                    continue
                for byte in symbol.encode("utf-8"):  # the fallback: one byte at a time
                    if byte < 0x80 and chr(byte) in self.ids:
                        ids.append(self.ids[chr(byte)])
        return ids


def gelu_through_half_table(z: np.ndarray) -> np.ndarray:
    """ggml's GELU of float32 ``z``: 0 for z <= -10, z for z >= 10, and between,
    f16(gelu(f16(z))), gelu the tanh form computed in float32."""
    z = np.asarray(z, dtype=np.float32)
    half = z.astype(np.float16).astype(np.float32)
    coefficient, root = np.float32(0.044715), np.float32(math.sqrt(2.0 / math.pi))
    gelu = np.float32(0.5) * half * (np.float32(1.0) + np.tanh(
        root * half * (np.float32(1.0) + coefficient * half * half)))
    table = gelu.astype(np.float16).astype(np.float32)
    return np.where(z <= -10, np.float32(0.0), np.where(z >= 10, z, table))


class HalfTableGELU(GELU):
    """ggml's GELU as a layer (forward only): ``block.ff.gelu = HalfTableGELU()``
    makes a GPT compute what llama.cpp computes there."""

    def forward(self, z: np.ndarray) -> np.ndarray:
        return gelu_through_half_table(z)
