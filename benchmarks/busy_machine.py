"""The commands on an idle machine and on one that other processes keep busy.

Run:  python benchmarks/busy_machine.py                 # about 12 minutes on 2 cores
Smoke run (seconds):  python benchmarks/busy_machine.py --commands "train gpt --preset tiny" --loads 0 --repeats 1

Each command runs as a learner runs it, ``shapesafe-nn ...`` in a fresh
process, timed from start to exit (Python's start and the imports included),
in two ways:

- ``all``: ``--threads all``, a BLAS thread per core, what numpy does on its
  own and what every command did before ``--threads`` existed;
- ``auto``: the default, which gives BLAS the cores other processes leave
  free when the command starts (``shapesafe_nn/cli/threads.py``).

It runs them with 0, 1, ... other processes on the machine, each spinning on
a core as hard as it can (``while True: pass``: the worst neighbour, which
never sleeps), the two ways taking turns, and keeps the best of
``--repeats`` runs of each.  Before each load it prints how many processes
``auto`` sees running besides itself and the load average.  The goals
(issue 25, section 8): a busy machine costs at most about twice an idle
one (``auto`` busy / ``auto`` idle), and an idle machine loses at most 5%
(``auto`` idle / ``all`` idle).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import record
from machine import describe, load_now
from shapesafe_nn.cli import threads

COMMANDS = (
    "train gpt --preset tiny",
    # the baby preset's model and batches, 40 steps and one small evaluation
    "train gpt --steps 40 --warmup 10 --eval-interval 40 --eval-iters 2",
    "sample --checkpoint docs/assets/baby_gpt.npz --tokens 300",
    "eval gpt --checkpoint docs/assets/baby_gpt.npz --eval-iters 20",
    "train translate --preset tiny",
    # the numbers preset's model and batches, 40 steps and one evaluation
    "train translate --steps 40 --warmup 10 --eval-interval 40",
    "train mlp",
)
WAYS = ("all", "auto")
LOOK_TIMINGS = 20
LOWERED = re.compile(r"the matrix products run on (\d+) thread")  # auto's note


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", nargs="+", default=list(COMMANDS),
                        help="the shapesafe-nn commands to time, each one string")
    parser.add_argument("--loads", type=int, nargs="+", default=None,
                        help="how many spinning processes to run beside them, one load after "
                             "the other (default: 0 up to one a core)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each command and way at each load; the best is kept")
    record.add_results_argument(parser)
    return parser.parse_args()


def time_command(command: str, way: str) -> tuple[float, int]:
    """Seconds from start to exit of ``shapesafe-nn COMMAND --threads WAY``, and
    the threads it ran on (auto's note says so when it lowers the count)."""
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("SHAPESAFE_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "shapesafe_nn", *command.split(),
                             "--threads", way], env=environment, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{command} --threads {way} failed:\n{result.stderr}")
    lowered = LOWERED.search(result.stderr)
    return seconds, int(lowered[1]) if lowered else threads.cores()


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def spinning(count: int) -> list[subprocess.Popen]:
    """``count`` processes that each keep a core busy, started and spinning."""
    processes = [subprocess.Popen([sys.executable, "-c", "print(flush=True)\nwhile True: pass"],
                                  stdout=subprocess.PIPE) for _ in range(count)]
    for process in processes:
        process.stdout.readline()  # it is in its loop
    time.sleep(0.2)
    return processes


def main() -> None:
    args = parse_args()
    recording = record.start(args.results, "busy_machine")
    print(describe())
    cores = threads.cores()
    loads = args.loads if args.loads is not None else list(range(cores + 1))
    print(f"BLAS threads on an idle machine, one a core: {cores}; each command in a fresh "
          f"process, best of {args.repeats}, seconds")
    # on an idle machine auto runs on every core, as all does: what it adds is its look
    look_ms = statistics.median(timed(threads.busy_cores) for _ in range(LOOK_TIMINGS)) * 1e3
    print(f"auto's look at the machine, before a command's first product: {look_ms:.1f} ms "
          f"(median of {LOOK_TIMINGS})")
    seconds: dict[tuple[str, int, str], float] = {}
    chosen: dict[tuple[str, int], set[int]] = {}
    for load in loads:
        others = spinning(load)
        try:
            print(f"\n{load} spinning process{'es' if load != 1 else ''}: auto sees "
                  f"{threads.busy_cores()} core(s) busy; {load_now()}")
            for command in args.commands:
                for way in WAYS:
                    seconds[command, load, way] = float("inf")
                used = chosen[command, load] = set()  # the thread counts auto chose
                for repeat in range(args.repeats):  # the two ways take turns
                    for way in (WAYS if repeat % 2 == 0 else WAYS[::-1]):
                        took, count = time_command(command, way)
                        seconds[command, load, way] = min(seconds[command, load, way], took)
                        if way == "auto":
                            used.add(count)
                print(f"  {command:<70} " + "  ".join(
                    f"{way} {seconds[command, load, way]:6.2f}" for way in WAYS)
                    + f"   auto's threads: {', '.join(map(str, sorted(used)))}")
        finally:
            for process in others:
                process.kill()
                process.wait()
    figures = summary(args.commands, loads, seconds)
    figures["look_ms"] = round(look_ms, 1)
    figures["auto_threads"] = {command: {str(load): sorted(chosen[command, load])
                                         for load in loads} for command in args.commands}
    print(f"\nafter the runs, {load_now()}")
    recording.save(figures)


def summary(commands: list[str], loads: list[int], seconds: dict) -> dict:
    """The two ratios of the goals, for each command, printed and returned as figures."""
    figures: dict = {"loads": loads, "seconds": {}}
    busiest = max(loads)
    print(f"\nratios: auto idle / all idle (goal <= 1.05); at {busiest} spinning: "
          f"auto / auto idle (goal about 2 or less), all / all idle (before)")
    for command in commands:
        times = {f"{way} {load}": round(seconds[command, load, way], 3)
                 for load in loads for way in WAYS}
        figures["seconds"][command] = times
        if 0 not in loads:
            continue
        idle_loss = seconds[command, 0, "auto"] / seconds[command, 0, "all"]
        busy_auto = seconds[command, busiest, "auto"] / seconds[command, 0, "auto"]
        busy_all = seconds[command, busiest, "all"] / seconds[command, 0, "all"]
        figures.setdefault("auto_idle_over_all_idle", {})[command] = round(idle_loss, 2)
        figures.setdefault("auto_busy_over_auto_idle", {})[command] = round(busy_auto, 2)
        figures.setdefault("all_busy_over_all_idle", {})[command] = round(busy_all, 2)
        print(f"  {command:<70} {idle_loss:5.2f}  {busy_auto:5.2f}  {busy_all:5.2f}")
    return figures


if __name__ == "__main__":
    main()
