"""How good translations are: BLEU and chrF by sacreBLEU, with their signatures.

BLEU (Papineni et al. 2002) counts the word n-grams (n = 1..4) of each
translation that its reference also holds, over the whole corpus, and
multiplies their geometric mean by a penalty for translations shorter than
the references::

    BLEU = BP · exp(¼ Σₙ log pₙ),   pₙ = matched n-grams / n-grams written,
    BP = min(1, exp(1 - reference length / translation length))

chrF (Popović 2015) is the F-score of character n-grams (n = 1..6): it
gives credit for a word half right, which BLEU does not.

Both depend on how the text is cut into words before counting, so a BLEU
without its settings is not a number one can compare.  sacreBLEU (Post
2018) fixes them and prints them as a *signature*
(``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0``): the
score of another paper is comparable when its signature is the same.
sacreBLEU is the ``translate`` extra; without it the scores are None.

A score means what it says only if three things hold, which this module
checks:

- the words are cut as the language writes them (:func:`bleu_tokenizer`):
  Japanese and Chinese put no spaces between words, so the default cut
  leaves a whole sentence one "word" and BLEU near 0 for a perfect model;
- the corpus is large enough that another sample would give about the same
  number (:func:`too_short_for_bleu`);
- the references are in the language the model writes
  (:func:`check_writable`): a model scored against another language's
  references scores 0, which says nothing about the model.
"""

import functools
from collections import Counter
from dataclasses import dataclass

from ..tokenizers.words import WordTokenizer, split_tokens

TOKENIZE = "13a"  # sacreBLEU's default: Moses' mteval-v13a tokenizer, for Latin scripts

# The scripts that tell Japanese and Chinese apart: kana are Japanese only,
# Han characters (kanji, hanzi) are both languages'
KANA = ((0x3041, 0x3096), (0x30A1, 0x30FA), (0x31F0, 0x31FF), (0xFF66, 0xFF9D))
HAN = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F))
# Japanese prose is about a third kana or more; a Chinese text may hold a
# stray Japanese name: at least 1 kana in 20 CJK letters is Japanese
KANA_SHARE = 0.05

# Below these, BLEU moves by several points from one sample to another of the
# same size (measured in too_short_for_bleu's docstring)
MIN_BLEU_REFERENCES = 100
MIN_BLEU_TOKENS = 500

# More than this share of the references' tokens unwritable: another language
UNWRITABLE_SHARE = 0.5
SHOWN_UNWRITABLE = 5  # the most frequent ones, named in the message


@dataclass
class CorpusScores:
    """BLEU and chrF of a corpus, each with its sacreBLEU signature."""

    bleu: float
    bleu_signature: str
    chrf: float
    chrf_signature: str


def sacrebleu_available() -> bool:
    try:
        import sacrebleu  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def mecab_available() -> bool:
    """Whether sacreBLEU's ``ja-mecab`` tokenizer runs here: MeCab and its IPA
    dictionary (``pip install 'sacrebleu[ja]'``) import, and the dictionary is
    the one sacreBLEU's Japanese scores were made with."""
    try:
        from sacrebleu.tokenizers.tokenizer_ja_mecab import TokenizerJaMecab
        TokenizerJaMecab()
    except (ImportError, RuntimeError, AssertionError):  # sacreBLEU's own checks
        return False
    return True


def in_ranges(char: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= ord(char) <= high for low, high in ranges)


def written_language(references: list[str]) -> str | None:
    """``"ja"`` or ``"zh"`` if the references are written in Japanese or
    Chinese, by their letters; None for every other script.

    More than half of the letters Han or kana is Japanese or Chinese; kana,
    at least 1 in 20 of those, make it Japanese.  Text of Han characters alone
    (the bundled Japanese numbers, 二十一) cannot be told from Chinese by its
    letters: it is taken as Chinese, whose tokenizer cuts it into the same
    characters as Japanese's ``char`` does.
    """
    letters = [char for text in references for char in text if char.isalpha()]
    kana = sum(in_ranges(char, KANA) for char in letters)
    han = sum(in_ranges(char, HAN) for char in letters)
    if not letters or kana + han <= len(letters) / 2:
        return None
    return "ja" if kana >= KANA_SHARE * (kana + han) else "zh"


