"""Reading an ``.npz`` file, checkpoint or data, without ever loading code from it.

An ``.npz`` is a zip archive of ``.npy`` arrays (``np.savez``).  Both the
checkpoint loader and the MNIST ``.npz`` loader read through
:func:`read_npz`, so both refuse the same damaged files in the same way.

A file can be damaged at three levels, and each fails with its own errors:

- the zip container: ``zipfile.BadZipFile``, ``EOFError`` or ``OSError``
  (truncated, bad offsets), ``NotImplementedError`` (an unsupported
  compression method), ``RuntimeError`` (the "encrypted" flag set),
  ``zlib.error`` (damaged deflate data);
- an ``.npy`` header: ``ValueError`` (bad magic, a dtype or shape numpy does
  not accept, an array holding Python objects, which would need pickle),
  ``SyntaxError`` and ``tokenize.TokenError`` (a header that is not a Python
  literal or is unterminated), ``TypeError``, ``KeyError``;
- the data after the header: ``ValueError`` (fewer bytes than the shape
  needs), ``MemoryError`` (a header claiming an enormous shape).

Each means the same to the caller: the file is not a readable ``.npz``.  The
list above is exactly what is caught, so a bug in this package still shows
as itself.
"""

import os
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .files import special_kind

ZIP_MAGIC = b"PK\x03\x04"  # the first bytes of a zip archive, and so of every .npz

DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
           RuntimeError, ValueError, SyntaxError, tokenize.TokenError, TypeError, KeyError,
           MemoryError, OverflowError)
"""Every error a damaged zip archive or ``.npy`` header raises inside ``np.load``."""


class NpzError(ValueError):
    """The file is missing, a directory, not a zip archive, or damaged; the
    message starts with its path."""


def read_npz(path: str | os.PathLike, kind: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, by name; an :class:`NpzError`
    naming the file if it cannot be read (``kind``, "checkpoint" or "data",
    says in the message what it should have been).

    Read with ``allow_pickle=False``: an array of Python objects is pickled,
    and unpickling runs code from the file, so such an array is refused.
    """
    path = Path(path)
    if path.is_dir():
        raise NpzError(f"{path}: is a directory, not a {kind} file")
    special = special_kind(path)
    if special is not None:
        raise NpzError(f"{path}: is {special}, not an ordinary file")
    if not path.is_file():
        raise NpzError(f"{path}: no such {kind} file")
    # np.load reads anything that is not a zip archive as a lone .npy array or as a
    # pickle: refuse those by their first bytes.  np.load gets the open stream, not
    # the path: given a path to a damaged archive it raises without closing the file.
    try:
        with path.open("rb") as stream:
            if stream.read(len(ZIP_MAGIC)) != ZIP_MAGIC:
                raise NpzError(f"{path}: not an .npz {kind} file (np.savez writes a zip archive "
                               f"of .npy arrays, and this file is not a zip archive)")
            stream.seek(0)
            with np.load(stream, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
    except NpzError:
        raise
    except DAMAGED as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise NpzError(f"{path}: not a readable .npz {kind} file "
                       f"({type(error).__name__}: {reason})") from error
    for name, array in arrays.items():
        # np.load hands back the raw bytes of a member without the .npy magic
        if not isinstance(array, np.ndarray):
            raise NpzError(f"{path}: not a readable .npz {kind} file ({name} is not a .npy "
                           f"array)")
    return arrays
