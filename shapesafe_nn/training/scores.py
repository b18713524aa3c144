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
"""

from dataclasses import dataclass

TOKENIZE = "13a"  # sacreBLEU's default: Moses' mteval-v13a tokenizer, for Latin scripts


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


def corpus_scores(predictions: list[str], references: list[str],
                  tokenize: str = TOKENIZE) -> CorpusScores | None:
    """BLEU and chrF of ``predictions`` against one reference each, by
    sacreBLEU; None if it is not installed.  ``tokenize`` is BLEU's
    tokenizer (``"13a"``; ``"char"`` or ``"ja-mecab"`` for Japanese, ``"zh"``
    for Chinese)."""
    if len(predictions) != len(references) or not references:
        raise ValueError(f"corpus_scores: {len(predictions)} predictions for "
                         f"{len(references)} references; they must pair up, at least one")
    if not sacrebleu_available():
        return None
    from sacrebleu.metrics import BLEU, CHRF
    bleu, chrf = BLEU(tokenize=tokenize), CHRF()
    return CorpusScores(bleu.corpus_score(predictions, [references]).score,
                        bleu.get_signature().format(),
                        chrf.corpus_score(predictions, [references]).score,
                        chrf.get_signature().format())