def bleu_tokenizer(references: list[str], language: str | None = None) -> str:
    """sacreBLEU's tokenizer for BLEU on ``references``, chosen by their language.

    BLEU counts words, so the text must be cut into words first.  sacreBLEU's
    default, ``13a``, cuts at spaces and around punctuation: right for the
    languages written with spaces, and wrong for Japanese and Chinese, which
    have none.  Under ``13a`` 二十一 is one "word", a sentence of one word
    holds no 2-, 3- or 4-gram, and the bundled Japanese model, right on 999
    of its 1,000 held-out numbers, scored BLEU 0.00.  So, as sacreBLEU's own
    command line chooses when it is told the target language:

    - Japanese: ``ja-mecab`` (the words of the MeCab morphological analyser)
      where MeCab and its dictionary are installed, else ``char``: each
      character is a word, and BLEU counts character 1- to 4-grams;
    - Chinese: ``zh``, each Han character a word;
    - every other language: ``13a``.

    ``language`` is the target's code (``"ja"``, ``"en"``) where the run
    knows it (the bundled numbers, a corpus pair); None: decided from the
    references' letters (:func:`written_language`).  The signature names the
    tokenizer (``tok:char``): two BLEU scores compare only with the same one.
    """
    language = language or written_language(references)
    if language == "ja":
        return "ja-mecab" if mecab_available() else "char"
    if language == "zh":
        return "zh"
    return TOKENIZE


def corpus_scores(predictions: list[str], references: list[str],
                  language: str | None = None) -> CorpusScores | None:
    """BLEU and chrF of ``predictions`` against one reference each, by
    sacreBLEU; None if it is not installed.  BLEU cuts words by
    :func:`bleu_tokenizer` for ``language`` (None: the references' script)."""
    if len(predictions) != len(references) or not references:
        raise ValueError(f"corpus_scores: {len(predictions)} predictions for "
                         f"{len(references)} references; they must pair up, at least one")
    if not sacrebleu_available():
        return None
    from sacrebleu.metrics import BLEU, CHRF
    bleu, chrf = BLEU(tokenize=bleu_tokenizer(references, language)), CHRF()
    return CorpusScores(bleu.corpus_score(predictions, [references]).score,
                        bleu.get_signature().format(),
                        chrf.corpus_score(predictions, [references]).score,
                        chrf.get_signature().format())


def too_short_for_bleu(references: list[str], language: str | None = None) -> str | None:
    """Why ``references`` are too few for BLEU to mean much, or None if they are
    enough (or sacreBLEU is not installed).

    Too few: under 100 references, or under 500 tokens in all (as BLEU cuts
    them, :func:`bleu_tokenizer`).  BLEU is one ratio over the whole corpus,
    so its spread from one sample to another shrinks as 1/√n.  Measured on
    the 1,000 bundled French test numbers (5,650 tokens) as translated with
    one word of every other sentence replaced at random (BLEU 78.2 on all):
    over 200 random samples, its standard deviation was 8.3 points at 10
    references, 4.7 at 30, 2.4 at 100 (about 565 tokens) and 1.4 at 300;
    the Japanese numbers, by characters: 5.4, 3.1, 1.5 and 0.8.  Papers
    compare systems a point or two apart, so below about 100 references a
    difference of several points may be chance.  The tokens' bound is for
    short references: a reference of k tokens holds only k - 3 4-grams, so
    100 references of two or three words leave BLEU's 4-gram precision
    almost nothing to count.
    """
    if not sacrebleu_available():
        return None
    from sacrebleu.metrics import BLEU
    tokenize = bleu_tokenizer(references, language)
    cut = BLEU(tokenize=tokenize).tokenizer
    tokens = sum(len(cut(text).split()) for text in references)
    if len(references) >= MIN_BLEU_REFERENCES and tokens >= MIN_BLEU_TOKENS:
        return None
    return (f"{len(references):,} references ({tokens:,} tokens, tok:{tokenize}) are too few "
            f"for BLEU to mean much: below {MIN_BLEU_REFERENCES} references or "
            f"{MIN_BLEU_TOKENS} tokens, another sample of as many moves it by several points")


