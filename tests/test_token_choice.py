"""--tokens auto|words|chars|bpe: which tokenizers a translator reads, and why."""

import pytest

from shapesafe_nn.data.pairs import load_numbers
from shapesafe_nn.tokenizers import SubwordTokenizer, WordTokenizer
from shapesafe_nn.tokenizers.choice import MOST_WORDS, choose_tokenizers

# captions with more distinct words than MOST_WORDS: one made-up name each ("baa", "bab", ...)
NAMES = ["".join(chr(97 + i // 26 ** k % 26) for k in (2, 1, 0)) for i in range(676, 1686)]
CAPTIONS = [(f"Ein Hund namens {name} läuft.", f"A dog named {name} runs.") for name in NAMES]


def sides(pairs):
    return [s for s, _ in pairs], [t for _, t in pairs]


def test_the_bundled_numbers_keep_words_and_german_keeps_characters():
    choice = choose_tokenizers(*sides(load_numbers("en-de")), bundled=True)
    assert not choice.joint
    assert (choice.source.unit, choice.source.vocab_size) == ("words", 37)
    assert choice.target.unit == "characters"  # 20,003 German words: one a number
    assert choice.describe().startswith("source words, vocab 37; target characters, vocab ")


def test_auto_keeps_a_small_vocabulary_whole_and_reads_real_text_as_one_joint_bpe():
    pytest.importorskip("tokenizers")
    few = choose_tokenizers(*sides(load_numbers("en-fr")[:200]))
    assert isinstance(few.source, WordTokenizer) and few.source.unit == "words"
    assert few.reason.startswith("auto: a vocabulary of at most ")
    many = choose_tokenizers(*sides(CAPTIONS), vocab_size=300)
    assert many.joint and many.source is many.target
    assert isinstance(many.source, SubwordTokenizer) and many.source.vocab_size <= 300
    # 1,010 names, "A", " ", "dog", "named", "runs", "." and PAD, BOS, EOS
    assert many.reason == "auto: a vocabulary of 1,019 words on a side, more than 1,000"
    assert many.describe() == f"BPE pieces, one joint vocab of {many.source.vocab_size}"


@pytest.mark.parametrize("tokens, unit", [("words", "words"), ("chars", "characters"),
                                          ("characters", "characters"), ("bpe", "BPE pieces")])
def test_each_kind_asked_for_is_given(tokens, unit):
    if tokens == "bpe":
        pytest.importorskip("tokenizers")
    choice = choose_tokenizers(*sides(CAPTIONS[:20]), tokens=tokens, vocab_size=100)
    assert choice.source.unit == choice.target.unit == unit
    assert choice.joint == (tokens == "bpe")


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="tokens must be one of auto, words, chars, bpe, not "
                                         "'pieces'"):
        choose_tokenizers(["a"], ["b"], tokens="pieces")
