"""Argument types and checks shared by the commands.

A value argparse refuses ends the command with its usage and exit code 2,
before any data is read: so every range a flag must respect is checked here,
at parse time, rather than by the code that would use it minutes later.
"""

import argparse
import math
import os
from pathlib import Path

import numpy as np

from ..saving.files import check_replaceable_folder, special_kind


# Every whole number a flag gives becomes a numpy int64 (a size, a count, a
# seed's draw): one beyond it would raise OverflowError deep inside numpy.
LARGEST_WHOLE_NUMBER = np.iinfo(np.int64).max


def finite(value: int | float) -> bool:
    """Whether ``value`` is a finite number; every Python int is (``math.isfinite``
    would convert it to a float first, and raise OverflowError beyond 1e308)."""
    return isinstance(value, int) or math.isfinite(value)


def within_int64(value: int | float, text: str) -> None:
    """Refuse a whole number beyond :data:`LARGEST_WHOLE_NUMBER`; ``text`` is as typed,
    cut short when it is too long to read."""
    if isinstance(value, int) and value > LARGEST_WHOLE_NUMBER:
        typed = text if len(text) <= 30 else f"{text[:20]}... ({len(text)} characters)"
        raise argparse.ArgumentTypeError(f"must be at most {LARGEST_WHOLE_NUMBER}, not {typed}")


def whole_number(text: str) -> int:
    """An argparse type: a whole number within int64, for a config's field
    (``--n-head``), whose range the config checks (see config_flags.py)."""
    value = int(text)
    within_int64(value, text)
    return value


whole_number.__name__ = "int"  # argparse names the type in its message: "invalid int value"


def positive(kind):
    """An argparse type: ``kind(text)``, finite and above 0 (``--lr``, ``--epochs``)."""
    def parse(text: str):
        value = kind(text)
        if not (finite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
        within_int64(value, text)
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its message
    return parse


def non_negative(kind):
    """An argparse type: ``kind(text)``, finite and 0 or more (``--holdout``, ``--weight-decay``)."""
    def parse(text: str):
        value = kind(text)
        if not (finite(value) and value >= 0):
            raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
        within_int64(value, text)
        return value
    parse.__name__ = kind.__name__
    return parse


non_negative_int = non_negative(int)


def probability(text: str) -> float:
    """An argparse type: a number in [0, 1) (``--smoothing``)."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {text}")
    return value


def non_empty_prompt(text: str) -> str:
    """An argparse type: a prompt of at least one character (``--prompt``): a
    model continues text, and an empty prompt gives it nothing to continue."""
    if not text:
        raise argparse.ArgumentTypeError("must hold at least one character")
    return text


def check_png(flag: str, path: Path | None) -> None:
    """Refuse a picture named other than ``.png``, the only format the plots
    write: a ``.svg`` name would get PNG bytes.  Run it after
    :func:`check_outputs`, whose reasons (the file is an input) come first."""
    if path is not None and path.suffix.lower() != ".png":
        raise ValueError(f"{flag} {path}: plots are PNG images; name a .png file")


def check_outputs(outputs: dict[str, Path | None], inputs: dict[str, Path | None],
                  continues: tuple[str, str] | None = None) -> None:
    """Refuse, before any work, an output that would destroy something or fail at the end.

    ``outputs`` and ``inputs`` map each flag to the path given (None: not
    given).  Refused, naming the flag and the user's path: an input or
    output that is a named pipe, a device or a socket; an output that is a
    directory, whose folder is missing or cannot be written, that is one of
    the inputs, or that is another output; "the same" also through a
    symbolic or hard link.  Otherwise ``--save poem.txt`` would overwrite the
    text the run trains on, and a full run could train for an hour and then
    fail to save.

    ``continues`` names the one pair allowed, ``("--save", "--resume")``: a
    resumed run may carry on in the file it was read from, which it read
    whole before its first step and replaces atomically.
    """
    given_outputs = [(flag, path) for flag, path in outputs.items() if path is not None]
    for paths, harm in ((given_outputs, "writing would replace it with a file"),
                        (inputs.items(), "reading it would not end")):
        for flag, path in paths:
            kind = None if path is None else special_kind(path)  # see data/files.py
            if kind is not None:
                raise ValueError(f"{flag} {path}: is {kind}, not an ordinary file: {harm}; "
                                 f"name a file")
    for flag, path in given_outputs:
        if path.is_dir():
            raise IsADirectoryError(f"{flag} {path}: is a directory; name a file inside it")
        check_writable_place(flag, path)
    for index, (flag, path) in enumerate(given_outputs):
        others = [(f"output {other_flag}", other) for other_flag, other in given_outputs[:index]]
        others += [(f"input {in_flag}", other) for in_flag, other in inputs.items()
                   if other is not None and (flag, in_flag) != continues]
        for what, other in others:
            if same_file(path, other):
                raise ValueError(f"{flag} {path} is the same file as the {what} {other}: "
                                 f"writing it would destroy that; choose another name")


def check_writable_place(flag: str, path: Path) -> None:
    """Refuse ``path`` if its folder is missing or cannot be written, or if it
    exists and cannot be written."""
    folder = path.parent
    if not folder.is_dir():
        problem = "does not exist" if not folder.exists() else "is not a folder"
        raise FileNotFoundError(f"{flag} {path}: the folder {folder} {problem}")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists()
                                                    and not os.access(path, os.W_OK)):
        raise PermissionError(f"{flag} {path}: cannot be written (permission denied)")


def check_output_folder(flag: str, folder: Path, holds: tuple[str, ...],
                        inputs: dict[str, Path | None]) -> None:
    """Refuse, before any work, a folder that a command replaces whole with one
    holding ``holds`` (``export --out``): one that is a file or holds other
    files (see saving/files.py), whose place cannot be written, or that holds
    one of the ``inputs``, which the new folder would replace."""
    try:
        check_replaceable_folder(folder, holds)
    except OSError as error:
        raise type(error)(f"{flag} {error}") from None
    check_writable_place(flag, folder)
    for in_flag, path in inputs.items():
        if path is not None and path.resolve().is_relative_to(folder.resolve()):
            raise ValueError(f"{flag} {folder} holds the input {in_flag} {path}, and the "
                             f"folder is replaced whole: writing it would destroy the input; "
                             f"choose another folder")


def same_file(first: Path, second: Path) -> bool:
    """Whether two paths name one file: the same inode (a hard or symbolic link
    to it) if both exist, else the same place once links are resolved."""
    if first.exists() and second.exists():
        return os.path.samefile(first, second)
    return first.resolve() == second.resolve()
