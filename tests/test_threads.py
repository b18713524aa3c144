"""The threads numpy's BLAS runs a command on: --threads, SHAPESAFE_THREADS, auto.

The central property: the count changes a float32 run's numbers (shown
first, so that the tests after it could fail), so ``auto`` may lower it on a
busy machine only where the numbers stay the run's own: a run saved on 2
threads and resumed while other processes hold the cores continues on 2,
and ends exactly as the run never stopped.  Whether the count changes the
bits depends on OpenBLAS's kernel: Haswell's (Zen's too) and Katmai's
(Prescott's) round some split float32 products by the thread count,
SkylakeX's and Nehalem's rounded none of those tried
(benchmarks/thread_count_bits.py; ``SPLITTING_CHANGES_BITS`` asks this
machine's).  Bad values are in the bad-input catalogue (test_bad_inputs.py).
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from cli_runner import run

from shapesafe_nn.cli import threads
from shapesafe_nn.optim import AdamW
from shapesafe_nn.saving.checkpoint import load_checkpoint

# float32, with products large enough for OpenBLAS to split between threads
TRAIN_GPT = ["train", "gpt", "--preset", "tiny", "--iters", "20", "--eval-interval", "10",
             "--eval-iters", "2", "--batch-size", "16", "--quiet"]
needs_two_cores = pytest.mark.skipif(threads.current_threads() is None or threads.cores() < 2,
                                     reason="needs a BLAS that runs on two threads or more")


def splitting_changes_bits() -> bool:
    """Whether this BLAS rounds any float32 product of TRAIN_GPT's differently on 1
    and on 2 threads: its 512 rows (batch 16 x block 32) through d_model 32, the
    feed-forward's 128, the attention's 96 and the vocabulary's 65, forward and
    for the weights' gradients."""
    rng = np.random.default_rng(0)
    shapes = [(512, 32, 128), (512, 128, 32), (512, 32, 96), (512, 32, 65), (128, 512, 32),
              (32, 512, 128), (96, 512, 32), (65, 512, 32)]
    with threads.restored_afterwards():
        for m, k, n in shapes:
            a, b = rng.standard_normal((m, k), np.float32), rng.standard_normal((k, n), np.float32)
            threads.set_threads(1)
            one = a @ b
            threads.set_threads(2)
            if not np.array_equal(one, a @ b):
                return True
    return False


SPLITTING_CHANGES_BITS = threads.current_threads() is not None and threads.cores() >= 2 and \
    splitting_changes_bits()


@pytest.fixture
def machine(monkeypatch):
    """No SHAPESAFE_THREADS (the tests' pin: conftest.py), and ``machine(busy)``
    makes ``auto`` see that many cores held by other processes."""
    monkeypatch.delenv(threads.THREADS_VARIABLE, raising=False)

    def other_processes_hold(busy: int) -> None:
        monkeypatch.setattr(threads, "busy_cores", lambda: busy)
    return other_processes_hold


def arrays(path) -> dict[str, np.ndarray]:
    """A checkpoint's arrays: the parameters, the optimizer's moments, the history."""
    return load_checkpoint(path)[0]


def same_arrays(one: dict, other: dict) -> bool:
    return one.keys() == other.keys() and all(np.array_equal(one[k], other[k]) for k in one)


def saved_threads(path) -> int:
    return load_checkpoint(path)[1]["blas_threads"]


@pytest.mark.skipif(not SPLITTING_CHANGES_BITS,
                    reason="this BLAS kernel gives a float32 product the same bits on 1 and 2 "
                           "threads: the count cannot change a run here")
def test_the_thread_count_changes_a_float32_run_in_its_last_bits(tmp_path):
    """Why the count is chosen once and kept: 1 and 2 threads give two runs."""
    for count in (1, 2):
        assert run(*TRAIN_GPT, "--threads", count, "--save", tmp_path / f"{count}.npz").code == 0
    one, two = arrays(tmp_path / "1.npz"), arrays(tmp_path / "2.npz")
    assert not same_arrays(one, two)
    # and only by rounding: float32's last bits, grown over 20 steps (rtol 1e-3)
    assert all(np.allclose(one[name], two[name], rtol=1e-3, atol=1e-4) for name in one)


