"""Does our translator learn as well as torch.nn.Transformer, and how fast?

Run:  python benchmarks/translate_reference.py [--pair en-fr | --data PAIRS.tsv |
                                                --corpus multi30k --pair de-en]
                                               [--preset sentences] [--split test_2016_flickr]
                                               [--checks always]
(needs the `reference` extra for PyTorch: pip install -e ".[reference]")
Quick smoke run:  python benchmarks/translate_reference.py --preset tiny

Trains a ``train translate`` preset (default ``numbers``; ``sentences``
for Multi30k) twice, on the same data and tokens as the CLI reads them:

- shapesafe_nn: ``train_translator``, exactly as ``train translate`` runs it,
  its evaluations (val loss, BLEU of a sample, examples) included;
- PyTorch: ``torch.nn.Transformer`` with our tied, scaled embeddings and
  sinusoidal positions around it, in a copy of that loop: the same initial
  weights (copied from ours), the same batches (the same seeded draws, by
  token budget or by count), the same learning rate at every step.  Only
  the dropout masks differ (each library draws its own).

Then both translate the scored pairs greedily, batched by length, each
translation at most as long as ours may be (1.5 × source + 10 pieces with
one joint vocabulary), and the script prints each one's sacreBLEU (with its
signature), chrF and exact match.  The speed is measured on the same 20
batches in this process: our step at checks off and at ``--checks``, and
PyTorch's, with the ratios; and PyTorch's whole training.  The CPU, the
thread settings and the load average come first, the load average after
the runs last.
"""

import argparse
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

import record
from machine import describe, load_now
from shapesafe_nn import checks
from shapesafe_nn.cli.translate import (BETAS, DEFAULT_SETTINGS, PRESETS, TranslateTraining,
                                        schedule_for, settings_from)
from shapesafe_nn.data.corpora import CORPORA, corpus_pairs
from shapesafe_nn.data.pair_batches import batches_for
from shapesafe_nn.losses import LabelSmoothedCrossEntropy
from shapesafe_nn.models.decoding import length_limits
from shapesafe_nn.optim import AdamW
from shapesafe_nn.shapes import CHECK_MODES
from shapesafe_nn.testing.torch_translator import causal, sinusoids, transformer_parameters
from shapesafe_nn.tokenizers.words import pad_batch
from shapesafe_nn.training.progress import LanguageModelProgress
from shapesafe_nn.training.scores import corpus_scores
from shapesafe_nn.training.translation import EVAL_BATCH, exact_match, translate

TIMED_BATCHES = 20  # batches each library's step is timed on, after one to warm up


