"""What a command reads and writes is an ordinary file, or it is refused.

A named pipe given as ``--data`` blocks the read forever, waiting for a
writer that never comes; ``/dev/zero`` never ends.  A device given as
``--save`` is replaced by an ordinary file when the save renames its
temporary file over it (run as root, ``--save /dev/null`` would break the
system).  So both are refused by what they are, before any work: the path
itself is only looked at (``os.stat``), never opened.
"""

import os
import stat

# os.stat's file types other than an ordinary file and a folder, as a message names them
OTHER_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def special_kind(path: str | os.PathLike) -> str | None:
    """What ``path`` is if it exists and is neither an ordinary file nor a folder
    (a link is followed): ``"a named pipe"``, ``"a character device"``, ...;
    None for an ordinary file, a folder, or nothing there."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # nothing there (or a name the OS refuses): not special
        return None
    return next((kind for is_kind, kind in OTHER_KINDS if is_kind(mode)), None)
