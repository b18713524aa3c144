"""What if attention were different?  The same small GPT, trained under each
attention score and each mask, and what happened to each, in numbers.

Run:  python benchmarks/experiments.py            (275 s on 2 cores shared with other work)
      python benchmarks/experiments.py --iters 30 --eval-iters 2 --windows 1 \
          --sample-length 30   (smoke run)

The model is the CLI's ``tiny`` preset (2 blocks, 2 heads of d_head 16,
d_model 32, block 32) on the bundled Shakespeare tragedies, trained with its
settings (AdamW, betas (0.9, 0.99), weight decay 0.1, learning rate warmed
up to 3e-3 and cosine-decayed to 3e-4, gradients clipped to 1.0) but with
batch 16 and more steps, so that the variants separate.  Variants (see
``shapesafe_nn/layers/attention.py`` for each one's formula):

- the seven scores with the causal mask: ``scaled_dot`` (GPT's), ``dot``,
  ``squared_dot`` (the dot product squared), ``cosine``, and three for the
  seed's questions: ``dot_of_squares`` (each number squared, then the dot
  product), ``negative_dot`` (the scaled dot product negated) and
  ``negative_squared_distance`` (-‖q - k‖², scaled);
- the two other masks with ``scaled_dot``: ``none``, ``anti_causal``;
- ``scaled_dot`` once more with another seed: the spread between two seeds
  of one model is the noise any other difference is measured against.

Each variant starts from the same seed and trains on the same batches.
Measured, per variant:

- ``train``: the trainer's final estimate of the training loss;
- ``val``: the mean loss over the same 128 validation windows for every
  variant (``--windows`` batches of 16), each window read whole;
- ``future hidden``: the same windows read one prefix at a time, each
  prefix ``x[:t+1]`` scored at its last position, as generation reads: the
  future does not exist yet.  For a causal model this is its val loss (the
  script checks it); for the others it is what they are worth as language
  models;
- ``focus``: the mean largest attention weight in a row, over every head,
  block and row that sees 8 or more positions, on one batch of those
  windows; ``saturated``: the share of those rows above 0.99;
- a sample (prompt "\\n", seed 0; the first 150 of ``--sample-length``,
  600, characters are printed) and ``words``: the share of its words of
  three letters or more, over the whole sample, that occur in the training
  text.

A width table needs no training: the mean largest softmax weight in a row
of 32 keys for each score, with queries and keys of unit-variance entries
(Vaswani et al.'s premise for 1/√d_head), at d_head 4, 16, 64 and 256.

Noise: the baseline is trained twice, from two initializations; differences
smaller than their gap, or than twice the standard error of a difference
between two models on these windows, are called noise.  Then one or two
sentences per variant say what happened and why, built from those numbers.
Runs in check mode ``first``.
"""

import argparse
import math
import re
import time
from dataclasses import dataclass

import numpy as np

import record
from shapesafe_nn import checks
from shapesafe_nn.cli.gpt import BETAS, PRESETS, SAMPLE_PROMPT
from shapesafe_nn.data.text import CharTokenizer, get_batch, load_text, split_train_val
from shapesafe_nn.layers.attention import MASKS, SCORES
from shapesafe_nn.models import GPT, GPTConfig
from shapesafe_nn.optim import AdamW
from shapesafe_nn.training.trainer import train_language_model

TINY = PRESETS["tiny"]
BATCH = 16
SAMPLE_SHOWN, SAMPLE_LENGTH = 150, 600  # characters printed; characters whose words count
WIDE_ROW = 8  # focus and saturation count rows that see at least this many positions
SATURATED = 0.99
WORD = re.compile(r"[a-z]{3,}")  # words of three letters or more: "a", "o", "he" are too easy
BASELINE = ("scaled_dot", "causal", 0)
VARIANTS = ([(score, "causal", 0) for score in SCORES]
            + [("scaled_dot", mask, 0) for mask in MASKS if mask != "causal"]
            + [("scaled_dot", "causal", 1)])


@dataclass
class Result:
    score: str
    mask: str
    seed: int
    train_loss: float  # the trainer's final estimate
    seen: np.ndarray  # (windows,) val loss of each comparison window, read whole
    hidden: np.ndarray  # (windows,) the same windows read one prefix at a time
    focus_start: float  # focus before training
    focus: float
    saturated: float
    words: float
    sample: str
    seconds: float

    @property
    def name(self) -> str:
        return f"{self.score}, {self.mask}" + (f", seed {self.seed}" if self.seed else "")

    @property
    def val_loss(self) -> float:
        return float(self.seen.mean())

    @property
    def hidden_loss(self) -> float:
        return float(self.hidden.mean())


