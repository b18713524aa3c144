"""The build-up ladder of Karpathy's "Let's build GPT": every rung trained the
same way, and what each one buys, in train and val loss.

Run:  python benchmarks/ladder.py            (2.3 to 3.4 minutes in three runs, on 2
                                                 cores shared with other work)
      python benchmarks/ladder.py --iters 30 --eval-iters 2   (smoke run)

Each rung is ``shapesafe-nn train gpt --rung NAME`` (``LadderConfig.rung``;
``shapesafe_nn/models/ladder.py`` gives each one's lines and its model):

1. ``bigram``: a (vocab, vocab) table, row i read as the logits of the
   token after token i;
2. ``average``: token and position embeddings, each position replaced by the
   mean of itself and all before it, a head tied to the token table;
3. ``head``: the mean replaced by one learned attention head per block;
4. ``heads``: ``n_head`` narrower heads side by side, and a projection;
5. ``feed_forward``: after attention, a feed-forward network per position;
6. ``residual``: each sub-block added to the residual stream, with layer
   norms: the TransformerBlock, and a final layer norm;
7. ``full``: dropout after the embeddings and in every block: the GPT.

The size is the CLI's ``tiny`` preset (2 blocks, 2 heads of d_head 16,
d_model 32, block 32) on the bundled Shakespeare tragedies, trained with its
settings (AdamW, betas (0.9, 0.99), weight decay 0.1, learning rate warmed
up to 3e-3 and cosine-decayed to 3e-4, gradients clipped to 1.0) but with
batch 16 and ``--iters`` steps, as ``benchmarks/experiments.py`` trains it.
The default, 3000 steps, is about what the bigram table needs to come near
the best any bigram can do (printed too: the pairs of the train split
counted), from GPT-2's small initial weights at the preset's learning rate;
at a few hundred steps the table would rank the rungs by how fast they
start rather than by what they can learn.
Every rung starts from seed 0 and trains on the same batches; its train and
val loss are the trainer's final estimates, in evaluation mode (no
dropout), over the same ``--eval-iters`` batches of 16 windows of each
split for every rung.

Noise: the last rung is trained once more from seed 1 (another
initialization and other dropout masks, the same batches); a difference
between two rungs smaller than the gap between the two seeds is called
noise.  Runs in check mode ``first``.
"""

import argparse
import time

import numpy as np

import record
from experiments import BATCH, TINY, refuse_runs_within_the_warmup
from shapesafe_nn import checks
from shapesafe_nn.cli.gpt import BETAS, SAMPLE_PROMPT
from shapesafe_nn.data.text import CharTokenizer, load_text, split_train_val
from shapesafe_nn.models.ladder import RUNGS, LadderConfig, build_gpt
from shapesafe_nn.optim import AdamW
from shapesafe_nn.training.trainer import train_language_model

SAMPLE_SHOWN = 60  # characters of each rung's sample printed
ADDS = {  # what each rung adds to the one before
    "bigram": "a table of next-token logits",
    "average": "embeddings, the mean of the past",
    "head": "one learned attention head",
    "heads": "heads side by side, a projection",
    "feed_forward": "a feed-forward net per position",
    "residual": "residual stream, layer norms",
    "full": "dropout",
}


def counted_bigram_loss(train: np.ndarray, val: np.ndarray, vocab: int) -> float:
    """The val loss of the bigram read off the train split's pair counts, each
    count plus one (so that no pair the train split lacks costs infinity):
    p(b | a) = (count(a, b) + 1) / (count(a) + vocab)."""
    counts = np.ones((vocab, vocab))
    np.add.at(counts, (train[:-1], train[1:]), 1)
    p = counts / counts.sum(axis=1, keepdims=True)
    return float(-np.log(p[val[:-1], val[1:]]).mean())