def unwritable_tokens(tokenizer, references: list[str]) -> tuple[int, Counter]:
    """``(counted, unwritable)``: how many tokens ``references`` hold, and a
    count of those that ``tokenizer`` (a translator's target tokenizer)
    cannot write, spaces left out.

    What "cannot write" means depends on the tokenizer's kind:

    - a :class:`~shapesafe_nn.tokenizers.WordTokenizer` writes only the
      tokens of its vocabulary (its encode refuses any other): a Latin word
      it lacks (``"five"`` to a French one, whose letters it holds) or a
      character it lacks is unwritable;
    - a :class:`~shapesafe_nn.tokenizers.SubwordTokenizer` writes any text of
      the characters it was trained on, piece by piece: a character it never
      saw is read as ``<unk>`` and is unwritable.  Its tokens are counted as
      characters.
    """
    if isinstance(tokenizer, WordTokenizer):
        tokens = [token for text in references
                  for token in split_tokens(text, tokenizer.whole_words) if not token.isspace()]
        unk = None
    else:
        tokens = [char for text in references for char in text if not char.isspace()]
        unk = tokenizer.specials.unk

    @functools.cache
    def writable(token: str) -> bool:
        if unk is None:
            return token in tokenizer.ids
        return unk not in tokenizer.encode(token)

    return len(tokens), Counter(token for token in tokens if not writable(token))


def check_writable(tokenizer, references: list[str], name: str) -> str | None:
    """Refuse ``references`` in a language the model does not write; say how
    many of their tokens it cannot write otherwise (None: it can write all).

    A model scored against references of another language scores 0 (exact
    match 0.0000), which only says that the file was the wrong one.  Real test
    sets of the model's own language hold some tokens it never learned (a
    name, a rare word): those are counted in a note, and the rest scored.
    Refused: more than half of the references' tokens unwritable
    (:func:`unwritable_tokens`).  The share of tokens, not of sentences:
    one unknown word spoils a whole sentence, so with a small word
    vocabulary most sentences of the right language may hold one, while
    their tokens stay mostly known.  Measured on the bundled test numbers
    with the target vocabularies the bundled runs learn: the model's own
    language, 0% unwritable; another script (Japanese to an English, French
    or German model, or the reverse), 100%; English to French words 85%,
    French to English words 78%, German to either 100% (a German number is
    one word).  A language of much the same letters, read by characters or
    BPE pieces, cannot be told this way and is noted, not refused: English
    or French to the German characters 14% and 17%, English to a French BPE
    7%.
    """
    counted, unwritable = unwritable_tokens(tokenizer, references)
    if not unwritable:
        return None
    total = sum(unwritable.values())
    unit = ("tokens" if isinstance(tokenizer, WordTokenizer) and tokenizer.whole_words
            else "characters")
    share = f"{total:,} of the references' {counted:,} {unit} ({total / counted:.1%})"
    examples = ", ".join(repr(token) for token, _ in unwritable.most_common(SHOWN_UNWRITABLE))
    if total > UNWRITABLE_SHARE * counted:
        raise ValueError(f"{name}: {share} are not in the model's target vocabulary, such as "
                         f"{examples}: the references are not in the language the model "
                         f"writes; score it on pairs of the languages it was trained on")
    return (f"{share} are not in the model's target vocabulary, such as {examples}: no "
            f"translation can match them")
