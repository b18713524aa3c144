"""Tokenizers as JSON text, so that a checkpoint never holds a pickle.

A checkpoint stores its tokenizer as JSON text (``to_json``), and
:func:`tokenizer_from_json` tells the kinds apart by their first key:

    {"chars": [...]}                       a character tokenizer (a GPT's)
    {"word_tokens": [...], ...}            a translator's words or characters
    {"subword_bpe": {...}}                 a translator's BPE pieces
    {"model": {...}, ...}                  GPT-2's BPE: Hugging Face's tokenizer.json

:func:`char_tokenizer_json` writes a character tokenizer as a
``tokenizer.json`` too, so that Hugging Face's tools can read it, and
:func:`read_tokenizer_json` reads such a file back as the character
tokenizer it was.
"""

import json

from .bpe import BPETokenizer, hugging_face_tokenizers
from .characters import CharTokenizer
from .subwords import JSON_KEY as SUBWORDS_KEY
from .subwords import SubwordTokenizer
from .words import WordTokenizer

# A character tokenizer as a tokenizer.json: every character is a piece of
# its own (a regex of one character, newlines included), looked up in a
# word table; decoding joins the pieces with nothing between them.
ONE_CHARACTER = r"[\s\S]"


def char_tokenizer_json(tokenizer: CharTokenizer) -> str:
    """``tokenizer`` as a ``tokenizer.json`` that Hugging Face's tokenizers read."""
    tokenizers = hugging_face_tokenizers()
    document = tokenizers.Tokenizer(tokenizers.models.WordLevel(
        {char: i for i, char in enumerate(tokenizer.chars)}, unk_token=None))
    document.pre_tokenizer = tokenizers.pre_tokenizers.Split(
        tokenizers.Regex(ONE_CHARACTER), behavior="isolated")
    document.decoder = tokenizers.decoders.Fuse()
    return document.to_str()


def read_tokenizer_json(path):
    """The tokenizer in a ``tokenizer.json``: a :class:`CharTokenizer` if it is
    one that :func:`char_tokenizer_json` wrote, else a :class:`BPETokenizer`."""
    bpe = BPETokenizer.from_file(path)
    document = json.loads(bpe.to_json())
    model, split = document.get("model") or {}, document.get("pre_tokenizer") or {}
    vocab = model.get("vocab") if model.get("type") == "WordLevel" else None
    if (isinstance(vocab, dict) and split.get("pattern") == {"Regex": ONE_CHARACTER}
            and all(len(char) == 1 for char in vocab)
            and sorted(vocab.values()) == list(range(len(vocab)))):
        return CharTokenizer(sorted(vocab, key=vocab.get))
    return bpe


def tokenizer_from_json(text: str, source: str = "the checkpoint"):
    """The tokenizer that ``to_json`` of any kind saved (see the module)."""
    try:
        saved = json.loads(text)
    except (TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"{source}: the tokenizer is not JSON ({error})") from None
    if isinstance(saved, dict) and "chars" in saved:
        return CharTokenizer.from_json(text)
    if isinstance(saved, dict) and "word_tokens" in saved:
        return WordTokenizer.from_json(text, source=source)
    if isinstance(saved, dict) and SUBWORDS_KEY in saved:
        return SubwordTokenizer.from_json(text, source=source)
    if isinstance(saved, dict) and "model" in saved:  # a tokenizer.json document
        return BPETokenizer.from_json(text, source=source)
    raise ValueError(f"{source}: the tokenizer is neither characters ({{\"chars\": [...]}}), "
                     f"words ({{\"word_tokens\": [...]}}), subwords ({{\"{SUBWORDS_KEY}\": "
                     f"...}}) nor a tokenizer.json")
