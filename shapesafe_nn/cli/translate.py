"""``shapesafe-nn train translate``, ``translate`` and ``eval translate``: an encoder-decoder.

With no flags, ``train translate`` trains the ``numbers`` preset on the
bundled number words, English to French: 20,000 pairs to train on, the
1,000 test numbers (none of them among the training ones) held out.  It
prints the val loss and a few translations as it goes, then the exact-match
accuracy on the held-out numbers.

Real sentences come from a tab-separated file (``--data``), two parallel
files (``--source-file train.de --target-file train.en``, plain or .gz), or
a corpus fetched into the cache (``--corpus multi30k --pair de-en``; also
``shapesafe-nn download multi30k``); the ``sentences`` preset is sized for
them.
"""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.corpora import CORPORA, corpus_pairs
from ..data.make_numbers import LANGUAGES
from ..data.pair_batches import EncodedPairs, UnknownToken
from ..data.pairs import PairsError, load_numbers, read_pairs, read_pairs_and_lines, read_parallel
from ..models import Translator, TranslatorConfig
from ..optim import AdamW, cosine_with_warmup, inverse_sqrt_warmup
from ..saving.checkpoint import CheckpointError
from ..saving.load import load_translator_checkpoint
from ..tokenizers.choice import (DEFAULT_VOCAB_SIZE, TOKEN_KINDS, choose_tokenizers,
                                 describe_tokens)
from ..tokenizers.tokenizer_json import tokenizer_from_json
from ..training.progress import LanguageModelProgress, fingerprint, pairs_fingerprint
from ..training.scores import check_writable, corpus_scores, too_short_for_bleu
from ..training.trainer import EvalRecord
from ..training.translation import (EVAL_BATCH, Example, count_unknown, exact_match,
                                   train_translator, translate)
from .arguments import non_negative, positive, probability
from .config_flags import add_config_flags, check_config, config_defaults, config_of
from .memory import check_fits, decoding_needs, translator_needs
from .runs import Built, Training, add_checks_argument, add_preset_arguments, \
    add_run_arguments, preset_settings, run_log, run_training, use_checks
from .threads import add_threads_argument, use_threads

# The task's configuration (d_model 128, 2 + 2 layers, 4 heads, d_ff 512, batch 64,
# 2,000 AdamW steps warmed up then cosine-decayed, label smoothing 0.1), and a
# seconds-long smoke run.
# batch_tokens 0: batch_size pairs a batch, not a token budget.
PRESETS = {
    "numbers": dict(n_layer=2, n_head=4, d_model=128, d_ff=512, dropout=0.1, batch_size=64,
                    batch_tokens=0, steps=2000, lr=1e-3, min_lr=1e-4, warmup=200,
                    smoothing=0.1, weight_decay=0.01, grad_clip=1.0, eval_interval=250),
    "tiny": dict(n_layer=1, n_head=2, d_model=32, d_ff=64, dropout=0.0, batch_size=32,
                 batch_tokens=0, steps=60, lr=3e-3, min_lr=3e-4, warmup=10, smoothing=0.1,
                 weight_decay=0.01, grad_clip=1.0, eval_interval=30),
    # Real sentences (Multi30k): the model the PyTorch reference was measured with
    # (issue 24: d_model 256, 4 heads, 3 + 3 layers, d_ff 1024, AdamW 1e-3, 400
    # warm-up steps, cosine, smoothing and dropout 0.1, 128 captions a batch, 8
    # passes).  A German caption is 14.1 pieces of a joint BPE of 8,000 and an
    # English one 13.6 (+ BOS and EOS): a budget of 2,000 tokens a side holds 119
    # captions on average (43 to 222), so a pass over the 29,000 is about 244 steps,
    # and 1,800 steps about 7.4 passes.  On 2 cores (AMD EPYC) the de-en run took 27
    # minutes at checks always, evaluations included, while other jobs shared the
    # cores (a step alone: 558 ms), and scored 35.9 BLEU on test_2016_flickr
    # (docs/13-real-sentences.md).
    "sentences": dict(n_layer=3, n_head=4, d_model=256, d_ff=1024, dropout=0.1,
                      batch_size=128, batch_tokens=2000, steps=1800, lr=1e-3, min_lr=1e-5,
                      warmup=400, smoothing=0.1, weight_decay=0.01, grad_clip=1.0,
                      eval_interval=300),
}
# The run's settings that are not the model's, beside --steps: each preset sets them
TRAINING_ARGUMENTS = (
    ("batch_size", positive(int), "sentence pairs a step (unless --batch-tokens)"),
    ("lr", positive(float), "the learning rate at the end of the warm-up: its peak"),
    ("min_lr", positive(float), "--schedule cosine: the learning rate the decay ends at, at "
                                "the last step"),
    ("warmup", positive(int), "steps whose learning rate rises linearly to --lr"),
    ("smoothing", probability, "label smoothing: the share ε of each target's probability "
                               "spread over the vocabulary (the paper's 0.1)"),
    ("weight_decay", non_negative(float), "AdamW's weight decay"),
    ("grad_clip", non_negative(float), "the largest norm of a step's gradients (0: no clipping)"),
    ("eval_interval", positive(int), "steps from one evaluation (val loss, examples, BLEU) to "
                                     "the next"),
)
# The model's flags are TranslatorConfig's fields (config_flags.py), but those the
# tokenizers give (the vocabularies, and whether the two sides share one) and
# max_len, whose flag is --max-len below: by default, the data's longest sentence
GIVEN_BY_THE_DATA = ("src_vocab_size", "tgt_vocab_size", "share_embeddings")
# What the model and run are, whatever the preset (the model's: the config's
# defaults); the preset's values replace these, and each flag given replaces one.
# max_len 0: the longest sentence of the data, in tokens (a target with BOS and EOS)
# source_file, target_file and corpus: where the pairs come from, when not --data
# or the bundled numbers
MODEL_DEFAULTS = (config_defaults(TranslatorConfig, GIVEN_BY_THE_DATA)
                  | dict(pair="en-fr", val="", tokens="auto", schedule="cosine", max_len=0,
                         vocab_size=DEFAULT_VOCAB_SIZE, source_file="", target_file="",
                         corpus=""))
