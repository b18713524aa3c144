"""Sentence pairs for translation: a source sentence and its target, read from
tab-separated text.

Any UTF-8 file with one pair per line, ``source<TAB>target``, can be read;
further columns are ignored, as in the Tatoeba and Anki exports, whose third
column is an attribution.  The bundled number words
(:mod:`shapesafe_nn.data.make_numbers`) hold four columns, one per language,
and :func:`load_numbers` picks two of them::

    train = load_numbers("en-fr")             # 20,000 (english, french) pairs
    test = load_numbers("en-fr", "test")      # 1,000 more, no number in common
    train[1]                                  # ('sixty-five', 'soixante-cinq')
    pairs = read_pairs("my_pairs.tsv")        # your own file
    pairs = read_parallel("train.de.gz", "train.en.gz")   # or two files, a sentence a line

A file whose name ends in anything, ``.gz`` included, is decompressed if it
is gzip (:mod:`shapesafe_nn.data.sentence_files`).
"""

from pathlib import Path

from .make_numbers import LANGUAGES
from .sentence_files import SentenceFileError, read_lines

HERE = Path(__file__).parent
SPLITS = ("train", "test")


class PairsError(ValueError):
    """A pairs file that cannot be read as source<TAB>target lines; the message
    names the file and the line."""


def read_pairs(path, columns: tuple[int, int] = (0, 1)) -> list[tuple[str, str]]:
    """The ``(source, target)`` pairs of a tab-separated UTF-8 file: those of
    :func:`read_pairs_and_lines`, without their line numbers."""
    return read_pairs_and_lines(path, columns)[0]


def read_pairs_and_lines(path, columns: tuple[int, int] = (0, 1)
                         ) -> tuple[list[tuple[str, str]], list[int]]:
    """The ``(source, target)`` pairs of a tab-separated UTF-8 file, and the
    line each is on (from 1): blank lines are skipped, so pair n is not always
    line n, and a message about a pair points at its line.

    ``columns`` says which two columns are source and target (the first two
    by default); other columns are ignored.  Every line must have as many
    columns as the file's first: a tab inside a sentence would otherwise cut
    the sentence short, silently.  A line with another number of columns, an
    empty side or text that is not UTF-8 raises :class:`PairsError` naming the
    file and the line.  A final newline is optional, and so is Windows'
    ``\\r\\n``.  A byte-order mark at the start is dropped.
    Lines end at ``\\n`` only: a form feed, NEL or U+2028 inside a sentence is
    part of the sentence, as it is to the program that wrote the file.
    """
    try:  # gzip or plain, a byte-order mark dropped, lines split at "\n" alone
        lines = read_lines(path)
    except SentenceFileError as error:
        raise PairsError(str(error)) from None
    needed = max(columns) + 1
    pairs, numbers = [], []
    width = None  # the number of columns of the file's first line
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < needed:
            raise PairsError(f"{path}, line {number}: {len(fields)} column(s) where {needed} "
                             f"are needed; a pair is source<TAB>target on one line: {line[:60]!r}")
        width = width or (number, len(fields))
        if len(fields) != width[1]:
            raise PairsError(f"{path}, line {number}: {len(fields)} columns, where line "
                             f"{width[0]} has {width[1]}: a tab inside a sentence? {line[:60]!r}")
        source, target = (fields[column].strip() for column in columns)
        for side, sentence in (("source", source), ("target", target)):
            if not sentence:
                raise PairsError(f"{path}, line {number}: the {side} is empty: {line[:60]!r}")
        pairs.append((source, target))
        numbers.append(number)
    if not pairs:
        raise PairsError(f"{path}: holds no pairs")
    return pairs, numbers


def read_parallel(source_path, target_path) -> list[tuple[str, str]]:
    """The ``(source, target)`` pairs of two files, one sentence a line: line n
    of ``target_path`` is the translation of line n of ``source_path``.

    Plain or gzip UTF-8 (:func:`~shapesafe_nn.data.sentence_files.read_lines`);
    see :func:`pair_lines` for what is refused.
    """
    return pair_lines(read_lines(source_path), read_lines(target_path), source_path,
                      target_path)


def pair_lines(sources: list[str], targets: list[str], source_name, target_name
               ) -> list[tuple[str, str]]:
    """Lines of two parallel files as pairs, each sentence stripped of the
    spaces around it.  Refused, naming the file and the line: files of
    different lengths (every later pair would be wrong), an empty line (its
    partner would have no translation) and a tab inside a sentence (it
    could not be written as a source<TAB>target line, and is most often
    two columns pasted into one)."""
    if len(sources) != len(targets):
        raise PairsError(f"{source_name} has {len(sources):,} lines but {target_name} "
                         f"{len(targets):,}; line n of one must be the translation of line n "
                         f"of the other")
    if not sources:
        raise PairsError(f"{source_name}: holds no sentences")
    pairs = []
    for number, sentences in enumerate(zip(sources, targets), start=1):
        for name, sentence in zip((source_name, target_name), sentences):
            if "\t" in sentence:
                raise PairsError(f"{name}, line {number}: a tab inside the sentence "
                                 f"({sentence[:60]!r}); replace it with a space")
            if not sentence.strip():
                raise PairsError(f"{name}, line {number}: the line is empty, so line "
                                 f"{number} of the other file has no translation; remove "
                                 f"the pair from both files")
        pairs.append((sentences[0].strip(), sentences[1].strip()))
    return pairs


def load_numbers(pair: str = "en-fr", split: str = "train") -> list[tuple[str, str]]:
    """The bundled number words, as ``(source, target)`` pairs.

    ``pair`` is ``"source-target"`` with two of :data:`LANGUAGES` (``"en-ja"``,
    ``"de-en"``, ...); ``split`` is ``"train"`` (20,000 numbers) or ``"test"``
    (1,000 other numbers).
    """
    languages = pair.split("-") if isinstance(pair, str) else []
    if len(languages) != 2 or not set(languages) <= set(LANGUAGES) or len(set(languages)) != 2:
        raise ValueError(f"load_numbers: pair must be two different languages of "
                         f"{', '.join(LANGUAGES)} joined by '-' (as 'en-fr'), not {pair!r}")
    if split not in SPLITS:
        raise ValueError(f"load_numbers: split must be one of {', '.join(SPLITS)}, "
                         f"not {split!r}")
    columns = tuple(LANGUAGES.index(language) for language in languages)
    return read_pairs(HERE / f"numbers_{split}.tsv", columns)