@needs_two_cores
def test_auto_runs_on_every_core_of_an_idle_machine_and_says_nothing(tmp_path, machine):
    machine(0)
    result = run(*TRAIN_GPT, "--save", tmp_path / "run.npz")
    assert result.code == 0 and result.err == ""
    assert saved_threads(tmp_path / "run.npz") == threads.cores()


@needs_two_cores
def test_auto_leaves_the_busy_cores_to_the_processes_that_hold_them(tmp_path, machine):
    machine(threads.cores())
    result = run(*TRAIN_GPT, "--save", tmp_path / "run.npz")
    assert result.code == 0
    assert result.err == (f"note: other processes keep {threads.cores()} of the "
                          f"{threads.cores()} cores busy: the matrix products run on 1 thread, "
                          f"not {threads.cores()} (--threads sets the count)\n")
    assert saved_threads(tmp_path / "run.npz") == 1


@needs_two_cores
def test_given_threads_are_used_whatever_the_load(tmp_path, machine):
    machine(threads.cores())
    result = run(*TRAIN_GPT, "--threads", "all", "--save", tmp_path / "run.npz")
    assert result.code == 0 and result.err == ""
    assert saved_threads(tmp_path / "run.npz") == threads.cores()


@needs_two_cores
def test_a_command_leaves_blas_on_the_threads_it_found(machine):
    machine(threads.cores())
    before = threads.current_threads()
    assert run(*TRAIN_GPT).code == 0  # auto: 1 thread while it ran
    assert threads.current_threads() == before


@pytest.fixture
def stopped_run(tmp_path, monkeypatch):
    """The run on 2 threads, whole (``full.npz``) and stopped by Ctrl-C inside
    step 11, which saves step 10 (``stopped.npz``)."""
    full, stopped = tmp_path / "full.npz", tmp_path / "stopped.npz"
    assert run(*TRAIN_GPT, "--threads", 2, "--save", full).code == 0
    step = AdamW.step
    calls = {"n": 0}

    def step_then_interrupt(self):
        calls["n"] += 1
        if calls["n"] == 11:
            signal.raise_signal(signal.SIGINT)  # arrives before the update below
        step(self)
    monkeypatch.setattr(AdamW, "step", step_then_interrupt)
    assert run(*TRAIN_GPT, "--threads", 2, "--save", stopped).code == 130
    monkeypatch.setattr(AdamW, "step", step)
    return full, stopped


@needs_two_cores
def test_a_resumed_run_keeps_its_saved_count_on_a_busy_machine_and_ends_exactly(
        stopped_run, machine):
    full, stopped = stopped_run
    machine(threads.cores())  # now other processes hold every core
    resumed = run(*TRAIN_GPT, "--resume", stopped, "--save", stopped)
    assert resumed.code == 0
    assert (f"note: other processes keep {threads.cores()} of the {threads.cores()} cores "
            f"busy, but the run continues on the 2 threads it was saved with, to stay exact; "
            f"--threads 1 is faster now") in resumed.err
    assert same_arrays(arrays(stopped), arrays(full))


@needs_two_cores
def test_a_fixed_count_in_the_environment_resumes_without_looking_at_the_machine(
        stopped_run, monkeypatch):
    full, stopped = stopped_run
    monkeypatch.setenv(threads.THREADS_VARIABLE, "all")
    monkeypatch.setattr(threads, "busy_cores", lambda: pytest.fail("looked at the machine"))
    resumed = run(*TRAIN_GPT, "--resume", stopped, "--save", stopped)
    assert resumed.code == 0 and resumed.err == ""
    assert same_arrays(arrays(stopped), arrays(full))


