"""Records: what each forward call leaves for its backward, and inference mode.

Reverse-mode differentiation runs the backwards in the reverse order of the
forwards.  So a layer keeps a stack of records, one per forward call, and
each backward consumes the most recent one (last in, first out).  A layer
used twice in one pass (a shared activation, an embedding that reads both
source and target ids) gets its two backwards in reverse order, each with
the arrays and dims of its own forward, and its parameter gradients add up.
Like llm.c's explicit activation caches, or minitorch's ``ctx``, but one per
call instead of one per layer.

The ``@checked`` decorator (``shapes.py``) opens, fills and consumes the
records; ``Module.save_for_backward`` and ``Module.saved`` are how a layer's
code reaches the record of the call it is in.
"""

import contextlib
import contextvars
from collections.abc import Iterator

_recording = contextvars.ContextVar("shapesafe_recording", default=True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Inference mode: inside ``with no_grad():`` a forward records nothing.

    For evaluation and sampling, whose outputs nobody differentiates: no
    activations are kept for a backward that never comes, so the pass is
    lighter and faster.  A backward of a forward run inside it is an error.
    Like the check mode, it belongs to the thread that enters it.
    """
    token = _recording.set(False)
    try:
        yield
    finally:
        _recording.reset(token)


def is_recording() -> bool:
    """False inside ``no_grad()``: forwards keep nothing for a backward."""
    return _recording.get()


# Records left behind by a forward that no backward consumed (an aborted step,
# an evaluation run outside no_grad) must never be used by a later step.  Each
# `zero_grad` (of a Module or an optimizer) starts a new pass: a record keeps
# the pass it was made in, a backward refuses a record of an earlier pass, and
# the next forward of a new pass drops the stale ones, so they cannot pile up.
_pass_number = [0]


def start_new_pass() -> None:
    """Mark every record made so far as stale; ``zero_grad`` calls this."""
    _pass_number[0] += 1


def current_pass() -> int:
    """The number of ``zero_grad`` calls so far: the pass new records belong to."""
    return _pass_number[0]


class Record:
    """What one forward call keeps for its backward.

    ``arrays``: what the layer saved; ``dims``: the dims its check bound
    (``None`` if it was not checked); ``mode``: the check mode it ran in;
    ``key``: its entry in ``first`` mode's table; ``pass_number``: the pass
    (``zero_grad`` generation) it belongs to.
    """

    __slots__ = ("arrays", "dims", "mode", "key", "pass_number")

    def __init__(self, mode: str):
        self.arrays: dict = {}
        self.dims: tuple[dict, dict] | None = None
        self.mode = mode
        self.key: int | None = None
        self.pass_number = _pass_number[0]
