"""Peak resident memory of the baby GPT's training run: ours vs the same run in PyTorch.

Run:  python benchmarks/peak_memory.py [--iters 300] [--eval-iters 20]
(needs the `reference` extra for PyTorch: pip install -e ".[reference]")

Each run is its own process, so each peak is that run's alone, read from
the kernel's accounting for the finished child (``os.wait4``'s ru_maxrss,
what ``/usr/bin/time -v`` prints as "Maximum resident set size"):

- ``shapesafe-nn train gpt --preset baby`` (checks always, as the README runs
  it), with ``--iters``/``--eval-iters``/``--eval-interval`` shortened;
- the same run in PyTorch: ``train_torch`` of benchmarks/gpt_reference.py,
  the twin model on the same batches with the same schedule.

Memory peaks in the first steps (every buffer of a step and every
evaluation exists by then), so a shortened run peaks where the full one
does; ``--iters 2000 --eval-iters 200`` measures the full run itself.
The peak includes the interpreter and each library's code: that is what a
learner's machine must hold.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import record

HERE = Path(__file__).resolve().parent


def peak_mib(command: list[str]) -> float:
    """Run ``command``; its peak resident set size in MiB (Linux reports KiB)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return usage.ru_maxrss / 1024


def torch_run(iters: int, eval_iters: int, eval_interval: int) -> None:
    """The PyTorch side, in this (child) process."""
    sys.path.insert(0, str(HERE))
    from gpt_reference import BLOCK, SEED, WARMUP, train_torch

    from shapesafe_nn.data.text import CharTokenizer, load_text, split_train_val
    from shapesafe_nn.models import GPT, GPTConfig
    from shapesafe_nn.testing.torch_gpt import TorchGPT

    text = load_text()
    tokenizer = CharTokenizer.from_text(text)
    train_ids, val_ids = split_train_val(tokenizer.encode(text))
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=BLOCK, n_layer=4, n_head=4,
                       d_model=128, dropout=0.0, dtype="float32", seed=SEED)
    twin = TorchGPT(config).copy_weights_from(GPT(config))
    train_torch(twin, train_ids, val_ids, iters=iters, warmup=min(WARMUP, iters // 10),
                eval_interval=eval_interval, eval_iters=eval_iters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--eval-iters", type=int, default=20)
    parser.add_argument("--eval-interval", type=int, default=100)
    parser.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    record.add_results_argument(parser)
    args = parser.parse_args()
    if args.torch_child:
        torch_run(args.iters, args.eval_iters, args.eval_interval)
        return
    recording = record.start(args.results, "peak_memory")
    lengths = ["--iters", str(args.iters), "--eval-iters", str(args.eval_iters),
               "--eval-interval", str(args.eval_interval)]
    ours = peak_mib([sys.executable, "-m", "shapesafe_nn", "train", "gpt", "--preset", "baby",
                     "--warmup", str(min(100, args.iters // 10)), "--quiet", *lengths])
    theirs = peak_mib([sys.executable, __file__, "--torch-child", *lengths])
    print(f"baby GPT, {args.iters} iterations, evaluations of {args.eval_iters} batches every "
          f"{args.eval_interval}: peak resident memory")
    print(f"  shapesafe_nn (train gpt, checks always)  {ours:7.1f} MiB")
    print(f"  PyTorch eager (the same run)             {theirs:7.1f} MiB")
    print(f"shapesafe_nn / PyTorch: {ours / theirs:.2f}")
    recording.save({"ours_mib": ours, "pytorch_mib": theirs, "ours_over_pytorch": ours / theirs})


if __name__ == "__main__":
    main()