class TorchTranslator(torch.nn.Module):
    """Our Translator's twin: tied embeddings times √d_model plus sinusoids,
    ``nn.Transformer`` (post-LN: its final norms replaced by the identity,
    as our post-LN stacks end with a block's norm already), logits h E_tgtᵀ."""

    def __init__(self, ours):
        super().__init__()
        c = self.config = ours.config
        self.transformer = torch.nn.Transformer(
            c.d_model, c.n_head, c.n_layer, c.n_layer, c.d_ff, dropout=c.dropout,
            activation=c.activation, batch_first=True, norm_first=c.norm == "pre")
        if c.norm == "post":
            self.transformer.encoder.norm = torch.nn.Identity()
            self.transformer.decoder.norm = torch.nn.Identity()
        values = {name: torch.tensor(p.value) for name, p in ours.named_parameters()}
        self.tgt_embedding = torch.nn.Parameter(values["tgt_embedding.W"])
        self.src_embedding = (self.tgt_embedding if c.share_embeddings
                              else torch.nn.Parameter(values["src_embedding.W"]))
        state = self.transformer.state_dict()
        with torch.no_grad():
            for name, tensor in transformer_parameters(torch, c, values).items():
                state[name].copy_(tensor)
        self.register_buffer("positions", sinusoids(torch, c.max_len, c.d_model).float())

    def embed(self, E, ids):
        return F.embedding(ids, E) * self.config.d_model ** 0.5 + self.positions[:ids.shape[1]]

    def forward(self, src, tgt, src_mask, tgt_mask):
        h = self.transformer(
            self.embed(self.src_embedding, src), self.embed(self.tgt_embedding, tgt),
            tgt_mask=causal(torch, tgt.shape[1]), src_key_padding_mask=src_mask,
            tgt_key_padding_mask=tgt_mask, memory_key_padding_mask=src_mask)
        return h @ self.tgt_embedding.T

    @torch.no_grad()
    def greedy(self, src, src_mask, limits, specials):
        """Our greedy_decode, in torch: the whole prefix each step, PAD after
        EOS, each sentence stopped after its ``limits`` tokens.  (In eval mode
        torch's encoder skips the padding through its nested tensors: the
        padded rows of memory differ, and every read of them is masked.)"""
        self.eval()
        memory = self.transformer.encoder(self.embed(self.src_embedding, src),
                                          src_key_padding_mask=src_mask)
        out = torch.full((len(src), 1), specials.bos, dtype=torch.long)
        finished = torch.zeros(len(src), dtype=torch.bool)
        for step in range(int(limits.max())):
            h = self.transformer.decoder(self.embed(self.tgt_embedding, out), memory,
                                         tgt_mask=causal(torch, out.shape[1]),
                                         memory_key_padding_mask=src_mask)
            next_ids = (h[:, -1] @ self.tgt_embedding.T).argmax(-1)
            next_ids[finished] = specials.pad
            out = torch.cat([out, next_ids[:, None]], dim=1)
            finished |= (next_ids == specials.eos) | (step + 1 >= limits)
            if finished.all():
                break
        self.train()
        return out


