"""How many threads a command's matrix products run on: ``--threads``.

numpy hands every matrix product to its BLAS library (OpenBLAS), which
splits a large one between threads, one per core.  On an idle machine that
is the fastest there is.  On a busy one it is the slowest: a split product
is done only when each of its threads has had a turn on a core that another
process holds, and OpenBLAS's idle threads spin while they wait for the
next product, taking turns from the work itself.  Measured on 2 cores with
two other processes running flat out (``benchmarks/busy_machine.py``), a
run on both cores took several times as long as the same run on one.

So each command that computes counts, when it starts, the processes that
keep the machine's cores busy (besides itself) and gives BLAS the cores
left over, at least one: every core on an idle machine, which changes
nothing there; one core when the others hold all of them.

The count is chosen once, at the start, and never again mid-run, because it
can change the numbers. OpenBLAS cuts a product into blocks by the thread
count, and under some of its kernels the blocks' edges round differently, so
the same float32 product on one thread and on two differs in its last bits:
under Haswell's kernel (which AMD's CPUs run here) 60 of 64 shapes tried
did, under SkylakeX's (Intel's with AVX-512) none, and float64's none under
any (``benchmarks/thread_count_bits.py``; ``tests/test_threads.py`` shows it
for a whole run). A run whose count moved with the load would not repeat
itself, nor resume exactly. So ``auto`` says when it lowers the count,
``train`` saves the count in the checkpoint, ``--resume`` continues on it
(exactly as a run never stopped), and ``--threads N`` or
``SHAPESAFE_THREADS=N`` fixes it: then the same command gives the same
numbers whatever else the machine runs.

The values: ``auto`` (the default: the cores others leave free), ``all``
(every core BLAS found, as numpy does on its own) or a number of threads,
at most that many.  A numpy whose BLAS takes no thread count
(``threadpoolctl`` finds none to set) runs as it always does.
"""

import argparse
import contextlib
import functools
import glob
import os
import sys
import time
from collections.abc import Iterator

from threadpoolctl import ThreadpoolController

THREADS_VARIABLE = "SHAPESAFE_THREADS"
CHOICES = ("auto", "all")
# How a command looks for other work.  First the threads running now, besides its
# own (/proc/loadavg), a few times a millisecond apart: on an idle machine that is
# all it costs.  Something seen running each time may only be passing through (the
# kernel's own threads count too), so then the cores' busy time over a short
# window decides (/proc/stat): a process that holds a core keeps it busy
# throughout, a shell or an editor waking for a moment does not.
LOOKS = 3
LOOK_INTERVAL_S = 0.001
BUSY_WINDOW_S = 0.05


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=thread_count, default=None, metavar="N|auto|all",
                        help="the threads numpy's BLAS runs the matrix products on: auto "
                             "(the cores other processes leave free when the command "
                             "starts), all (every core) or a number (default: "
                             f"{THREADS_VARIABLE}, else auto)")


def thread_count(text: str) -> str | int:
    """An argparse type: ``auto``, ``all`` or a whole number from 1 to the cores
    BLAS found (more threads than cores only take turns)."""
    if text in CHOICES:
        return text
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be auto, all or a number of threads, "
                                         f"not {text[:30]!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    if current_threads() is not None and count > cores():
        raise argparse.ArgumentTypeError(f"must be at most {cores()}, the cores numpy's BLAS "
                                         f"runs on here, not {text[:30]}")
    return count


@functools.cache
def blas_libraries() -> tuple:
    """numpy's BLAS libraries whose threads can be set (threadpoolctl's controllers),
    found once: the first look reads the process's loaded libraries."""
    return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)


def current_threads() -> int | None:
    """The threads BLAS runs on now; None where no BLAS takes a thread count."""
    libraries = blas_libraries()
    return max(library.num_threads for library in libraries) if libraries else None


def set_threads(count: int) -> None:
    for library in blas_libraries():
        library.set_num_threads(count)


@contextlib.contextmanager
def restored_afterwards() -> Iterator[None]:
    """Around one command: BLAS runs on the threads it had before, afterwards
    (a command run in-process, as the tests run them, must not leave its count
    to the next)."""
    before = [(library, library.num_threads) for library in blas_libraries()]
    try:
        yield
    finally:
        for library, count in before:
            library.set_num_threads(count)


@functools.cache
def cores() -> int:
    """The threads BLAS starts with: one per core it may use (OPENBLAS_NUM_THREADS
    can say fewer), read before any command changes them."""
    return current_threads() or 1


