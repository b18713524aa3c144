"""A file of sentences, one a line, as corpora ship them: plain or gzip, UTF-8.

Parallel corpora (Multi30k, WMT, Europarl) come as two files per split,
``train.de`` and ``train.en``, line n of one the translation of line n of
the other, often gzipped (``train.de.gz``).  :func:`read_lines` reads one:

- a gzip file (it starts with the bytes 1f 8b, whatever its name) is
  decompressed as it is read;
- a UTF-8 byte-order mark at the start is dropped, not read as a character;
- lines end at "\\n" alone (and a "\\r" before it is dropped): a form feed,
  NEL or U+2028 inside a sentence is part of the sentence, as it is for
  the tools that wrote the file, so line numbers agree with ``wc -l`` and
  with the other file of the pair;
- text that is not UTF-8 is an error naming the file and the line.
"""

import codecs
import gzip
import zlib
from pathlib import Path

from ..saving.files import special_kind

GZIP_MAGIC = b"\x1f\x8b"


class SentenceFileError(ValueError):
    """A file of sentences that cannot be read; the message names the file (and line)."""


def read_file_bytes(path) -> bytes:
    """The bytes of ``path``, decompressed if it is gzip."""
    path = Path(path)
    kind = special_kind(path)
    if kind is not None:  # a named pipe would block the read below forever
        raise SentenceFileError(f"{path}: is {kind}, not an ordinary file: reading it would "
                                f"not end; save the sentences to a file")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SentenceFileError(f"{path}: cannot be read ({error.strerror})") from None
    return decompressed(raw, path)


def decompressed(raw: bytes, path) -> bytes:
    """``raw`` decompressed if it is gzip (it starts with 1f 8b), else as it is."""
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise SentenceFileError(f"{path}: a damaged gzip file ({error}); download it "
                                f"again") from None


def decode_utf8(raw: bytes, path) -> str:
    """``raw`` as text, a leading byte-order mark dropped; bytes that are not
    UTF-8 are an error naming the line."""
    start = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = start + error.start
        line = raw.count(b"\n", 0, offset) + 1
        raise SentenceFileError(f"{path}, line {line}: not UTF-8 text (byte "
                                f"{raw[offset]:#04x}); save the file as UTF-8") from None


def read_lines(path) -> list[str]:
    """The lines of a plain or gzip UTF-8 file (see the module), without their
    line ends; a last line end is optional."""
    text = decode_utf8(read_file_bytes(path), path)
    lines = text.split("\n")
    if lines and lines[-1] == "":  # the file ended with a line end
        lines.pop()
    return [line.removesuffix("\r") for line in lines]