def cross_entropy(logits, targets) -> np.ndarray:
    """(batch, seq, vocab), (batch, seq) -> (batch,): each window's mean loss."""
    logits = logits.astype(np.float64)
    logits -= logits.max(axis=-1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    return -np.take_along_axis(log_p, targets[..., None], axis=-1)[..., 0].mean(axis=-1)


def window_losses(model: GPT, windows: list) -> tuple[np.ndarray, np.ndarray]:
    """Each window's loss read whole, and read one prefix at a time.

    Reading ``x[:, :t+1]`` and scoring its last position is what generation
    does: nothing after t exists yet.
    """
    seen, hidden = [], []
    for x, y in windows:
        seen.append(cross_entropy(model.forward(x), y))
        last = np.concatenate([model.forward(x[:, :t + 1])[:, -1:] for t in range(x.shape[1])],
                              axis=1)  # (batch, seq, vocab): position t from prefix t
        hidden.append(cross_entropy(last, y))
    return np.concatenate(seen), np.concatenate(hidden)


def attention_focus(model: GPT, x, mask: str) -> tuple[float, float]:
    """(mean largest weight per row, share of rows above SATURATED), over every
    head of every block and every row that sees WIDE_ROW positions or more."""
    model.forward(x)
    seq = x.shape[1]
    wide = (~MASKS[mask](seq)).sum(axis=-1) >= WIDE_ROW  # (seq,) which rows count
    largest = np.concatenate([block.attn.attention_weights[..., wide, :].max(axis=-1).ravel()
                              for block in model.blocks])
    return float(largest.mean()), float((largest > SATURATED).mean())


def word_share(text: str, known: set) -> float:
    words = WORD.findall(text.lower())
    return sum(word in known for word in words) / len(words) if words else 0.0


def run(score: str, mask: str, seed: int, data: dict, args) -> Result:
    tokenizer = data["tokenizer"]
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=TINY["block_size"],
                       n_layer=TINY["n_layer"], n_head=TINY["n_head"], d_model=TINY["d_model"],
                       score=score, mask=mask, seed=seed)
    model = GPT(config)
    probe = data["windows"][0][0]  # the batch whose attention is measured
    focus_start, _ = attention_focus(model, probe, mask)
    optimizer = AdamW(model.named_parameters(), lr=TINY["lr"], betas=BETAS,
                      weight_decay=TINY["weight_decay"])
    start = time.perf_counter()
    history = train_language_model(
        model, optimizer, data["train"], data["val"], iters=args.iters, batch_size=BATCH,
        block_size=config.block_size, max_lr=TINY["lr"], min_lr=TINY["min_lr"],
        warmup=TINY["warmup"], grad_clip=TINY["grad_clip"], eval_interval=args.iters,
        eval_iters=args.eval_iters, seed=0, quiet=True, log=lambda _: None)
    model.eval()
    seen, hidden = window_losses(model, data["windows"])
    focus, saturated = attention_focus(model, probe, mask)
    sample = tokenizer.decode(model.generate(tokenizer.encode(SAMPLE_PROMPT), args.sample_length,
                                             seed=0))[len(SAMPLE_PROMPT):]
    return Result(score, mask, seed, history[-1].train_loss, seen, hidden, focus_start, focus,
                  saturated, word_share(sample, data["known_words"]), sample,
                  time.perf_counter() - start)


# ---------------------------------------------------------------------------
# What happened, and why: sentences built from the measured numbers
# ---------------------------------------------------------------------------
def versus(value: float, reference: float, noise: float, lower="lower", higher="higher") -> str:
    """'0.123 lower than' / 'within noise (+0.004) of', for two losses."""
    difference = value - reference
    if abs(difference) <= noise:
        return f"within noise ({difference:+.3f}) of"
    barely = f" (noise {noise:.3f})" if abs(difference) < 2 * noise else ""
    return f"{abs(difference):.3f}{barely} {lower if difference < 0 else higher} than"


