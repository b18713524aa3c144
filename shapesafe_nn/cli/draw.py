"""``shapesafe-nn draw``: a layer's matrix products as labelled boxes, in an SVG file.

``draw dense``, ``draw head``, ``draw multi-head`` and ``draw block`` build
the layer with the sizes given, trace it once and write the picture
(``shapesafe_nn/pictures/svg.py`` says how it is read from the annotations).  The
defaults are the sizes of the pages that show the pictures: Nielsen's first
layer, page 4's head and page 6's attention and block.
"""

import argparse
from pathlib import Path

import numpy as np

from ..pictures import svg
from ..layers import AttentionHead, Dense, MultiHeadAttention, TransformerBlock
from ..saving.files import writing_atomically
from .arguments import check_outputs, positive
from .memory import FLOAT64, check_fits

SEED = 0  # the weights do not show in a picture; a fixed seed keeps the run repeatable
FLOAT32 = 4  # bytes per number: the sequence layers are float32


def svg_file(text: str) -> Path:
    """An argparse type: a path ending in ``.svg``, the only format ``draw`` writes."""
    path = Path(text)
    if path.suffix.lower() != ".svg":
        raise argparse.ArgumentTypeError(f"{text}: draw writes SVG; name a .svg file")
    return path


def add_out(parser, default: str) -> None:
    parser.add_argument("--out", type=svg_file, default=Path(default), metavar="PICTURE.svg",
                        help=f"the SVG file to write (default {default})")


def add_sequence_sizes(parser, d_model: int, seq: int) -> None:
    """The flags every sequence layer has: the batch, the sequence and the width."""
    parser.add_argument("--d-model", type=positive(int), default=d_model,
                        help=f"width of each position (default {d_model})")
    parser.add_argument("--seq", type=positive(int), default=seq,
                        help=f"positions in each sequence (default {seq})")
    parser.add_argument("--batch", type=positive(int), default=2,
                        help="sequences in the batch traced (default 2); one is drawn")


def add_commands(commands) -> None:
    parser = commands.add_parser(
        "draw", help="draw a layer's matrix products as labelled boxes (SVG)",
        description="Trace one layer on zeros of the sizes given and draw its matrix "
                    "products as boxes to scale, labelled with the dims of its annotations "
                    "and their sizes.")
    layers = parser.add_subparsers(dest="layer", required=True, metavar="LAYER")

    dense = layers.add_parser("dense", help="a Dense layer: z = x Wᵀ + b")
    dense.add_argument("--d-in", type=positive(int), default=784,
                       help="features entering (default 784)")
    dense.add_argument("--d-out", type=positive(int), default=30,
                       help="features leaving (default 30)")
    dense.add_argument("--batch", type=positive(int), default=10,
                       help="examples in the batch (default 10)")
    add_out(dense, "dense.svg")
    dense.set_defaults(run=run_dense)

    head = layers.add_parser("head", help="one attention head: q, k, v, scores, weights")
    add_sequence_sizes(head, d_model=6, seq=4)
    head.add_argument("--d-head", type=positive(int), default=3,
                      help="width of the queries, keys and values (default 3)")
    add_out(head, "head.svg")
    head.set_defaults(run=run_head)

    multi_head = layers.add_parser("multi-head",
                                   help="multi-head attention, its split into heads and merge")
    add_sequence_sizes(multi_head, d_model=12, seq=5)
    multi_head.add_argument("--n-heads", type=positive(int), default=3,
                            help="heads; must divide --d-model (default 3)")
    add_out(multi_head, "multi-head.svg")
    multi_head.set_defaults(run=run_multi_head)

    block = layers.add_parser("block", help="a transformer block: attention, feed-forward "
                                            "and the residual stream")
    add_sequence_sizes(block, d_model=12, seq=5)
    block.add_argument("--n-heads", type=positive(int), default=3,
                       help="heads; must divide --d-model (default 3)")
    block.add_argument("--d-ff", type=positive(int), default=None,
                       help="feed-forward hidden width (default 4 * --d-model)")
    add_out(block, "block.svg")
    block.set_defaults(run=run_block)


def check_heads(args) -> None:
    """Refuse, naming the flags, heads that do not split the width evenly."""
    if args.d_model % args.n_heads:
        raise argparse.ArgumentTypeError(f"--d-model {args.d_model} is not divisible by "
                                         f"--n-heads {args.n_heads}: each head is d_model / "
                                         f"n_heads wide")


def write(svg: str, path: Path) -> int:
    with writing_atomically(path) as file:  # a full disk keeps the earlier drawing
        file.write(svg.encode("utf-8"))
    print(f"wrote {path}")
    return 0


def run_dense(args) -> int:
    check_outputs({"--out": args.out}, {})
    # the trace keeps x, z, W and their gradients, float64
    check_fits("this picture", {"--batch": 2 * args.batch * (args.d_in + args.d_out) * FLOAT64,
                                "--d-in": 2 * args.d_in * args.d_out * FLOAT64})
    layer = Dense(args.d_in, args.d_out, rng=np.random.default_rng(SEED))
    return write(svg.draw_dense(layer, args.batch), args.out)


def sequence_needs(args, n_heads: int, d_ff: int) -> dict[str, float]:
    """A traced call of a sequence layer, roughly: about a dozen (batch, seq,
    d_model) arrays and two (batch, seq, d_ff) ones, the scores and weights
    (batch, n_heads, seq, seq), and the parameters, each with its gradient."""
    tokens = args.batch * args.seq
    return {"--batch": 2 * tokens * (12 * args.d_model + 2 * d_ff) * FLOAT32,
            "--seq": 4 * args.batch * n_heads * args.seq ** 2 * FLOAT32,
            "--d-model": 2 * (4 * args.d_model ** 2 + 2 * args.d_model * d_ff) * FLOAT32}


def run_head(args) -> int:
    check_outputs({"--out": args.out}, {})
    check_fits("this picture", sequence_needs(args, 1, args.d_head))
    layer = AttentionHead(args.d_model, args.d_head, rng=np.random.default_rng(SEED))
    return write(svg.draw_head(layer, args.batch, args.seq), args.out)


def run_multi_head(args) -> int:
    check_heads(args)
    check_outputs({"--out": args.out}, {})
    check_fits("this picture", sequence_needs(args, args.n_heads, args.d_model))
    layer = MultiHeadAttention(args.d_model, args.n_heads, rng=np.random.default_rng(SEED))
    return write(svg.draw_multi_head(layer, args.batch, args.seq), args.out)


def run_block(args) -> int:
    check_heads(args)
    check_outputs({"--out": args.out}, {})
    d_ff = args.d_ff or 4 * args.d_model
    check_fits("this picture", sequence_needs(args, args.n_heads, d_ff))
    layer = TransformerBlock(args.d_model, args.n_heads, d_ff,
                             rng=np.random.default_rng(SEED))
    return write(svg.draw_block(layer, args.batch, args.seq), args.out)