# the settings added after runs were saved without them, with the values those runs had
LATER_SETTINGS = dict(norm_type="layer", vocab_size=DEFAULT_VOCAB_SIZE, batch_tokens=0,
                      source_file="", target_file="", corpus="", gelu="tanh")
DEFAULT_SETTINGS = {"preset": "numbers"} | MODEL_DEFAULTS | PRESETS["numbers"]
PAIRS = [f"{a}-{b}" for a in LANGUAGES for b in LANGUAGES if a != b]
# the pairs of the bundled numbers and of every corpus: --pair's choices
ALL_PAIRS = sorted(set(PAIRS) | {f"{a}-{b}" for corpus in CORPORA.values()
                                 for a in corpus.languages for b in corpus.languages if a != b})
BETAS = (0.9, 0.98)  # the paper's (§5.3): a shorter memory of g² than Adam's 0.999
SCHEDULES = ("cosine", "paper")
HELD_OUT_AT_MOST = 1000  # pairs held out from a --data file without --val (and at most 10%)
SHOWN_EXAMPLES = 3  # held-out sentences translated at each evaluation
# held-out pairs translated and scored by BLEU at each evaluation: a fixed sample,
# the same at every evaluation, so that the numbers compare
BLEU_SAMPLE = 200


def resolved(path: str) -> str:
    """A path made absolute: a resumed or evaluated run finds the file from any folder."""
    return str(Path(path).resolve())


