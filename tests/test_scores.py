"""Scores that mean what they say: BLEU cuts words as the target language
writes them, a corpus too short for BLEU is said to be, and references the
model cannot write (another language's) are refused, a few unknown tokens
noted."""

import sys
from pathlib import Path

import pytest

from shapesafe_nn.data.pairs import load_numbers
from shapesafe_nn.tokenizers import WordTokenizer
from shapesafe_nn.training import scores
from shapesafe_nn.training.scores import (bleu_tokenizer, check_writable, corpus_scores,
                                          too_short_for_bleu, unwritable_tokens,
                                          written_language)

from cli_runner import run

JAPANESE_MODEL = Path(__file__).resolve().parent.parent / "docs" / "assets" / "numbers_en_ja.npz"
JAPANESE = [target for _, target in load_numbers("en-ja", "test")]  # 九十九万九千, ...
FRENCH = WordTokenizer.from_texts(["vingt-et-un", "cinq cents", "deux mille"])


@pytest.fixture
def no_mecab(monkeypatch):
    """Japanese is cut by characters, as where sacrebleu[ja] is not installed."""
    monkeypatch.setattr(scores, "mecab_available", lambda: False)


# ---------------------------------------------------------------------------
# BLEU's tokenizer, by the target language
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("language, tokenize", [("ja", "char"), ("zh", "zh"), ("fr", "13a"),
                                                ("en", "13a"), ("cs", "13a")])
def test_a_known_language_picks_bleus_tokenizer(no_mecab, language, tokenize):
    assert bleu_tokenizer(["whatever the references"], language) == tokenize


def test_japanese_is_cut_into_mecabs_words_where_mecab_runs(monkeypatch):
    monkeypatch.setattr(scores, "mecab_available", lambda: True)
    assert bleu_tokenizer(JAPANESE[:3], "ja") == "ja-mecab"


def test_mecab_is_unavailable_when_it_does_not_import(monkeypatch):
    monkeypatch.setitem(sys.modules, "MeCab", None)  # import MeCab raises ImportError
    monkeypatch.delitem(sys.modules, "sacrebleu.tokenizers.tokenizer_ja_mecab", raising=False)
    pytest.importorskip("sacrebleu")
    assert scores.mecab_available.__wrapped__() is False  # not the cached answer


@pytest.mark.parametrize("references, language", [
    (["これはペンです。", "東京に行きます。"], "ja"),  # kana: Japanese
    (["我们去北京。", "他是学生。"], "zh"),  # Han, no kana: Chinese
    # a Japanese shop's name in Chinese: 3 kana of 91 letters
    (["我们在ヤマダ电器买了电视机和冰箱。"] + ["他是一个很好的学生，我们都喜欢他。"] * 5, "zh"),
    (["我们在ヤマダ电器买了电视机和冰箱。"], "ja"),  # 3 of 16: too many for a name alone
    (JAPANESE[:5], "zh"),  # kanji alone cannot be told from Chinese
    (["vingt et un", "Zwei Männer"], None),
    (["Tokyo 東京 is a large city"], None),  # 2 Han letters of 19
    (["", "42"], None),  # no letters at all
])
def test_the_references_script_tells_japanese_and_chinese(references, language):
    assert written_language(references) == language


def test_unnamed_languages_are_cut_as_their_script_says(no_mecab):
    assert bleu_tokenizer(["これはペンです。"]) == "char"
    assert bleu_tokenizer(["他是学生。"]) == "zh"
    assert bleu_tokenizer(["vingt et un"]) == "13a"


def test_a_model_right_on_999_japanese_numbers_of_1000_scores_bleu_near_100(no_mecab):
    pytest.importorskip("sacrebleu")
    predictions = [("九千九" if reference == "九千" else reference) for reference in JAPANESE]
    result = corpus_scores(predictions, JAPANESE, "ja")
    assert "|tok:char|" in result.bleu_signature
    # one sentence of 1,000 one character long: 99.99, where 13a gave 0.00
    assert result.bleu == pytest.approx(99.99, abs=0.005)
    assert "|tok:zh|" in corpus_scores(predictions, JAPANESE).bleu_signature  # kanji alone


def test_the_japanese_model_is_scored_by_characters(no_mecab):
    pytest.importorskip("sacrebleu")
    evaluated = run("eval", "translate", "--checkpoint", JAPANESE_MODEL,
                    "--checks", "off")
    assert evaluated.code == 0, evaluated.err
    assert evaluated.lines[-2].startswith(
        "BLEU signature nrefs:1|case:mixed|eff:no|tok:char|smooth:exp|")
    # 999 of the 1,000 held-out numbers right: 九千 written 九千九
    assert evaluated.lines[-1] == "exact match 0.9990 (999/1,000), chrF 100.00, BLEU 99.99, greedy"
    assert "note:" not in evaluated.out


def test_training_on_japanese_scores_bleu_by_characters_at_each_evaluation(no_mecab):
    pytest.importorskip("sacrebleu")
    result = run("train", "translate", "--pair", "en-ja", "--preset", "tiny", "--steps", 2,
                 "--warmup", 1, "--eval-interval", 2, "--checks", "off")
    assert result.code == 0, result.err
    bleu_lines = [line for line in result.lines if line.startswith("    BLEU ")]
    assert len(bleu_lines) == 2  # steps 0 and 2
    assert all(" on 200 held-out pairs (greedy; nrefs:1|case:mixed|eff:no|tok:char|" in line
               for line in bleu_lines)
    assert not any(line.startswith("note: ") for line in result.lines)  # 200 pairs are enough


