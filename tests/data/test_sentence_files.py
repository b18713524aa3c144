"""Files of sentences, one a line, as parallel corpora ship them: plain or gzip,
UTF-8, lines split on "\\n" alone; and pairs from two such files."""

import gzip

import pytest

from shapesafe_nn.data.pairs import PairsError, read_pairs, read_parallel
from shapesafe_nn.data.sentence_files import SentenceFileError, read_lines


def write(path, text: str, compress: bool = False, bom: bool = False):
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_a_file_reads_as_its_lines_gzip_or_not(tmp_path, compress):
    path = write(tmp_path / "train.de", "Zwei Hunde.\r\nEin Mann.\n", compress)
    assert read_lines(path) == ["Zwei Hunde.", "Ein Mann."]


def test_a_bom_is_dropped_and_only_a_line_feed_ends_a_line(tmp_path):
    # a form feed, NEL and U+2028 are characters of the sentence, not line ends
    path = write(tmp_path / "a.txt", "eins\x0czwei\ndrei\x85vier\u2028fünf", bom=True)
    assert read_lines(path) == ["eins\x0czwei", "drei\x85vier\u2028fünf"]


def test_bytes_that_are_not_utf8_name_the_file_and_the_line(tmp_path):
    path = tmp_path / "latin1.de"
    path.write_bytes("Männer\nMädchen\n".encode("utf-8") + "Jäger\n".encode("latin-1"))
    with pytest.raises(SentenceFileError, match=r"latin1.de, line 3: not UTF-8 text \(byte "
                                                r"0xe4\); save the file as UTF-8"):
        read_lines(path)


def test_a_damaged_gzip_file_is_named(tmp_path):
    path = tmp_path / "train.de.gz"
    path.write_bytes(gzip.compress(b"Zwei Hunde.\n" * 100)[:40])
    with pytest.raises(SentenceFileError, match=r"train.de.gz: a damaged gzip file"):
        read_lines(path)


def test_two_parallel_files_pair_line_by_line(tmp_path):
    german = write(tmp_path / "train.de.gz", "Zwei Hunde.\n Ein Mann. \n", compress=True)
    english = write(tmp_path / "train.en", "Two dogs.\nA man.")
    assert read_parallel(german, english) == [("Zwei Hunde.", "Two dogs."), ("Ein Mann.", "A man.")]


def test_parallel_files_of_different_lengths_are_refused(tmp_path):
    german = write(tmp_path / "train.de", "Zwei Hunde.\nEin Mann.\nEine Frau.\n")
    english = write(tmp_path / "train.en", "Two dogs.\nA man.\n")
    with pytest.raises(PairsError, match=r"train.de has 3 lines but .*train.en 2; line n of one "
                                         r"must be the translation of line n of the other"):
        read_parallel(german, english)


def test_a_tab_or_an_empty_line_names_the_file_and_the_line(tmp_path):
    english = write(tmp_path / "train.en", "Two dogs.\nA man.\n")
    tabbed = write(tmp_path / "tab.de", "Zwei Hunde.\nEin\tMann.\n")
    with pytest.raises(PairsError, match=r"tab.de, line 2: a tab inside the sentence "
                                         r"\('Ein\\tMann.'\); replace it with a space"):
        read_parallel(tabbed, english)
    empty = write(tmp_path / "empty.de", "  \nEin Mann.\n")
    with pytest.raises(PairsError, match=r"empty.de, line 1: the line is empty, so line 1 of the "
                                         r"other file has no translation"):
        read_parallel(empty, english)
    with pytest.raises(PairsError, match=r"nothing.de: holds no sentences"):
        read_parallel(write(tmp_path / "nothing.de", ""), write(tmp_path / "nothing.en", ""))


def test_a_gzipped_tab_separated_file_reads_as_the_plain_one(tmp_path):
    text = "one\tun\ntwo\tdeux\n"
    plain = read_pairs(write(tmp_path / "pairs.tsv", text))
    assert read_pairs(write(tmp_path / "pairs.tsv.gz", text, compress=True)) == plain
