"""Where a baby GPT training step spends its time, layer by layer.

Run:  python benchmarks/profile_gpt_step.py [--steps 20] [--checks off]
(needs the `reference` extra for PyTorch: pip install -e ".[reference]")

Times every module's ``forward`` and ``backward`` during ``--steps``
training steps of the ``baby`` configuration (float32, no dropout), plus
the loss, gradient clipping and AdamW.  Each row is *self* time: a module's
time minus the time of the modules it calls (a TransformerBlock's row is
its residual additions, not its attention), so the rows add up to the step.
Prints milliseconds per step and the share of each row, largest first.
"""

import argparse
import time
from collections import defaultdict

import numpy as np

import record
from machine import describe, load_now
from shapesafe_nn import SoftmaxCrossEntropy, checks
from shapesafe_nn.data.text import CharTokenizer, get_batch, load_text, split_train_val
from shapesafe_nn.models import GPT
from shapesafe_nn.optim import AdamW, clip_grad_norm
from shapesafe_nn.shapes import CHECK_MODES
from gpt_step import BATCH, BETAS, BLOCK, GRAD_CLIP, LR, WEIGHT_DECAY, baby_config

totals: dict[str, float] = defaultdict(float)  # row -> seconds of self time
_stack: list[float] = []  # for each timed call in flight: seconds spent in its callees


def timed(row: str, function):
    """``function`` that adds its self time to ``totals[row]``."""
    def run(*args, **kwargs):
        _stack.append(0.0)
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - start
            in_callees = _stack.pop()
            totals[row] += elapsed - in_callees
            if _stack:
                _stack[-1] += elapsed
    return run


def instrument(model: GPT) -> None:
    for _, module in model.named_modules():
        name = type(module).__name__
        for method in ("forward", "backward"):
            # an instance attribute shadows the class's method for this module only
            setattr(module, method, timed(f"{name}.{method}", getattr(module, method)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--checks", choices=CHECK_MODES, default="off")
    record.add_results_argument(parser)
    args = parser.parse_args()
    recording = record.start(args.results, "profile_gpt_step")
    print(describe())  # the times below hold for this CPU
    text = load_text()
    tokenizer = CharTokenizer.from_text(text)
    train, _ = split_train_val(tokenizer.encode(text))
    model = GPT(baby_config(tokenizer.vocab_size))
    optimizer = AdamW(model.named_parameters(), lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY)
    cost = SoftmaxCrossEntropy()
    rng = np.random.default_rng(0)
    loss_forward = timed("loss forward", cost.forward)
    loss_backward = timed("loss backward", cost.backward)
    clip = timed("clip_grad_norm", clip_grad_norm)
    adamw = timed("AdamW.step", optimizer.step)
    zero_grad = timed("zero_grad", optimizer.zero_grad)

    def step() -> None:
        x, y = get_batch(train, BATCH, BLOCK, rng)
        zero_grad()
        loss_forward(model.forward(x), y)
        model.backward(loss_backward())
        clip(optimizer.parameters, GRAD_CLIP)
        adamw()

    with checks(args.checks):
        for _ in range(3):  # warm-up, untimed
            step()
        instrument(model)
        totals.clear()
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        wall = (time.perf_counter() - start) / args.steps
    per_step = {row: seconds / args.steps for row, seconds in totals.items()}
    per_step["(outside: batches, Python)"] = wall - sum(per_step.values())
    print(f"baby GPT step, checks {args.checks}: {1000 * wall:.1f} ms "
          f"(mean of {args.steps} steps)")
    print(f"  {'self time of':<32} {'ms/step':>8} {'share':>6}")
    for row, seconds in sorted(per_step.items(), key=lambda item: -item[1]):
        print(f"  {row:<32} {1000 * seconds:8.2f} {seconds / wall:6.1%}")
    print(f"after the runs, {load_now()}")
    recording.save({"checks": args.checks, "ms_per_step": 1000 * wall,
                    "self_ms": {row: 1000 * seconds for row, seconds in per_step.items()}})


if __name__ == "__main__":
    main()
