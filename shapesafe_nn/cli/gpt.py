"""``shapesafe-nn train gpt``, ``sample`` and ``eval gpt``: a character-level GPT.

With no flags, ``train gpt`` trains the ``baby`` preset (nanoGPT's CPU
configuration) on the bundled Shakespeare tragedies, printing train and val
loss as it goes, then a sample.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .. import viz
from ..checkpoint import CheckpointError, load_checkpoint, load_parameters
from ..data import CharTokenizer, TextDataError, load_text, split_train_val
from ..layers.attention_head import MASKS, SCORES
from ..models import GPT, GPTConfig
from ..optim import AdamW
from ..resume import LanguageModelProgress, fingerprint
from ..shapes import CHECK_MODES, set_checks
from ..trainer import EvalRecord, estimate_loss, train_language_model
from .arguments import check_output_folders, non_negative, non_negative_int, positive
from .runs import CheckpointWriter, add_run_arguments, restore_run, run_to_resume, \
    settings_for, telling_what_was_saved

# nanoGPT's CPU run of Shakespeare ("baby GPT") and a seconds-long smoke run.
PRESETS = {
    "baby": dict(n_layer=4, n_head=4, d_model=128, block_size=64, batch_size=12, dropout=0.0,
                 lr=1e-3, min_lr=1e-4, warmup=100, weight_decay=0.1, grad_clip=1.0,
                 iters=2000, eval_interval=250, eval_iters=200),
    "tiny": dict(n_layer=2, n_head=2, d_model=32, block_size=32, batch_size=8, dropout=0.0,
                 lr=3e-3, min_lr=3e-4, warmup=10, weight_decay=0.1, grad_clip=1.0,
                 iters=100, eval_interval=50, eval_iters=10),
}
# What the model is, whatever the preset; each flag given replaces one.
MODEL_DEFAULTS = dict(positions="learned", score="scaled_dot", mask="causal", dtype="float32",
                      seed=0)
# Every setting of a run, with the types a saved one must have (values: baby's).
DEFAULT_SETTINGS = {"preset": "baby"} | PRESETS["baby"] | MODEL_DEFAULTS
BETAS = (0.9, 0.99)  # nanoGPT's Shakespeare setting: beta2 0.99 suits its small batches
SAMPLE_PROMPT = "\n"


def probability(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {text}")
    return value


def add_commands(train_models, eval_models, commands) -> None:
    train = train_models.add_parser(
        "gpt", help="a character-level GPT on text",
        description="Train a character-level GPT (default: the baby preset on the bundled "
                    "Shakespeare tragedies). Flags override the preset.")
    train.add_argument("--data", type=Path, default=None, help="a UTF-8 text file")
    train.add_argument("--preset", choices=sorted(PRESETS), help="default baby")
    for name, kind in (("iters", positive(int)), ("batch-size", positive(int)),
                       ("block-size", positive(int)), ("n-layer", positive(int)),
                       ("n-head", positive(int)), ("d-model", positive(int)),
                       ("dropout", probability), ("lr", positive(float)),
                       ("min-lr", positive(float)), ("warmup", non_negative_int),
                       ("weight-decay", non_negative(float)), ("grad-clip", non_negative(float)),
                       ("eval-interval", positive(int)), ("eval-iters", positive(int))):
        train.add_argument(f"--{name}", type=kind, default=None,
                           help="default: from the preset")
    train.add_argument("--positions", choices=["learned", "sinusoidal"], help="default learned")
    train.add_argument("--score", choices=list(SCORES),
                       help="how attention scores a key (default scaled_dot; an experiment: see "
                            "benchmarks/experiments.py)")
    train.add_argument("--mask", choices=list(MASKS),
                       help="which positions attention may see (default causal: the past only)")
    train.add_argument("--dtype", choices=["float32", "float64"], help="default float32")
    train.add_argument("--seed", type=int, help="default 0")
    add_run_arguments(train)
    train.add_argument("--json", type=Path, metavar="METRICS.json")
    train.add_argument("--plot", type=Path, metavar="CURVES.png",
                       help="draw the train/val loss and learning-rate curves (needs matplotlib)")
    train.add_argument("--checks", choices=CHECK_MODES, default="always")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=run_train)

    sample = commands.add_parser("sample", help="generate text from a saved GPT",
                                 description="Generate text from a saved GPT.")
    sample.add_argument("--checkpoint", type=Path, required=True)
    sample.add_argument("--prompt", default=SAMPLE_PROMPT)
    sample.add_argument("--tokens", type=non_negative_int, default=500)
    sample.add_argument("--temperature", type=positive(float), default=1.0)
    sample.add_argument("--top-k", type=positive(int), default=None)
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(run=run_sample)

    evaluate = eval_models.add_parser(
        "gpt", help="val loss of a saved GPT on a text",
        description="Val loss of a saved GPT on the last 10%% of a text, encoded with the "
                    "checkpoint's vocabulary.")
    evaluate.add_argument("--checkpoint", type=Path, required=True)
    evaluate.add_argument("--data", type=Path, default=None,
                          help="a UTF-8 text file (default: the bundled corpus)")
    evaluate.add_argument("--eval-iters", type=positive(int), default=200)
    evaluate.add_argument("--batch-size", type=positive(int), default=None,
                          help="default: the batch size it was trained with")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--checks", choices=CHECK_MODES, default="always")
    evaluate.set_defaults(run=run_eval)


def settings_from(args, saved: dict | None) -> dict:
    """The preset, with every flag the user gave laid over it; or, resuming,
    the ``saved`` settings (a flag that would change them is refused)."""
    preset = args.preset or (saved or {}).get("preset") or "baby"
    settings = settings_for(args, {"preset": preset} | PRESETS[preset] | MODEL_DEFAULTS, saved,
                            args.resume)
    if settings["min_lr"] > settings["lr"]:
        raise argparse.ArgumentTypeError(f"--min-lr {settings['min_lr']} is larger than "
                                         f"--lr {settings['lr']}")
    if settings["iters"] <= settings["warmup"]:  # the cosine decay starts after the warm-up
        raise argparse.ArgumentTypeError(f"--iters {settings['iters']} must be larger than "
                                         f"--warmup {settings['warmup']}")
    return settings


def check_long_enough(source, text: str, block_size: int, remedy: str) -> None:
    """The last 10% of the text is the validation part, and every batch is windows
    of block_size + 1 characters: so the text needs ten such windows."""
    needed = 10 * (block_size + 1)
    if len(text) < needed:
        raise TextDataError(f"{source}: {len(text):,} characters is too short for block size "
                            f"{block_size}: the last 10% (validation) must hold one window of "
                            f"{block_size + 1}, so at least {needed:,} are needed; {remedy}")


def run_train(args) -> int:
    if args.plot and not viz.matplotlib_available():  # say so now, not after training
        print(f"shapesafe-nn: error: {viz.MISSING}", file=sys.stderr)
        return 1
    arrays, meta = run_to_resume(args, "gpt", DEFAULT_SETTINGS, EvalRecord,
                                 {"config": (dict,), "tokenizer": (str,)})
    settings = settings_from(args, None if meta is None else meta["settings"])
    check_output_folders(args.save, args.json, args.plot)
    set_checks(args.checks)
    data = args.data
    if data is None and meta is not None and meta["data"] is not None:
        data = Path(meta["data"])  # the text the saved run read
    text = load_text(data)
    check_long_enough(data or "the bundled corpus", text, settings["block_size"],
                      "use more text or a smaller --block-size")
    tokenizer = (CharTokenizer.from_json(meta["tokenizer"]) if meta is not None
                 else CharTokenizer.from_text(text))
    ids = tokenizer.encode(text)
    train_ids, val_ids = split_train_val(ids)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=settings["block_size"],
                       n_layer=settings["n_layer"], n_head=settings["n_head"],
                       d_model=settings["d_model"], dropout=settings["dropout"],
                       positions=settings["positions"], score=settings["score"],
                       mask=settings["mask"], dtype=settings["dtype"], seed=settings["seed"])
    model = GPT(config)
    optimizer = AdamW(model.named_parameters(), lr=settings["lr"], betas=BETAS,
                      weight_decay=settings["weight_decay"])
    data_sha256 = fingerprint(ids)
    if args.resume:
        progress = restore_run(args.resume, arrays, meta, model, optimizer, data_sha256,
                               LanguageModelProgress, settings["iters"], "iterations",
                               meta["data"] or "the bundled corpus")
    else:
        progress = LanguageModelProgress.start(settings["seed"])
    print(f"GPT ({settings['preset']}): {model.num_parameters():,} parameters, n_layer "
          f"{config.n_layer}, n_head {config.n_head}, d_model {config.d_model}, block "
          f"{config.block_size}, batch {settings['batch_size']}, attention {config.score} "
          f"{config.mask}, {settings['iters']} iterations, checks {args.checks}")
    print(f"data: {data or 'bundled Shakespeare tragedies'}: {len(text):,} characters, vocab "
          f"{tokenizer.vocab_size}, {len(train_ids):,} train / {len(val_ids):,} val")
    if args.resume:
        print(f"resuming {args.resume} at step {progress.step}")
    writer = None if args.save is None else CheckpointWriter(
        args.save, model, optimizer,
        {"model": "gpt", "config": config.to_json(), "tokenizer": tokenizer.to_json(),
         "settings": settings, "data": None if data is None else str(data.resolve()),
         "data_sha256": data_sha256},
        weights_only=args.weights_only)
    with telling_what_was_saved(writer):
        history = train_language_model(
            model, optimizer, train_ids, val_ids, iters=settings["iters"],
            batch_size=settings["batch_size"], block_size=config.block_size,
            max_lr=settings["lr"], min_lr=settings["min_lr"], warmup=settings["warmup"],
            grad_clip=settings["grad_clip"], eval_interval=settings["eval_interval"],
            eval_iters=settings["eval_iters"], seed=settings["seed"], quiet=args.quiet,
            progress=progress, save_every=args.save_every or 0, save=writer)
        if writer is not None:  # the finished run, before anything else can stop it
            writer(progress)
    sample = tokenizer.decode(model.generate(tokenizer.encode(SAMPLE_PROMPT), 300,
                                             temperature=1.0, seed=settings["seed"]))
    print(f"--- sample ---{sample}\n--------------")
    final = history[-1]
    if writer is not None:
        print(f"saved {args.save}")
    if args.plot:
        print(f"wrote {viz.plot_curves(history, args.plot)}")
    if args.json:
        args.json.write_text(json.dumps({
            "final": {"step": final.step, "train_loss": final.train_loss,
                      "val_loss": final.val_loss},
            "history": [vars(record) for record in history],
            "settings": settings, "config": config.to_json()}, indent=2))
    print(f"val loss {final.val_loss:.4f} (train loss {final.train_loss:.4f}) "
          f"after {final.step} iterations")
    return 0


def trained_batch_size(meta: dict) -> int:
    """The batch size a checkpoint was trained with; baby's if it does not say
    (files from before --resume called their settings "training")."""
    settings = meta.get("settings", meta.get("training"))
    size = settings.get("batch_size") if isinstance(settings, dict) else None
    return size if isinstance(size, int) and size > 0 else PRESETS["baby"]["batch_size"]


def load_gpt(path: Path) -> tuple[GPT, CharTokenizer, dict]:
    arrays, meta = load_checkpoint(path)
    if meta.get("model") != "gpt":
        raise CheckpointError(f"{path}: holds a {meta.get('model')!r} model, not a gpt")
    model = GPT(GPTConfig(**meta["config"]))
    load_parameters(model, arrays, source=str(path))
    return model, CharTokenizer.from_json(meta["tokenizer"]), meta


def run_sample(args) -> int:
    model, tokenizer, _ = load_gpt(args.checkpoint)
    prompt = tokenizer.encode(args.prompt)  # an unknown character: a clear error naming it
    ids = model.generate(prompt, args.tokens, temperature=args.temperature, top_k=args.top_k,
                         seed=args.seed)
    print(tokenizer.decode(ids))
    return 0


def run_eval(args) -> int:
    set_checks(args.checks)
    model, tokenizer, meta = load_gpt(args.checkpoint)
    text = load_text(args.data)
    check_long_enough(args.data or "the bundled corpus", text, model.config.block_size,
                      "the model reads windows of that size: use more text")
    _, val_ids = split_train_val(tokenizer.encode(text))
    batch_size = args.batch_size or trained_batch_size(meta)
    loss = estimate_loss(model, val_ids, batch_size=batch_size,
                         block_size=model.config.block_size, iters=args.eval_iters,
                         rng=np.random.default_rng(args.seed))
    print(f"evaluating {args.checkpoint} on the last 10% of {args.data or 'the bundled corpus'}"
          f" ({len(val_ids):,} characters), {args.eval_iters} batches of {batch_size}")
    print(f"val loss {loss:.4f}")
    return 0
