"""Which tokens a translator reads: ``--tokens auto|words|chars|bpe``.

- ``words``: Latin words whole, every other character alone, one vocabulary
  per language (:class:`~shapesafe_nn.tokenizers.words.WordTokenizer`);
- ``chars``: every character alone, one vocabulary per language;
- ``bpe``: BPE pieces learned from the training sentences of both languages
  together, one *joint* vocabulary of at most ``vocab_size`` pieces, so that
  one embedding serves the encoder, the decoder and the output projection
  (:class:`~shapesafe_nn.tokenizers.subwords.SubwordTokenizer`);
- ``auto`` decides by how many distinct words the training sentences hold.
  A vocabulary of at most :data:`MOST_WORDS` tokens on each side (the
  bundled English, French and Japanese number words: 37, 32 and 17, PAD,
  BOS and EOS included) is learned whole: words.  More is real text
  (Multi30k's training captions: 10,765 English and 18,434 German tokens,
  many seen once): BPE.  The bundled
  number words keep what they have always read, words, and characters for
  a side with more words than that (German, which writes each number as
  one word), so that their runs and checkpoints stay as they were.
"""

from dataclasses import dataclass

from .bpe import MISSING, hugging_face_tokenizers
from .subwords import SubwordTokenizer
from .words import WordTokenizer

TOKEN_KINDS = ("auto", "words", "chars", "bpe")
# a side with more distinct words than this is not learned whole
MOST_WORDS = 1000
# the pieces of a joint BPE, chosen by measurement: the sentences preset on Multi30k
# de-en (train translate --corpus multi30k --pair de-en --preset sentences
# --vocab-size N, then eval translate --split test_2016_flickr; one seed, 2-core AMD
# EPYC, checks always, quiet machine unless said) gave BLEU 35.43 in 16.5 minutes at
# 4,000 pieces, 35.93 in about 20 (shared cores) at 8,000, and 36.11 in 28.6 at
# 16,000: twice the pieces cost half as long again for 0.2 BLEU, and half of them
# lose 0.5.  About 14 pieces a German caption at 8,000.
DEFAULT_VOCAB_SIZE = 8000


@dataclass
class TokenizerChoice:
    """The tokenizers chosen, whether they are one (joint), and why."""

    source: object
    target: object
    joint: bool
    reason: str

    def describe(self) -> str:
        """What each side reads, for a run's header."""
        return describe_tokens(self.source, self.target, self.joint)


def describe_tokens(source, target, joint: bool) -> str:
    """``"source words, vocab 37; target words, vocab 32"``, or for one joint
    vocabulary ``"BPE pieces, one joint vocab of 8000"``."""
    if joint:
        return f"{source.unit}, one joint vocab of {source.vocab_size}"
    return (f"source {source.unit}, vocab {source.vocab_size}; target {target.unit}, "
            f"vocab {target.vocab_size}")


def words_or_characters(texts: list[str]) -> WordTokenizer:
    """Words, unless they are more than :data:`MOST_WORDS`: then characters."""
    words = WordTokenizer.from_texts(texts)
    if words.vocab_size > MOST_WORDS:
        return WordTokenizer.from_texts(texts, whole_words=False)
    return words


def choose_tokenizers(sources: list[str], targets: list[str], tokens: str = "auto",
                      vocab_size: int = DEFAULT_VOCAB_SIZE,
                      bundled: bool = False) -> TokenizerChoice:
    """The tokenizers ``tokens`` asks for, learned from the training sentences
    ``sources`` and ``targets`` (see the module; ``bundled``: the sentences
    are the bundled number words).  ``"characters"``, the name runs saved
    before ``chars``, reads as ``chars``."""
    tokens = "chars" if tokens == "characters" else tokens
    if tokens not in TOKEN_KINDS:
        raise ValueError(f"choose_tokenizers: tokens must be one of {', '.join(TOKEN_KINDS)}, "
                         f"not {tokens!r}")
    if tokens == "chars":
        return TokenizerChoice(WordTokenizer.from_texts(sources, whole_words=False),
                               WordTokenizer.from_texts(targets, whole_words=False), False,
                               "--tokens chars")
    if tokens == "words":
        return TokenizerChoice(WordTokenizer.from_texts(sources),
                               WordTokenizer.from_texts(targets), False, "--tokens words")
    if tokens == "bpe":
        return TokenizerChoice(*joint_bpe(sources, targets, vocab_size), "--tokens bpe")
    if bundled:
        return TokenizerChoice(words_or_characters(sources), words_or_characters(targets),
                               False, f"auto: the bundled number words, words unless a side "
                                      f"has more than {MOST_WORDS:,}")
    source, target = WordTokenizer.from_texts(sources), WordTokenizer.from_texts(targets)
    most = max(source.vocab_size, target.vocab_size)  # words, with PAD, BOS and EOS
    if most <= MOST_WORDS:
        return TokenizerChoice(source, target, False,
                               f"auto: a vocabulary of at most {most:,} words a side")
    try:
        hugging_face_tokenizers()
    except ValueError:
        raise ValueError(f"--tokens auto: a side holds {most:,} distinct words, too many "
                         f"to learn whole, so they are read as BPE pieces, and {MISSING}; or "
                         f"choose --tokens chars") from None
    return TokenizerChoice(*joint_bpe(sources, targets, vocab_size),
                           f"auto: a vocabulary of {most:,} words on a side, more than "
                           f"{MOST_WORDS:,}")


def joint_bpe(sources: list[str], targets: list[str], vocab_size: int):
    """``(tokenizer, tokenizer, True)``: one BPE learned from both sides."""
    tokenizer = SubwordTokenizer.train([*sources, *targets], vocab_size)
    return tokenizer, tokenizer, True
