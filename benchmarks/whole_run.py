"""The whole `shapesafe-nn train gpt` baby run against the same run in PyTorch.

Run:  python benchmarks/whole_run.py [--rounds 1]        # 2,000 steps: many minutes
(needs the `reference` extra for PyTorch: pip install -e ".[reference]")
Smoke run (seconds):  python benchmarks/whole_run.py --iters 20 --eval-interval 10 --eval-iters 2 --no-sample

What a learner waits for: ``shapesafe-nn train gpt`` with its defaults (the
baby preset: 2,000 steps, and 200 batches of each split evaluated every 250
steps and after the last, then a 300-character sample), run in this process
through ``cli.main`` at the default check mode (``SHAPESAFE_CHECKS``, else
``always``; ``--checks`` picks another).

Against it, the same run in PyTorch: ``TorchGPT`` from the same initial
weights, trained by ``gpt_reference.train_torch`` (the trainer's loop, line
for line: the same batches, learning-rate schedule, clipping, AdamW and
evaluation windows), then 300 characters sampled as nanoGPT samples (the
whole window each step, ``sample_reference.torch_generate``).

The two runs take turns, ours first in odd rounds and PyTorch first in even
ones.  Prints each run's wall time, the share of it spent in evaluations,
the final val losses and the ratio of the median wall times.
"""

import argparse
import contextlib
import io
import re
import statistics
import time

import numpy as np
import torch

import gpt_reference
import record
from machine import describe, load_now
from sample_reference import torch_generate
from shapesafe_nn.cli import main as shapesafe_nn
from shapesafe_nn.cli.gpt import PRESETS, SAMPLE_PROMPT
from shapesafe_nn.data.text import CharTokenizer, load_text, split_train_val
from shapesafe_nn.models import GPT, GPTConfig
from shapesafe_nn.shapes import CHECK_MODES, checks_from_environment
from shapesafe_nn.testing.torch_gpt import TorchGPT
from shapesafe_nn.training import trainer

BABY = PRESETS["baby"]
SAMPLE_LENGTH = 300  # what `train gpt` samples after training
VAL_LOSS = re.compile(r"val loss (\d+\.\d+)")


class Stopwatch:
    """Wraps a function and adds up the seconds its calls take."""

    def __init__(self, function):
        self.function, self.seconds = function, 0.0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


@contextlib.contextmanager
def timing(module, name: str):
    """Time every call of ``module.name`` (the evaluation a training loop calls)."""
    stopwatch = Stopwatch(getattr(module, name))
    setattr(module, name, stopwatch)
    try:
        yield stopwatch
    finally:
        setattr(module, name, stopwatch.function)


def run_ours(args, warmup: int, mode: str) -> tuple[float, float, float]:
    """``shapesafe-nn train gpt`` in this process: (wall seconds, of which evaluating,
    final val loss)."""
    argv = ["train", "gpt", "--checks", mode, "--iters", str(args.iters),
            "--eval-interval", str(args.eval_interval), "--eval-iters", str(args.eval_iters),
            "--warmup", str(warmup)]
    if args.no_sample:
        argv.append("--quiet")  # the summary line alone: no sample (nor evaluation lines)
    printed = io.StringIO()
    with timing(trainer, "estimate_loss") as evaluations, \
            contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        start = time.perf_counter()
        status = shapesafe_nn(argv)
        seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"shapesafe-nn {' '.join(argv)} failed ({status}):\n{printed.getvalue()}")
    return seconds, evaluations.seconds, float(VAL_LOSS.findall(printed.getvalue())[-1])


