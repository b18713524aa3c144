"""``shapesafe-nn trace``, ``attention`` and ``plot``: look inside a model.

``trace mlp``, ``trace gpt`` and ``trace translate`` print every layer's
input, output and gradient shapes for one real batch (bundled MNIST digits,
windows of the bundled Shakespeare, or bundled number-word pairs);
``attention`` and ``plot ...`` draw PNG files with
matplotlib, the ``plot`` extra.
"""

import argparse
import functools
import sys
import warnings
from pathlib import Path

import numpy as np

from ..data import CharTokenizer, load_bundled, load_mnist, load_text, to_inputs
from ..data.pair_batches import EncodedPairs
from ..data.pairs import load_numbers
from ..models import GPT, GPTConfig, Network, Translator, TranslatorConfig
from ..layers.attention import MASKS
from ..models.mlp import NetworkConfig
from ..pictures import png, trace
from ..saving.checkpoint import load_checkpoint
from .arguments import check_outputs, check_png, non_empty_prompt, positive
from .gpt import PRESETS, encode_prompt, load_gpt, trained_batch_size
from .memory import FLOAT64, check_fits, gpt_needs
from .mlp import held_out, load_network, sizes_argument
from .runs import check_plot_extra
from .translate import DEFAULT_SETTINGS as TRANSLATE_SETTINGS
from .translate import PAIRS as TRANSLATION_PAIRS
from .translate import held_out_of, load_translator_checkpoint, read_pairs_data

BATCH_SEED = 0  # which digits and windows a trace reads: the same every run
ATTENTION_PROMPT = "To be, or not to be"


def needs_matplotlib(run):
    """Refuse a plot command in one line, before any work, if matplotlib is missing."""
    @functools.wraps(run)
    def run_if_plotting(args) -> int:
        check_plot_extra(True)
        return run(args)
    return run_if_plotting


def add_out(parser, default: str) -> None:
    parser.add_argument("--out", type=Path, default=Path(default), metavar="PICTURE.png",
                        help=f"the PNG file to write (default {default})")


def check_picture(out: Path, inputs: dict[str, Path | None]) -> None:
    """Before any work: ``--out`` destroys no input and names a PNG."""
    check_outputs({"--out": out}, inputs)
    check_png("--out", out)


def warnings_in_one_line(run):
    """A warning while drawing (a font without the kanji of a label) prints as
    one line, like the command's errors, not as Python's two."""
    @functools.wraps(run)
    def run_with_short_warnings(args) -> int:
        with warnings.catch_warnings():
            warnings.showwarning = lambda message, *_: print(
                f"shapesafe-nn: warning: {message}", file=sys.stderr)
            return run(args)
    return run_with_short_warnings


