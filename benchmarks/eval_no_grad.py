"""What inference mode buys an evaluation: the baby GPT's estimate_loss, with
and without ``no_grad()``, in one process.

Run:  python benchmarks/eval_no_grad.py [--rounds 3] [--iters 200]

One evaluation is what ``train gpt`` runs every 250 steps: ``--iters``
random (batch 12, block 64) windows of each split, the cross-entropy of
each, in eval mode.  Two ways, taking turns in each round:

- ``recording``: the forwards keep what a backward would need (what every
  evaluation did before inference mode): a record per layer per forward,
  kept until the next ``zero_grad``, which an evaluation never calls;
- ``no_grad``: ``with no_grad():``, as ``estimate_loss`` runs now: nothing
  is kept, and each activation's memory is free again as soon as the next
  layer has read it.

Prints the median seconds of each, their ratio, the peak of pending
records, and the CPU it ran on.
"""

import argparse
import platform
import statistics
import subprocess
import time

import numpy as np

from shapesafe_nn import SoftmaxCrossEntropy, no_grad
from shapesafe_nn.data.text import CharTokenizer, get_batch, load_text, split_train_val
from shapesafe_nn.models import GPT, GPTConfig

BATCH, BLOCK = 12, 64


def cpu_name() -> str:
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines
                    if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def evaluate(model: GPT, splits, iters: int, seed: int) -> float:
    """One evaluation of both splits, as estimate_loss computes it, minus the mode switch."""
    cost = SoftmaxCrossEntropy()
    rng = np.random.default_rng(seed)
    losses = [cost.forward(model.forward(x), y)
              for ids in splits
              for x, y in (get_batch(ids, BATCH, BLOCK, rng) for _ in range(iters))]
    return float(np.mean(losses))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=200)
    args = parser.parse_args()

    text = load_text(None)
    tokenizer = CharTokenizer.from_text(text)
    train_ids, val_ids = split_train_val(tokenizer.encode(text), 0.1)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=BLOCK, n_layer=4,
                          n_head=4, d_model=128, dtype="float32", seed=0)).eval()
    times = {"recording": [], "no_grad": []}
    losses = {}
    for round_number in range(args.rounds):
        for way in times:
            model.zero_grad()  # drops the records of the round before
            start = time.perf_counter()
            if way == "no_grad":
                with no_grad():
                    losses[way] = evaluate(model, (train_ids, val_ids), args.iters, round_number)
            else:
                losses[way] = evaluate(model, (train_ids, val_ids), args.iters, round_number)
                pending = model.blocks[0].attn.qkv.pending_records()
            times[way].append(time.perf_counter() - start)
    model.zero_grad()
    assert losses["recording"] == losses["no_grad"], "the two ways must compute the same losses"
    recording, inference = (statistics.median(times[way]) for way in times)
    print(f"CPU: {cpu_name()}")
    print(f"evaluation: {args.iters} batches of each split, batch {BATCH}, block {BLOCK}; "
          f"median of {args.rounds} rounds")
    print(f"  recording (records kept): {recording:7.2f} s   ({pending} records pending per "
          f"layer at the end)")
    print(f"  no_grad (nothing kept):   {inference:7.2f} s")
    print(f"  no_grad is {recording / inference:.2f}x faster")


if __name__ == "__main__":
    main()
