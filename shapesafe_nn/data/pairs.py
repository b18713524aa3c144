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
"""

from pathlib import Path

from ..saving.files import special_kind
from .make_numbers import LANGUAGES

HERE = Path(__file__).parent
SPLITS = ("train", "test")


class PairsError(ValueError):
    """A pairs file that cannot be read as source<TAB>target lines; the message
    names the file and the line."""


def read_pairs(path, columns: tuple[int, int] = (0, 1)) -> list[tuple[str, str]]:
    """The ``(source, target)`` pairs of a tab-separated UTF-8 file.

    ``columns`` says which two columns are source and target (the first two
    by default); other columns are ignored.  A line with too few tabs, an
    empty side or text that is not UTF-8 raises :class:`PairsError` naming the
    file and the line.  Blank lines are skipped; a final newline is optional,
    and so is Windows' ``\\r\\n``.
    """
    path = Path(path)
    kind = special_kind(path)
    if kind is not None:  # a named pipe would block the read below forever
        raise PairsError(f"{path}: is {kind}, not an ordinary file: reading it would not end; "
                         f"save the pairs to a file")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise PairsError(f"{path}: cannot read the pairs file ({error.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise PairsError(f"{path}, line {line}: not UTF-8 text (byte {raw[error.start]:#04x}); "
                         f"save the file as UTF-8") from None
    needed = max(columns) + 1
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < needed:
            raise PairsError(f"{path}, line {number}: {len(fields)} column(s) where {needed} "
                             f"are needed; a pair is source<TAB>target on one line: {line[:60]!r}")
        source, target = (fields[column].strip() for column in columns)
        for side, sentence in (("source", source), ("target", target)):
            if not sentence:
                raise PairsError(f"{path}, line {number}: the {side} is empty: {line[:60]!r}")
        pairs.append((source, target))
    if not pairs:
        raise PairsError(f"{path}: holds no pairs")
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