def add_commands(train_models, eval_models, commands) -> None:
    train = train_models.add_parser(
        "translate", help="an encoder-decoder translator on sentence pairs",
        description="Train an encoder-decoder Transformer (default: the numbers preset on "
                    "the bundled number words, English to French). Flags override the preset.")
    data = train.add_mutually_exclusive_group()
    data.add_argument("--pair", choices=ALL_PAIRS, default=None, metavar="SRC-TGT",
                      help="a pair of languages: of the bundled numbers (en, fr, de, ja; "
                           "default en-fr), or of --corpus")
    data.add_argument("--data", type=Path, default=None, metavar="PAIRS.tsv",
                      help="a UTF-8 file of source<TAB>target lines (more columns are ignored; "
                           ".gz is read too)")
    train.add_argument("--source-file", type=resolved, default=None, metavar="TRAIN.de",
                       help="with --target-file: the training pairs as two files, one "
                            "sentence a line (.gz is read too)")
    train.add_argument("--target-file", type=resolved, default=None, metavar="TRAIN.en",
                       help="with --source-file: the targets, line by line")
    train.add_argument("--corpus", choices=sorted(CORPORA), default=None,
                       help="a corpus fetched into the cache (see download): its train split "
                            "to train on, val held out, --pair its languages")
    # resolved: a resumed or evaluated run finds the file from any folder
    train.add_argument("--val", type=lambda path: str(Path(path).resolve()), default=None,
                       metavar="PAIRS.tsv",
                       help="held-out pairs (default: the bundled test numbers, or 10%% of "
                            "--data, at most 1,000 pairs)")
    train.add_argument("--preset", choices=sorted(PRESETS),
                       help="the sizes and the schedule, which the flags below replace one by "
                            "one (default numbers)")
    add_preset_arguments(train, PRESETS, TRAINING_ARGUMENTS)
    train.add_argument("--batch-tokens", type=positive(int), default=None, metavar="N",
                       help="fill each batch with pairs of about one length up to N tokens a "
                            "side, padding included, instead of --batch-size pairs (default: "
                            "sentences 2000; the other presets count pairs)")
    train.add_argument("--vocab-size", type=positive(int), default=None, metavar="N",
                       help=f"the most BPE pieces (default {DEFAULT_VOCAB_SIZE:,})")
    train.add_argument("--max-len", type=positive(int), default=None,
                       help="the longest sentence the model reads, in tokens (default: the "
                            "longest of the data; decoding writes at most max_len - 1)")
    train.add_argument("--tokens", choices=TOKEN_KINDS,
                       help="words (Latin words whole, other characters one by one), chars, "
                            "bpe (pieces learned from the training sentences, one joint "
                            "vocabulary of --vocab-size), or auto (the default: words for few "
                            "distinct words, else bpe; see tokenizers/choice.py)")
    train.add_argument("--schedule", choices=SCHEDULES,
                       help="cosine (warm-up, then cosine decay to --min-lr; the default) or "
                            "paper (warm-up, then 1/√step; --lr is its peak)")
    add_run_arguments(train)
    add_config_flags(train, TranslatorConfig, GIVEN_BY_THE_DATA + ("max_len",), MODEL_DEFAULTS,
                     PRESETS)
    train.set_defaults(run=lambda args: run_training(args, TranslateTraining()))

    use = commands.add_parser(
        "translate", help="translate sentences with a saved translator",
        description="Translate each TEXT (or, with none, each line of standard input) with "
                    "a translator that train translate saved.")
    use.add_argument("--checkpoint", type=Path, required=True, metavar="CKPT.npz",
                     help="a translator that train translate saved")
    use.add_argument("text", nargs="*", help="sentences to translate")
    add_decoding_arguments(use)
    add_threads_argument(use)
    use.set_defaults(run=run_translate)

    evaluate = eval_models.add_parser(
        "translate", help="exact match, chrF and BLEU of a saved translator",
        description="Translate held-out pairs and score the translations: exact match, "
                    "and chrF and BLEU with sacrebleu (the translate extra).")
    evaluate.add_argument("--checkpoint", type=Path, required=True, metavar="CKPT.npz",
                          help="a translator that train translate saved")
    evaluate.add_argument("--data", type=Path, default=None, metavar="PAIRS.tsv",
                          help="pairs to score (default: the run's held-out pairs)")
    evaluate.add_argument("--source-file", type=Path, default=None, metavar="TEST.de",
                          help="with --target-file: the pairs to score as two files, one "
                               "sentence a line")
    evaluate.add_argument("--target-file", type=Path, default=None, metavar="TEST.en",
                          help="with --source-file: the references, line by line")
    evaluate.add_argument("--split", default=None, metavar="NAME",
                          help="a split of the corpus the run trained on (multi30k: val, "
                               "test_2016_flickr)")
    add_decoding_arguments(evaluate)
    add_checks_argument(evaluate)
    add_threads_argument(evaluate)
    evaluate.set_defaults(run=run_eval)


LENGTH_PENALTY = 0.6  # GNMT's α (Wu et al. 2016), which they tuned between 0 and 1
# Beyond it, beam search's ((5 + length) / 6) ** α overflows to inf for long sentences
LARGEST_LENGTH_PENALTY = 100.0


def add_decoding_arguments(parser) -> None:
    parser.add_argument("--beam", type=positive(int), default=1, metavar="N",
                        help="beam size (default 1: greedy decoding)")
    parser.add_argument("--length-penalty", type=length_penalty, default=None,
                        metavar="ALPHA", help=f"beam search's α (default {LENGTH_PENALTY}; "
                                              f"with --beam N, N > 1)")


def length_penalty(text: str) -> float:
    """An argparse type: α of beam search's length penalty, 0 to 100."""
    alpha = non_negative(float)(text)
    if alpha > LARGEST_LENGTH_PENALTY:
        raise argparse.ArgumentTypeError(f"must be at most {LARGEST_LENGTH_PENALTY:g}, not "
                                         f"{text}: beyond, the penalty overflows to inf for "
                                         f"long sentences")
    return alpha


def decoding(args) -> tuple[int, float]:
    """``--beam`` and its α.  An α given without beam search is refused: greedy
    decoding has no hypotheses to weigh, so it would change nothing."""
    if args.length_penalty is not None and args.beam == 1:
        raise argparse.ArgumentTypeError("--length-penalty weighs beam search's hypotheses, "
                                         "and greedy decoding has none: give --beam N (N > 1) "
                                         "with it, or leave it out")
    return args.beam, LENGTH_PENALTY if args.length_penalty is None else args.length_penalty


