"""``shapesafe-nn train gpt``, ``sample`` and ``eval gpt``: a character-level GPT.

With no flags, ``train gpt`` trains the ``baby`` preset (nanoGPT's CPU
configuration) on the bundled Shakespeare tragedies, printing train and val
loss as it goes, then a sample.  ``--tokenizer bpe`` reads the text as
GPT-2's byte-level BPE pieces instead, learned from the text itself.
"""

import argparse
from pathlib import Path

import numpy as np

from ..data import CharTokenizer, TextDataError, load_text, split_train_val
from ..models.ladder import LadderConfig, build_gpt
from ..optim import AdamW
from ..saving.load import load_gpt_checkpoint as load_gpt  # model, tokenizer, description
from ..tokenizers import BPETokenizer, tokenizer_from_json
from ..training.progress import LanguageModelProgress, fingerprint
from ..training.trainer import EvalRecord, estimate_loss, train_language_model
from .arguments import non_empty_prompt, non_negative, non_negative_int, positive
from .config_flags import add_config_flags, check_config, config_defaults, config_of
from .memory import check_fits, gpt_needs
from .runs import Built, Training, add_checks_argument, add_preset_arguments, \
    add_run_arguments, preset_settings, run_log, run_training, use_checks
from .stream import TextStream
from .threads import add_threads_argument, use_threads

# nanoGPT's CPU run of Shakespeare ("baby GPT") and a seconds-long smoke run.
PRESETS = {
    "baby": dict(n_layer=4, n_head=4, d_model=128, block_size=64, batch_size=12, dropout=0.0,
                 lr=1e-3, min_lr=1e-4, warmup=100, weight_decay=0.1, grad_clip=1.0,
                 steps=2000, eval_interval=250, eval_iters=200),
    "tiny": dict(n_layer=2, n_head=2, d_model=32, block_size=32, batch_size=8, dropout=0.0,
                 lr=3e-3, min_lr=3e-4, warmup=10, weight_decay=0.1, grad_clip=1.0,
                 steps=100, eval_interval=50, eval_iters=10),
}
# The run's settings that are not the model's, beside --steps: each preset sets them
TRAINING_ARGUMENTS = (
    ("batch_size", positive(int), "sequences of block_size + 1 tokens a step"),
    ("lr", positive(float), "the learning rate at the end of the warm-up, where the cosine "
                            "decay starts"),
    ("min_lr", positive(float), "the learning rate the cosine decay ends at, at the last step"),
    ("warmup", non_negative_int, "steps whose learning rate rises linearly to --lr"),
    ("weight_decay", non_negative(float), "AdamW's weight decay"),
    ("grad_clip", non_negative(float), "the largest norm of a step's gradients (0: no clipping)"),
    ("eval_interval", positive(int), "steps from one evaluation to the next"),
    ("eval_iters", positive(int), "batches each evaluation averages over"),
)
# The model's flags are LadderConfig's fields (config_flags.py), but its vocab_size:
# the tokenizer's
GIVEN_BY_THE_DATA = ("vocab_size",)
# --tokenizer: a token per character (Karpathy's), or GPT-2's byte-level BPE learned
# from the text, --vocab-size pieces: the 256 bytes first, then the merges
TOKENIZERS = ("char", "bpe")
BYTES = 256
# What the model is, whatever the preset (the config's defaults), and its tokens;
# the preset's values replace these, and each flag given replaces one.
MODEL_DEFAULTS = (config_defaults(LadderConfig, GIVEN_BY_THE_DATA)
                  | dict(tokenizer="char", vocab_size=512))
# Every setting of a run, with the types a saved one must have (values: baby's).
DEFAULT_SETTINGS = {"preset": "baby"} | MODEL_DEFAULTS | PRESETS["baby"]
BETAS = (0.9, 0.99)  # nanoGPT's Shakespeare setting: beta2 0.99 suits its small batches
SAMPLE_PROMPT = "\n"


