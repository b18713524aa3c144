"""What a command is as a process: its exit code, the signals that stop it, its stdout.

Exit codes: 0 success; 1 a problem with the user's files, data or settings
(one line says which); 2 invalid arguments, or an invalid ``SHAPESAFE_CHECKS``
or ``SHAPESAFE_THREADS`` (argparse's convention); 128 + the signal's number
when a signal stopped it (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP),
as a shell reports a process a signal ended.
"""

import argparse
import contextlib
import errno
import io
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from ..core import checks_from_environment
from ..training.signals import STOP_SIGNALS, Interrupted
from .threads import restored_afterwards, threads_from_environment

SIGNAL_EXIT_BASE = 128  # a shell's exit status for a process that signal n ended: 128 + n


def run(build_parser: Callable[[], argparse.ArgumentParser], argv: list[str] | None) -> int:
    """Parse ``argv`` and run its command; the exit code, after one line on stderr
    for any error.  A traceback is left only for a bug in this package."""
    parser = build_parser()
    try:
        checks_from_environment()
        threads_from_environment()
    except ValueError as error:  # before parsing: even --help must not run under it
        parser.print_usage(sys.stderr)
        print(f"shapesafe-nn: error: {error}", file=sys.stderr)
        return 2
    # BLAS's thread count as it was, after a command run in this process (threads.py)
    with stopping_on_signals(), surviving_a_lost_reader(), restored_afterwards():
        try:
            args = parser.parse_args(argv)
            return args.run(args) or 0
        except argparse.ArgumentTypeError as error:  # flags that clash with each other
            parser.print_usage(sys.stderr)
            print(f"shapesafe-nn: error: {error}", file=sys.stderr)
            return 2
        except (ValueError, OSError, FloatingPointError) as error:
            # bad files, data or settings: DataError, TextDataError and CheckpointError
            # are ValueErrors whose message names the file
            print(f"shapesafe-nn: error: {one_line(error)}", file=sys.stderr)
            return 1
        except MemoryError:  # an allocation the estimate (cli/memory.py) did not foresee
            print("shapesafe-nn: error: out of memory; choose smaller sizes", file=sys.stderr)
            return 1
        except KeyboardInterrupt as error:
            signum = getattr(error, "signum", signal.SIGINT)
            print(f"shapesafe-nn: interrupted ({signal.Signals(signum).name})", file=sys.stderr)
            return SIGNAL_EXIT_BASE + signum


def one_line(error: BaseException) -> str:
    """The error's message on one line: numpy's and the OS's may hold several."""
    return " ".join(str(error).split()) or type(error).__name__


def _raise_interrupted(signum, frame) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def stopping_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP stop a command as Ctrl-C does (a KeyboardInterrupt),
    instead of ending the process on the spot; a training loop catches all
    three and first finishes and saves its step (resume.StopOnSignal)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS
                if signum != signal.SIGINT}
    for signum in previous:
        signal.signal(signum, _raise_interrupted)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


class SurvivingStream(io.TextIOBase):
    """Stdout (or stderr) that outlives its reader: once the pipe is closed
    (``... | head -3``) or the terminal is gone (after SIGHUP), what would be
    printed is dropped instead of raising, so a run goes on to its end and
    saves its checkpoint."""

    READER_GONE = (errno.EPIPE, errno.EIO)  # a closed pipe; a terminal hung up

    def __init__(self, stream) -> None:
        self.stream = stream

    def _reader_gone(self, error: OSError) -> None:
        if error.errno not in self.READER_GONE:
            raise error
        # Point the file descriptor at /dev/null: the text still buffered, and
        # everything printed later, then goes nowhere without an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.stream.fileno())
        os.close(devnull)

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError as error:
            self._reader_gone(error)
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as error:
            self._reader_gone(error)

    def isatty(self) -> bool:  # whether to draw a progress bar
        return self.stream.isatty()

    @property
    def encoding(self) -> str:  # which characters a progress bar may draw with
        return self.stream.encoding

    def fileno(self) -> int:
        return self.stream.fileno()


@contextlib.contextmanager
def surviving_a_lost_reader() -> Iterator[None]:
    """Around a command: the process's own stdout and stderr become
    :class:`SurvivingStream` s.  A stream already replaced (a test capturing
    it) is left as it is."""
    originals = {name: getattr(sys, name) for name in ("stdout", "stderr")
                 if getattr(sys, name) is not None
                 and getattr(sys, name) is getattr(sys, f"__{name}__")}
    for name, stream in originals.items():
        setattr(sys, name, SurvivingStream(stream))
    try:
        yield
        for name in originals:
            getattr(sys, name).flush()
    finally:
        for name, stream in originals.items():
            setattr(sys, name, stream)
