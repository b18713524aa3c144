"""Stopping a run between two steps, never in the middle of one.

:class:`StopOnSignal`: Ctrl-C, SIGTERM or SIGHUP finishes the current step,
then stops, so the checkpoint written afterwards holds a whole step, never
half of one.
"""

import signal
import threading

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))  # Windows has no SIGHUP
"""Ctrl-C, ``kill`` (and a system shutting down), a closed terminal: each asks a
run to stop, and each is handled alike."""


class Interrupted(KeyboardInterrupt):
    """A run stopped by ``signum`` (one of :data:`STOP_SIGNALS`).  A
    KeyboardInterrupt, so that code which stops on Ctrl-C stops on each."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopOnSignal:
    """``with StopOnSignal() as stop:``: a first Ctrl-C, SIGTERM or SIGHUP sets
    ``stop.requested`` (and ``stop.signum``) instead of ending the process, so
    the loop can finish its step, save, and stop; a second one raises
    :class:`Interrupted` at once.

    Why not just catch KeyboardInterrupt?  It can arrive in the middle of
    ``optimizer.step()``, after some parameters moved and before others did:
    a checkpoint written then would hold a model that no step produced.  And
    SIGTERM and SIGHUP would, by default, end the process on the spot,
    losing every step since the last save.
    Outside the main thread (where Python delivers no signals) this does nothing.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise Interrupted(signum)
        self.signum = signum

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.getsignal(signum)
                signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, previous in self._previous.items():
            # None: a handler set outside Python, which cannot be put back as it
            # was; Python's default is the closest (KeyboardInterrupt for SIGINT)
            if previous is None:
                previous = signal.default_int_handler if signum == signal.SIGINT else \
                    signal.SIG_DFL
            signal.signal(signum, previous)