def add_commands(train_models, eval_models, commands) -> None:
    train = train_models.add_parser(
        "gpt", help="a character-level GPT on text",
        description="Train a character-level GPT (default: the baby preset on the bundled "
                    "Shakespeare tragedies). Flags override the preset.")
    train.add_argument("--data", type=Path, default=None,
                       help="a UTF-8 text file (default: the bundled Shakespeare tragedies)")
    train.add_argument("--preset", choices=list(PRESETS),
                       help="the sizes and the schedule, which the flags below replace one by "
                            "one (default baby)")
    add_preset_arguments(train, PRESETS, TRAINING_ARGUMENTS)
    train.add_argument("--tokenizer", choices=TOKENIZERS,
                       help="char: one token per character; bpe: GPT-2's byte-level BPE, "
                            "learned from the text (default char)")
    train.add_argument("--vocab-size", type=positive(int), default=None,
                       help=f"--tokenizer bpe: how many pieces, the {BYTES} bytes included "
                            f"(default {MODEL_DEFAULTS['vocab_size']})")
    train.add_argument("--prompt", type=non_empty_prompt, default=None,
                       help="what the sample after training continues (default: a line break, "
                            "or the text's first character if it has none)")
    add_run_arguments(train)
    add_config_flags(train, LadderConfig, GIVEN_BY_THE_DATA, MODEL_DEFAULTS, PRESETS)
    train.set_defaults(run=lambda args: run_training(args, GptTraining()))

    sample = commands.add_parser("sample", help="generate text from a saved GPT",
                                 description="Generate text from a saved GPT.")
    sample.add_argument("--checkpoint", type=Path, required=True, metavar="CKPT.npz",
                        help="a GPT that train gpt saved or import wrote")
    sample.add_argument("--prompt", type=non_empty_prompt, default=SAMPLE_PROMPT,
                        help="the text the sample continues (default: a line break)")
    sample.add_argument("--tokens", type=non_negative_int, default=500,
                        help="how many tokens to draw after the prompt (default 500)")
    sample.add_argument("--temperature", type=positive(float), default=1.0,
                        help="what the logits are divided by before the softmax: below 1 "
                             "the likely tokens gain, above 1 the unlikely ones (default 1.0)")
    sample.add_argument("--top-k", type=positive(int), default=None, metavar="K",
                        help="draw from the K likeliest tokens only (default: from all)")
    sample.add_argument("--seed", type=non_negative_int, default=0,
                        help="seeds the draws (default 0)")
    add_threads_argument(sample)
    sample.set_defaults(run=run_sample)

    evaluate = eval_models.add_parser(
        "gpt", help="val loss of a saved GPT on a text",
        description="Val loss of a saved GPT on the last 10%% of a text, encoded with the "
                    "checkpoint's vocabulary.")
    evaluate.add_argument("--checkpoint", type=Path, required=True, metavar="CKPT.npz",
                          help="a GPT that train gpt saved or import wrote")
    evaluate.add_argument("--data", type=Path, default=None,
                          help="a UTF-8 text file (default: the bundled corpus)")
    evaluate.add_argument("--eval-iters", type=positive(int), default=200,
                          help="batches the loss averages over (default 200)")
    evaluate.add_argument("--batch-size", type=positive(int), default=None,
                          help="windows a batch (default: the batch size it was trained with)")
    evaluate.add_argument("--seed", type=non_negative_int, default=0,
                          help="seeds which windows the batches take (default 0)")
    add_checks_argument(evaluate)
    add_threads_argument(evaluate)
    evaluate.set_defaults(run=run_eval)