def add_commands(commands) -> None:
    trace_parser = commands.add_parser(
        "trace", help="every layer's shapes for one forward and backward (mlp, gpt, translate)",
        description="Run one batch forward and backward and print each layer's input, "
                    "output and gradient: symbolic dims from its annotations, concrete "
                    "shapes from the arrays.")
    models = trace_parser.add_subparsers(dest="model", required=True, metavar="MODEL")
    mlp = models.add_parser("mlp", help="Nielsen's network on bundled MNIST digits")
    mlp.add_argument("--sizes", type=sizes_argument, default=None,
                     help="neurons per layer (default 784,30,10)")
    mlp.add_argument("--batch", type=positive(int), default=10,
                     help="digits in the batch (default 10)")
    mlp.add_argument("--checkpoint", type=Path, default=None, metavar="CKPT.npz",
                     help="a saved MLP to trace (default: a new, untrained one of --sizes)")
    mlp.add_argument("--markdown", action="store_true", help="a Markdown table")
    mlp.set_defaults(run=run_trace_mlp)
    gpt = models.add_parser("gpt", help="the character GPT on windows of text")
    gpt.add_argument("--preset", choices=sorted(PRESETS), default=None,
                     help="model size (default baby)")
    gpt.add_argument("--checkpoint", type=Path, default=None, metavar="CKPT.npz",
                     help="a saved GPT to trace (default: a new, untrained one of --preset)")
    gpt.add_argument("--data", type=Path, default=None,
                     help="a UTF-8 text file (default: the bundled corpus)")
    gpt.add_argument("--markdown", action="store_true", help="a Markdown table")
    gpt.add_argument("--batch", type=positive(int), default=None,
                     help="windows in the batch (default: the batch size it was trained with)")
    gpt.add_argument("--seq", type=positive(int), default=None,
                     help="tokens in each window (default: the block size)")
    gpt.set_defaults(run=run_trace_gpt)
    translator = models.add_parser(
        "translate", help="the translator on bundled number-word pairs",
        description="One batch of bundled number-word pairs through a translator: the "
                    "encoder reads src_seq tokens, the decoder tgt_seq, and cross-attention "
                    "joins them.")
    translator.add_argument("--pair", choices=TRANSLATION_PAIRS, default="en-fr",
                            help="default en-fr")
    translator.add_argument("--checkpoint", type=Path, default=None, metavar="CKPT.npz",
                            help="a saved translator to trace (default: a new, untrained one "
                                 "of the numbers preset)")
    translator.add_argument("--batch", type=positive(int), default=4,
                            help="pairs in the batch (default 4)")
    translator.add_argument("--markdown", action="store_true", help="a Markdown table")
    translator.set_defaults(run=run_trace_translate)

    attention = commands.add_parser(
        "attention", help="plot a GPT's or a translator's attention weights",
        description="Draw the attention weights of every head of every layer of a saved "
                    "GPT for one prompt, or of a saved translator for one source sentence "
                    "(rows: layers, columns: heads).")
    attention.add_argument("--checkpoint", type=Path, required=True, metavar="CKPT.npz",
                           help="a saved GPT or translator (required)")
    attention.add_argument("--prompt", type=non_empty_prompt, default=None,
                           help=f"a GPT's prompt (default {ATTENTION_PROMPT!r})")
    attention.add_argument("--source", type=non_empty_prompt, default=None,
                           help="a translator's source sentence (default: its first "
                                "held-out one)")
    attention.add_argument("--layer", default=None, metavar="NAME",
                           help="draw this attention layer alone (blocks.0.attn, "
                                "decoder.2.cross_attn, ...; default: every one)")
    add_out(attention, "attention.png")
    attention.set_defaults(run=needs_matplotlib(warnings_in_one_line(run_attention)))

    plot = commands.add_parser("plot", help="draw a picture (positions, mask, curves, ...)",
                               description="Draw a PNG with matplotlib.")
    pictures = plot.add_subparsers(dest="picture", required=True, metavar="PICTURE")
    positions = pictures.add_parser("positions", help="the sinusoidal position table")
    positions.add_argument("--max-len", type=positive(int), default=64,
                           help="positions, the table's rows (default 64)")
    positions.add_argument("--d-model", type=positive(int), default=128,
                           help="numbers per position, the table's columns (default 128)")
    add_out(positions, "positions.png")
    positions.set_defaults(run=needs_matplotlib(run_positions))
    mask = pictures.add_parser("mask", help="an attention mask: which keys each query sees")
    mask.add_argument("--mask", choices=list(MASKS), default="causal",
                      help="which mask (default causal)")
    mask.add_argument("--seq", type=positive(int), default=8,
                      help="positions, the mask's rows and columns (default 8)")
    add_out(mask, "mask.png")
    mask.set_defaults(run=needs_matplotlib(run_mask))
    curves = pictures.add_parser("curves", help="loss curves from a train --json file")
    curves.add_argument("--json", type=Path, required=True, metavar="METRICS.json",
                        help="what a train command wrote with --json (required)")
    add_out(curves, "curves.png")
    curves.set_defaults(run=needs_matplotlib(run_curves))
    errors = pictures.add_parser("mnist-errors", help="digits a saved MLP reads wrongly")
    errors.add_argument("--checkpoint", type=Path, required=True, metavar="CKPT.npz",
                        help="a saved MLP, from train mlp --save (required)")
    errors.add_argument("--data", type=Path, default=None,
                        help="MNIST IDX directory (its t10k pair) or .npz (default: the "
                             "digits held out from training)")
    add_out(errors, "mnist-errors.png")
    errors.set_defaults(run=needs_matplotlib(run_mnist_errors))
    weights = pictures.add_parser("mnist-weights", help="a saved MLP's first-layer weights")
    weights.add_argument("--checkpoint", type=Path, required=True, metavar="CKPT.npz",
                         help="a saved MLP, from train mlp --save (required)")
    add_out(weights, "mnist-weights.png")
    weights.set_defaults(run=needs_matplotlib(run_mnist_weights))


