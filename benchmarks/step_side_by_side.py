"""Where a baby GPT training step spends its time, ours and PyTorch's, side by side.

Run:  python benchmarks/step_side_by_side.py [--steps 20]
(needs the `reference` extra for PyTorch: pip install -e ".[reference]")

profile_gpt_step.py says where our step's time goes; this puts PyTorch's
step next to it, in the same five rows, so that the gap between the two is
located, not guessed:

- matrix products: the dense layers and the tied output head (ours:
  ``Dense`` and the head's product in ``GPT``; PyTorch: ``aten::mm``,
  ``aten::addmm``);
- GELU, forward and backward;
- the attention core, scores to weighted values (ours: ``Attention``;
  PyTorch: ``scaled_dot_product_attention``'s CPU flash kernel);
- layer norm, forward and backward;
- everything else: AdamW, clipping, the residual additions, splitting and
  merging heads, the embeddings, the loss, and the Python between them.

With ``--evaluate``, the same for what an evaluation repeats 3,600 times in
a baby run: one batch's forward and loss in inference mode.

Ours is timed by profile_gpt_step.py's self-time wrappers, PyTorch's by
``torch.profiler`` (self CPU time of each operator); each profiler adds its
own cost, so the unprofiled step times (both sides, taking turns, as
gpt_step.py measures them) are printed first.  Checks off: this is about
the arithmetic.  Prints the CPU first.
"""

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

import profile_gpt_step
from gpt_step import (BATCH, BETAS, BLOCK, GRAD_CLIP, LR, WEIGHT_DECAY, baby_config, our_step,
                      torch_step)
import record
from machine import describe, load_now
from shapesafe_nn import SoftmaxCrossEntropy, checks, no_grad
from shapesafe_nn.data.text import CharTokenizer, get_batch, load_text, split_train_val
from shapesafe_nn.models import GPT
from shapesafe_nn.optim import AdamW
from shapesafe_nn.testing.torch_gpt import TorchGPT, make_adamw

ROWS = ("matrix products", "GELU", "attention core", "layer norm", "everything else")


def our_row(name: str) -> str:
    """The row of one of profile_gpt_step's self-time entries ("Dense.backward")."""
    layer = name.split(".")[0]
    # GPT's own (self) time is the tied head's product: its layers are timed apart
    return {"Dense": "matrix products", "GPT": "matrix products", "GELU": "GELU",
            "Attention": "attention core", "LayerNorm": "layer norm"}.get(layer,
                                                                          "everything else")