def train_rung(rung: str, seed: int, data: dict, args) -> dict:
    """Train one rung from ``seed`` on the batches of seed 0; its final losses."""
    tokenizer = data["tokenizer"]
    config = LadderConfig(vocab_size=tokenizer.vocab_size, block_size=TINY["block_size"],
                          n_layer=TINY["n_layer"], n_head=TINY["n_head"], d_model=TINY["d_model"],
                          dropout=args.dropout if rung == "full" else 0.0, seed=seed, rung=rung)
    model = build_gpt(config)
    optimizer = AdamW(model.named_parameters(), lr=TINY["lr"], betas=BETAS,
                      weight_decay=TINY["weight_decay"])
    start = time.perf_counter()
    history = train_language_model(
        model, optimizer, data["train"], data["val"], iters=args.iters, batch_size=BATCH,
        block_size=config.block_size, max_lr=TINY["lr"], min_lr=TINY["min_lr"],
        warmup=TINY["warmup"], grad_clip=TINY["grad_clip"], eval_interval=args.iters,
        eval_iters=args.eval_iters, seed=0, quiet=True, log=lambda _: None)
    seconds = time.perf_counter() - start
    sample = tokenizer.decode(model.generate(tokenizer.encode(SAMPLE_PROMPT), SAMPLE_SHOWN,
                                             seed=0))[len(SAMPLE_PROMPT):]
    return dict(rung=rung, seed=seed, parameters=model.num_parameters(),
                train=history[-1].train_loss, val=history[-1].val_loss, seconds=seconds,
                sample=sample)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=3000)
    parser.add_argument("--eval-iters", type=int, default=50,
                        help="batches of 16 windows in each final loss estimate")
    parser.add_argument("--dropout", type=float, default=0.2,
                        help="the last rung's dropout (Karpathy's lecture: 0.2)")
    record.add_results_argument(parser)
    args = parser.parse_args()
    refuse_runs_within_the_warmup(parser, args.iters, "rung")
    recording = record.start(args.results, "ladder")

    text = load_text()
    tokenizer = CharTokenizer.from_text(text)
    train, val = split_train_val(tokenizer.encode(text))
    data = dict(tokenizer=tokenizer, train=train, val=val)
    print(f"tiny GPT: vocab {tokenizer.vocab_size}, block {TINY['block_size']}, batch {BATCH}, "
          f"{TINY['n_layer']} layers, {TINY['n_head']} heads, d_model {TINY['d_model']}, "
          f"{args.iters} iterations per rung, float32; full: dropout {args.dropout}")
    results = []
    with checks("first"):
        for rung in RUNGS:
            results.append(train_rung(rung, 0, data, args))
            print(f"  {rung:<12} trained in {results[-1]['seconds']:5.1f} s", flush=True)
        other_seed = train_rung(RUNGS[-1], 1, data, args)
        print(f"  {RUNGS[-1]:<12} seed 1 trained in {other_seed['seconds']:5.1f} s", flush=True)

    noise = abs(other_seed["val"] - results[-1]["val"])
    print(f"\ntrain, val: the mean loss over the same {args.eval_iters} batches of {BATCH} "
          f"windows of each split for every rung, in evaluation mode; change: val against "
          f"the rung before")
    print(f"{'rung':<16} {'adds':<34} {'parameters':>10} {'train':>6} {'val':>6} {'change':>7}")
    previous = None
    for number, r in enumerate(results, 1):
        change = "" if previous is None else f"{r['val'] - previous:+7.3f}"
        if previous is not None and abs(r["val"] - previous) <= noise:
            change += " (noise)"
        print(f"{number} {r['rung']:<14} {ADDS[r['rung']]:<34} {r['parameters']:>10,} "
              f"{r['train']:6.3f} {r['val']:6.3f} {change}".rstrip())
        previous = r["val"]
    print(f"  {'full, seed 1':<14} {'the same, another initialization':<34} "
          f"{other_seed['parameters']:>10,} {other_seed['train']:6.3f} {other_seed['val']:6.3f}")
    print(f"noise: another initialization moved the last rung's val loss by {noise:.3f}; "
          f"changes within it are marked (noise)")
    bigram = counted_bigram_loss(train, val, tokenizer.vocab_size)
    print(f"the best bigram, by counting the train split's pairs: val loss "
          f"{bigram:.3f} over the whole val split")
    print(f"\nsamples (prompt a newline, seed 0, {SAMPLE_SHOWN} characters; line breaks shown "
          f"as ' / '):")
    for r in results:
        print(f"  {r['rung']:<12} {r['sample'].replace(chr(10), ' / ')}")
    measured = ("parameters", "train", "val")
    recording.save({"rungs": {r["rung"]: {key: r[key] for key in measured} for r in results},
                    "full, seed 1": {key: other_seed[key] for key in measured},
                    "noise": noise, "best_bigram_val": bigram})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