def torch_adamw(twin: TorchTranslator, settings: dict) -> torch.optim.AdamW:
    """Decays what our AdamW decays: parameters of 2 or more axes."""
    parameters = [p for p in twin.parameters() if p.requires_grad]
    groups = [{"params": [p for p in parameters if p.dim() >= 2],
               "weight_decay": settings["weight_decay"]},
              {"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=settings["lr"], betas=BETAS, eps=1e-8)


def torch_step(twin: TorchTranslator, optimizer, batch, settings: dict, pad: int) -> None:
    """One step of our train_translator's loop, in torch."""
    src, src_mask, tgt_in, tgt_out, tgt_mask = (torch.from_numpy(a) for a in batch)
    optimizer.zero_grad()
    logits = twin(src, tgt_in, src_mask, tgt_mask)
    loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=pad,
                           label_smoothing=settings["smoothing"])
    loss.backward()
    if settings["grad_clip"] > 0:
        torch.nn.utils.clip_grad_norm_(twin.parameters(), settings["grad_clip"])
    optimizer.step()


def train_torch(twin: TorchTranslator, train, settings: dict) -> float:
    """Our train_translator's loop, line for line, in torch; seconds per step."""
    schedule = schedule_for(settings)
    optimizer = torch_adamw(twin, settings)
    batches = batches_for(train, settings["batch_size"], settings["batch_tokens"])
    rng = LanguageModelProgress.start(settings["seed"]).batch_rng  # our loop's batch generator
    twin.train()
    start = time.perf_counter()
    for step in range(settings["steps"]):
        for group in optimizer.param_groups:
            group["lr"] = schedule(step)
        torch_step(twin, optimizer, train.batch(batches.draw(rng)), settings, train.pad_id)
    return (time.perf_counter() - start) / settings["steps"]


def torch_translations(twin: TorchTranslator, sources: list[str], source, target) -> list[str]:
    """Each source's greedy translation by the twin, as :func:`translate` batches
    and bounds ours: in length order, EVAL_BATCH sentences at a time."""
    encoded = [source.encode(sentence) for sentence in sources]
    order = np.argsort([len(ids) for ids in encoded], kind="stable")
    answers = [""] * len(sources)
    for start in range(0, len(order), EVAL_BATCH):
        chosen = order[start:start + EVAL_BATCH]
        src, mask = pad_batch([encoded[i] for i in chosen], source.specials.pad)
        max_len = twin.config.max_len
        limits = (length_limits(mask, max_len) if twin.config.share_embeddings
                  else np.full(len(chosen), max_len - 1))
        out = twin.greedy(torch.from_numpy(src), torch.from_numpy(mask),
                          torch.from_numpy(limits), target.specials)
        for i, row in zip(chosen, out):
            answers[i] = target.decode(row.numpy())
    return answers


def seconds_per_step(step, batches) -> float:
    """The mean seconds of ``step(batch)`` over ``batches``, after one to warm up."""
    step(batches[0])
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    return (time.perf_counter() - start) / len(batches)


def our_step(model, settings: dict, pad: int):
    """One step of train_translator's, at a fixed learning rate: to time it."""
    optimizer = AdamW(model.named_parameters(), lr=settings["min_lr"], betas=BETAS,
                      weight_decay=settings["weight_decay"])
    cost = LabelSmoothedCrossEntropy(settings["smoothing"], ignore_index=pad)

    def step(batch):
        src, src_mask, tgt_in, tgt_out, tgt_mask = batch
        optimizer.zero_grad()
        cost.forward(model.forward(src, tgt_in, src_mask, tgt_mask), tgt_out)
        model.backward(cost.backward())
        optimizer.step()
    return step


def scored_pairs(args, settings: dict, pairs) -> tuple[str, list[tuple[str, str]]]:
    """The pairs both translate and are scored on, and their name."""
    if args.split is None:
        return "held-out pairs", pairs.held_out
    if not settings["corpus"]:
        raise SystemExit("--split names a split of --corpus")
    split, _ = corpus_pairs(CORPORA[settings["corpus"]], settings["pair"], args.split)
    return f"{settings['corpus']} {settings['pair']} {args.split} pairs", split


def score_line(name: str, predictions: list[str], references: list[str]) -> tuple[str, dict]:
    """One library's scores, printed and recorded."""
    scores = corpus_scores(predictions, references)
    accuracy = exact_match(predictions, references)
    if scores is None:
        return f"  {name}: exact match {accuracy:.4f} (BLEU needs sacrebleu)", \
            {"exact_match": accuracy}
    return (f"  {name}: BLEU {scores.bleu:.2f}, chrF {scores.chrf:.2f}, exact match "
            f"{accuracy:.4f}", {"bleu": scores.bleu, "chrf": scores.chrf,
                                "exact_match": accuracy, "bleu_signature": scores.bleu_signature})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--data", default=None, help="a PAIRS.tsv file instead")
    data.add_argument("--corpus", choices=sorted(CORPORA), default=None,
                      help="a corpus in the cache (shapesafe-nn download multi30k)")
    parser.add_argument("--pair", default=None,
                        help="a bundled pair (default en-fr), or --corpus's (de-en)")
    parser.add_argument("--split", default=None,
                        help="score on this split of --corpus (test_2016_flickr) instead of "
                             "the held-out pairs")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--checks", choices=CHECK_MODES, default="always",
                        help="our check mode (default always, the CLI's default)")
    parser.add_argument("--threads", type=int, default=None,
                        help="PyTorch's threads (default: its own choice, which follows "
                             "OMP_NUM_THREADS)")
    record.add_results_argument(parser)
    args = parser.parse_args()
    # one results file per data: the bundled pair, another pair, a corpus or a file's name
    data_name = (Path(args.data).stem if args.data
                 else f"{args.corpus}_{args.pair}" if args.corpus else args.pair)
    recording = record.start(args.results, "translate_reference"
                             + (f"_{data_name.replace('-', '_')}" if data_name else ""))
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(describe())
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; numpy "
          f"{np.__version__}")
    warnings.filterwarnings("ignore", "The PyTorch API of nested tensors is in prototype")
    # every setting of the command, none given but these: the preset's values
    flags = {name: None for name in DEFAULT_SETTINGS}
    flags |= dict(preset=args.preset, pair=args.pair, steps=args.steps, resume=None,
                  data=args.data, corpus=args.corpus)
    settings = settings_from(SimpleNamespace(**flags), None)
    training = TranslateTraining()
    data = None if args.data is None else Path(args.data)
    dataset = training.read(data, settings, None)
    pairs, train, _, _ = dataset
    pad = train.pad_id
    # not quiet: our run's evaluations are printed, and recorded with the rest
    built = training.build(SimpleNamespace(quiet=False, save_every=0, data=data), settings,
                           dataset, None, args.checks)
    twin = TorchTranslator(built.model)  # the same initial weights, before ours trains
    for line in built.header:
        print(line)
    name, scored = scored_pairs(args, settings, pairs)
    sources, references = [s for s, _ in scored], [t for _, t in scored]

    # ours as `train translate` runs it, its evaluations included
    with checks(args.checks):
        start = time.perf_counter()
        built.train(LanguageModelProgress.start(settings["seed"]), None)
        ours_run = (time.perf_counter() - start) / 60
    model = built.model
    ours = translate(model, pairs.source, pairs.target, sources)
    start = time.perf_counter()
    torch_per_step = train_torch(twin, train, settings)
    torch_run = (time.perf_counter() - start) / 60
    theirs = torch_translations(twin, sources, pairs.source, pairs.target)
    print(f"greedy translations of {len(references):,} {name}:")
    ours_line, ours_scores = score_line("shapesafe_nn", ours, references)
    theirs_line, theirs_scores = score_line("PyTorch     ", theirs, references)
    print(ours_line + f"  (trained here in {ours_run:.1f} min, evaluations included)")
    print(theirs_line + f"  (trained here in {torch_run:.1f} min)")
    if "bleu" in ours_scores:
        print(f"  BLEU difference {ours_scores['bleu'] - theirs_scores['bleu']:+.2f}; "
              f"signature {ours_scores['bleu_signature']}")

    # speed: each library's step on the same batches, in this process
    draws = batches_for(train, settings["batch_size"], settings["batch_tokens"])
    rng = np.random.default_rng(1)
    timed = [train.batch(draws.draw(rng)) for _ in range(TIMED_BATCHES + 1)]
    ours_per_step = {}
    for mode in ("off", args.checks):
        with checks(mode):
            ours_per_step[mode] = seconds_per_step(our_step(model, settings, pad), timed)
    optimizer = torch_adamw(twin, settings)
    theirs_per_step = seconds_per_step(
        lambda batch: torch_step(twin, optimizer, batch, settings, pad), timed)
    print(f"ms per step on the same {TIMED_BATCHES} batches: shapesafe_nn "
          f"{1000 * ours_per_step['off']:.0f} (checks off), "
          f"{1000 * ours_per_step[args.checks]:.0f} (checks {args.checks}); PyTorch "
          f"{1000 * theirs_per_step:.0f}; ratios {ours_per_step['off'] / theirs_per_step:.2f} "
          f"and {ours_per_step[args.checks] / theirs_per_step:.2f}")
    print(f"PyTorch's whole training: {settings['steps']:,} steps at "
          f"{1000 * torch_per_step:.0f} ms a step")
    print(f"after the runs, {load_now()}")
    recording.save({"checks": args.checks, "steps": settings["steps"],
                    "minutes_ours": ours_run, "minutes_pytorch": torch_run,
                    "scored": len(references), "scored_on": name,
                    "ours": ours_scores, "pytorch": theirs_scores,
                    "ms_per_step_ours_off": 1000 * ours_per_step["off"],
                    "ms_per_step_ours_checked": 1000 * ours_per_step[args.checks],
                    "ms_per_step_pytorch": 1000 * theirs_per_step,
                    "ours_off_over_pytorch": ours_per_step["off"] / theirs_per_step,
                    "ours_checked_over_pytorch": ours_per_step[args.checks] / theirs_per_step,
                    "pytorch_training_ms_per_step": 1000 * torch_per_step})


if __name__ == "__main__":
    main()
