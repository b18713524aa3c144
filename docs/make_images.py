"""Draw every picture the pages show, with the package's own plot commands.

Run from the repository's root (needs the ``plot`` extra)::

    python docs/make_images.py

It writes ``docs/images/*.png``, and ``*.svg`` for the pictures of
shapes (``shapesafe-nn draw``).  The MLP pictures come from a fresh run of
the book's network (about 20 seconds); the GPT pictures from the trained
baby GPT in ``docs/assets/``, which ``python docs/make_images.py
--train-gpt`` first trains again (several minutes), with
``shapesafe-nn train gpt --checks first --weights-only --save ...``: the
README's run (checks change the speed, never the numbers).  The
translator's picture comes from the English to Japanese translator in
``docs/assets/``, which ``--train-translator`` trains again the same way.
Page 13's picture and BPE come from a German to English run on Multi30k,
too large to ship (30 MB): ``--multi30k DE-EN.npz`` draws them from the
checkpoint that page's command saved.  Each command is printed as it runs.
"""

import argparse
import sys
import tempfile
from pathlib import Path

from shapesafe_nn.cli import main

DOCS = Path(__file__).resolve().parent
IMAGES = DOCS / "images"
ASSETS = DOCS / "assets"
BABY_GPT = ASSETS / "baby_gpt.npz"  # parameters, config and tokenizer: see 09-training.md
BABY_GPT_METRICS = ASSETS / "baby_gpt.json"
PIZZA = "The pizza came out of the oven and it tasted good"
# the default preset on English to Japanese: page 12
TRANSLATOR = ASSETS / "numbers_en_ja.npz"
TRANSLATOR_METRICS = ASSETS / "numbers_en_ja.json"
ALIGNED = "three hundred and twenty-one thousand"
# page 13: the joint BPE of the Multi30k run, and a test caption whose verb comes last
SENTENCE_PIECES = ASSETS / "multi30k_de_en_bpe.json"
VERB_LAST = "Eine Frau, die in einer Küche eine Schale mit Essen hält."


def shapesafe_nn(*argv) -> None:
    """One ``shapesafe-nn`` command, stopping the script if it fails."""
    words = [str(word) for word in argv]
    print("$ shapesafe-nn", " ".join(words), flush=True)
    code = main(words)
    if code:
        sys.exit(code)


def train_baby_gpt() -> None:
    """The README's GPT run (with the faster `first` checks: the same numbers),
    kept as a checkpoint the pages load."""
    shapesafe_nn("train", "gpt", "--checks", "first", "--quiet", "--weights-only",
                 "--save", BABY_GPT, "--json", BABY_GPT_METRICS)


def train_translator() -> None:
    """``train translate --pair en-ja``, kept as a checkpoint page 12 loads."""
    shapesafe_nn("train", "translate", "--pair", "en-ja", "--checks", "first", "--quiet",
                 "--weights-only", "--save", TRANSLATOR, "--json", TRANSLATOR_METRICS)


def draw_multi30k(checkpoint: Path) -> None:
    """Page 13's cross-attention picture, and the BPE its examples load."""
    from shapesafe_nn.saving import load_translator

    shapesafe_nn("attention", "--checkpoint", checkpoint, "--source", VERB_LAST, "--layer",
                 "decoder.2.cross_attn", "--out", IMAGES / "multi30k_cross_attention.png")
    _, source, _ = load_translator(checkpoint)
    SENTENCE_PIECES.write_text(source.to_json(), encoding="utf-8")
    print(f"wrote {SENTENCE_PIECES}")


def draw() -> None:
    IMAGES.mkdir(exist_ok=True)
    # the sizes of the pages that show them: page 1, page 4's head, page 6
    shapesafe_nn("draw", "dense", "--d-in", 784, "--d-out", 30, "--batch", 10,
                 "--out", IMAGES / "dense.svg")
    shapesafe_nn("draw", "head", "--d-model", 6, "--d-head", 3, "--seq", 4, "--batch", 2,
                 "--out", IMAGES / "attention_head.svg")
    shapesafe_nn("draw", "multi-head", "--d-model", 12, "--n-heads", 3, "--seq", 5,
                 "--batch", 2, "--out", IMAGES / "multi_head.svg")
    shapesafe_nn("draw", "block", "--d-model", 12, "--n-heads", 3, "--d-ff", 48, "--seq", 5,
                 "--batch", 2, "--out", IMAGES / "transformer_block.svg")
    shapesafe_nn("plot", "positions", "--max-len", 64, "--d-model", 128,
                 "--out", IMAGES / "positions.png")
    shapesafe_nn("plot", "mask", "--seq", 16, "--out", IMAGES / "causal_mask.png")
    shapesafe_nn("attention", "--checkpoint", BABY_GPT, "--prompt", PIZZA,
                 "--out", IMAGES / "attention_pizza.png")
    shapesafe_nn("plot", "curves", "--json", BABY_GPT_METRICS, "--out", IMAGES / "gpt_curves.png")
    shapesafe_nn("attention", "--checkpoint", TRANSLATOR, "--source", ALIGNED,
                 "--out", IMAGES / "translation_attention.png")
    with tempfile.TemporaryDirectory() as scratch:
        mlp = Path(scratch) / "mlp.npz"
        shapesafe_nn("train", "mlp", "--checks", "first", "--quiet", "--save", mlp,
                     "--plot", IMAGES / "mlp_curves.png")
        shapesafe_nn("plot", "mnist-errors", "--checkpoint", mlp,
                     "--out", IMAGES / "mnist_errors.png")
        shapesafe_nn("plot", "mnist-weights", "--checkpoint", mlp,
                     "--out", IMAGES / "mnist_weights.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-gpt", action="store_true",
                        help=f"train the baby GPT into {BABY_GPT.relative_to(DOCS.parent)} first")
    parser.add_argument("--train-translator", action="store_true",
                        help=f"train the translator into {TRANSLATOR.relative_to(DOCS.parent)} "
                             f"first")
    parser.add_argument("--multi30k", type=Path, default=None, metavar="DE-EN.npz",
                        help="also draw page 13's picture from this German to English run")
    args = parser.parse_args()
    if args.train_gpt:
        train_baby_gpt()
    if args.train_translator:
        train_translator()
    draw()
    if args.multi30k is not None:
        draw_multi30k(args.multi30k)
