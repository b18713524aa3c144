"""What an evaluation of the baby GPT costs, before and after inference mode, in one process.

Run:  python benchmarks/eval_no_grad.py [--rounds 3] [--iters 200] [--before 1d191d2]

One evaluation is what ``train gpt`` runs every 250 steps: ``--iters``
random (batch 12, block 64) batches of each split, the cross-entropy of
each, in eval mode.  Three ways, taking turns in each round, on the same
weights and the same batches:

- ``before``: ``estimate_loss`` of the package as it was at commit
  ``--before`` (extracted from this repository's history with ``git
  archive`` and imported under another name): one forward per batch, each
  keeping its activations for a backward that never comes;
- ``recording``: today's layers, one forward per batch outside ``no_grad()``,
  each leaving a record (dropped between batches by ``zero_grad()``, as
  ``before`` overwrote its one slot), to show what inference mode alone
  changes;
- ``estimate_loss``: today's ``estimate_loss``: one forward per batch, inside
  ``no_grad()``: nothing is kept.

Prints the CPU it ran on, the thread settings and the load average, then
the median seconds of each, the ratios, the losses (equal up to float32
rounding), and the load average after the runs.
"""

import argparse
import importlib
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

import record
from machine import describe, load_now
from shapesafe_nn import SoftmaxCrossEntropy
from shapesafe_nn.data.text import CharTokenizer, get_batch, load_text, split_train_val
from shapesafe_nn.models import GPT, GPTConfig
from shapesafe_nn.training.trainer import estimate_loss

BATCH, BLOCK = 12, 64
ROOT = Path(__file__).resolve().parent.parent


def package_at(commit: str, folder: Path):
    """shapesafe_nn as it was at ``commit``, imported as ``shapesafe_nn_<commit>``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "shapesafe_nn"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    name = f"shapesafe_nn_{commit}"
    (folder / "shapesafe_nn").rename(folder / name)  # its imports are relative: any name works
    sys.path.insert(0, str(folder))
    package = importlib.import_module(name)
    for part in ("models", "trainer"):  # the parts used here, as attributes
        importlib.import_module(f"{name}.{part}")
    return package


def old_weights(model: GPT) -> dict[str, np.ndarray]:
    """Today's parameters under the names and layout of before: the attention
    projections were W_qkv (d_model, 3*d_model) and W_o, multiplied from the right."""
    renamed = {".attn.qkv.W": ".attn.W_qkv", ".attn.qkv.b": ".attn.b_qkv",
               ".attn.proj.W": ".attn.W_o", ".attn.proj.b": ".attn.b_o"}
    weights = {}
    for name, parameter in model.named_parameters():
        value = parameter.value
        for new, old in renamed.items():
            if name.endswith(new):
                name = name.replace(new, old)
                value = value.T if new.endswith(".W") else value
        weights[name] = np.ascontiguousarray(value)
    return weights


def one_forward_per_batch(model, cost, splits, iters: int, seed: int, between) -> float:
    rng = np.random.default_rng(seed)
    losses = []
    for ids in splits:
        for _ in range(iters):
            x, y = get_batch(ids, BATCH, BLOCK, rng)
            losses.append(cost.forward(model.forward(x), y))
            between()
    return float(np.mean(losses))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--before", default="1d191d2",
                        help="the commit whose estimate_loss is 'before'")
    record.add_results_argument(parser)
    args = parser.parse_args()
    recording = record.start(args.results, "eval_no_grad")
    print(describe())

    text = load_text(None)
    tokenizer = CharTokenizer.from_text(text)
    splits = split_train_val(tokenizer.encode(text), 0.1)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=BLOCK, n_layer=4, n_head=4,
                       d_model=128, dtype="float32", seed=0)
    model = GPT(config).eval()
    with tempfile.TemporaryDirectory() as folder:
        old = package_at(args.before, Path(folder))
        # the same model: every setting the old GPTConfig knew, and today's weights
        known = old.models.GPTConfig.__dataclass_fields__
        old_model = old.models.GPT(old.models.GPTConfig(
            **{key: value for key, value in config.to_json().items() if key in known})).eval()
        weights = old_weights(model)
        for name, parameter in old_model.named_parameters():
            parameter.value[...] = weights[name]

        ways = {
            "before": lambda seed: (
                old.trainer.estimate_loss(old_model, splits[0], batch_size=BATCH,
                                          block_size=BLOCK, iters=args.iters,
                                          rng=np.random.default_rng(seed))
                + old.trainer.estimate_loss(old_model, splits[1], batch_size=BATCH,
                                            block_size=BLOCK, iters=args.iters,
                                            rng=np.random.default_rng(seed + 1))) / 2,
            "recording": lambda seed: (
                one_forward_per_batch(model, SoftmaxCrossEntropy(), splits[:1], args.iters,
                                      seed, model.zero_grad)
                + one_forward_per_batch(model, SoftmaxCrossEntropy(), splits[1:], args.iters,
                                        seed + 1, model.zero_grad)) / 2,
            "estimate_loss": lambda seed: (
                estimate_loss(model, splits[0], batch_size=BATCH, block_size=BLOCK,
                              iters=args.iters, rng=np.random.default_rng(seed))
                + estimate_loss(model, splits[1], batch_size=BATCH, block_size=BLOCK,
                                iters=args.iters, rng=np.random.default_rng(seed + 1))) / 2,
        }
        times = {way: [] for way in ways}
        losses = {}
        for round_number in range(args.rounds):
            for way, evaluate in ways.items():
                start = time.perf_counter()
                losses[way] = evaluate(2 * round_number)
                times[way].append(time.perf_counter() - start)
    median = {way: statistics.median(seconds) for way, seconds in times.items()}
    print(f"one evaluation: {args.iters} batches of each split, batch {BATCH}, block {BLOCK}; "
          f"median of {args.rounds} rounds, the ways taking turns")
    for way, seconds in median.items():
        print(f"  {way:14s} {seconds:7.2f} s   loss {losses[way]:.5f}   "
              f"before / this = {median['before'] / seconds:.2f}")
    print(f"after the runs, {load_now()}")
    recording.save({"seconds": median, "losses": losses,
                    "before_over": {way: median["before"] / seconds
                                    for way, seconds in median.items()}})


if __name__ == "__main__":
    main()
