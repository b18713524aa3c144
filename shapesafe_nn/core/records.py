"""Records: what each forward call leaves for its backward, and inference mode.

Reverse-mode differentiation runs the backwards in the reverse order of the
forwards.  So a layer keeps a stack of records, one per forward call, and
each backward consumes the most recent one (last in, first out).  A layer
used twice in one pass (a shared activation, an embedding that reads both
source and target ids) gets its two backwards in reverse order, each with
the arrays and dims of its own forward, and its parameter gradients add up.
Like llm.c's explicit activation caches, or minitorch's ``ctx``, but one per
call instead of one per layer.

Records belong to the layer that made them, and a pass (the forwards and
backwards between two ``zero_grad()`` calls) to the model that zeroes it:
``b.zero_grad()`` never touches ``a``'s records.  The ``@checked`` decorator
(``decorator.py``) opens, fills and consumes the records;
``Module.save_for_backward`` and ``Module.saved`` are how a layer's code
reaches the record of the call it is in.
"""

import contextlib
import contextvars
from collections.abc import Iterator

recording = contextvars.ContextVar("shapesafe_recording", default=True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Inference mode: inside ``with no_grad():`` a forward records nothing.

    For evaluation and sampling, whose outputs nobody differentiates: no
    activations are kept for a backward that never comes, so the pass is
    lighter and faster.  A backward of a forward run inside it is an error.
    Like the check mode, it belongs to the thread that enters it.
    """
    token = recording.set(False)
    try:
        yield
    finally:
        recording.reset(token)


def is_recording() -> bool:
    """False inside ``no_grad()``: forwards keep nothing for a backward."""
    return recording.get()


class Record:
    """What one forward call keeps for its backward.

    ``arrays``: what the layer saved; ``dims``: the dims and float dtype its
    check bound (``None`` if it was not checked); ``mode``: the check mode it
    ran in; ``key``: its entry in ``first`` mode's table; ``pass_number``: the
    pass of its layer (the layer's ``zero_grad`` count) it belongs to.
    """

    __slots__ = ("arrays", "dims", "mode", "key", "pass_number")

    def __init__(self, mode: str, pass_number: int):
        self.arrays: dict = {}
        self.dims: tuple | None = None
        self.mode = mode
        self.key: int | None = None
        self.pass_number = pass_number