def run_torch(args, warmup: int) -> tuple[float, float, float]:
    """The same run in PyTorch, sample included: (wall seconds, of which
    evaluating, final val loss)."""
    text = load_text()
    tokenizer = CharTokenizer.from_text(text)
    train_ids, val_ids = split_train_val(tokenizer.encode(text))
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=BABY["block_size"],
                       n_layer=BABY["n_layer"], n_head=BABY["n_head"], d_model=BABY["d_model"],
                       dropout=BABY["dropout"], seed=0)
    with timing(gpt_reference, "torch_estimate_loss") as evaluations, \
            contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        twin = TorchGPT(config).copy_weights_from(GPT(config))  # our initial weights
        val_loss = gpt_reference.train_torch(
            twin, train_ids, val_ids, iters=args.iters, warmup=warmup,
            eval_interval=args.eval_interval, eval_iters=args.eval_iters)
        if not args.no_sample:
            twin.eval()
            torch_generate(twin, tokenizer.encode(SAMPLE_PROMPT), SAMPLE_LENGTH, use_cache=False)
        seconds = time.perf_counter() - start
    return seconds, evaluations.seconds, val_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=BABY["steps"])
    parser.add_argument("--eval-interval", type=int, default=BABY["eval_interval"])
    parser.add_argument("--eval-iters", type=int, default=BABY["eval_iters"])
    parser.add_argument("--rounds", type=int, default=1, help="runs of each, taking turns")
    parser.add_argument("--no-sample", action="store_true",
                        help=f"leave out the {SAMPLE_LENGTH}-character sample on both sides")
    parser.add_argument("--checks", choices=CHECK_MODES, default=None,
                        help="our check mode (default: SHAPESAFE_CHECKS, else always)")
    record.add_results_argument(parser)
    args = parser.parse_args()
    if min(args.iters, args.eval_interval, args.eval_iters, args.rounds) < 1:
        parser.error("--iters, --eval-interval, --eval-iters and --rounds must be positive")
    recording = record.start(args.results, "whole_run")
    mode = args.checks or checks_from_environment()
    # the preset's 100 warm-up steps, or a tenth of a shorter run (as gpt_reference.py)
    warmup = BABY["warmup"] if BABY["warmup"] < args.iters else args.iters // 10
    evaluated = (args.iters // args.eval_interval + 1) * 2 * args.eval_iters

    print(describe())
    print(f"baby GPT, {args.iters} steps ({warmup} warm-up), {evaluated:,} evaluation batches "
          f"({args.eval_iters} of each split every {args.eval_interval} steps and after the "
          f"last), {'no sample' if args.no_sample else f'then a {SAMPLE_LENGTH}-character sample'}; "
          f"PyTorch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {args.rounds} round(s), the runs taking turns")
    runs = {f"shapesafe-nn train gpt, checks {mode}": lambda: run_ours(args, warmup, mode),
            "PyTorch, the same run": lambda: run_torch(args, warmup)}
    results = {name: [] for name in runs}
    for round_number in range(args.rounds):
        order = list(runs) if round_number % 2 == 0 else list(reversed(runs))
        for name in order:
            results[name].append(runs[name]())
            seconds, evaluating, val_loss = results[name][-1]
            print(f"  {name:<38} {seconds:8.1f} s  (evaluations {evaluating:6.1f} s, "
                  f"{evaluating / seconds:4.0%})  val loss {val_loss:.4f}", flush=True)
    ours, theirs = (statistics.median(seconds for seconds, _, _ in results[name])
                    for name in runs)
    print(f"wall time, median: ours {ours:.1f} s, PyTorch {theirs:.1f} s; "
          f"ours / PyTorch = {ours / theirs:.2f}")
    ours_loss, theirs_loss = (np.mean([loss for _, _, loss in results[name]]) for name in runs)
    print(f"final val loss: ours {ours_loss:.4f}, PyTorch {theirs_loss:.4f}, "
          f"difference {ours_loss - theirs_loss:+.4f}")
    print(f"after the runs, {load_now()}")
    recording.save({"checks": mode, "ours_seconds": ours, "pytorch_seconds": theirs,
                    "ours_over_pytorch": ours / theirs, "val_loss_ours": float(ours_loss),
                    "val_loss_pytorch": float(theirs_loss)})


if __name__ == "__main__":
    main()
