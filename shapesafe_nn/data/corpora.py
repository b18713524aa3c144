"""Corpora too large or not ours to ship: fetched on request, checked, kept in a cache.

Multi30k (Elliott, Frank, Sima'an & Specia 2016) is the corpus of the
translation tutorials and of the repository the seed links: image captions,
29,000 to train on, 1,014 to validate, 1,000 in test_2016_flickr, in
English, German, French and Czech (task 1).  The package never ships it
and nothing downloads it unasked: ``shapesafe-nn download multi30k``, or
``train translate --corpus multi30k``, fetches its raw files::

    files = download(CORPORA["multi30k"])                 # 12 files, 3.3 MB, once
    pairs = corpus_pairs(CORPORA["multi30k"], "de-en", "train")   # 29,000 (German, English)

Each file is read from the dataset's public repository at a fixed commit,
so that its SHA-256, written below, never changes; a file whose SHA-256
differs is refused, never used.  It is written to a temporary file and
renamed into the cache, so an interrupted download leaves nothing half
written.  The cache is ``~/.cache/shapesafe_nn/<corpus>/``, or
``$SHAPESAFE_CACHE/<corpus>/``.  Once there, the files are read without
the network; without the network and without the files, the error says
where to put them.
"""

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .pairs import pair_lines
from .sentence_files import read_lines

CACHE_VARIABLE = "SHAPESAFE_CACHE"
CHUNK = 1 << 16  # bytes read from the network at a time
TIMEOUT_S = 30  # seconds without an answer before a download is given up


class CorpusError(ValueError):
    """A corpus that cannot be fetched or read; the message says what to do."""


@dataclass(frozen=True)
class Corpus:
    """Where a corpus's files are, and what each must be.

    ``files`` maps each file name to its SHA-256 and its size in bytes;
    a file is ``<split>.<language>.gz``.  ``url`` + name is where it is
    fetched from.
    """

    name: str
    url: str
    home: str  # the page a user reads, where the files come from
    languages: tuple[str, ...]
    splits: tuple[str, ...]
    files: dict[str, tuple[str, int]]

    def file_name(self, split: str, language: str) -> str:
        return f"{split}.{language}.gz"

    def pair_languages(self, pair: str) -> tuple[str, str]:
        """``"de-en"`` -> ``("de", "en")``; a ValueError for a pair it lacks."""
        languages = tuple(pair.split("-")) if isinstance(pair, str) else ()
        if (len(languages) != 2 or languages[0] == languages[1]
                or not set(languages) <= set(self.languages)):
            raise CorpusError(f"{self.name}: a pair is two of {', '.join(self.languages)} "
                              f"joined by '-' (as 'de-en'), not {pair!r}")
        return languages


MULTI30K_COMMIT = "c40b37b23d6387214f8ab37335b5a8672b9745f2"  # the last to change the raw files
MULTI30K = Corpus(
    name="multi30k",
    url=f"https://raw.githubusercontent.com/multi30k/dataset/{MULTI30K_COMMIT}/data/task1/raw/",
    home="https://github.com/multi30k/dataset (data/task1/raw)",
    languages=("en", "de", "fr", "cs"),
    splits=("train", "val", "test_2016_flickr"),
    files={
        "train.en.gz": ("d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f", 568929),
        "train.de.gz": ("726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6", 637044),
        "train.fr.gz": ("622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c", 604242),
        "train.cs.gz": ("a65adb8b32e3bc664f21ecba7a6e7f6950fd1f405e135f7c312faabdb6255077", 593827),
        "val.en.gz": ("14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28", 21650),
        "val.de.gz": ("f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a", 24681),
        "val.fr.gz": ("ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9", 23001),
        "val.cs.gz": ("b63226e05c4bd5dd6a42897d74b86a1b9d2c31498252c572b1ea7f7996927fcc", 22096),
        "test_2016_flickr.en.gz": (
            "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9", 21077),
        "test_2016_flickr.de.gz": (
            "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8", 22890),
        "test_2016_flickr.fr.gz": (
            "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90", 22310),
        "test_2016_flickr.cs.gz": (
            "200a4a74cc9560f051924abb9803be008d1908d77f747e9141aeb86dfd2797f1", 22572),
    },
)
CORPORA = {"multi30k": MULTI30K}


