"""Check modes: how often the shape checks run, per thread.

- ``always`` (the default, for learning): check every call;
- ``first``: check each new combination of argument and parameter
  shapes, dtypes and array classes once, then skip.  An argument check is a
  pure function of those, so no wrong argument is missed; a return value
  whose shape depends on the data (not only on the shapes) is checked only
  the first time;
- ``off``: no checks.

The mode belongs to the thread (a ``contextvars`` variable): ``with
checks("off")`` in one thread leaves the others checked.  The environment
variable ``SHAPESAFE_CHECKS`` sets the starting mode of every thread.  Note
that ``python -O`` does not switch these checks off: they are ordinary code,
not ``assert`` statements.
"""

import contextlib
import contextvars
import os
from collections.abc import Iterator

CHECK_MODES = ("always", "first", "off")


def _validated_mode(mode: str, source: str) -> str:
    if mode not in CHECK_MODES:
        raise ValueError(f"{source} must be one of {', '.join(CHECK_MODES)}, not {mode!r}")
    return mode


def checks_from_environment() -> str:
    """The mode ``SHAPESAFE_CHECKS`` asks for (``"always"`` when it is unset).

    Raises ValueError, with a one-line message, for a value that is not a
    mode.  Importing the package never raises for it: a command line can
    report it as one line, and a program's first checked call does.
    """
    return _validated_mode(os.environ.get("SHAPESAFE_CHECKS", "always"), "SHAPESAFE_CHECKS")


# A new thread starts from SHAPESAFE_CHECKS, read once at import.  An invalid
# value is kept as it is, and the first checked call reports it.
mode_in_force = contextvars.ContextVar("shapesafe_checks",
                                       default=os.environ.get("SHAPESAFE_CHECKS", "always"))


def set_checks(mode: str) -> None:
    """Switch shape checks to ``"always"``, ``"first"`` or ``"off"`` from now on, in this thread."""
    mode_in_force.set(_validated_mode(mode, "the check mode"))


def get_checks() -> str:
    """The check mode in force in this thread."""
    return _validated_mode(mode_in_force.get(), "SHAPESAFE_CHECKS")


@contextlib.contextmanager
def checks(mode: str) -> Iterator[None]:
    """Run a block under another check mode: ``with checks("off"): ...`` (this thread only)."""
    token = mode_in_force.set(_validated_mode(mode, "the check mode"))
    try:
        yield
    finally:
        mode_in_force.reset(token)
