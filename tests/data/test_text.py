"""Character-level text data: the bundled corpus, the tokenizer, the split and the batches."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn.data.text import (CharTokenizer, TextDataError, get_batch, load_text,
                                    split_train_val)

CORPUS_FILE = Path(__file__).parents[2] / "shapesafe_nn" / "data" / "shakespeare_tragedies.txt"


@pytest.fixture(scope="module")
def corpus() -> str:
    return load_text()


@pytest.fixture(scope="module")
def tokenizer(corpus) -> CharTokenizer:
    return CharTokenizer.from_text(corpus)


# -- load_text ---------------------------------------------------------------
def test_bundled_corpus_is_ascii_with_73_characters(corpus, tokenizer):
    assert corpus == CORPUS_FILE.read_text(encoding="utf-8")
    assert corpus.isascii() and len(corpus) == 1_158_218
    assert tokenizer.vocab_size == 73
    assert tokenizer.chars[:3] == ("\n", " ", "!") and tokenizer.chars[-1] == "}"


def test_any_utf8_file_loads(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text("Ode à la joie ✓\n", encoding="utf-8")
    assert load_text(path) == "Ode à la joie ✓\n"
    assert load_text(str(path)) == "Ode à la joie ✓\n"


def test_a_byte_order_mark_is_not_learned_as_a_character(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfto be\n")  # as some editors save UTF-8
    assert load_text(path) == "to be\n"
    assert "\ufeff" not in CharTokenizer.from_text(load_text(path)).chars


def test_a_missing_file_is_named(tmp_path):
    path = tmp_path / "missing.txt"
    with pytest.raises(TextDataError, match="no such file") as info:
        load_text(path)
    assert str(path) in str(info.value)


def test_a_directory_is_named(tmp_path):
    with pytest.raises(TextDataError, match="is a directory") as info:
        load_text(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_non_utf8_bytes_are_located(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Ode à".encode("latin-1"))  # à is the single byte 0xe0 at offset 4
    with pytest.raises(TextDataError) as info:
        load_text(path)
    message = str(info.value)
    assert str(path) in message and "not UTF-8" in message
    assert "byte 0xe0 at byte offset 4" in message


def test_an_empty_file_is_named(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(TextDataError, match="is empty") as info:
        load_text(path)
    assert str(path) in str(info.value)
    assert issubclass(TextDataError, ValueError)


# -- CharTokenizer -------------------------------------------------------------
def test_corpus_round_trips(corpus, tokenizer):
    ids = tokenizer.encode(corpus)
    assert ids.dtype == np.int64 and ids.shape == (len(corpus),)
    assert ids.min() == 0 and ids.max() == 72
    assert tokenizer.decode(ids) == corpus


def test_ids_are_places_in_the_sorted_vocabulary():
    tokenizer = CharTokenizer.from_text("hello")
    assert tokenizer.chars == ("e", "h", "l", "o")
    np.testing.assert_array_equal(tokenizer.encode("hello"), [1, 0, 2, 2, 3])
    assert tokenizer.decode([3, 2, 0]) == "ole" and tokenizer.decode([]) == ""


@settings(max_examples=50, deadline=None)
@given(text=st.text(min_size=1, max_size=50), data=st.data())
def test_any_text_round_trips_through_its_own_vocabulary(text, data):
    tokenizer = CharTokenizer.from_text(text)
    assert tokenizer.decode(tokenizer.encode(text)) == text
    ids = data.draw(st.lists(st.integers(0, tokenizer.vocab_size - 1), max_size=20))
    np.testing.assert_array_equal(tokenizer.encode(tokenizer.decode(ids)), ids)


def test_an_unknown_character_is_named_with_its_position(tokenizer):
    with pytest.raises(ValueError) as info:
        tokenizer.encode("To be, or not to be — that")
    message = str(info.value)
    assert "'—'" in message and "position 20" in message and "73 characters" in message


def test_ids_outside_the_vocabulary_are_refused(tokenizer):
    with pytest.raises(ValueError, match=r"ids holds 73 at index \(2,\), outside \[0, 73\)"):
        tokenizer.decode(np.array([0, 1, 73]))
    with pytest.raises(ValueError, match=r"ids holds -1 at index \(0,\)"):
        tokenizer.decode([-1])
    with pytest.raises(ValueError, match=r"one sequence \(seq,\), not shape \(2, 3\)"):
        tokenizer.decode(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="ids must be integers, not float64"):
        tokenizer.decode(np.array([1.0, 2.0]))


def test_json_round_trip(tokenizer):
    saved = tokenizer.to_json()
    restored = CharTokenizer.from_json(saved)
    assert restored == tokenizer and restored.chars == tokenizer.chars
    assert repr(restored) == "CharTokenizer(vocab_size=73)"


@pytest.mark.parametrize("saved, text", [
    ("not json", "not JSON"),
    ('["a", "b"]', "expected"),
    ('{"chars": ["a", "bc"]}', "entry 1 is 'bc'"),
    ('{"chars": ["a", "b", "a"]}', r"lists \['a'\] more than once"),
    ('{"chars": []}', "vocabulary is empty"),
])
def test_a_bad_saved_vocabulary_is_refused(saved, text):
    with pytest.raises(ValueError, match=text):
        CharTokenizer.from_json(saved)


# -- split_train_val -------------------------------------------------------------
def test_split_is_by_position(corpus, tokenizer):
    ids = tokenizer.encode(corpus)
    train, val = split_train_val(ids)
    n = int(0.9 * len(ids))
    assert len(train) == n == 1_042_396 and len(val) == len(ids) - n
    assert np.shares_memory(train, ids) and np.shares_memory(val, ids)
    np.testing.assert_array_equal(np.concatenate([train, val]), ids)


def test_split_arguments_are_checked():
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\), not 1.5"):
        split_train_val(np.arange(10), 1.5)
    with pytest.raises(ValueError, match=r"len\(ids\) = 1 is too short to split"):
        split_train_val(np.arange(1), 0.1)
    with pytest.raises(TypeError, match="1-D integer array"):
        split_train_val("some text")


# -- get_batch -----------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(batch_size=st.integers(1, 8), block_size=st.integers(1, 16), extra=st.integers(1, 40),
       seed=st.integers(0, 2**32 - 1))
def test_batches_are_windows_and_their_next_characters(batch_size, block_size, extra, seed):
    ids = np.random.default_rng(seed).integers(0, 73, size=block_size + extra)
    x, y = get_batch(ids, batch_size, block_size, np.random.default_rng(seed))
    assert x.shape == y.shape == (batch_size, block_size)
    assert x.dtype == y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # y is x shifted by one
    windows = np.lib.stride_tricks.sliding_window_view(ids, block_size + 1)
    for row_x, row_y in zip(x, y):  # each row is ids[s : s + block_size + 1], split in two
        row = np.concatenate([row_x, row_y[-1:]])
        assert (windows == row).all(axis=1).any()


def test_the_same_seed_gives_the_same_batch(corpus, tokenizer):
    ids = tokenizer.encode(corpus[:5000])
    first = get_batch(ids, 4, 32, np.random.default_rng(7))
    again = get_batch(ids, 4, 32, np.random.default_rng(7))
    other = get_batch(ids, 4, 32, np.random.default_rng(8))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_data_of_exactly_block_size_plus_one_has_one_window():
    x, y = get_batch(np.arange(5), 3, 4, np.random.default_rng(0))
    np.testing.assert_array_equal(x, np.tile(np.arange(4), (3, 1)))
    np.testing.assert_array_equal(y, np.tile(np.arange(1, 5), (3, 1)))


def test_data_shorter_than_a_block_is_refused():
    with pytest.raises(ValueError, match=r"holds 8 tokens, but one example needs "
                                         r"block_size \+ 1 = 9"):
        get_batch(np.arange(8), 2, 8, np.random.default_rng(0))


def test_get_batch_arguments_are_checked():
    ids = np.arange(100)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, not 0"):
        get_batch(ids, 0, 8, np.random.default_rng(0))
    with pytest.raises(ValueError, match="block_size must be a positive integer, not 2.5"):
        get_batch(ids, 2, 2.5, np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng must be a numpy Generator"):
        get_batch(ids, 2, 8, 42)
    with pytest.raises(TypeError, match="1-D integer array, as encode returns, not float64"):
        get_batch(ids.astype(float), 2, 8, np.random.default_rng(0))
