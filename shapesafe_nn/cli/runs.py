"""Checkpoints during a run, and resuming one: what ``train mlp`` and ``train gpt`` share.

``--save CKPT`` writes a checkpoint at the end, ``--save-every N`` also every
N steps (mini-batches for the MLP, iterations for the GPT), and Ctrl-C
writes one of the last completed step before stopping.  Each is a whole
run's state (parameters, optimizer state, progress, every random
generator), so ``--resume CKPT`` continues with the losses the run would
have had if it had never stopped.  A resumed run keeps its saved settings:
a flag that would change one is refused rather than ignored.
"""

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..checkpoint import (CheckpointError, load_checkpoint, load_parameters, parameter_arrays,
                          save_checkpoint)
from ..module import Module
from ..resume import dropout_arrays, load_dropout_arrays
from .arguments import positive


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--save", type=Path, metavar="CKPT.npz",
                        help="write a checkpoint at the end (and on Ctrl-C)")
    parser.add_argument("--save-every", type=positive(int), metavar="N",
                        help="also write it every N steps (needs --save)")
    parser.add_argument("--resume", type=Path, metavar="CKPT.npz",
                        help="continue the run saved in this checkpoint, with its settings")
    parser.add_argument("--weights-only", action="store_true",
                        help="save the parameters and config only: a smaller file for eval and "
                             "sample, which --resume cannot continue")


def run_to_resume(args, kind: str, defaults: dict, record_type,
                  described: dict[str, tuple[type, ...]]) -> tuple[dict | None, dict | None]:
    """Before any data is read: refuse save flags without --save, and load the
    run ``--resume`` names (``(arrays, meta)``, or ``(None, None)`` for a new run)."""
    for flag, value in (("--save-every", args.save_every), ("--weights-only", args.weights_only)):
        if value and not args.save:
            raise argparse.ArgumentTypeError(f"{flag} needs --save: the file to write")
    if args.resume is None:
        return None, None
    return load_resumable(args.resume, kind, defaults, record_type, described)


def settings_for(args, defaults: dict, saved: dict | None, resumed: Path | None) -> dict:
    """The run's settings: ``defaults`` under the flags given, or, when
    resuming, the ``saved`` ones, refusing a flag that would change them."""
    given = {name: getattr(args, name) for name in defaults if getattr(args, name) is not None}
    if saved is None:
        return defaults | given
    changed = sorted(name for name, value in given.items() if saved.get(name) != value)
    if changed:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in changed)
        raise argparse.ArgumentTypeError(
            f"--resume {resumed} continues that run with its saved settings; leave out "
            f"{flags} (to change them, start a new run)")
    return dict(saved)


