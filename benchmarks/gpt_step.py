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
By default the four take turns in each of ``--rounds`` rounds; with
``--apart`` our three modes take turns and PyTorch runs its rounds after
them; in each round a variant first takes ``--warmup``
untimed steps, then ``--steps`` timed ones.  The warm-up matters: numpy's
OpenBLAS threads and PyTorch's OpenMP threads keep spinning for a moment
after their last call, and a fresh model's first steps pay for page
faults, so untimed steps let each variant start from a settled machine.
Taking turns spreads the slow stretches of a noisy machine over all
variants instead of one: run apart, PyTorch's median moved between 100 and
123 ms from run to run here while ours held still, and the ratio with it.
The medians over all timed steps and their ratios are printed, all from
this one process.

Model FLOPs utilisation (MFU), as nanoGPT estimates it: a step does
6·N·tokens + 12·n_layer·block·d_model·tokens floating-point operations (N:
parameters without the position table; the first term is every weight's
multiply-add forward and twice backward, the second attention's QKᵀ and
weights·V), and MFU is those FLOPs per second over the peak numpy float32
matmul rate, measured here first on two large square matrices.
"""

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

import record
from machine import describe, load_now
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


def matmul_peak_flops(size: int = 1024, repeats: int = 10) -> float:
    """FLOP/s of numpy's float32 matmul on (size x size) @ (size x size): the
    best rate this machine's BLAS reaches, the denominator of MFU."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    a @ b  # warm-up: threads started, pages touched
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        seconds.append(time.perf_counter() - start)
    return 2 * size ** 3 / statistics.median(seconds)


def flops_per_step(config: GPTConfig, parameters: int) -> float:
    """nanoGPT's estimate: 6 N + 12 n_layer block d_model per token, N without positions."""
    tokens = BATCH * BLOCK
    weights = parameters - config.block_size * config.d_model  # the learned position table
    attention = 12 * config.n_layer * BLOCK * config.d_model
    return (6 * weights + attention) * tokens


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
    parser.add_argument("--apart", action="store_true",
                        help="PyTorch's rounds after ours instead of taking turns with them")
    record.add_results_argument(parser)
    args = parser.parse_args()
    recording = record.start(args.results, "gpt_step")

    print(describe())  # the ratios below hold for this CPU
    peak = matmul_peak_flops()
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
    ours = [name for name in steps if name != torch_name]
    groups = [ours, [torch_name]] if args.apart else [ours + [torch_name]]
    for group in groups:
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
          f"{args.warmup} warm-up steps (forward, loss, backward, clip, AdamW), "
          f"{'PyTorch after ours' if args.apart else 'all four taking turns'}:")
    for name, seconds in medians.items():
        print(f"  {name:<32} {1000 * seconds:8.1f} ms/step")
    off = medians["shapesafe_nn, checks off"]
    print(f"checks off / PyTorch:  {off / medians[torch_name]:.2f}")
    print(f"checks first / off:    {medians['shapesafe_nn, checks first'] / off:.3f}")
    print(f"checks always / off:   {medians['shapesafe_nn, checks always'] / off:.3f}")
    flops = flops_per_step(config, parameters)
    print(f"MFU: {flops / 1e9:.2f} GFLOP per step; numpy float32 matmul peak "
          f"{peak / 1e9:.1f} GFLOP/s (1024 x 1024)")
    for name in ("shapesafe_nn, checks off", torch_name):
        print(f"  {name:<32} {flops / medians[name] / 1e9:6.1f} GFLOP/s, "
              f"MFU {flops / medians[name] / peak:.2f}")
    print(f"after the runs, {load_now()}")
    recording.save({
        "ms_per_step": {name: 1000 * seconds for name, seconds in medians.items()},
        "off_over_pytorch": off / medians[torch_name],
        "first_over_off": medians["shapesafe_nn, checks first"] / off,
        "always_over_off": medians["shapesafe_nn, checks always"] / off,
        "mfu_ours": flops / off / peak,
        "mfu_pytorch": flops / medians[torch_name] / peak,
    })


if __name__ == "__main__":
    main()