@needs_two_cores
def test_a_run_resumed_on_another_count_is_told_it_leaves_the_run_it_was(stopped_run, machine):
    full, stopped = stopped_run
    machine(0)
    resumed = run(*TRAIN_GPT, "--resume", stopped, "--save", stopped, "--threads", 1)
    assert resumed.code == 0
    assert resumed.err == ("note: the run was saved on 2 threads and continues on 1: from here "
                           "its numbers may differ in the last digits from a run never "
                           "stopped\n")
    # where the kernel rounds by the thread count, the run has left its numbers
    assert same_arrays(arrays(stopped), arrays(full)) == (not SPLITTING_CHANGES_BITS)
    assert saved_threads(stopped) == 1  # and so it goes on, if stopped again


def test_the_count_is_one_of_the_values_the_help_names():
    assert threads.thread_count("auto") == "auto"
    assert threads.thread_count("all") == "all"
    assert threads.thread_count("1") == 1


class Clock:
    """/proc/stat's ticks and this process's CPU time as a test sets them: each
    read moves on by one window's worth."""

    def __init__(self, machine_busy: float, own_busy: float, cpus: int = 2,
                 window_s: float = threads.BUSY_WINDOW_S, ticks_a_second: int = 100):
        self.busy = self.total = self.own = 0.0
        self.step = (machine_busy * window_s * ticks_a_second,
                     cpus * window_s * ticks_a_second, own_busy * window_s)
        self.cpus = cpus

    def ticks(self):
        busy, total, cpus = self.busy, self.total, self.cpus
        self.busy, self.total = self.busy + self.step[0], self.total + self.step[1]
        return busy, total, cpus

    def process_time(self):
        own = self.own
        self.own += self.step[2]
        return own


@pytest.mark.parametrize("machine_busy, own_busy, others", [
    (0.02, 0.0, 0),  # an idle machine: the kernel's threads passing through
    (2.0, 0.0, 2),  # two processes spinning
    (1.0, 1.0, 0),  # this process's own spinning threads are not others' work
    (2.0, 1.0, 1),
    (0.4, 0.0, 0),  # a program using part of a core leaves it to BLAS
])
def test_the_cores_others_keep_busy_are_the_busy_time_less_this_processs(
        monkeypatch, machine_busy, own_busy, others):
    clock = Clock(machine_busy, own_busy)
    monkeypatch.setattr(threads, "cpu_ticks", clock.ticks)
    monkeypatch.setattr(threads.time, "process_time", clock.process_time)
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: None)
    assert threads.cores_kept_busy(threads.BUSY_WINDOW_S) == others


def test_a_thread_seen_running_is_weighed_by_the_busy_time_before_it_counts(monkeypatch):
    """Something running at each look may only be passing through: the busy time decides."""
    monkeypatch.setattr(threads.os.path, "exists", lambda path: True)
    monkeypatch.setattr(threads, "running_processes", lambda: 3)
    monkeypatch.setattr(threads, "own_running_threads", lambda: 1)
    monkeypatch.setattr(threads, "cores_kept_busy", lambda window_s: 0)
    assert threads.busy_cores() == 0
    monkeypatch.setattr(threads, "running_processes", lambda: 1)  # only this one runs
    monkeypatch.setattr(threads, "cores_kept_busy", lambda window_s: pytest.fail("looked"))
    assert threads.busy_cores() == 0


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="reads Linux's /proc")
def test_a_process_that_holds_a_core_is_seen_as_busy():
    spinning = subprocess.Popen([sys.executable, "-c", "print(flush=True)\nwhile True: pass"],
                                stdout=subprocess.PIPE)
    try:
        spinning.stdout.readline()  # it has started its loop
        time.sleep(0.05)
        assert threads.busy_cores() >= 1
        assert threads.cores_kept_busy(0.1) >= 1
    finally:
        spinning.kill()
        spinning.wait()


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="reads Linux's /proc")
def test_the_reading_thread_counts_as_its_own_running_thread():
    assert threads.own_running_threads() >= 1
    assert threads.running_processes() >= threads.own_running_threads()
    busy, total, cpus = threads.cpu_ticks()
    assert 0 <= busy <= total and cpus == os.cpu_count()
