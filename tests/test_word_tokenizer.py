"""Latin words whole, every other character alone, joined back exactly."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn.data.pairs import load_numbers
from shapesafe_nn.tokenizers.words import (BOS_ID, EOS_ID, PAD_ID, WordTokenizer, pad_batch,
                                         split_tokens)


def test_latin_words_stay_whole_and_every_other_character_is_alone():
    assert split_tokens("quatre-vingt-dix mille, zéro") == [
        "quatre", "-", "vingt", "-", "dix", " ", "mille", ",", " ", "zéro"]
    assert split_tokens("三十二万千") == ["三", "十", "二", "万", "千"]
    assert split_tokens("fünfundneunzig×2") == ["fünfundneunzig", "×", "2"]


@settings(max_examples=50, deadline=None)
@given(st.text())
def test_the_tokens_join_back_to_the_text_exactly(text):
    assert "".join(split_tokens(text)) == text


def test_the_bundled_english_and_french_are_three_times_shorter_than_characters():
    # measured: 48.9 characters -> 15.8 tokens (English), 40.5 -> 13.2 (French)
    for side in (0, 1):
        texts = [pair[side] for pair in load_numbers("en-fr", "test")]
        characters = sum(len(text) for text in texts)
        tokens = sum(len(split_tokens(text)) for text in texts)
        assert 2.8 < characters / tokens < 3.3


def test_encode_and_decode_round_trip_with_the_special_tokens():
    tokenizer = WordTokenizer.from_texts(["twenty-one", "vingt et un"])
    ids = tokenizer.encode("twenty-one", bos=True, eos=True)
    assert ids.dtype == np.int64 and ids[0] == BOS_ID and ids[-1] == EOS_ID
    assert len(ids) == 3 + 2
    assert tokenizer.decode(ids) == "twenty-one"
    # decoding stops at the first EOS and skips PAD
    assert tokenizer.decode([*ids, tokenizer.ids["et"], PAD_ID]) == "twenty-one"
    assert tokenizer.vocab_size == 3 + len({"twenty", "-", "one", "vingt", " ", "et", "un"})


def test_unknown_tokens_are_named():
    tokenizer = WordTokenizer.from_texts(["twenty-one"])
    with pytest.raises(ValueError, match=r"WordTokenizer.encode: 3 token\(s\) of 'twenty two!' "
                                         r"are not in the vocabulary: ' ', '!', 'two'$"):
        tokenizer.encode("twenty two!")


def test_every_unknown_token_is_listed_once():
    tokenizer = WordTokenizer.from_texts(["one"])
    with pytest.raises(ValueError) as error:
        tokenizer.encode("two two ")
    assert str(error.value).endswith("not in the vocabulary: ' ', 'two'")


def test_the_vocabulary_survives_json_without_pickle():
    tokenizer = WordTokenizer.from_texts(["二十一", "zéro"])
    text = tokenizer.to_json()
    assert "二" in text and "zéro" in text  # readable, not escaped
    again = WordTokenizer.from_json(text)
    assert again.tokens == tokenizer.tokens
    with pytest.raises(ValueError, match="checkpoint: not a word tokenizer's JSON"):
        WordTokenizer.from_json('{"chars": []}', source="checkpoint")


def test_decode_refuses_ids_outside_the_vocabulary():
    tokenizer = WordTokenizer.from_texts(["one"])
    with pytest.raises(ValueError, match=r"WordTokenizer.decode: ids holds 9 at index \(1,\), outside \[0, 4\)"):
        tokenizer.decode([3, 9])


def test_pad_batch_pads_to_the_longest_and_marks_the_padding():
    ids, mask = pad_batch([np.array([5, 6, 7]), np.array([8])])
    assert ids.tolist() == [[5, 6, 7], [8, PAD_ID, PAD_ID]]
    assert mask.tolist() == [[False, False, False], [False, True, True]]
    with pytest.raises(ValueError, match="no empty one"):
        pad_batch([np.array([5]), np.array([], dtype=np.int64)])


def test_characters_mode_reads_german_compounds_letter_by_letter():
    texts = ["einundzwanzig", "dreihundert"]
    words = WordTokenizer.from_texts(texts)
    characters = WordTokenizer.from_texts(texts, whole_words=False)
    assert words.vocab_size == 3 + 2  # one token per distinct number
    assert characters.vocab_size == 3 + len(set("".join(texts)))
    assert characters.unit == "characters" and words.unit == "words"
    ids = characters.encode("zwanzig", eos=True)
    assert len(ids) == len("zwanzig") + 1
    assert characters.decode(ids) == "zwanzig"
    again = WordTokenizer.from_json(characters.to_json())
    assert again.whole_words is False and again.tokens == characters.tokens
    with pytest.raises(ValueError, match="whole_words=False every token must be one character"):
        WordTokenizer(["ab"], whole_words=False)
