"""Sentence pairs: the bundled number words and any source<TAB>target file."""

import pytest

from shapesafe_nn.data.pairs import PairsError, load_numbers, read_pairs, read_pairs_and_lines


def test_the_bundled_numbers_split_by_number():
    train, test = load_numbers("en-fr"), load_numbers("en-fr", "test")
    assert len(train) == 20_000 and len(test) == 1_000
    assert not {source for source, _ in train} & {source for source, _ in test}
    assert ("twenty-one", "vingt et un") in train + test


def test_every_language_pair_reads_the_same_numbers_in_the_same_order():
    english = [source for source, _ in load_numbers("en-ja", "test")]
    assert [target for _, target in load_numbers("ja-en", "test")] == english
    assert ("einundzwanzig", "二十一") in load_numbers("de-ja") + load_numbers("de-ja", "test")


@pytest.mark.parametrize("pair", ["en", "en-en", "en-xx", "en-fr-de", None])
def test_an_unknown_pair_is_refused_by_name(pair):
    with pytest.raises(ValueError, match="pair must be two different languages"):
        load_numbers(pair)


def test_extra_columns_are_ignored_and_crlf_read(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes("Go.\tVa !\tCC-BY 2.0 (France)\r\n\r\nHi.\tSalut !\tCC-BY 2.0\r\n".encode())
    assert read_pairs(path) == [("Go.", "Va !"), ("Hi.", "Salut !")]


def test_each_pair_comes_with_its_line_blank_lines_counted(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(b"\n\none\tun\n\ntwo\tdeux\nthree\ttrois\n")
    assert read_pairs_and_lines(path) == ([("one", "un"), ("two", "deux"), ("three", "trois")],
                                          [3, 5, 6])


def test_a_line_with_another_number_of_columns_is_refused_by_file_and_line(tmp_path):
    # a tab inside a sentence: read as two columns, "seven eight" -> "sept" lost "huit"
    path = tmp_path / "pairs.tsv"
    path.write_bytes("six\tsix\nseven eight\tsept\thuit\n".encode())
    before = path.read_bytes()
    with pytest.raises(PairsError) as error:
        read_pairs(path)
    assert str(error.value) == (f"{path}, line 2: 3 columns, where line 1 has 2: a tab inside "
                                f"a sentence? 'seven eight\\tsept\\thuit'")
    assert path.read_bytes() == before


def test_a_byte_order_mark_is_dropped_and_lines_end_at_newline_only(tmp_path):
    path = tmp_path / "pairs.tsv"
    # a form feed, NEL and U+2028 inside sentences: splitlines() would have cut there
    path.write_bytes("\ufeffone\tun\ntwo\x0cthree\tdeux\x85trois\nfour\u2028five\tquatre\n"
                     .encode())
    assert read_pairs(path) == [("one", "un"), ("two\x0cthree", "deux\x85trois"),
                                ("four\u2028five", "quatre")]


@pytest.mark.parametrize("content, message", [
    ("one\tun\ntwo un deux\n", r"pairs.tsv, line 2: 1 column\(s\) where 2 are needed"),
    ("one\tun\n\t deux\n", "pairs.tsv, line 2: the source is empty"),
    ("one\t \n", "pairs.tsv, line 1: the target is empty"),
    ("\n\n", "pairs.tsv: holds no pairs"),
])
def test_a_bad_line_is_named_with_its_file_and_number(tmp_path, content, message):
    path = tmp_path / "pairs.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PairsError, match=message):
        read_pairs(path)


def test_text_that_is_not_utf8_is_named_with_its_line(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes("one\tun\n".encode() + "zéro\tzero\n".encode("latin-1"))
    with pytest.raises(PairsError, match=r"pairs.tsv, line 2: not UTF-8 text \(byte 0xe9\)"):
        read_pairs(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(PairsError, match=r"missing.tsv: cannot be read \(No such file"):
        read_pairs(tmp_path / "missing.tsv")