def settings_from(args, saved: dict | None) -> dict:
    """The preset, with every flag the user gave laid over it; or, resuming,
    the ``saved`` settings (a flag that would change them is refused)."""
    settings = preset_settings(args, saved, PRESETS, MODEL_DEFAULTS, "numbers")
    # the pairs are not read yet: every field but the vocabularies and the data's
    # longest sentence is checked now
    check_config(TranslatorConfig, settings, args.resume if saved else None, src_vocab_size=1,
                 tgt_vocab_size=1, max_len=settings["max_len"] or 1)
    if settings["steps"] <= settings["warmup"]:
        raise argparse.ArgumentTypeError(f"--steps {settings['steps']} must be larger than "
                                         f"--warmup {settings['warmup']}")
    if saved is None:
        check_sources(args, settings)
    return settings


def check_sources(args, settings: dict) -> None:
    """One source of training pairs: --data, --source-file with --target-file,
    --corpus, or the bundled numbers; and a --pair that it has."""
    if bool(settings["source_file"]) != bool(settings["target_file"]):
        raise argparse.ArgumentTypeError("--source-file and --target-file go together: the "
                                         "training pairs' two sides")
    given = [flag for flag, value in (("--data", args.data),
                                      ("--source-file", settings["source_file"]),
                                      ("--corpus", settings["corpus"])) if value]
    if len(given) > 1:
        raise argparse.ArgumentTypeError(f"{' and '.join(given)} both give the training "
                                         f"pairs; give one")
    if settings["corpus"]:
        try:
            CORPORA[settings["corpus"]].pair_languages(settings["pair"])
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"--pair: {error}") from None
    elif settings["pair"] not in PAIRS:
        raise argparse.ArgumentTypeError(f"--pair {settings['pair']}: the bundled numbers are "
                                         f"in {', '.join(LANGUAGES)}; for other languages give "
                                         f"--corpus")


def schedule_for(settings: dict):
    """step -> learning rate, as ``--schedule`` says; both peak at ``--lr``."""
    if settings["schedule"] == "paper":
        # the paper's d_model^-0.5 · min(s^-0.5, s · warmup^-1.5) peaks at
        # (d_model · warmup)^-0.5: scale it so that the peak is --lr
        scale = settings["lr"] * (settings["d_model"] * settings["warmup"]) ** 0.5
        return lambda step: inverse_sqrt_warmup(step, d_model=settings["d_model"],
                                                warmup=settings["warmup"], scale=scale)
    return lambda step: cosine_with_warmup(step, max_lr=settings["lr"],
                                           min_lr=settings["min_lr"],
                                           warmup=settings["warmup"], total=settings["steps"])


