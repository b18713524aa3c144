"""Files a command reads and writes: ordinary ones, each written all or nothing.

**Ordinary files only.**  A named pipe given as ``--data`` blocks the read
forever, waiting for a writer that never comes; ``/dev/zero`` never ends.  A
device given as ``--save`` is replaced by an ordinary file when the save
renames its temporary file over it (run as root, ``--save /dev/null`` would
break the system).  :func:`special_kind` names what such a path is, from
``os.stat`` alone, without opening it, so both can be refused before any work.

**All or nothing.**  Every file is written to a temporary file beside it,
flushed to the disk, and renamed over the target: a rename within a folder
is atomic, so a reader, a crash, Ctrl-C or a full disk finds the old file
or the new one, never half of one::

    with writing_atomically("metrics.json") as file:
        file.write(document.encode())       # or torch.save(obj, file), savefig(file), ...

A folder (a Hugging Face or nanoGPT export, whose files must match each
other) is built whole beside its target and swapped in with two renames
(:func:`writing_folder_atomically`).

**Temporary files.**  Each is named ``.<target>.<host>.<pid>.<8 hex>.tmp``.
A process killed outright (``kill -9``, a power cut) leaves its temporary
file behind, as large as what it wrote; the next write of the same target
removes it, but only if it is provably dead: made on this machine by a
process that no longer runs.  Two runs saving to one file at once never
remove each other's file while it is being written.

**A full disk** is one error naming the file: :class:`NoSpaceLeft`.
"""

import contextlib
import errno
import glob
import os
import re
import secrets
import shutil
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

# os.stat's file types other than an ordinary file and a folder, as a message names them
OTHER_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
TEMPORARY_SUFFIX = ".tmp"
PREVIOUS_SUFFIX = ".previous"  # a folder's old version, for the moment between two renames


def special_kind(path: str | os.PathLike) -> str | None:
    """What ``path`` is if it exists and is neither an ordinary file nor a folder
    (a link is followed): ``"a named pipe"``, ``"a character device"``, ...;
    None for an ordinary file, a folder, or nothing there."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # nothing there (or a name the OS refuses): not special
        return None
    return next((kind for is_kind, kind in OTHER_KINDS if is_kind(mode)), None)


class NoSpaceLeft(OSError):
    """The disk (or the user's quota) filled up while ``path`` was written; the
    previous file, if any, is unchanged and the temporary file is removed."""

    def __init__(self, path: Path):
        super().__init__(f"{path}: no space left on the device, so it was not written (an "
                         f"earlier one is unchanged); free some space and run again")
        self.errno = errno.ENOSPC  # as the OS's own error, for a caller that checks it


@contextlib.contextmanager
def writing_atomically(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yield a new temporary file beside ``path``, open for binary writing; when
    the block ends, flush it to the disk and rename it over ``path``.

    Write through the file object (``torch.save(obj, file)``,
    ``figure.savefig(file)``, ``file.write(data)``), not through its name: an
    error then comes from Python's own write, with the OS's reason (a path
    given to torch or numpy fails on a full disk with a message that names
    neither).  If the block raises (a signal's KeyboardInterrupt too), the
    temporary file is removed and ``path`` is left as it was; a full disk is
    raised as :class:`NoSpaceLeft`."""
    path = Path(path)
    remove_stale_temporaries(path)
    temporary = _temporary_beside(path)
    try:
        file = open(temporary, "xb")
    except OSError as error:
        raise _cannot_write(path, error) from error
    try:
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())  # on the disk before it takes the name
        os.replace(temporary, path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if _disk_full(error):
            raise NoSpaceLeft(path) from error
        raise


def check_replaceable_folder(path: str | os.PathLike, holds: tuple[str, ...]) -> None:
    """Refuse ``path`` as a folder to replace whole with one holding ``holds``
    (names of files and folders): it must be missing, or a folder holding
    nothing else, as an earlier write of the same kind left it.  What else
    it held would be lost."""
    path = Path(path)
    kind = special_kind(path)
    if kind is not None:
        raise FileExistsError(f"{path}: is {kind}, not a folder; name a new folder")
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path}: is a file, and a folder is written there; name "
                                 f"a new folder")
    others = sorted(set(os.listdir(path)) - set(holds)) if path.is_dir() else []
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3
                                         else "")
        raise FileExistsError(f"{path}: holds {shown}, which writing the folder would remove "
                              f"(it is replaced whole); name a new or empty folder")