# ---------------------------------------------------------------------------
# trace
# ---------------------------------------------------------------------------
LEGEND = "The model's own output gradient, where the backward starts, is drawn at random."


def run_trace_mlp(args) -> int:
    if args.checkpoint is not None and args.sizes is not None:
        raise argparse.ArgumentTypeError("--sizes and --checkpoint clash: the checkpoint "
                                         "fixes the sizes")
    if args.checkpoint is not None:
        model, _ = load_network(args.checkpoint)
        source = str(args.checkpoint)
    else:
        model = Network.from_config(NetworkConfig(args.sizes) if args.sizes else NetworkConfig())
        source = "untrained"
    x, _ = load_bundled()
    if args.batch > len(x):
        raise ValueError(f"--batch {args.batch} is more than the {len(x):,} bundled digits")
    batch = np.random.default_rng(BATCH_SEED).choice(len(x), size=args.batch, replace=False)
    print(f"Network {list(model.config.sizes)} ({source}) on {args.batch} bundled MNIST digits")
    print(trace(model, to_inputs(x[batch]), markdown=args.markdown))
    print(LEGEND)
    return 0


def run_trace_gpt(args) -> int:
    if args.checkpoint is not None and args.preset is not None:
        raise argparse.ArgumentTypeError("--preset and --checkpoint clash: the checkpoint "
                                         "fixes the model's size")
    text = load_text(args.data)
    if args.checkpoint is not None:
        model, tokenizer, meta = load_gpt(args.checkpoint)
        batch_size = trained_batch_size(meta)
        source = str(args.checkpoint)
    else:
        preset_name = args.preset or "baby"
        preset = PRESETS[preset_name]
        tokenizer = CharTokenizer.from_text(text)
        model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=preset["block_size"],
                              n_layer=preset["n_layer"], n_head=preset["n_head"],
                              d_model=preset["d_model"], dropout=preset["dropout"]))
        batch_size = preset["batch_size"]
        source = f"{preset_name} preset, untrained"
    block = model.config.block_size
    seq = args.seq or block
    if seq > block:
        raise argparse.ArgumentTypeError(f"--seq {seq} is longer than the model's block size "
                                         f"{block}")
    batch_size = args.batch or batch_size
    # one step's activations, as a training step's; the model is made already
    config = model.config
    needs = gpt_needs(vocab=config.vocab_size, block_size=seq, n_layer=config.n_layer,
                      d_model=config.d_model, d_ff=config.d_ff or 4 * config.d_model,
                      n_head=config.n_head, batch_size=batch_size,
                      itemsize=np.dtype(config.dtype).itemsize)
    check_fits("trace gpt with these settings",
               {"--batch": needs["--batch-size"], "--seq": needs["--block-size"]})
    # windows of tokens (characters, or a BPE's pieces); an unknown character
    # (text the checkpoint never saw): a ValueError naming it
    text_ids = tokenizer.encode(text)
    if len(text_ids) <= seq:
        raise ValueError(f"{args.data}: {len(text_ids):,} tokens is too short for one window "
                         f"of {seq + 1}")
    starts = np.random.default_rng(BATCH_SEED).integers(0, len(text_ids) - seq, size=batch_size)
    ids = np.stack([text_ids[start:start + seq] for start in starts])
    unit = "characters" if isinstance(tokenizer, CharTokenizer) else "tokens"
    print(f"GPT ({source}) on {batch_size} windows of {seq} {unit} of "
          f"{args.data or 'the bundled Shakespeare tragedies'}")
    print(trace(model, ids, markdown=args.markdown))
    print(LEGEND)
    return 0