def settings_from(args, saved: dict | None) -> dict:
    """The preset, with every flag the user gave laid over it; or, resuming,
    the ``saved`` settings (a flag that would change them is refused)."""
    settings = preset_settings(args, saved, PRESETS, MODEL_DEFAULTS, "baby")
    # the text's vocabulary is not read yet: every other field is checked now
    check_config(LadderConfig, settings, args.resume if saved else None, vocab_size=1)
    if settings["tokenizer"] == "char" and args.vocab_size is not None:
        raise argparse.ArgumentTypeError(f"--vocab-size {args.vocab_size} is the BPE's "
                                         f"(--tokenizer bpe); a character vocabulary is the "
                                         f"text's characters")
    if settings["vocab_size"] <= BYTES:
        raise argparse.ArgumentTypeError(f"--vocab-size {settings['vocab_size']} must be more "
                                         f"than {BYTES}: a byte-level BPE starts from the "
                                         f"{BYTES} bytes and adds its merges")
    if settings["steps"] <= settings["warmup"]:  # the cosine decay starts after the warm-up
        raise argparse.ArgumentTypeError(f"--steps {settings['steps']} must be larger than "
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


def encode_prompt(tokenizer: CharTokenizer, prompt: str, flag: str = "--prompt"):
    """The prompt's ids; a character outside the vocabulary is an error naming the flag."""
    try:
        return tokenizer.encode(prompt)
    except ValueError as error:
        raise ValueError(f"{flag} {prompt!r}: {error}") from error


class GptTraining(Training):
    """``train gpt``: a character GPT, iteration by iteration, as nanoGPT trains it."""

    kind = "gpt"
    defaults = DEFAULT_SETTINGS
    record_type = EvalRecord
    described = {"config": (dict,), "tokenizer": (str,)}
    # runs saved before these settings existed: the full GPT, with LayerNorms, the
    # tanh GELU and a feed-forward 4 * d_model wide, on characters
    later_settings = {"rung": "full", "norm_type": "layer", "gelu": "tanh", "tokenizer": "char",
                      "vocab_size": MODEL_DEFAULTS["vocab_size"], "d_ff": None}
    renamed_settings = {"iters": "steps"}  # --steps was --iters
    progress_type = LanguageModelProgress
    total, unit = "steps", "iterations"
    bundled = "the bundled corpus"

    def settings(self, args, saved):
        return settings_from(args, saved)

    def read(self, data, settings, meta):
        text = load_text(data)
        check_long_enough(data or self.bundled, text, settings["block_size"],
                          "use more text or a smaller --block-size")
        if meta is not None:  # resuming: the run's own vocabulary
            tokenizer = tokenizer_from_json(meta["tokenizer"])
        elif settings["tokenizer"] == "bpe":
            tokenizer = BPETokenizer.train(text, settings["vocab_size"])
        else:
            tokenizer = CharTokenizer.from_text(text)
        return data, text, tokenizer

    def needs(self, settings, dataset):
        _, _, tokenizer = dataset
        return gpt_needs(vocab=tokenizer.vocab_size, block_size=settings["block_size"],
                         n_layer=settings["n_layer"], d_model=settings["d_model"],
                         d_ff=settings["d_ff"] or 4 * settings["d_model"],
                         n_head=settings["n_head"],
                         batch_size=settings["batch_size"],
                         itemsize=4 if settings["dtype"] == "float32" else 8)

    def build(self, args, settings, dataset, meta, checks) -> Built:
        data, text, tokenizer = dataset
        prompt = args.prompt
        if prompt is None:  # the default: a line break, unless the text has none
            prompt = (text[0] if isinstance(tokenizer, CharTokenizer)
                      and SAMPLE_PROMPT not in tokenizer.chars else SAMPLE_PROMPT)
        prompt_ids = encode_prompt(tokenizer, prompt)  # now, not after the training
        ids = tokenizer.encode(text)
        train_ids, val_ids = split_train_val(ids)
        config = config_of(LadderConfig, settings, vocab_size=tokenizer.vocab_size)
        model = build_gpt(config)
        optimizer = AdamW(model.named_parameters(), lr=settings["lr"], betas=BETAS,
                          weight_decay=settings["weight_decay"])

        def train_from(progress, save):
            return train_language_model(
                model, optimizer, train_ids, val_ids, iters=settings["steps"],
                batch_size=settings["batch_size"], block_size=config.block_size,
                max_lr=settings["lr"], min_lr=settings["min_lr"], warmup=settings["warmup"],
                grad_clip=settings["grad_clip"], eval_interval=settings["eval_interval"],
                eval_iters=settings["eval_iters"], seed=settings["seed"], quiet=args.quiet,
                log=run_log(args.quiet), progress=progress, save_every=args.save_every or 0,
                save=save)

        def finish(history):
            if not args.quiet:
                sample = tokenizer.decode(model.generate(prompt_ids, 300, temperature=1.0,
                                                         seed=settings["seed"]))
                print(f"--- sample ---{sample}\n--------------")
            final = history[-1]
            return (f"val loss {final.val_loss:.4f} (train loss {final.train_loss:.4f}) "
                    f"after {final.step} iterations",
                    {"final": {"step": final.step, "train_loss": final.train_loss,
                               "val_loss": final.val_loss},
                     "history": [vars(record) for record in history]})

        pieces = "" if isinstance(tokenizer, CharTokenizer) else " BPE pieces"
        variant = ("" if config.rung == "full" else f", rung {config.rung}") + \
            ("" if config.norm_type == "layer" else f", {config.norm_type} norm")
        header = [f"GPT ({settings['preset']}{variant}): {model.num_parameters():,} parameters, "
                  f"n_layer {config.n_layer}, n_head {config.n_head}, d_model {config.d_model}, "
                  f"block {config.block_size}, batch {settings['batch_size']}, attention "
                  f"{config.score} {config.mask}, {settings['steps']} iterations, "
                  f"checks {checks}",
                  f"data: {data or 'bundled Shakespeare tragedies'}: {len(text):,} characters, "
                  f"vocab {tokenizer.vocab_size}{pieces}, {len(train_ids):,} train / "
                  f"{len(val_ids):,} val"]
        return Built(model, optimizer, config, fingerprint(ids), header, train_from, finish,
                     meta={"tokenizer": tokenizer.to_json()})


def trained_batch_size(meta: dict) -> int:
    """The batch size a checkpoint was trained with; baby's if it does not say
    (files from before --resume called their settings "training")."""
    settings = meta.get("settings", meta.get("training"))
    size = settings.get("batch_size") if isinstance(settings, dict) else None
    return size if isinstance(size, int) and size > 0 else PRESETS["baby"]["batch_size"]


def run_sample(args) -> int:
    model, tokenizer, _ = load_gpt(args.checkpoint)
    prompt = encode_prompt(tokenizer, args.prompt)
    use_threads(args.threads)
    stream = TextStream(tokenizer, prompt)  # each character as it is drawn
    model.generate(prompt, args.tokens, temperature=args.temperature, top_k=args.top_k,
                   seed=args.seed, on_token=stream.add)
    stream.close()
    return 0


def run_eval(args) -> int:
    use_checks(args)
    model, tokenizer, meta = load_gpt(args.checkpoint)
    text = load_text(args.data)
    check_long_enough(args.data or "the bundled corpus", text, model.config.block_size,
                      "the model reads windows of that size: use more text")
    _, val_ids = split_train_val(tokenizer.encode(text))
    characters = isinstance(tokenizer, CharTokenizer)
    batch_size = args.batch_size or trained_batch_size(meta)
    config = model.config
    check_fits("eval gpt with these settings",
               gpt_needs(vocab=config.vocab_size, block_size=config.block_size,
                         n_layer=config.n_layer, d_model=config.d_model,
                         d_ff=config.d_ff or 4 * config.d_model, n_head=config.n_head,
                         batch_size=batch_size, itemsize=np.dtype(config.dtype).itemsize))
    use_threads(args.threads)
    loss = estimate_loss(model, val_ids, batch_size=batch_size,
                         block_size=model.config.block_size, iters=args.eval_iters,
                         rng=np.random.default_rng(args.seed))
    print(f"evaluating {args.checkpoint} on the last 10% of {args.data or 'the bundled corpus'}"
          f" ({len(val_ids):,} {'characters' if characters else 'tokens'}), "
          f"{args.eval_iters} batches of {batch_size}")
    if characters:
        print(f"val loss {loss:.4f}")
        return 0
    # a token holds several characters: its loss spread over them compares with a
    # character model's (the same text, fewer and harder predictions)
    chars = len(tokenizer.decode(val_ids))
    print(f"val loss {loss:.4f} per token, {loss * len(val_ids) / chars:.4f} per character "
          f"({chars / len(val_ids):.3f} characters a token)")
    return 0