@contextlib.contextmanager
def writing_folder_atomically(path: str | os.PathLike,
                              holds: tuple[str, ...]) -> Iterator[Path]:
    """Yield a new, empty temporary folder beside ``path`` for the caller to fill
    with ``holds`` (names of files and folders), through file objects as in
    :func:`writing_atomically`; when the block ends, flush every file in it
    and put it in ``path``'s place.  ``path`` is first checked with
    :func:`check_replaceable_folder`.

    The old folder is first renamed aside (``.<name>.<host>.<pid>.<8 hex>.previous``),
    the new one renamed in, and the old one removed: between the two renames,
    microseconds, ``path`` is missing and the old folder is still whole under
    that name.  If the block raises, the temporary folder is removed and
    ``path`` is left as it was."""
    path = Path(path)
    check_replaceable_folder(path, holds)
    remove_stale_temporaries(path)
    temporary = _temporary_beside(path)
    try:
        temporary.mkdir()
    except OSError as error:
        raise _cannot_write(path, error) from error
    try:
        yield temporary
        for folder, _, names in os.walk(temporary):
            for name in names:
                with open(os.path.join(folder, name), "rb+") as file:
                    os.fsync(file.fileno())
        previous = None
        if path.exists():
            previous = temporary.with_name(temporary.name.removesuffix(TEMPORARY_SUFFIX)
                                           + PREVIOUS_SUFFIX)
            os.rename(path, previous)
        try:
            os.rename(temporary, path)
        except BaseException:
            if previous is not None:  # put the old folder back in its place
                os.rename(previous, path)
            raise
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)  # the new folder is in place: done
    except BaseException as error:
        shutil.rmtree(temporary, ignore_errors=True)
        if _disk_full(error):
            raise NoSpaceLeft(path) from error
        raise


def _temporary_beside(path: Path) -> Path:
    """``.<name>.<host>.<pid>.<8 hex>.tmp`` in ``path``'s folder: the same disk, so
    that the rename is atomic; the host and pid say whose it is."""
    return path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}."
                          f"{secrets.token_hex(4)}{TEMPORARY_SUFFIX}")


def remove_stale_temporaries(path: Path) -> None:
    """Remove what earlier writes of ``path`` that were killed left behind: the
    temporary files and folders whose process, on this machine, no longer runs.
    Those of a running process (another run saving to the same file) are kept,
    as is anything whose owner cannot be told."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?P<host>.+)\.(?P<pid>\d+)\."
                         rf"[0-9a-f]{{8}}{re.escape(TEMPORARY_SUFFIX)}")
    here = socket.gethostname()
    for entry in path.parent.glob(f".{glob.escape(path.name)}.*{TEMPORARY_SUFFIX}"):
        found = pattern.fullmatch(entry.name)
        if found is None or found["host"] != here or _running(int(found["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine: signal 0 is a test, sent to no one."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    except OverflowError:  # a number no process can have: not provably dead, so kept
        return True
    return True


def _cannot_write(path: Path, error: OSError) -> OSError:
    """The error of a temporary file or folder that could not be made, naming the
    user's ``path`` (a folder that cannot be written, a full disk), not ours."""
    if _disk_full(error):
        return NoSpaceLeft(path)
    return type(error)(f"{path}: cannot be written: {error.strerror or error} (in the folder "
                       f"{path.parent})")


def _disk_full(error: BaseException) -> bool:
    """Whether the OS said the disk (ENOSPC) or the user's quota (EDQUOT) is full."""
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
