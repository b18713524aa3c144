"""The ``shapesafe-nn`` command (also ``python -m shapesafe_nn``).

Exit codes: 0 success; 1 a problem with the user's files, data or settings
(a one-line message says which); 2 invalid arguments (argparse's
convention); 128 + the signal's number when Ctrl-C (130), SIGTERM (143) or
SIGHUP (129) stopped it.  See ``process.py``.
"""

import argparse

from .. import __version__
from . import draw
from . import download, gpt, inspect, interop, mlp, process, translate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shapesafe-nn",
        description="Train and inspect small neural networks whose every shape is checked.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser("train", help="train a model (mlp, gpt or translate)")
    train_models = train.add_subparsers(dest="model", required=True, metavar="MODEL")
    evaluate = commands.add_parser("eval", help="evaluate a saved model (mlp, gpt or translate)")
    eval_models = evaluate.add_subparsers(dest="model", required=True, metavar="MODEL")
    mlp.add_commands(train_models, eval_models)
    gpt.add_commands(train_models, eval_models, commands)
    translate.add_commands(train_models, eval_models, commands)
    inspect.add_commands(commands)
    interop.add_commands(commands)
    draw.add_commands(commands)
    download.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    return process.run(build_parser, argv)