def load_resumable(path: Path, kind: str, defaults: dict, record_type,
                   described: dict[str, tuple[type, ...]]) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and description of a checkpoint a ``kind`` run can resume from.

    Everything the command will read from the description is checked here,
    so that a damaged or foreign file is one clear error naming it, not a
    traceback from deep inside the run: the ``described`` entries (name ->
    the types allowed), settings with the keys and types of ``defaults``, and
    a progress whose history records have the fields of ``record_type``.
    """
    arrays, meta = load_checkpoint(path)
    if meta.get("model") != kind:
        raise CheckpointError(f"{path}: holds a {meta.get('model')!r} model, not a {kind}")
    if "progress" not in meta:
        raise CheckpointError(f"{path}: holds no training progress (saved with --weights-only, "
                              f"or by an older version), so there is no run to resume")
    described = {"settings": (dict,), "data_sha256": (str,), "data": (str, type(None))} | described
    missing = [name for name in described if name not in meta]
    if missing:
        raise CheckpointError(f"{path}: the checkpoint's description lacks {', '.join(missing)}")
    for name, types in described.items():
        if not isinstance(meta[name], types):
            raise CheckpointError(f"{path}: its {name} is damaged ({type(meta[name]).__name__})")
    settings, progress = meta["settings"], meta["progress"]
    if set(settings) != set(defaults):
        raise CheckpointError(f"{path}: its settings are not those of a {kind} run")
    for name, default in defaults.items():
        # an int where a float is expected is fine (JSON writes 3.0 as 3.0, but a
        # hand-edited file may say 3)
        expected = (int, float) if isinstance(default, float) else type(default)
        if not isinstance(settings[name], expected) or isinstance(settings[name], bool):
            raise CheckpointError(f"{path}: setting {name} is {settings[name]!r}, not a "
                                  f"{type(default).__name__}")
    fields = {field.name for field in dataclasses.fields(record_type)}
    history = progress.get("history") if isinstance(progress, dict) else None
    if not isinstance(history, list) or not all(isinstance(record, dict) and set(record) == fields
                                                for record in history):
        raise CheckpointError(f"{path}: its training history is damaged")
    return arrays, meta


def restore_run(path: Path, arrays: dict, meta: dict, model: Module, optimizer,
                data_sha256: str, progress_type, total: int, unit: str, data: str):
    """Put the run saved in ``path`` back into ``model`` (its Dropout generators
    too) and ``optimizer``, and return its progress (a ``progress_type``).

    Refused, before anything changes: other data than the run trained on
    (``data`` names what was read), and a run already ``total`` ``unit`` long.
    """
    if meta.get("data_sha256") != data_sha256:
        raise CheckpointError(f"{path}: that run trained on other data than {data} holds "
                              f"now; resume it on the same data (--data)")
    progress = progress_type.from_checkpoint(arrays, meta["progress"], str(path))
    if progress.completed >= total:
        raise CheckpointError(f"{path}: that run is complete ({progress.completed} of {total} "
                              f"{unit}); to train longer, start a new run")
    load_parameters(model, arrays, source=str(path))
    load_dropout_arrays(model, arrays, str(path))
    optimizer.load_state_dict({key.removeprefix("optimizer/"): value
                               for key, value in arrays.items() if key.startswith("optimizer/")})
    return progress


class CheckpointWriter:
    """``save(progress)`` for the trainers: writes the whole run to ``path``.

    It refuses to write parameters that are no longer finite, so the last
    good checkpoint stays when a run diverges; :meth:`kept` says which one.
    """

    def __init__(self, path: Path, model: Module, optimizer, meta: dict,
                 weights_only: bool = False):
        self.path, self.model, self.optimizer, self.meta = path, model, optimizer, meta
        self.weights_only = weights_only
        self.saved_step: int | None = None

    def __call__(self, progress) -> None:
        for name, parameter in self.model.named_parameters():
            if not np.isfinite(parameter.value).all():
                raise FloatingPointError(f"step {progress.step}: parameter {name} is no longer "
                                         f"finite; try a smaller --lr")
        arrays = parameter_arrays(self.model)
        meta = dict(self.meta)
        if not self.weights_only:
            arrays |= {f"optimizer/{key}": value
                       for key, value in self.optimizer.state_dict().items()}
            arrays |= progress.arrays() | dropout_arrays(self.model)
            meta["progress"] = progress.meta()
        save_checkpoint(self.path, arrays, meta)
        self.saved_step = progress.step

    def kept(self) -> str:
        if self.saved_step is None:
            return "no checkpoint was written"
        return f"the last good checkpoint, step {self.saved_step}, stays in {self.path}"

    def report_interrupt(self) -> None:
        """After Ctrl-C: where the run was saved and how to continue it."""
        if self.saved_step is not None:
            print(f"interrupted: saved step {self.saved_step} to {self.path}; continue with "
                  f"--resume {self.path}", file=sys.stderr)


@contextlib.contextmanager
def telling_what_was_saved(writer: CheckpointWriter | None) -> Iterator[None]:
    """Around a training loop: after Ctrl-C, say where the run was saved and
    how to continue it; after a divergence, which checkpoint stays."""
    try:
        yield
    except KeyboardInterrupt:
        if writer:
            writer.report_interrupt()
        raise
    except FloatingPointError as error:
        raise FloatingPointError(f"{error}; {writer.kept() if writer else 'nothing was saved'}") \
            from error
