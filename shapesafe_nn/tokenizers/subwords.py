"""Subwords: a byte-pair encoding learned from the sentences a translator trains on.

Whole words make a vocabulary as large as the data (Multi30k's 29,000
German captions hold about 19,000 distinct words, and a test sentence
still brings new ones); characters make sentences long.  Byte-pair
encoding (Sennrich, Haddow & Birch 2016) is between the two: start from
the characters, and merge the most frequent adjacent pair into a new
piece, again and again, until the vocabulary has ``vocab_size`` entries.
Frequent words end whole, rare ones in pieces::

    "Zwei Männer spielen Fußball."  ->  ▁Zwei ▁Männer ▁spielen ▁Fuß ball .

The pieces are Hugging Face's ``tokenizers`` (the ``interop`` extra), set
up as SentencePiece does: a space becomes "▁" at the start of the piece it
precedes (the Metaspace pre-tokenizer), so no piece spans two words, and
decoding turns each "▁" back into a space and drops the first: the text
comes back without "▁" or "@@".

One vocabulary serves both languages of a translator (a *joint* BPE,
trained on the source and target sentences together), so that one
embedding matrix is the encoder's, the decoder's and the output
projection's (Vaswani et al. 2017, §3.4); names, numbers and punctuation
are then the same ids on both sides.

Four special tokens come first, at fixed ids: ``<pad>`` 0, ``<bos>`` 1,
``<eos>`` 2, ``<unk>`` 3.  A character the training sentences never held
has no piece: it is read as ``<unk>`` (one per character; there is no
byte fallback), which :meth:`SubwordTokenizer.count_unknown` counts, and
decoded as the text ``<unk>``.
"""

import json

import numpy as np

from ..core import Array, check_ids
from ..core.validate import positive_int
from .bpe import hugging_face_tokenizers
from .protocol import SpecialIds

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")  # ids 0, 1, 2, 3
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(len(SPECIAL_TOKENS))
JSON_KEY = "subword_bpe"  # {"subword_bpe": <Hugging Face's tokenizer.json>} in a checkpoint


class SubwordTokenizer:
    """A BPE of pieces that never span a space, with PAD, BOS, EOS and UNK (see the module).

    ``SubwordTokenizer.train(texts, vocab_size)`` learns it;
    ``SubwordTokenizer.from_json(text)`` reads back what :meth:`to_json` wrote.
    """

    unit = "BPE pieces"

    def __init__(self, tokenizer, source: str = "SubwordTokenizer"):
        check_layout(tokenizer, source)
        self.tokenizer = tokenizer

    @classmethod
    def train(cls, texts, vocab_size: int) -> "SubwordTokenizer":
        """Learn at most ``vocab_size`` pieces (the four special tokens and every
        character of ``texts`` included) from ``texts``, an iterable of
        sentences.  The same sentences always give the same pieces.

        ``vocab_size`` is an upper bound: a small text runs out of pairs to
        merge first, and every character is kept even when the characters
        alone are more than ``vocab_size``.
        """
        positive_int("SubwordTokenizer.train", "vocab_size", vocab_size)
        tokenizers = hugging_face_tokenizers()
        tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token=SPECIAL_TOKENS[UNK_ID]))
        tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Metaspace()
        tokenizer.decoder = tokenizers.decoders.Metaspace()
        trainer = tokenizers.trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                                 special_tokens=list(SPECIAL_TOKENS))
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return cls(tokenizer)

    @property
    def vocab_size(self) -> int:
        """How many ids there are, the four special tokens included."""
        return self.tokenizer.get_vocab_size()

    @property
    def specials(self) -> SpecialIds:
        return SpecialIds(pad=PAD_ID, bos=BOS_ID, eos=EOS_ID, unk=UNK_ID)

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> Array:
        """The ids of ``text``, int64 (seq,), with BOS before and EOS after if asked."""
        if not isinstance(text, str):
            raise TypeError(f"SubwordTokenizer.encode takes a str, not {type(text).__name__}")
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        return np.array([BOS_ID] * bos + ids + [EOS_ID] * eos, dtype=np.int64)

    @staticmethod
    def count_unknown(ids: Array) -> int:
        """How many of ``ids`` are UNK: characters the vocabulary cannot write."""
        return int(np.count_nonzero(np.asarray(ids) == UNK_ID))

    def pieces(self, text: str) -> list[str]:
        """The pieces of ``text`` as text ("▁Männer"), to show how it was cut."""
        return self.tokenizer.encode(text, add_special_tokens=False).tokens

    def token_text(self, token_id: int) -> str:
        """The text of one piece, as a picture labels it: ``"▁Männer"``, ``"ball"``."""
        return self.tokenizer.id_to_token(int(token_id))

    def decode(self, ids) -> str:
        """The text of a 1-D sequence of ids, spaces back where the "▁" were: BOS
        and PAD are skipped, and the text ends at the first EOS (a decoder's
        output goes on after it)."""
        ids = np.asarray(ids)
        if ids.ndim != 1 or not (ids.size == 0 or np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(f"SubwordTokenizer.decode: ids must be one sequence (seq,) of "
                             f"integers, not {ids.dtype} {ids.shape}")
        check_ids("SubwordTokenizer.decode", "ids", ids, self.vocab_size)
        kept = []
        for i in ids.tolist():
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                kept.append(i)
        # UNK stays, as the text "<unk>": a reader should see that something was lost
        return self.tokenizer.decode(kept, skip_special_tokens=False)

    def to_json(self) -> str:
        """The pieces and merges as JSON text, for a checkpoint (never a pickle)."""
        return json.dumps({JSON_KEY: json.loads(self.tokenizer.to_str())}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, source: str = "SubwordTokenizer.from_json"
                  ) -> "SubwordTokenizer":
        """The tokenizer :meth:`to_json` wrote; a ValueError naming ``source`` if
        the text is not one."""
        try:
            document = json.loads(text)[JSON_KEY]
        except (TypeError, KeyError, json.JSONDecodeError) as error:
            raise ValueError(f"{source}: not a subword tokenizer's JSON ({error!r})") from None
        tokenizers = hugging_face_tokenizers()
        try:
            tokenizer = tokenizers.Tokenizer.from_str(json.dumps(document))
        except Exception as error:  # the Rust side raises plain Exceptions
            raise ValueError(f"{source}: the subword tokenizer cannot be read ({error})") \
                from None
        return cls(tokenizer, source)

    def __eq__(self, other) -> bool:
        return isinstance(other, SubwordTokenizer) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"SubwordTokenizer(vocab_size={self.vocab_size})"


def check_layout(tokenizer, source: str) -> None:
    """Refuse a Hugging Face tokenizer that is not this module's kind: a BPE whose
    special tokens sit at ids 0-3 and whose spaces are Metaspace's "▁"."""
    document = json.loads(tokenizer.to_str())
    kinds = [(document.get(part) or {}).get("type")
             for part in ("model", "pre_tokenizer", "decoder")]
    if kinds != ["BPE", "Metaspace", "Metaspace"]:
        raise ValueError(f"{source}: a subword tokenizer is a BPE with Metaspace's "
                         f"pre-tokenizer and decoder, not {kinds}")
    placed = [tokenizer.token_to_id(token) for token in SPECIAL_TOKENS]
    if placed != list(range(len(SPECIAL_TOKENS))):
        raise ValueError(f"{source}: the special tokens {', '.join(SPECIAL_TOKENS)} must have "
                         f"the ids 0-3, not {placed}")
