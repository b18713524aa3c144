"""The ``shapesafe-nn`` command (also ``python -m shapesafe_nn``).

Exit codes: 0 success; 1 a problem with the user's files or data (the
message says which file); 2 invalid arguments (argparse's convention).
"""

import argparse
import sys

from ..checkpoint import CheckpointError
from ..data import DataError
from . import mlp


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shapesafe-nn",
        description="Train and inspect small neural networks whose every shape is checked.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser("train", help="train a model")
    train_models = train.add_subparsers(dest="model", required=True, metavar="MODEL")
    evaluate = commands.add_parser("eval", help="evaluate a saved model")
    eval_models = evaluate.add_subparsers(dest="model", required=True, metavar="MODEL")
    mlp.add_commands(train_models, eval_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except (DataError, CheckpointError, FileNotFoundError, IsADirectoryError) as error:
        print(f"shapesafe-nn: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("shapesafe-nn: interrupted", file=sys.stderr)
        return 130