def cache_folder() -> Path:
    """Where fetched corpora are kept: ``$SHAPESAFE_CACHE``, else
    ``~/.cache/shapesafe_nn``."""
    moved = os.environ.get(CACHE_VARIABLE)
    return Path(moved).expanduser() if moved else Path.home() / ".cache" / "shapesafe_nn"


def corpus_folder(corpus: Corpus) -> Path:
    return cache_folder() / corpus.name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def is_cached(corpus: Corpus, name: str) -> bool:
    """Whether the cache holds ``name`` with the SHA-256 it must have."""
    path = corpus_folder(corpus) / name
    return path.is_file() and sha256_of(path) == corpus.files[name][0]


def download(corpus: Corpus, names: list[str] | None = None, quiet: bool = False,
             log=None) -> list[Path]:
    """Fetch each of ``names`` (default: every file of ``corpus``) that the cache
    does not hold yet, check its SHA-256 and move it in; return their paths.

    A progress bar counts the bytes (on a terminal, unless ``quiet``), and
    ``log`` gets one line a file fetched (default: standard error, where the
    bar is, so that the output of a command stays its own).
    """
    log = log or (lambda line: print(line, file=sys.stderr))
    names = list(corpus.files) if names is None else names
    folder = corpus_folder(corpus)
    for name in names:
        if is_cached(corpus, name):
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CorpusError(f"{folder}: cannot make the cache folder ({error.strerror}); set "
                              f"{CACHE_VARIABLE} to a folder you can write") from None
        fetch(corpus, name, folder, quiet)
        log(f"{corpus.name}: fetched {name} ({corpus.files[name][1]:,} bytes, SHA-256 checked) "
            f"into {folder}")
    return [folder / name for name in names]


def fetch(corpus: Corpus, name: str, folder: Path, quiet: bool) -> None:
    """One file from ``corpus.url`` into ``folder``: a temporary file beside
    it, renamed over it only once its SHA-256 is right."""
    url = corpus.url + name
    sha256, size = corpus.files[name]
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file, \
                urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer, \
                tqdm(total=size, unit="B", unit_scale=True, desc=name, leave=False,
                     disable=True if quiet else None) as bar:
            for block in iter(lambda: answer.read(CHUNK), b""):
                file.write(block)
                digest.update(block)
                bar.update(len(block))
            file.flush()
            os.fsync(file.fileno())
        if digest.hexdigest() != sha256:
            raise CorpusError(f"{url}: the file fetched has SHA-256 {digest.hexdigest()}, not "
                              f"{sha256}: it is not the file this corpus is; it was not kept")
        os.replace(temporary, folder / name)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or error
        raise CorpusError(
            f"{corpus.name}: cannot fetch {url} ({reason}). Without the network, put the files "
            f"{', '.join(corpus.files)} from {corpus.home} in {folder}") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def corpus_lines(corpus: Corpus, split: str, language: str) -> tuple[Path, list[str]]:
    """The path and lines of one file, fetched first if the cache lacks it."""
    if split not in corpus.splits:
        raise CorpusError(f"{corpus.name}: a split is one of {', '.join(corpus.splits)}, "
                          f"not {split!r}")
    name = corpus.file_name(split, language)
    (path,) = download(corpus, [name])
    return path, read_lines(path)


def corpus_pairs(corpus: Corpus, pair: str, split: str) -> tuple[list[tuple[str, str]],
                                                                   list[str]]:
    """``(pairs, notes)``: the ``(source, target)`` sentences of ``split`` for
    ``pair`` ("de-en": German to English), and a note for each thing read
    otherwise than written.

    Multi30k's German training file holds one tab inside a sentence (line
    7,366, before "Wasserfontäne"): a tab inside a sentence is read as a
    space, and counted in the notes.  Anything else wrong is the error of
    :func:`~shapesafe_nn.data.pairs.pair_lines`.
    """
    source, target = corpus.pair_languages(pair)
    sides, notes = [], []
    for language in (source, target):
        path, lines = corpus_lines(corpus, split, language)
        tabbed = [number for number, line in enumerate(lines, start=1) if "\t" in line]
        if tabbed:
            shown = ", ".join(f"{number:,}" for number in tabbed[:3])
            notes.append(f"{path.name}: {len(tabbed)} tab(s) inside a sentence read as a space "
                         f"(line {shown}{', ...' if len(tabbed) > 3 else ''})")
            lines = [line.replace("\t", " ") for line in lines]
        sides.append((path, lines))
    (source_path, sources), (target_path, targets) = sides
    return pair_lines(sources, targets, source_path, target_path), notes
