"""Does our GPT learn as well as the same GPT in PyTorch?  Final val loss of both.

Run:  python benchmarks/gpt_reference.py [--iters 2000] [--eval-iters 200]
                                         [--eval-interval 250] [--checks first]
(needs the `reference` extra for PyTorch: pip install -e ".[reference]")
Quick smoke run:  python benchmarks/gpt_reference.py --iters 60 --eval-iters 5 --eval-interval 30

Trains the ``baby`` configuration (vocab 73 from the bundled corpus, block
64, batch 12, 4 layers, 4 heads, d_model 128, no dropout, float32) twice,
with nanoGPT's Shakespeare settings: AdamW with betas (0.9, 0.99) and
weight decay 0.1, learning rate warmed up over 100 steps to 1e-3 and
cosine-decayed to 1e-4, gradients clipped to 1.0.

- shapesafe_nn: ``train_language_model``, exactly as the CLI runs it;
- PyTorch: ``TorchGPT`` (shapesafe_nn/testing/torch_gpt.py) in a copy of
  that loop, line for line: the same initial weights (copied from ours),
  the same training batches and evaluation windows (the same seeded
  ``get_batch`` calls), the same learning rate at every step.

Both start from the same numbers; float32 rounding differs between numpy
and PyTorch, so the two runs drift apart step by step, but they should end
at the same loss.  The bar: our final val loss within 0.05 of PyTorch's.
The script prints both losses, their difference and each run's wall time,
and exits with status 1 if the bar is missed.
"""

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

import record
from shapesafe_nn import checks
from shapesafe_nn.data.text import CharTokenizer, get_batch, load_text, split_train_val
from shapesafe_nn.models import GPT, GPTConfig
from shapesafe_nn.optim import AdamW, cosine_with_warmup
from shapesafe_nn.shapes import CHECK_MODES
from shapesafe_nn.testing.torch_gpt import TorchGPT, make_adamw
from shapesafe_nn.training.trainer import train_language_model

BATCH, BLOCK = 12, 64
MAX_LR, MIN_LR, WARMUP = 1e-3, 1e-4, 100
BETAS, WEIGHT_DECAY, GRAD_CLIP = (0.9, 0.99), 0.1, 1.0
SEED = 0
FLOOR = 0.05  # |ours - PyTorch| in final val loss


def torch_estimate_loss(twin: TorchGPT, ids, iters: int, rng: np.random.Generator) -> float:
    """``trainer.estimate_loss`` for the twin: the same windows, in eval mode."""
    twin.eval()
    with torch.no_grad():
        losses = []
        for _ in range(iters):
            x, y = get_batch(ids, BATCH, BLOCK, rng)
            logits = twin(torch.from_numpy(x))
            losses.append(F.cross_entropy(logits.flatten(0, 1), torch.from_numpy(y).flatten())
                          .item())
    twin.train()
    return float(np.mean(losses))