def sharpness_by_width(widths=(4, 16, 64, 256), keys=32, rows=2000) -> dict:
    """{(score, d_head): mean largest softmax weight} of rows of ``keys`` scores
    for queries and keys with N(0, 1) entries: the softmax at the start of
    training when the projections keep unit variance (Vaswani et al.'s
    premise for 1/√d_head), away from GPT-2's small 0.02 initialization."""
    rng = np.random.default_rng(0)
    table = {}
    for d_head in widths:
        q = rng.standard_normal((rows, 1, d_head))  # one query per row
        k = rng.standard_normal((rows, keys, d_head))
        for name, score in SCORES.items():
            scores, _ = score.forward(q, k)  # (rows, 1, keys)
            weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
            weights /= weights.sum(axis=-1, keepdims=True)
            table[name, d_head] = float(weights.max(axis=-1).mean())
    return table


def explain(result: Result, base: Result, noise: float, d_head: int,
            widths: dict) -> str:
    val = (f"val loss {result.val_loss:.3f} is {versus(result.val_loss, base.val_loss, noise)} "
           f"scaled_dot's")
    focus = (f"heads put {result.focus:.0%} of a row on their favourite position and saturate "
             f"{result.saturated:.0%} of rows (scaled_dot: {base.focus:.0%}, "
             f"{base.saturated:.0%})")
    if result.seed:
        return (f"The same model from another initialization: val loss {result.val_loss:.3f} "
                f"against {base.val_loss:.3f}.")
    if (result.score, result.mask) == BASELINE[:2]:
        return (f"GPT's attention, the reference: heads put {result.focus:.0%} of a row on their "
                f"favourite position ({result.focus_start:.0%} before training) and saturate "
                f"{result.saturated:.0%} of rows; its val loss, {result.val_loss:.3f}, is "
                f"{result.hidden_loss:.3f} with the future hidden: the same, as a causal "
                f"model's must be.")
    if result.mask != "causal":
        sees = "every position" if result.mask == "none" else "itself and the future"
        train = versus(result.train_loss, base.train_loss, noise)
        if result.train_loss < base.train_loss - noise:
            first = (f"Train loss {result.train_loss:.3f} is {train} the causal model's: seeing "
                     f"{sees}, position t can read token t+1, the very character it must "
                     f"predict.")
        else:
            first = (f"Train loss {result.train_loss:.3f} is {train} the causal model's: seeing "
                     f"{sees} did not make training easier here.")
        hidden = versus(result.hidden_loss, base.hidden_loss, noise, "better", "worse")
        words = (f"{result.words:.0%} of its sample's words are real (causal: "
                 f"{base.words:.0%})")
        if result.hidden_loss - result.val_loss > noise:
            last = ("" if result.mask == "none" else
                    ", and the last position, the one that generates, sees only itself")
            second = (f"It leans on the future: hiding it, as generation does, raises its val "
                      f"loss from {result.val_loss:.3f} to {result.hidden_loss:.3f}, {hidden} "
                      f"the causal model's {base.hidden_loss:.3f}, and {words}: at generation "
                      f"there is no next token to copy{last}.")
        else:
            second = (f"Hiding the future, as generation does, leaves its val loss at "
                      f"{result.hidden_loss:.3f}, {hidden} the causal model's; {words}.")
        return f"{first} {second}"
    if result.score == "dot":
        narrow, wide = min(d for _, d in widths), max(d for _, d in widths)
        grows = widths["dot", wide] > widths["dot", narrow] + 0.05
        first = (f"Without 1/√d_head its scores are √{d_head} = {math.sqrt(d_head):.0f} times "
                 f"larger for the same weights; with unit-variance q and k (the width table) "
                 f"a row of 32 puts {widths['dot', narrow]:.0%} on its favourite key at d_head "
                 f"{narrow} and {widths['dot', wide]:.0%} at {wide}, scaled_dot "
                 f"{widths['scaled_dot', narrow]:.0%} and {widths['scaled_dot', wide]:.0%}"
                 + (": the saturation the scale prevents grows with the width." if grows else "."))
        if result.focus > base.focus + 0.05:
            effect = f"Trained, its softmax is sharper: {focus}"
        elif result.focus < base.focus - 0.05:
            effect = f"Trained, its softmax is softer: {focus}"
        else:
            effect = f"Trained, its heads focus about as scaled_dot's do: {focus}"
        if result.val_loss > base.val_loss + noise and result.saturated > base.saturated:
            why = "; a saturated softmax passes almost no gradient back"
        elif (result.val_loss < base.val_loss - noise
              and abs(result.focus_start - base.focus_start) < 0.05):
            why = (f"; GPT-2's small initial weights start every score near 0 (before training "
                   f"{result.focus_start:.0%} on the favourite, as scaled_dot's "
                   f"{base.focus_start:.0%}), so at d_head {d_head} the missing scale only let "
                   f"the heads sharpen sooner")
        else:
            why = ""
        return f"{first} {effect}; {val}{why}."
    if result.score == "squared_dot":
        cost = (": the lost sign costs" if result.val_loss > base.val_loss + noise else
                ": at this size the lost sign costs nothing measurable"
                if result.val_loss >= base.val_loss - noise else "")
        return (f"Every score is a square, never negative: a key opposite to the query scores "
                f"as high as an aligned one, so a head cannot push a position away, only "
                f"make q·k ≈ 0 to ignore it. Its {focus}; {val}{cost}.")
    if result.score == "cosine":
        bound = math.sqrt(d_head)
        most = math.exp(2 * bound) / (math.exp(2 * bound) + WIDE_ROW - 1)
        cost = (": the bound kept its heads softer" if result.val_loss > base.val_loss + noise
                and result.focus < base.focus else
                ": the bound cost nothing measurable" if result.val_loss <= base.val_loss + noise
                else "")
        return (f"Its scores cannot leave ±√{d_head} = ±{bound:.0f}, so a row of {WIDE_ROW} "
                f"positions can put at most {most:.1%} on one, whatever the weights grow to: "
                f"{focus}; {val}{cost}.")
    if result.score == "dot_of_squares":
        cost = (": squaring away every sign costs" if result.val_loss > base.val_loss + noise else
                ": at this size the lost signs cost nothing measurable"
                if result.val_loss >= base.val_loss - noise else "")
        return (f"Each number is squared before the dot product, (q∘q)·(k∘k)/√d_head: every "
                f"score is ≥ 0 and every sign of every entry is gone, so q = (1, -1) likes "
                f"k = (1, 1) as much as k = (1, -1); all a head can match is which entries are "
                f"large. Its {focus}; {val}{cost}.")
    if result.score == "negative_dot":
        same = ("as expected" if abs(result.val_loss - base.val_loss) <= noise else
                "more than another seed moves it")
        return (f"-q·k = q·(-k): a scaled_dot head whose W_k is negated, so nothing is lost; "
                f"from the same seed it starts at W_k's mirror image, a draw as likely as any "
                f"other, and should differ from scaled_dot by what another seed does. Its "
                f"{focus}; {val}, {same}.")
    if result.score == "negative_squared_distance":
        cost = (": the key-length term costs" if result.val_loss > base.val_loss + noise else
                ": the key-length term costs nothing measurable"
                if result.val_loss >= base.val_loss - noise else "")
        return (f"-‖q - k‖² = 2 q·k - ‖q‖² - ‖k‖²: ‖q‖² is the same for every key of a row and "
                f"the softmax ignores it, so this is twice the dot product minus a penalty on "
                f"long keys: a key wins by being near the query, not by being long. Its "
                f"{focus}; {val}{cost}.")
    raise ValueError(f"no explanation for {result.name}")