def busy_cores() -> int:
    """How many cores other processes keep busy now (see LOOKS)."""
    if not os.path.exists("/proc/loadavg"):
        # macOS has no /proc, only the load average of the last minute; Windows neither
        return round(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0
    for look in range(LOOKS):
        if look:
            time.sleep(LOOK_INTERVAL_S)
        if running_processes() - own_running_threads() <= 0:
            return 0
    return cores_kept_busy(BUSY_WINDOW_S)


def cores_kept_busy(window_s: float) -> int:
    """The cores other processes kept busy over the next ``window_s`` seconds, to
    the nearest whole one: the machine's busy time less this process's own."""
    own_before, (busy_before, total_before, cpus) = time.process_time(), cpu_ticks()
    time.sleep(window_s)
    own_after, (busy_after, total_after, _) = time.process_time(), cpu_ticks()
    machine = cpus * (busy_after - busy_before) / max(total_after - total_before, 1)
    own = (own_after - own_before) / window_s  # OpenBLAS's threads may spin meanwhile
    return max(0, round(machine - own))


def cpu_ticks() -> tuple[int, int, int]:
    """/proc/stat: the clock ticks all cores spent busy and in all since boot, and
    the number of cores."""
    with open("/proc/stat", encoding="ascii") as stat:
        lines = stat.read().splitlines()
    # user nice system idle iowait irq softirq steal (guest time is inside user)
    ticks = [int(field) for field in lines[0].split()[1:9]]
    waiting = ticks[3] + ticks[4]  # idle, and idle waiting for a disk
    cpus = sum(line.startswith("cpu") and line[3:4].isdigit() for line in lines)
    return sum(ticks) - waiting, sum(ticks), cpus


def running_processes() -> int:
    """The threads running or ready to run on the whole machine, this one's
    included: /proc/loadavg's fourth field, ``running/existing``."""
    with open("/proc/loadavg", encoding="ascii") as loadavg:
        return int(loadavg.read().split()[3].split("/")[0])


def own_running_threads() -> int:
    """This process's threads that are running: the one reading, and any of
    OpenBLAS's spinning after a product."""
    running = 0
    for stat in glob.glob("/proc/self/task/*/stat"):
        try:
            with open(stat, encoding="ascii", errors="replace") as file:
                text = file.read()
        except OSError:  # the thread ended while we looked
            continue
        # the state follows the name, which is in parentheses and may hold anything
        running += text[text.rindex(")") + 2] == "R"
    return running


def use_threads(given: str | int | None, saved: int | None = None) -> int | None:
    """Set the threads this command's products run on, and return the count
    (None where numpy's BLAS takes none).

    ``given``: ``--threads``, None where it was not given; ``saved``: the count
    a resumed run was saved with, which it keeps unless ``--threads`` says
    otherwise; a new run takes ``SHAPESAFE_THREADS``, else ``auto``.  A line
    on stderr says when the count is not the one the user would expect.  Only
    ``auto`` looks at the machine: a count the user fixed never depends on it.
    """
    if current_threads() is None:
        if given is not None:
            note(f"--threads {given} does nothing here: numpy's BLAS takes no thread count")
        return None
    if given is None and saved is not None:
        count = kept_on_resuming(saved, looking=threads_from_environment() == "auto")
    else:
        count = chosen(given if given is not None else threads_from_environment())
        if saved is not None and count != saved:
            note(f"the run was saved on {threads(saved)} and continues on {count}: from "
                 f"here its numbers may differ in the last digits from a run never stopped")
    set_threads(count)
    return count


def chosen(choice: str | int) -> int:
    """The count ``auto``, ``all`` or a number gives on this machine now."""
    if choice == "auto":
        busy, count = cores_left_free()
        if count < cores():
            note(f"other processes keep {busy} of the {cores()} cores busy: the "
                 f"matrix products run on {threads(count)}, not {cores()} (--threads sets "
                 f"the count)")
        return count
    return cores() if choice == "all" else choice


def kept_on_resuming(saved: int, looking: bool) -> int:
    """A resumed run's count: the saved one, so that it goes on exactly as a run
    never stopped; where this machine has fewer cores, all of them.  ``looking``
    (the default, auto): say so when a busy machine would run faster on fewer."""
    if saved > cores():
        note(f"the run was saved on {saved} threads and continues on {cores()}, one for "
             f"each core here: from here its numbers may differ in the last digits from a "
             f"run never stopped")
        return cores()
    if not looking:
        return saved
    busy, free = cores_left_free()
    if free < saved:
        note(f"other processes keep {busy} of the {cores()} cores busy, but the "
             f"run continues on the {saved} threads it was saved with, to stay exact; "
             f"--threads {free} is faster now, and its numbers may differ in the last digits")
    return saved


def cores_left_free() -> tuple[int, int]:
    """``(busy, free)``: the cores other processes keep busy now, and those they
    leave to BLAS, at least one."""
    busy = min(busy_cores(), cores())
    return busy, max(1, cores() - busy)


def threads(count: int) -> str:
    return f"{count} thread{'s' if count > 1 else ''}"


def threads_from_environment() -> str | int:
    """``SHAPESAFE_THREADS``, else ``auto``; an invalid value is a ValueError naming
    the variable (cli/process.py checks it before any command runs)."""
    text = os.environ.get(THREADS_VARIABLE)
    if text is None:
        return "auto"
    try:
        return thread_count(text)
    except argparse.ArgumentTypeError as error:
        raise ValueError(f"{THREADS_VARIABLE} {error}") from None


def note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)