def held_out_split(pairs: list[tuple[str, str]], seed: int, source: str
                   ) -> tuple[list, list, list[int]]:
    """``(train, held_out, held)`` from one file: 10% of its pairs, at most
    1,000, chosen at random (seeded), so that a file sorted by length or topic
    still gives a held-out set like the rest; ``held``, their indices in
    ``pairs``, in order."""
    count = min(HELD_OUT_AT_MOST, len(pairs) // 10)
    if count == 0:
        raise PairsError(f"{source}: {len(pairs)} pairs are too few to hold 10% out; give "
                         f"at least 10, or the held-out pairs with --val")
    held = set(np.random.default_rng([seed, 2]).choice(len(pairs), size=count,
                                                       replace=False).tolist())
    return ([pair for i, pair in enumerate(pairs) if i not in held],
            [pair for i, pair in enumerate(pairs) if i in held], sorted(held))


# After a word the tokenizers lack: in a new run, a held-out word the training pairs
# never hold (how to hold out pairs the model can read, or read any word); in a
# resumed one, a word the saved run never read
UNKNOWN_HELD_OUT_WORD = ("the training pairs never hold it, so the model has no token for it: "
                         "give held-out pairs in the training pairs' words (--val), or tokens "
                         "that cover every word (--tokens chars or --tokens bpe)")
UNKNOWN_RESUMED_WORD = ("the saved run's vocabulary lacks it, so these are not the pairs that "
                        "run read; resume it on those")


@dataclass
class PairsData:
    """What ``train translate`` reads: pairs, their tokenizers (one, if joint),
    a name for them, why these tokens (``tokens``), and notes on what was
    read otherwise than written.  ``held_out_from`` names the file the
    held-out pairs come from and ``held_out_lines`` holds each one's line in
    it, so that a message points at the line."""

    name: str
    train: list[tuple[str, str]]
    held_out: list[tuple[str, str]]
    held_out_from: str
    held_out_lines: list[int]
    source: object
    target: object
    joint: bool
    tokens: str
    notes: list[str]

    def encode(self, max_len: int) -> tuple[EncodedPairs, EncodedPairs, int]:
        """``(train, held_out, max_len)`` as ids.  ``max_len`` 0 becomes the
        longest sentence of either set, in tokens (a target with BOS and EOS):
        a position no sentence reaches would never be trained."""
        limit = max_len or sys.maxsize
        train = EncodedPairs.encode(self.train, self.source, self.target, limit,
                                    f"the training pairs ({self.name})")
        held_out = EncodedPairs.encode(self.held_out, self.source, self.target, limit,
                                       f"the held-out pairs: {self.held_out_from}",
                                       self.held_out_lines)
        return train, held_out, max_len or max(train.longest(), held_out.longest())


def pairs_name(data: Path | None, settings: dict) -> str:
    """The training pairs, as messages name them: the --data file, the two
    parallel files, the corpus or the bundled numbers, with the pair."""
    if data is not None:
        return str(data)
    if settings["source_file"]:
        return f"{settings['source_file']} and {settings['target_file']}"
    if settings["corpus"]:
        return f"{CORPORA[settings['corpus']].name} {settings['pair']}"
    return f"bundled number words, {settings['pair']}"


def pairs_flags(data: Path | None, settings: dict) -> str:
    """The flags that give the training pairs, as a refusal names them."""
    if data is not None:
        return f"--data {data}"
    if settings["source_file"]:
        return f"--source-file {settings['source_file']} and --target-file " \
               f"{settings['target_file']}"
    if settings["corpus"]:
        return f"--corpus {settings['corpus']} (its train split)"
    return f"the bundled number words (--pair {settings['pair']})"


def read_pairs_data(data: Path | None, settings: dict, saved: dict | None = None) -> PairsData:
    """The run's training and held-out pairs; its tokenizers, learned from the
    training pairs, or those of ``saved`` (a resumed or evaluated run's
    description).  A note counts the held-out pairs that are training pairs
    too, source and target alike: their scores are not of unseen sentences."""
    notes, held_out = [], None
    name = pairs_name(data, settings)
    lines = None  # each training pair's line in the --data file, for those held out of it
    if data is not None:
        train, lines = read_pairs_and_lines(data)
    elif settings["source_file"]:
        train = read_parallel(settings["source_file"], settings["target_file"])
    elif settings["corpus"]:
        corpus = CORPORA[settings["corpus"]]
        train, notes = corpus_pairs(corpus, settings["pair"], "train")
        if not settings["val"]:
            held_out, val_notes = corpus_pairs(corpus, settings["pair"], "val")
            held_out_from = f"{name} val"
            notes += val_notes
    else:
        train = load_numbers(settings["pair"])
        held_out = load_numbers(settings["pair"], "test")
        held_out_from = f"bundled test numbers, {settings['pair']}"
    if settings["val"]:
        held_out_from = settings["val"]
        held_out, held_out_lines = read_pairs_and_lines(settings["val"])
    elif held_out is None:
        train, held_out, held = held_out_split(train, settings["seed"], name)
        held_out_from = name
        # parallel files have no blank lines: pair i is on line i + 1
        held_out_lines = [lines[i] for i in held] if lines else [i + 1 for i in held]
    else:  # a corpus's val split or the bundled test numbers: a pair a line
        held_out_lines = list(range(1, len(held_out) + 1))
    training = set(train)
    seen = sum(pair in training for pair in held_out)
    if seen:
        notes.append(f"the held-out pairs: {seen:,} of {len(held_out):,} are also training "
                     f"pairs (source and target alike), which the held-out scores count as "
                     f"unseen")
    if saved is not None:
        source, target = saved_tokenizers(saved)
        joint = bool(saved["config"].get("share_embeddings"))
        return PairsData(name, train, held_out, held_out_from, held_out_lines, source, target,
                         joint, "the saved run's", notes)
    bundled = data is None and not settings["source_file"] and not settings["corpus"]
    choice = choose_tokenizers([s for s, _ in train], [t for _, t in train],
                               settings["tokens"], settings["vocab_size"], bundled)
    return PairsData(name, train, held_out, held_out_from, held_out_lines, choice.source,
                     choice.target, choice.joint, choice.reason, notes)


def saved_tokenizers(meta: dict) -> tuple[object, object]:
    """The source and target tokenizers a checkpoint's description holds."""
    return tuple(tokenizer_from_json(meta[side], source=f"the checkpoint's {side}")
                 for side in ("src_tokenizer", "tgt_tokenizer"))


class TranslateTraining(Training):
    """``train translate``: an encoder-decoder Transformer, step by step."""

    kind = "translator"
    defaults = DEFAULT_SETTINGS
    record_type = EvalRecord
    described = {"config": (dict,), "src_tokenizer": (str,), "tgt_tokenizer": (str,)}
    later_settings = LATER_SETTINGS
    progress_type = LanguageModelProgress
    total, unit = "steps", "steps"

    def settings(self, args, saved):
        return settings_from(args, saved)

    def read_without_data(self, settings):
        return pairs_name(None, settings)

    def read(self, data, settings, meta):
        pairs = read_pairs_data(data, settings, meta)
        if meta is None and settings["val"] and pairs.held_out == pairs.train:
            raise PairsError(f"--val {settings['val']} holds the same pairs as "
                             f"{pairs_flags(data, settings)}: scored on the pairs it trains "
                             f"on, the run would say nothing of sentences it has not seen; "
                             f"give --val pairs the run does not train on, or leave it out")
        max_len = settings["max_len"]
        if meta is not None:  # the saved run's, whatever the data holds now
            max_len = meta["config"].get("max_len")
            if not isinstance(max_len, int) or max_len < 1:
                raise CheckpointError(f"the checkpoint's config has no valid max_len "
                                      f"({max_len!r})")
        try:
            train, held_out, max_len = pairs.encode(max_len)
        except UnknownToken as error:
            why = UNKNOWN_HELD_OUT_WORD if meta is None else UNKNOWN_RESUMED_WORD
            raise UnknownToken(f"{error}; {why}") from None
        return pairs, train, held_out, max_len

    def needs(self, settings, dataset):
        pairs, _, _, max_len = dataset
        vocab = pairs.target.vocab_size + (0 if pairs.joint else pairs.source.vocab_size)
        # a budget of batch_tokens a side holds at most batch_tokens / max_len sentences
        # of max_len: as much memory as that many of the longest
        batch = (-(-settings["batch_tokens"] // max_len) if settings["batch_tokens"]
                 else settings["batch_size"])
        return translator_needs(vocab=vocab, max_len=max_len, n_layer=settings["n_layer"],
                                d_model=settings["d_model"], d_ff=settings["d_ff"],
                                n_head=settings["n_head"], batch_size=batch,
                                itemsize=4 if settings["dtype"] == "float32" else 8)

    def build(self, args, settings, dataset, meta, checks) -> Built:
        pairs, train, held_out, max_len = dataset
        config = config_of(TranslatorConfig, settings, src_vocab_size=pairs.source.vocab_size,
                           tgt_vocab_size=pairs.target.vocab_size,
                           share_embeddings=pairs.joint, max_len=max_len)
        model = Translator(config)
        optimizer = AdamW(model.named_parameters(), lr=settings["lr"], betas=BETAS,
                          weight_decay=settings["weight_decay"])
        examples = [Example(*pair) for pair in pairs.held_out[:SHOWN_EXAMPLES]]
        # the same sample at every evaluation, whatever the run's seed
        sample = np.random.default_rng(0).permutation(len(pairs.held_out))[:BLEU_SAMPLE]
        bleu_pairs = [pairs.held_out[i] for i in np.sort(sample)]
        language = target_language(args.data or (meta or {}).get("data"), settings)

        def train_from(progress, save):
            return train_translator(
                model, optimizer, train, held_out, steps=settings["steps"],
                batch_size=settings["batch_size"], schedule=schedule_for(settings),
                smoothing=settings["smoothing"], grad_clip=settings["grad_clip"],
                eval_interval=settings["eval_interval"], examples=examples,
                source=pairs.source, target=pairs.target, seed=settings["seed"],
                batch_tokens=settings["batch_tokens"], bleu_pairs=bleu_pairs,
                bleu_language=language, quiet=args.quiet,
                log=run_log(args.quiet), progress=progress,
                save_every=args.save_every or 0, save=save)

        def finish(history):
            sources = [source for source, _ in pairs.held_out]
            references = [target for _, target in pairs.held_out]
            predictions = translate(model, pairs.source, pairs.target, sources)
            accuracy = exact_match(predictions, references)
            right = round(accuracy * len(references))
            final = history[-1]
            scores = corpus_scores(predictions, references, language)
            bleu = "" if scores is None else f", BLEU {scores.bleu:.2f}, chrF {scores.chrf:.2f}"
            return (f"exact match {accuracy:.4f} ({right:,}/{len(references):,} held-out "
                    f"pairs, greedy), val loss {final.val_loss:.4f} after {final.step} "
                    f"steps{bleu}",
                    {"final": {"step": final.step, "train_loss": final.train_loss,
                               "val_loss": final.val_loss, "exact_match": accuracy}
                     | ({} if scores is None else {"bleu": scores.bleu, "chrf": scores.chrf,
                                                   "bleu_signature": scores.bleu_signature}),
                     "history": [vars(record) for record in history]})

        batch = (f"{settings['batch_tokens']:,} tokens a side" if settings["batch_tokens"]
                 else settings["batch_size"])
        header = [f"Translator ({settings['preset']}): {model.num_parameters():,} parameters, "
                  f"{config.n_layer} + {config.n_layer} layers ({config.norm}-"
                  f"{'LN' if config.norm_type == 'layer' else 'RMSNorm'}), n_head "
                  f"{config.n_head}, d_model {config.d_model}, d_ff {config.d_ff}, max_len "
                  f"{config.max_len}, batch {batch}, {settings['steps']} "
                  f"steps, checks {checks}",
                  f"data: {pairs.name}: {len(train):,} train / {len(held_out):,} held-out "
                  f"pairs; {describe_tokens(pairs.source, pairs.target, pairs.joint)}",
                  f"tokens: {pairs.tokens}; BLEU at each evaluation on a fixed sample of "
                  f"{len(bleu_pairs):,} held-out pairs", *pairs.notes]
        too_short = too_short_for_bleu([target for _, target in bleu_pairs], language)
        if too_short:
            header.append(f"note: {too_short}")
        unknown = held_out.count(pairs.source.specials.unk)
        if unknown:  # characters the training pairs never held
            header.append(f"the held-out pairs hold {unknown:,} character(s) the vocabulary "
                          f"lacks, read as <unk>")
        arrays = [ids for side in (train.sources, train.targets) for ids in side]
        return Built(model, optimizer, config, fingerprint(*arrays), header, train_from,
                     finish, meta={"src_tokenizer": pairs.source.to_json(),
                                   "tgt_tokenizer": pairs.target.to_json()},
                     held_out_sha256=pairs_fingerprint(pairs.held_out),
                     held_out_name=pairs.held_out_from)


def input_lines(texts: list[str]) -> list[str]:
    """The sentences given, or standard input's lines (blank ones skipped)."""
    if texts:
        return texts
    # lines end at "\n" only, as in the files; a byte-order mark is not a word
    lines = [line.strip() for line in standard_input_text().removeprefix("\ufeff").split("\n")]
    sentences = [line for line in lines if line]
    if not sentences:
        raise ValueError("translate: no text given, and standard input holds no line")
    return sentences


def check_decoding_fits(command: str, model: Translator, sentences: int, beam: int) -> None:
    """Refuse a --beam whose hypotheses, a batch of sentences at a time, would not
    fit in memory, before the first is made (see memory.decoding_needs)."""
    config = model.config
    check_fits(f"{command} with --beam {beam}",
               decoding_needs(sentences=min(sentences, EVAL_BATCH), beam=beam,
                              max_len=config.max_len, n_layer=config.n_layer,
                              d_model=config.d_model, d_ff=config.d_ff,
                              vocab=config.tgt_vocab_size,
                              itemsize=np.dtype(config.dtype).itemsize))


def standard_input_text() -> str:
    """Standard input, read as UTF-8; bytes that are not UTF-8 are refused by line
    and byte.  (Read as text, they became lone surrogates such as '\\udce9',
    reported as a word the model does not know.)"""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a stream of text, decoded already (io.StringIO)
        return sys.stdin.read()
    raw = stream.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise ValueError(f"translate: standard input is not UTF-8 text: line {line}, byte "
                         f"{column} is {raw[error.start]:#04x}; convert it to UTF-8 first "
                         f"(Latin-1 text: iconv -f latin1 -t utf-8)") from None


def run_translate(args) -> int:
    beam, alpha = decoding(args)
    model, source, target, _ = load_translator_checkpoint(args.checkpoint)
    sentences = input_lines(args.text)
    check_decoding_fits("translate", model, len(sentences), beam)
    unknown = count_unknown(source, sentences)
    if unknown:  # said, not refused: the rest of the sentence still translates
        print(f"note: {unknown:,} character(s) of the text are not in the model's "
              f"vocabulary; each was read as <unk>", file=sys.stderr)
    use_threads(args.threads)
    for answer in translate(model, source, target, sentences, beam, alpha):
        print(answer)
    return 0


def target_language(data: Path | str | None, settings: dict) -> str | None:
    """The targets' language code where the run names it: the second of
    ``--pair`` for the bundled numbers and a corpus; None for pairs from
    files (--data, --source-file), whose languages --pair does not give."""
    if data is not None or settings["source_file"]:
        return None
    return settings["pair"].split("-")[1]


def held_out_of(meta: dict, path: Path) -> tuple[str, list[tuple[str, str]], str | None]:
    """The held-out pairs of the run a checkpoint saved, found again as it found
    them; their name, and their targets' language if the run names it."""
    settings = meta.get("settings")
    if isinstance(settings, dict):  # a run saved before a setting existed had its old value
        settings = LATER_SETTINGS | settings
    if not isinstance(settings, dict) or set(settings) != set(DEFAULT_SETTINGS):
        raise ValueError(f"{path}: says nothing of the pairs it trained on; give --data")
    data = meta.get("data")
    pairs = read_pairs_data(None if data is None else Path(data), settings)
    return (f"the held-out pairs of {pairs.name}", pairs.held_out,
            target_language(data, settings))


def eval_pairs(args, meta: dict) -> tuple[str, list[tuple[str, str]], str | None]:
    """The pairs ``eval translate`` scores, their name, and their targets'
    language where the run names it (None: decided from the text): --data,
    --source-file with --target-file, a --split of the corpus the run trained
    on, or the run's held-out pairs."""
    given = [flag for flag, value in (("--data", args.data), ("--source-file", args.source_file),
                                      ("--split", args.split)) if value]
    if len(given) > 1:
        raise argparse.ArgumentTypeError(f"{' and '.join(given)} both give the pairs to score; "
                                         f"give one")
    if (args.source_file is None) != (args.target_file is None):
        raise argparse.ArgumentTypeError("--source-file and --target-file go together")
    if args.data is not None:
        return f"{args.data}", read_pairs(args.data), None
    if args.source_file is not None:
        return (f"{args.source_file} and {args.target_file}",
                read_parallel(args.source_file, args.target_file), None)
    if args.split is not None:
        settings = meta.get("settings")
        corpus = settings.get("corpus") if isinstance(settings, dict) else None
        if corpus not in CORPORA:
            raise ValueError(f"{args.checkpoint}: trained on no corpus, so --split names "
                             f"nothing; give --data or --source-file and --target-file")
        pairs, notes = corpus_pairs(CORPORA[corpus], settings["pair"], args.split)
        for note in notes:
            print(note)
        return (f"{corpus} {settings['pair']} {args.split}", pairs,
                settings["pair"].split("-")[1])  # the corpus's pair names its languages
    return held_out_of(meta, args.checkpoint)


def run_eval(args) -> int:
    beam, alpha = decoding(args)
    use_checks(args)
    model, source, target, meta = load_translator_checkpoint(args.checkpoint)
    name, pairs, language = eval_pairs(args, meta)
    references = [target_text for _, target_text in pairs]
    sources = [source_text for source_text, _ in pairs]
    check_decoding_fits("eval translate", model, len(sources), beam)
    # before translating: references of another language would score 0
    unwritable = check_writable(target, references, name)
    use_threads(args.threads)
    try:
        predictions = translate(model, source, target, sources, beam, alpha)
    except ValueError as error:  # a sentence too long or with a word it lacks: name the file
        raise ValueError(f"{name}: {error}") from None
    accuracy = exact_match(predictions, references)
    right = round(accuracy * len(references))
    method = "greedy" if beam == 1 else f"beam {beam}, α {alpha}"
    print(f"evaluating {args.checkpoint} on {len(pairs):,} pairs: {name} ({method})")
    unknown = count_unknown(source, sources)
    if unknown:  # many: the model was trained on another pair of languages
        print(f"note: the sources hold {unknown:,} character(s) the model's vocabulary lacks, "
              f"each read as <unk>: was the model trained on these languages?")
    if unwritable:
        print(f"note: {unwritable}")
    wrong = [(s, p, r) for (s, _), p, r in zip(pairs, predictions, references) if p != r]
    for source_text, prediction, reference in wrong[:SHOWN_EXAMPLES]:
        print(f"  wrong: {source_text!r} -> {prediction!r}, want {reference!r}")
    # chrF and BLEU by sacreBLEU (training/scores.py), with the signatures that
    # make them comparable with other papers'
    scores = corpus_scores(predictions, references, language)
    too_short = too_short_for_bleu(references, language)
    if too_short:
        print(f"note: {too_short}")
    if scores is None:
        print("chrF and BLEU need sacrebleu: pip install 'shapesafe_nn[translate]'")
    else:
        print(f"BLEU signature {scores.bleu_signature}; chrF signature "
              f"{scores.chrf_signature}")
    print(f"exact match {accuracy:.4f} ({right:,}/{len(references):,})"
          + ("" if scores is None else f", chrF {scores.chrf:.2f}, BLEU {scores.bleu:.2f}")
          + f", {method}")
    return 0