def torch_row(operator: str) -> str:
    """The row of one PyTorch operator ("aten::addmm")."""
    if operator in ("aten::mm", "aten::addmm"):
        return "matrix products"
    if operator.startswith("aten::gelu"):
        return "GELU"
    if "scaled_dot_product" in operator or "flash_attention" in operator:
        return "attention core"
    if "layer_norm" in operator:
        return "layer norm"
    return "everything else"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="profiled steps on each side")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of the unprofiled timing, each 2 untimed and 8 timed steps "
                             "on each side")
    parser.add_argument("--evaluate", action="store_true",
                        help="profile what an evaluation repeats instead: the forward and "
                             "the loss of one batch, in inference mode, as estimate_loss runs it")
    record.add_results_argument(parser)
    args = parser.parse_args()
    if args.steps < 1 or args.rounds < 1:
        parser.error("--steps and --rounds must be positive")
    recording = record.start(args.results, "step_side_by_side_evaluate" if args.evaluate
                             else "step_side_by_side")

    text = load_text()
    tokenizer = CharTokenizer.from_text(text)
    train, _ = split_train_val(tokenizer.encode(text))
    config = baby_config(tokenizer.vocab_size)
    model = GPT(config)
    twin = TorchGPT(config).copy_weights_from(model)
    optimizer = AdamW(model.named_parameters(), lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY)
    twin_optimizer = make_adamw(twin, LR, BETAS, WEIGHT_DECAY)
    cost = SoftmaxCrossEntropy()
    rng = np.random.default_rng(0)
    batches = [get_batch(train, BATCH, BLOCK, rng) for _ in range(max(args.steps, 10))]

    def ours(x, y):
        with checks("off"):
            if not args.evaluate:
                our_step(model, optimizer, cost, x, y)
                return
            with no_grad():
                cost.forward(model.forward(x), y)

    def pytorch(x, y):
        if not args.evaluate:
            torch_step(twin, twin_optimizer, x, y)
            return
        with torch.no_grad():
            F.cross_entropy(twin(torch.from_numpy(x)).flatten(0, 1), torch.from_numpy(y).flatten())

    # the unprofiled step, as gpt_step.py times it: the sides take turns in rounds,
    # each after untimed steps (alternating step by step, each side would pay for
    # the other's BLAS or OpenMP threads still spinning)
    plain = {"ours": [], "PyTorch": []}
    for _ in range(args.rounds):
        for side, step in (("ours", ours), ("PyTorch", pytorch)):
            for x, y in batches[:2]:
                step(x, y)
            for x, y in batches[2:10]:
                start = time.perf_counter()
                step(x, y)
                plain[side].append(time.perf_counter() - start)

    # ours, profiled: profile_gpt_step's self time of each module, plus the rest
    totals = profile_gpt_step.totals
    profile_gpt_step.instrument(model)
    totals.clear()
    start = time.perf_counter()
    for x, y in batches[:args.steps]:
        ours(x, y)
    our_wall = (time.perf_counter() - start) / args.steps
    our_ms = dict.fromkeys(ROWS, 0.0)
    for name, seconds in totals.items():
        our_ms[our_row(name)] += 1000 * seconds / args.steps
    our_ms["everything else"] += 1000 * our_wall - sum(our_ms.values())  # loss, AdamW, Python

    # PyTorch's, profiled: the self CPU time of each operator
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        start = time.perf_counter()
        for x, y in batches[:args.steps]:
            pytorch(x, y)
        torch_wall = (time.perf_counter() - start) / args.steps
    torch_ms = dict.fromkeys(ROWS, 0.0)
    for event in profiler.key_averages():
        torch_ms[torch_row(event.key)] += event.self_cpu_time_total / 1000 / args.steps
    torch_ms["everything else"] += 1000 * torch_wall - sum(torch_ms.values())

    print(describe())
    what = "an evaluation's forward and loss, inference mode" if args.evaluate else \
        "a training step"
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; checks off; "
          f"{what}; {args.steps} of them on each side")
    ours_plain, torch_plain = (1000 * statistics.median(plain[side]) for side in plain)
    print(f"unprofiled (median of {args.rounds} rounds x 8, taking turns): "
          f"ours {ours_plain:.1f} ms, PyTorch {torch_plain:.1f} ms, "
          f"ratio {ours_plain / torch_plain:.2f}")
    print(f"profiled: ours {1000 * our_wall:.1f} ms, PyTorch {1000 * torch_wall:.1f} ms")
    print(f"  {'row':<18} {'ours ms':>8} {'PyTorch ms':>11} {'ours / PyTorch':>15} "
          f"{'ours - PyTorch':>15}")
    for row in ROWS:
        print(f"  {row:<18} {our_ms[row]:8.1f} {torch_ms[row]:11.1f} "
              f"{our_ms[row] / torch_ms[row]:15.2f} {our_ms[row] - torch_ms[row]:12.1f} ms")
    print(f"after the runs, {load_now()}")
    recording.save({
        "measured": "evaluation" if args.evaluate else "training step",
        "unprofiled_ms": {"ours": ours_plain, "PyTorch": torch_plain},
        "unprofiled_ratio": ours_plain / torch_plain,
        "profiled_ms": {"ours": 1000 * our_wall, "PyTorch": 1000 * torch_wall},
        "rows_ms": {row: {"ours": our_ms[row], "PyTorch": torch_ms[row],
                          "ours_over_pytorch": our_ms[row] / torch_ms[row],
                          "difference": our_ms[row] - torch_ms[row]} for row in ROWS},
    })


if __name__ == "__main__":
    main()