def run_trace_translate(args) -> int:
    if args.checkpoint is not None:
        model, source, target, _ = load_translator_checkpoint(args.checkpoint)
        origin = str(args.checkpoint)
    else:
        settings = TRANSLATE_SETTINGS | {"pair": args.pair}
        pairs = read_pairs_data(None, settings)
        source, target = pairs.source, pairs.target
        model = Translator(TranslatorConfig(
            src_vocab_size=source.vocab_size, tgt_vocab_size=target.vocab_size,
            max_len=pairs.encode(0)[2], n_layer=settings["n_layer"],
            n_head=settings["n_head"], d_model=settings["d_model"], d_ff=settings["d_ff"],
            dropout=settings["dropout"]))
        origin = "numbers preset, untrained"
    test = load_numbers(args.pair, "test")
    if args.batch > len(test):
        raise ValueError(f"--batch {args.batch} is more than the {len(test):,} test pairs")
    chosen = np.random.default_rng(BATCH_SEED).choice(len(test), size=args.batch, replace=False)
    # a checkpoint's own tokenizers: a word it never saw is a ValueError naming it
    batch = EncodedPairs.encode([test[i] for i in chosen], source, target,
                                model.config.max_len, f"the {args.pair} test pairs")
    src_ids, src_mask, tgt_in, _, tgt_mask = batch.batch(range(args.batch))
    print(f"Translator ({origin}) on {args.batch} {args.pair} test pairs:\n"
          f"src_seq {src_ids.shape[1]} {source.unit}, tgt_seq {tgt_in.shape[1]} {target.unit} "
          f"(BOS and the target)")
    print(trace(model, src_ids, tgt_in, src_mask, tgt_mask, markdown=args.markdown))
    print(LEGEND)
    return 0


# ---------------------------------------------------------------------------
# pictures
# ---------------------------------------------------------------------------
def run_attention(args) -> int:
    check_picture(args.out, {"--checkpoint": args.checkpoint})
    _, meta = load_checkpoint(args.checkpoint)
    if meta.get("model") == "translator":
        if args.prompt is not None:
            raise argparse.ArgumentTypeError("--prompt is a GPT's; a translator reads --source")
        model, source, target, meta = load_translator_checkpoint(args.checkpoint)
        sentence = args.source or held_out_of(meta, args.checkpoint)[1][0][0]
        try:
            source.encode(sentence)
        except ValueError as error:
            raise ValueError(f"--source {sentence!r}: {error}") from error
        drawn = png.plot_translation_attention(model, source, target, sentence, args.out,
                                               args.layer)
        print(f"wrote {drawn}")
        return 0
    if args.source is not None:
        raise argparse.ArgumentTypeError("--source is a translator's; a GPT reads --prompt")
    prompt = ATTENTION_PROMPT if args.prompt is None else args.prompt
    model, tokenizer, _ = load_gpt(args.checkpoint)
    encode_prompt(tokenizer, prompt)  # an unknown character: an error naming --prompt
    print(f"wrote {png.plot_attention(model, tokenizer, prompt, args.out, args.layer)}")
    return 0


def run_positions(args) -> int:
    check_picture(args.out, {})
    # the table, and the image matplotlib resamples it into
    check_fits("this plot", {"--max-len or --d-model": 3 * args.max_len * args.d_model * FLOAT64})
    print(f"wrote {png.plot_positions(args.max_len, args.d_model, args.out)}")
    return 0


def run_mask(args) -> int:
    check_picture(args.out, {})
    # the mask (seq, seq) of booleans, its negation, and the image of floats drawn from it
    check_fits("this plot", {"--seq": args.seq ** 2 * (2 + 2 * FLOAT64)})
    print(f"wrote {png.plot_mask(args.seq, args.out, args.mask)}")
    return 0


def run_curves(args) -> int:
    check_picture(args.out, {"--json": args.json})
    print(f"wrote {png.plot_curves(args.json, args.out)}")
    return 0


def run_mnist_errors(args) -> int:
    check_picture(args.out, {"--checkpoint": args.checkpoint, "--data": args.data})
    model, meta = load_network(args.checkpoint)
    if args.data is None:  # the digits the network never trained on, as `eval mlp`
        x, labels, _ = held_out(args.checkpoint, meta)
    else:
        x, labels = load_mnist(args.data, "test" if args.data.is_dir() else "train")
    print(f"wrote {png.plot_mnist_errors(model, x, labels, args.out)}")
    return 0


def run_mnist_weights(args) -> int:
    check_picture(args.out, {"--checkpoint": args.checkpoint})
    model, _ = load_network(args.checkpoint)
    print(f"wrote {png.plot_mnist_weights(model, args.out)}")
    return 0
