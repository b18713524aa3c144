"""Does our translator learn as well as torch.nn.Transformer, and how fast?

Run:  python benchmarks/translate_reference.py [--pair en-fr | --data PAIRS.tsv]
                                               [--steps 2000] [--checks always]
(needs the `reference` extra for PyTorch: pip install -e ".[reference]")
Quick smoke run:  python benchmarks/translate_reference.py --preset tiny

Trains the ``train translate`` preset (default ``numbers``: d_model 128,
2 + 2 post-LN layers, 4 heads, d_ff 512, dropout 0.1, batch 64, 2,000
AdamW steps warmed up over 200 to 1e-3 and cosine-decayed to 1e-4, label
smoothing 0.1, gradients clipped to 1.0) twice, on the same data and
tokens as the CLI reads them:

- shapesafe_nn: ``train_translator``, exactly as ``train translate`` runs it;
- PyTorch: ``torch.nn.Transformer`` with our tied, scaled embeddings and
  sinusoidal positions around it, in a copy of that loop: the same initial
  weights (copied from ours), the same batches (the same seeded
  ``LengthBuckets`` draws), the same learning rate at every step.  Only the
  dropout masks differ (each library draws its own).

Then both translate the held-out pairs greedily.  The script prints the
CPU it ran on, the thread settings and the load average, the versions of
PyTorch and numpy, each one's exact match, its ms per training step and the
ratio of the two, and the load average after the runs.
"""

import argparse
import warnings
import time
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
from shapesafe_nn.data.pair_batches import LengthBuckets
from shapesafe_nn.shapes import CHECK_MODES
from shapesafe_nn.testing.torch_translator import causal, sinusoids, transformer_parameters
from shapesafe_nn.tokenizers.words import BOS_ID, EOS_ID, PAD_ID, pad_batch
from shapesafe_nn.training.progress import LanguageModelProgress
from shapesafe_nn.training.translation import exact_match, translate


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
    def greedy(self, src, src_mask, max_new_tokens: int):
        """Our greedy_decode, in torch: the whole prefix each step, PAD after EOS.
        (In eval mode torch's encoder skips the padding through its nested
        tensors: the padded rows of memory differ, and every read of them is
        masked.)"""
        self.eval()
        memory = self.transformer.encoder(self.embed(self.src_embedding, src),
                                          src_key_padding_mask=src_mask)
        out = torch.full((len(src), 1), BOS_ID, dtype=torch.long)
        finished = torch.zeros(len(src), dtype=torch.bool)
        for _ in range(max_new_tokens):
            h = self.transformer.decoder(self.embed(self.tgt_embedding, out), memory,
                                         tgt_mask=causal(torch, out.shape[1]),
                                         memory_key_padding_mask=src_mask)
            next_ids = (h[:, -1] @ self.tgt_embedding.T).argmax(-1)
            next_ids[finished] = PAD_ID
            out = torch.cat([out, next_ids[:, None]], dim=1)
            finished |= next_ids == EOS_ID
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


def train_torch(twin: TorchTranslator, train, settings: dict) -> float:
    """Our train_translator's loop, line for line, in torch; seconds per step."""
    schedule = schedule_for(settings)
    optimizer = torch_adamw(twin, settings)
    buckets = LengthBuckets(train, settings["batch_size"])
    rng = LanguageModelProgress.start(settings["seed"]).batch_rng  # our loop's batch generator
    twin.train()
    start = time.perf_counter()
    for step in range(settings["steps"]):
        for group in optimizer.param_groups:
            group["lr"] = schedule(step)
        src, src_mask, tgt_in, tgt_out, tgt_mask = (torch.from_numpy(a) for a in
                                                    train.batch(buckets.draw(rng)))
        optimizer.zero_grad()
        logits = twin(src, tgt_in, src_mask, tgt_mask)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID,
                               label_smoothing=settings["smoothing"])
        loss.backward()
        if settings["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(twin.parameters(), settings["grad_clip"])
        optimizer.step()
    return (time.perf_counter() - start) / settings["steps"]


def torch_translations(twin: TorchTranslator, pairs, source, target) -> list[str]:
    """Each source's greedy translation by the twin, 250 sentences at a time."""
    answers = []
    for start in range(0, len(pairs), 250):
        chunk = pairs[start:start + 250]
        src, mask = pad_batch([source.encode(s) for s, _ in chunk])
        out = twin.greedy(torch.from_numpy(src), torch.from_numpy(mask),
                          twin.config.max_len - 1)
        answers += [target.decode(row.numpy()) for row in out]
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--pair", default=None, help="a bundled pair (default en-fr)")
    data.add_argument("--data", default=None, help="a PAIRS.tsv file instead")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--checks", choices=CHECK_MODES, default="always",
                        help="our check mode (default always, the CLI's default)")
    parser.add_argument("--threads", type=int, default=None,
                        help="PyTorch's threads (default: its own choice, which follows "
                             "OMP_NUM_THREADS)")
    record.add_results_argument(parser)
    args = parser.parse_args()
    # one results file per data: the bundled pair, another pair, or a file's name
    data_name = Path(args.data).stem if args.data else args.pair
    recording = record.start(args.results, "translate_reference"
                             + (f"_{data_name}" if data_name else ""))
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(describe())
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; numpy "
          f"{np.__version__}")
    warnings.filterwarnings("ignore", "The PyTorch API of nested tensors is in prototype")
    # every setting of the command, none given but these: the preset's values
    flags = {name: None for name in DEFAULT_SETTINGS}
    flags |= dict(preset=args.preset, pair=args.pair, steps=args.steps, resume=None,
                  data=args.data)
    settings = settings_from(SimpleNamespace(**flags), None)
    training = TranslateTraining()
    # evaluate only at the start and the end: the ms per step are training steps,
    # as PyTorch's (evaluation never changes what a run learns)
    settings["eval_interval"] = settings["steps"]
    dataset = training.read(None if args.data is None else Path(args.data), settings, None)
    pairs, train, _, _ = dataset
    cli = SimpleNamespace(quiet=True, save_every=0)
    built = training.build(cli, settings, dataset, None, args.checks)
    twin = TorchTranslator(built.model)  # the same initial weights, before ours trains
    for line in built.header:
        print(line)

    with checks(args.checks):
        start = time.perf_counter()
        built.train(LanguageModelProgress.start(settings["seed"]), None)
        ours_step = (time.perf_counter() - start) / settings["steps"]
        sources = [s for s, _ in pairs.held_out]
        references = [t for _, t in pairs.held_out]
        ours = exact_match(translate(built.model, pairs.source, pairs.target, sources),
                           references)
    torch_step = train_torch(twin, train, settings)
    theirs = exact_match(torch_translations(twin, pairs.held_out, pairs.source, pairs.target),
                         references)
    print(f"exact match on {len(references):,} held-out pairs (greedy): shapesafe_nn "
          f"{ours:.4f}, PyTorch {theirs:.4f}, difference {ours - theirs:+.4f}")
    print(f"ms per step: shapesafe_nn {1000 * ours_step:.0f} (checks {args.checks}, two "
          f"evaluations included), PyTorch {1000 * torch_step:.0f}; ratio "
          f"{ours_step / torch_step:.2f}")
    print(f"after the runs, {load_now()}")
    recording.save({"checks": args.checks, "held_out": len(references),
                    "exact_match_ours": ours, "exact_match_pytorch": theirs,
                    "ms_per_step_ours": 1000 * ours_step, "ms_per_step_pytorch": 1000 * torch_step,
                    "ours_over_pytorch": ours_step / torch_step})


if __name__ == "__main__":
    main()
