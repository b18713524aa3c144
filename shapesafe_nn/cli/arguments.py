"""Argument types and checks shared by the commands.

A value argparse refuses ends the command with its usage and exit code 2,
before any data is read: so every range a flag must respect is checked here,
at parse time, rather than by the code that would use it minutes later.
"""

import argparse
import math
from pathlib import Path


def positive(kind):
    """An argparse type: ``kind(text)``, finite and above 0 (``--lr``, ``--epochs``)."""
    def parse(text: str):
        value = kind(text)
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its message
    return parse


def non_negative(kind):
    """An argparse type: ``kind(text)``, finite and 0 or more (``--holdout``, ``--weight-decay``)."""
    def parse(text: str):
        value = kind(text)
        if not (math.isfinite(value) and value >= 0):
            raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


non_negative_int = non_negative(int)


def check_output_folders(*paths: Path | None) -> None:
    """Refuse an output whose folder does not exist, before any training starts.

    Otherwise a run would train to the end and only then fail to save.
    """
    for path in paths:
        if path is not None and not path.parent.is_dir():
            raise FileNotFoundError(f"{path}: the folder {path.parent} does not exist")
