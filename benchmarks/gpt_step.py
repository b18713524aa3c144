"""Milliseconds per GPT training step: shapesafe_nn under each check mode, and PyTorch.

Run:  python benchmarks/gpt_step.py [--rounds 5] [--steps 8] [--warmup 2]
(needs the `reference` extra for PyTorch: pip install -e ".[reference]")

One step is one iteration of ``train_language_model``: forward, cross-entropy
loss, backward, ``clip_grad_norm`` to 1.0 and an AdamW step.  The model is
the ``baby`` configuration (nanoGPT's Shakespeare run on a CPU): vocab 73
from the bundled corpus, block 64, batch 12, 4 layers, 4 heads, d_model 128,
no dropout, float32.  Four variants, each with its own copy of the same
initial weights:

- shapesafe_nn with checks ``off``, ``first`` and ``always``;
- ``TorchGPT`` (shapesafe_nn/testing/torch_gpt.py), the same model in eager
  PyTorch on the CPU with its default thread count.

All variants train on the same batches, drawn once with ``get_batch``.
Our three modes take turns in ``--rounds`` rounds, then PyTorch runs its
rounds alone; in each round a variant first takes ``--warmup`` untimed
steps, then ``--steps`` timed ones.  The warm-up
matters: numpy's OpenBLAS threads and PyTorch's OpenMP threads keep
spinning for a moment after their last call, and a fresh model's first
steps pay for page faults, so untimed steps let each variant start from a
settled machine.  Taking turns spreads slow stretches of a noisy machine
over all variants instead of one.  The medians over all timed steps and
their ratios are printed, all from this one process.
"""

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from shapesafe_nn import SoftmaxCrossEntropy, checks
from shapesafe_nn.data.text import CharTokenizer, get_batch, load_text, split_train_val
from shapesafe_nn.models import GPT, GPTConfig
from shapesafe_nn.optim import AdamW, clip_grad_norm
from shapesafe_nn.testing.torch_gpt import TorchGPT, make_adamw

BATCH, BLOCK = 12, 64
LR, BETAS, WEIGHT_DECAY, GRAD_CLIP = 1e-3, (0.9, 0.99), 0.1, 1.0
MODES = ("off", "first", "always")


def baby_config(vocab_size: int) -> GPTConfig:
    return GPTConfig(vocab_size=vocab_size, block_size=BLOCK, n_layer=4, n_head=4, d_model=128,
                     dropout=0.0, dtype="float32", seed=0)


def our_step(model: GPT, optimizer: AdamW, cost: SoftmaxCrossEntropy, x, y) -> None:
    optimizer.zero_grad()
    cost.forward(model.forward(x), y)
    model.backward(cost.backward())
    clip_grad_norm(optimizer.parameters, GRAD_CLIP)
    optimizer.step()


def torch_step(twin: TorchGPT, optimizer: torch.optim.Optimizer, x, y) -> None:
    optimizer.zero_grad()
    logits = twin(torch.from_numpy(x))
    F.cross_entropy(logits.flatten(0, 1), torch.from_numpy(y).flatten()).backward()
    torch.nn.utils.clip_grad_norm_(twin.parameters(), GRAD_CLIP)
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="turns each variant takes")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per variant and round")
    parser.add_argument("--warmup", type=int, default=2,
                        help="untimed steps per variant before its timed ones, each round")
    args = parser.parse_args()

    text = load_text()
    tokenizer = CharTokenizer.from_text(text)
    train, _ = split_train_val(tokenizer.encode(text))
    config = baby_config(tokenizer.vocab_size)

    steps = {}  # variant name -> a function of (x, y) that takes one training step
    for mode in MODES:
        model = GPT(config)
        optimizer = AdamW(model.named_parameters(), lr=LR, betas=BETAS,
                          weight_decay=WEIGHT_DECAY)

        def step(x, y, model=model, optimizer=optimizer, mode=mode, cost=SoftmaxCrossEntropy()):
            with checks(mode):
                our_step(model, optimizer, cost, x, y)
        steps[f"shapesafe_nn, checks {mode}"] = step
    twin = TorchGPT(config).copy_weights_from(GPT(config))
    twin_optimizer = make_adamw(twin, LR, BETAS, WEIGHT_DECAY)
    torch_name = f"PyTorch eager ({torch.get_num_threads()} threads)"
    steps[torch_name] = lambda x, y: torch_step(twin, twin_optimizer, x, y)

    rng = np.random.default_rng(0)
    per_round = args.warmup + args.steps
    batches = [get_batch(train, BATCH, BLOCK, rng) for _ in range(args.rounds * per_round)]
    times = {name: [] for name in steps}
    # our three modes take turns; PyTorch runs after them, on its own, because
    # its OpenMP threads keep spinning after a step and would slow numpy's
    for group in ([name for name in steps if name != torch_name], [torch_name]):
        for round_start in range(0, len(batches), per_round):
            round_batches = batches[round_start:round_start + per_round]
            for name in group:
                for x, y in round_batches[:args.warmup]:
                    steps[name](x, y)
                for x, y in round_batches[args.warmup:]:
                    start = time.perf_counter()
                    steps[name](x, y)
                    times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(seconds) for name, seconds in times.items()}

    parameters = GPT(config).num_parameters()
    print(f"baby GPT: vocab {config.vocab_size}, block {BLOCK}, batch {BATCH}, "
          f"{config.n_layer} layers, {config.n_head} heads, d_model {config.d_model}, "
          f"{parameters:,} parameters, float32")
    print(f"median of {args.rounds} rounds x {args.steps} steps, each round after "
          f"{args.warmup} warm-up steps (forward, loss, backward, clip, AdamW):")
    for name, seconds in medians.items():
        print(f"  {name:<32} {1000 * seconds:8.1f} ms/step")
    off = medians["shapesafe_nn, checks off"]
    print(f"checks off / PyTorch:  {off / medians[torch_name]:.2f}")
    print(f"checks first / off:    {medians['shapesafe_nn, checks first'] / off:.3f}")
    print(f"checks always / off:   {medians['shapesafe_nn, checks always'] / off:.3f}")


if __name__ == "__main__":
    main()