def train_torch(twin: TorchGPT, train_ids, val_ids, *, iters: int, warmup: int,
                eval_interval: int, eval_iters: int) -> float:
    """``trainer.train_language_model``'s loop for the twin; returns the final val loss."""
    optimizer = make_adamw(twin, MAX_LR, BETAS, WEIGHT_DECAY)
    batch_rng = np.random.default_rng([SEED, 0])  # the trainer's two generators
    eval_rng = np.random.default_rng([SEED, 1])
    twin.train()

    def evaluate(step: int, lr: float) -> float:
        train_loss, val_loss = (torch_estimate_loss(twin, ids, eval_iters, eval_rng)
                                for ids in (train_ids, val_ids))
        print(f"step {step:5d}: train loss {train_loss:.4f}, val loss {val_loss:.4f}"
              f"  (lr {lr:.2e})  [PyTorch]")
        return val_loss

    lr = cosine_with_warmup(0, max_lr=MAX_LR, min_lr=MIN_LR, warmup=warmup, total=iters)
    for step in range(iters):
        if step % eval_interval == 0:
            evaluate(step, lr)
        lr = cosine_with_warmup(step, max_lr=MAX_LR, min_lr=MIN_LR, warmup=warmup, total=iters)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(train_ids, BATCH, BLOCK, batch_rng)
        optimizer.zero_grad()
        logits = twin(torch.from_numpy(x))
        F.cross_entropy(logits.flatten(0, 1), torch.from_numpy(y).flatten()).backward()
        torch.nn.utils.clip_grad_norm_(twin.parameters(), GRAD_CLIP)
        optimizer.step()
    return evaluate(iters, lr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=2000, help="training steps of each run")
    parser.add_argument("--eval-iters", type=int, default=200,
                        help="batches per loss estimate")
    parser.add_argument("--eval-interval", type=int, default=250,
                        help="steps between loss estimates")
    parser.add_argument("--warmup", type=int, default=WARMUP,
                        help=f"warm-up steps (default {WARMUP}; a run of --iters <= this "
                             f"warms up for a tenth of its steps)")
    parser.add_argument("--checks", choices=CHECK_MODES, default="first",
                        help="shape checks during our run (default: first)")
    record.add_results_argument(parser)
    args = parser.parse_args()
    if args.iters < 1 or args.eval_iters < 1 or args.eval_interval < 1 or args.warmup < 0:
        parser.error("--iters, --eval-iters and --eval-interval must be positive, "
                     "--warmup at least 0")
    recording = record.start(args.results, "gpt_reference")
    # the cosine decay runs from the end of the warm-up to the last step
    warmup = args.warmup if args.warmup < args.iters else args.iters // 10

    text = load_text()
    tokenizer = CharTokenizer.from_text(text)
    train_ids, val_ids = split_train_val(tokenizer.encode(text))
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=BLOCK, n_layer=4, n_head=4,
                       d_model=128, dropout=0.0, dtype="float32", seed=SEED)
    model = GPT(config)
    twin = TorchGPT(config).copy_weights_from(model)  # before our run changes the weights
    print(f"baby GPT, {model.num_parameters():,} parameters, {args.iters} steps "
          f"({warmup} warm-up), eval every {args.eval_interval} steps over "
          f"{args.eval_iters} batches")

    start = time.perf_counter()
    optimizer = AdamW(model.named_parameters(), lr=MAX_LR, betas=BETAS,
                      weight_decay=WEIGHT_DECAY)
    with checks(args.checks):
        history = train_language_model(
            model, optimizer, train_ids, val_ids, iters=args.iters, batch_size=BATCH,
            block_size=BLOCK, max_lr=MAX_LR, min_lr=MIN_LR, warmup=warmup,
            grad_clip=GRAD_CLIP, eval_interval=args.eval_interval, eval_iters=args.eval_iters,
            seed=SEED, quiet=True, log=lambda line: print(line + "  [shapesafe_nn]"))
    ours_seconds = time.perf_counter() - start
    ours = history[-1].val_loss

    start = time.perf_counter()
    theirs = train_torch(twin, train_ids, val_ids, iters=args.iters, warmup=warmup,
                         eval_interval=args.eval_interval, eval_iters=args.eval_iters)
    torch_seconds = time.perf_counter() - start

    difference = ours - theirs
    met = abs(difference) <= FLOOR
    print(f"final val loss: shapesafe_nn {ours:.4f}, PyTorch {theirs:.4f}, "
          f"difference {difference:+.4f} (bar: within {FLOOR}: {'met' if met else 'MISSED'})")
    print(f"wall time: shapesafe_nn {ours_seconds:.1f} s (checks {args.checks}), "
          f"PyTorch {torch_seconds:.1f} s ({torch.get_num_threads()} threads), "
          f"ratio {ours_seconds / torch_seconds:.2f}")
    recording.save({"val_loss_ours": ours, "val_loss_pytorch": theirs, "difference": difference,
                    "bar_met": met, "checks": args.checks, "seconds_ours": ours_seconds,
                    "seconds_pytorch": torch_seconds})
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