def refuse_runs_within_the_warmup(parser: argparse.ArgumentParser, iters: int,
                                  trained: str) -> None:
    """A usage error for ``--iters`` no longer than the tiny preset's warm-up:
    the cosine decay needs a step after it (ladder.py trains the same way)."""
    if iters <= TINY["warmup"]:
        parser.error(f"--iters must be at least {TINY['warmup'] + 1}: every {trained} warms up "
                     f"for the tiny preset's {TINY['warmup']} steps, and the learning "
                     f"rate then decays over the steps after them")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=500)
    parser.add_argument("--eval-iters", type=int, default=20,
                        help="batches in the trainer's final train-loss estimate")
    parser.add_argument("--windows", type=int, default=8,
                        help="batches of 16 validation windows to compare the variants on")
    # sampling is most of a short run's time: a smoke run takes a shorter sample
    parser.add_argument("--sample-length", type=int, default=SAMPLE_LENGTH,
                        help=f"characters sampled per variant, whose words count (default "
                             f"{SAMPLE_LENGTH}; the first {SAMPLE_SHOWN} are printed)")
    record.add_results_argument(parser)
    args = parser.parse_args()
    refuse_runs_within_the_warmup(parser, args.iters, "variant")
    recording = record.start(args.results, "experiments")

    text = load_text()
    tokenizer = CharTokenizer.from_text(text)
    train, val = split_train_val(tokenizer.encode(text))
    rng = np.random.default_rng(2)  # the comparison windows: the same for every variant
    data = dict(tokenizer=tokenizer, train=train, val=val,
                known_words=set(WORD.findall(tokenizer.decode(train).lower())),
                windows=[get_batch(val, BATCH, TINY["block_size"], rng)
                         for _ in range(args.windows)])
    d_head = TINY["d_model"] // TINY["n_head"]
    print(f"tiny GPT: vocab {tokenizer.vocab_size}, block {TINY['block_size']}, batch {BATCH}, "
          f"{TINY['n_layer']} layers, {TINY['n_head']} heads of d_head {d_head}, "
          f"{args.iters} iterations per variant, float32")
    name_width = max(len(Result(score, mask, seed, *[None] * 9).name)
                     for score, mask, seed in VARIANTS)
    results = []
    with checks("first"):
        for score, mask, seed in VARIANTS:
            results.append(run(score, mask, seed, data, args))
            print(f"  {results[-1].name:<{name_width}} trained and measured in "
                  f"{results[-1].seconds:5.1f} s", flush=True)

    base = results[VARIANTS.index(BASELINE)]
    other_seed = next(r for r in results if r.seed)
    # two kinds of noise: another initialization moves the val loss by `spread`;
    # any two models' mean over these windows has standard error `error`
    spread = abs(other_seed.val_loss - base.val_loss)
    differences = other_seed.seen - base.seen
    error = differences.std(ddof=1) / math.sqrt(len(differences))
    noise = max(spread, 2 * error)
    causal_gap = max(np.abs(r.seen - r.hidden).max() for r in results if r.mask == "causal")
    windows = len(base.seen)
    print(f"\nval: the mean over {windows} validation windows of {TINY['block_size']} "
          f"characters, the same for every variant; future hidden: the same windows read one "
          f"prefix at a time")
    print(f"{'variant':<{name_width}} {'train':>6} {'val':>6} {'future hidden':>13} {'focus':>6} "
          f"{'saturated':>9} {'words':>6}")
    for r in results:
        print(f"{r.name:<{name_width}} {r.train_loss:6.3f} {r.val_loss:6.3f} {r.hidden_loss:13.3f} "
              f"{r.focus:6.0%} {r.saturated:9.0%} {r.words:6.0%}")
    print(f"noise: another initialization moved the val loss by {spread:.3f}; the standard "
          f"error of a difference between two models on these windows is {error:.3f}; "
          f"differences under {noise:.3f} are called noise below")
    print(f"causal models: future hidden and whole-window losses differ by at most "
          f"{causal_gap:.1e} per window (float32 rounding): nothing leaks from the future")
    shown = min(SAMPLE_SHOWN, args.sample_length)
    print(f"\nsamples (prompt a newline, seed 0, the first {shown} of {args.sample_length} "
          f"characters; 'words' counts words of 3+ letters found in the training text, over "
          f"all {args.sample_length}; line breaks shown as ' / '):")
    for r in results:
        print(f"  {r.name:<{name_width}} {r.sample[:SAMPLE_SHOWN].replace(chr(10), ' / ')}")
    widths = sharpness_by_width()
    print("\nthe width table: mean largest softmax weight in a row of 32 keys, queries and keys "
          "with unit-variance entries")
    columns = sorted({d for _, d in widths})
    score_width = max(map(len, SCORES))
    print(f"  {'d_head':<{score_width}}" + "".join(f"{d:>7}" for d in columns))
    for name in SCORES:
        print(f"  {name:<{score_width}}" + "".join(f"{widths[name, d]:7.0%}" for d in columns))
    print("\nwhat happened, and why:")
    for r in results:
        print(f"- {r.name}: {explain(r, base, noise, d_head, widths)}")
    recording.save({
        "variants": {r.name: {"train": r.train_loss, "val": r.val_loss,
                              "future_hidden": r.hidden_loss, "focus": r.focus,
                              "saturated": r.saturated, "words": r.words} for r in results},
        # each variant's losses minus scaled_dot's, as the explanations give them
        "differences": {r.name: {"train": r.train_loss - base.train_loss,
                                 "val": r.val_loss - base.val_loss,
                                 "future_hidden": r.hidden_loss - base.hidden_loss}
                        for r in results},
        "seed_spread": spread, "standard_error": error, "noise": noise,
        "causal_gap": float(causal_gap),
        "width_table": {name: {str(d): widths[name, d] for d in columns} for name in SCORES},
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