# ---------------------------------------------------------------------------
# Too short for BLEU
# ---------------------------------------------------------------------------
def test_fewer_than_100_references_are_too_few_for_bleu():
    pytest.importorskip("sacrebleu")
    sentence = "one two three four five six seven eight nine ten"  # 10 tokens
    assert too_short_for_bleu([sentence] * 99, "en") == (
        "99 references (990 tokens, tok:13a) are too few for BLEU to mean much: below 100 "
        "references or 500 tokens, another sample of as many moves it by several points")
    assert too_short_for_bleu([sentence] * 100, "en") is None


def test_references_of_fewer_than_500_tokens_are_too_few_for_bleu(no_mecab):
    pytest.importorskip("sacrebleu")
    assert too_short_for_bleu(["deux mille"] * 249, "fr").startswith(
        "249 references (498 tokens, tok:13a) are too few")
    assert too_short_for_bleu(["cinq cents"] * 250, "fr") is None
    # tokens as BLEU cuts them: Japanese by characters, three a number here
    assert too_short_for_bleu(["二十一"] * 150, "ja").startswith(
        "150 references (450 tokens, tok:char) are too few")


def test_an_evaluation_on_a_few_pairs_says_bleu_means_little(tmp_path):
    pytest.importorskip("sacrebleu")
    pairs = tmp_path / "few.tsv"
    pairs.write_text("twenty-one\t二十一\nfive hundred\t五百\n", encoding="utf-8")
    evaluated = run("eval", "translate", "--checkpoint", JAPANESE_MODEL,
                    "--data", pairs, "--checks", "off")
    assert evaluated.code == 0, evaluated.err
    # a file: its language is read from its script, and kanji alone is Chinese's zh
    assert evaluated.lines[-3] == (
        "note: 2 references (5 tokens, tok:zh) are too few for BLEU to mean much: below 100 "
        "references or 500 tokens, another sample of as many moves it by several points")
    assert "|tok:zh|" in evaluated.lines[-2]
    # half right, yet BLEU 0.00: neither translation (二十一, 五百五) is long enough
    # to hold a 4-gram, so BLEU's 4-gram precision has nothing to count
    assert evaluated.lines[-1] == "exact match 0.5000 (1/2), chrF 96.87, BLEU 0.00, greedy"


# ---------------------------------------------------------------------------
# References the model cannot write
# ---------------------------------------------------------------------------
def test_a_word_vocabulary_cannot_write_words_it_lacks_even_of_known_letters():
    counted, unwritable = unwritable_tokens(FRENCH, ["vingt-et-un", "cinq cents un", "une"])
    assert counted == 9  # vingt - et - un | cinq cents un | une: spaces not counted
    assert unwritable == {"une": 1}  # its letters are known, the word is not


def test_a_character_vocabulary_cannot_write_characters_it_lacks():
    characters = WordTokenizer.from_texts(["vingt-et-un"], whole_words=False)
    assert unwritable_tokens(characters, ["fünf", "un"]) == (6, {"f": 2, "ü": 1})


def test_a_bpe_cannot_write_the_characters_it_never_saw():
    pytest.importorskip("tokenizers")
    from shapesafe_nn.tokenizers import SubwordTokenizer
    bpe = SubwordTokenizer.train(["vingt et un", "cinq cents", "deux mille"], 40)
    # any word of known letters is pieces; ü and 五 are <unk>
    assert unwritable_tokens(bpe, ["mille vingt", "fünf 五"]) == (15, {"f": 2, "ü": 1, "五": 1})
    with pytest.raises(ValueError) as refused:
        check_writable(bpe, ["二十一", "五百"], "ja.tsv")
    assert str(refused.value) == (
        "ja.tsv: 5 of the references' 5 characters (100.0%) are not in the model's target "
        "vocabulary, such as '二', '十', '一', '五', '百': the references are not in the "
        "language the model writes; score it on pairs of the languages it was trained on")


def test_references_the_model_can_write_pass_without_a_note():
    assert check_writable(FRENCH, ["vingt-et-un", "deux mille cinq cents"], "fr.tsv") is None


def test_a_few_unwritable_tokens_are_noted_and_half_is_not_yet_refused():
    assert check_writable(FRENCH, ["deux mille Alice", "cinq cents"], "fr.tsv") == (
        "1 of the references' 5 tokens (20.0%) are not in the model's target vocabulary, such "
        "as 'Alice': no translation can match them")
    half = check_writable(FRENCH, ["five cents", "two mille"], "fr.tsv")
    assert half.startswith("2 of the references' 4 tokens (50.0%) are not in the model's ")


def test_references_mostly_unwritable_are_another_language_and_refused():
    with pytest.raises(ValueError) as refused:
        check_writable(FRENCH, ["five hundred", "two thousand", "deux mille"], "en.tsv")
    assert str(refused.value) == (
        "en.tsv: 4 of the references' 6 tokens (66.7%) are not in the model's target "
        "vocabulary, such as 'five', 'hundred', 'two', 'thousand': the references are not in "
        "the language the model writes; score it on pairs of the languages it was trained on")


def test_an_evaluation_notes_the_few_reference_tokens_the_model_cannot_write(tmp_path):
    pairs = tmp_path / "yen.tsv"
    # 円 (yen) is no character of the numbers the model learned to write
    pairs.write_text("twenty-one\t二十一\nfive hundred\t五百円\n", encoding="utf-8")
    evaluated = run("eval", "translate", "--checkpoint", JAPANESE_MODEL, "--data", pairs,
                    "--checks", "off")
    assert evaluated.code == 0, evaluated.err
    assert evaluated.lines[1] == (
        "note: 1 of the references' 6 tokens (16.7%) are not in the model's target vocabulary, "
        "such as '円': no translation can match them")
