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

A score means what it says only if two things hold, which this module
checks:

- the words are cut as the language writes them (:func:`bleu_tokenizer`):
  Japanese and Chinese put no spaces between words, so the default cut
  leaves a whole sentence one "word" and BLEU near 0 for a perfect model;
- the corpus is large enough that another sample would give about the same
  number (:func:`too_short_for_bleu`).
"""

import functools
from dataclasses import dataclass

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

