"""One training run, from the flags to the last line: what ``train mlp`` and ``train gpt`` share.

:func:`run_training` is the driver.  It does, in this order, for either
model (a :class:`Training` says what differs): load the run ``--resume``
names; settle the settings; refuse outputs that would destroy an input or
fail at the end; read the data; refuse a model that would not fit in
memory; build it; restore the saved run or start one; train, saving on the
way; then write the checkpoint, the plot and the JSON.  Every check that can
fail runs before the first step, so that a mistake costs seconds, not a run.

``--save CKPT`` writes a checkpoint at the end, ``--save-every N`` also every
N optimizer steps (mini-batches for the MLP), and Ctrl-C (or
SIGTERM, SIGHUP) writes one of the last completed step before stopping.
``--quiet`` prints the summary line alone: no progress bar, no header, no
evaluations (for scripts, and for runs whose summary is all one needs).
Each is a whole run's state (parameters, optimizer state, progress, every
random generator), so ``--resume CKPT`` continues with the losses the run
would have had if it had never stopped.  A resumed run keeps its saved
settings: a flag that would change one is refused rather than ignored.
"""

import argparse
import contextlib
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..core import Module
from ..pictures import png
from ..saving.checkpoint import (CheckpointError, load_checkpoint, load_parameters,
                                 parameter_arrays, save_checkpoint)
from ..saving.files import writing_atomically
from ..core import CHECK_MODES, checks_from_environment, set_checks
from ..training.generator_state import dropout_arrays, load_dropout_arrays
from ..training.trainer import write_line
from .arguments import check_outputs, check_png, non_negative_int, positive
from .config_flags import flag, with_default
from .memory import check_fits
from .threads import add_threads_argument, use_threads


# A run's length in optimizer steps, in every command that counts steps: --steps.
# train gpt called it --iters (nanoGPT's max_iters), which stays as another name.
# train mlp counts epochs, passes over the data, as Nielsen's book does: --epochs
# is another unit, not another name, so it is no alias of --steps.
STEPS_ALIASES = ("--iters",)


def add_preset_arguments(parser: argparse.ArgumentParser, presets: dict[str, dict],
                         arguments: tuple[tuple[str, Callable, str], ...]) -> None:
    """``--steps N`` (also ``--iters N``), and a flag for each ``(name, type, help)``
    of ``arguments``: the run's settings that each preset sets (its learning
    rate, ...), whose help ends with each preset's value.  Not given, a flag
    is None, so that the preset, or a resumed run's saved settings, fill it in."""
    parser.add_argument("--steps", *STEPS_ALIASES, dest="steps", type=positive(int),
                        metavar="N", default=None,
                        help=with_default("optimizer steps: the run's length", "steps", {},
                                          presets))
    for name, kind, help_text in arguments:
        parser.add_argument(flag(name), type=kind, default=None,
                            help=with_default(help_text, name, {}, presets))


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=non_negative_int,
                        help="seeds the run: the initial weights, the order of the batches "
                             "and any dropout (default 0)")
    parser.add_argument("--save", type=Path, metavar="CKPT.npz",
                        help="write a checkpoint at the end (and on Ctrl-C)")
    parser.add_argument("--save-every", type=positive(int), metavar="N",
                        help="also write it every N steps (needs --save)")
    parser.add_argument("--resume", type=Path, metavar="CKPT.npz",
                        help="continue the run saved in this checkpoint, with its settings")
    parser.add_argument("--weights-only", action="store_true",
                        help="save the parameters and config only: a smaller file for eval and "
                             "sample, which --resume cannot continue")
    parser.add_argument("--json", type=Path, metavar="METRICS.json",
                        help="write the final metrics and the history")
    parser.add_argument("--plot", type=Path, metavar="CURVES.png",
                        help="draw the loss curves (needs matplotlib)")
    add_checks_argument(parser)
    add_threads_argument(parser)
    parser.add_argument("--quiet", action="store_true",
                        help="print only the summary line: no progress bar, header, "
                             "evaluations or sample")


def add_checks_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checks", choices=CHECK_MODES, default=None,
                        help="shape checks: always, first, off (default: SHAPESAFE_CHECKS, "
                             "else always)")


def use_checks(args) -> str:
    """Switch to the mode ``--checks`` names, else the one ``SHAPESAFE_CHECKS``
    names, else ``always``; return it."""
    mode = args.checks or checks_from_environment()
    set_checks(mode)
    return mode


def run_log(quiet: bool) -> Callable[[str], None]:
    """Where a run's lines go before its summary: through the progress bar
    (:func:`~shapesafe_nn.training.trainer.write_line`), or, with ``--quiet``, nowhere."""
    return ignore_line if quiet else write_line


def ignore_line(text: str) -> None:
    """``--quiet``'s log: the line is dropped."""


def check_plot_extra(wanted) -> None:
    """Refuse a plot now, not after the work, if matplotlib is missing."""
    if wanted and not png.matplotlib_available():
        raise ValueError(png.MISSING)


@dataclasses.dataclass
class Built:
    """A run ready to train: what :meth:`Training.build` returns to the driver."""

    model: Module
    optimizer: object
    config: object  # NetworkConfig or GPTConfig: what the checkpoint describes
    data_sha256: str  # the training data's fingerprint (resume.fingerprint)
    header: list[str]  # printed before training: the model, then the data
    # trains from a progress, calling save(progress) as the trainers do; the history
    train: Callable
    # history -> (the last line, the JSON document); may print first, unless --quiet
    finish: Callable
    meta: dict = dataclasses.field(default_factory=dict)  # more for the description
    # the held-out data's fingerprint, where it is read apart from the training
    # data (train translate's --val, corpus val split or test numbers), and its name
    held_out_sha256: str | None = None
    held_out_name: str = ""


class Training:
    """What one train command adds to :func:`run_training`: its model, data and loop.

    Attributes: ``kind`` (the checkpoint's model, "mlp" or "gpt"); ``defaults``
    (every setting, with its default and so its type); ``record_type`` (one
    evaluation's record, as the history holds it); ``described`` (entries a
    resumable checkpoint's description must have, with their types);
    ``progress_type``; ``total`` (the setting that says how long the run is)
    and ``unit`` (what it counts); ``bundled`` (the data read without --data);
    ``later_settings`` (settings added after runs were saved without them,
    each with the value those runs had, so that they can still be resumed);
    ``renamed_settings`` (a setting's old name -> its name now, for the same).
    """

    kind: str
    defaults: dict
    record_type: type
    described: dict[str, tuple[type, ...]] = {}
    later_settings: dict = {}
    renamed_settings: dict[str, str] = {}
    progress_type: type
    total: str
    unit: str
    bundled: str

    def settings(self, args, saved: dict | None) -> dict:
        """The settings: the defaults under the flags given, or the saved ones."""
        return settings_for(args, self.defaults, saved, args.resume)

    def read(self, data: Path | None, settings: dict, meta: dict | None):
        """The data, read and checked (``data`` None: the bundled set)."""
        raise NotImplementedError

    def read_without_data(self, settings: dict) -> str:
        """What a run with these settings reads when no --data is given, as a
        message names it: ``bundled``."""
        return self.bundled

    def needs(self, settings: dict, dataset) -> dict[str, float]:
        """Bytes the run will need, by the flag that sizes them (see memory.py)."""
        raise NotImplementedError

    def build(self, args, settings: dict, dataset, meta: dict | None, checks: str) -> Built:
        """The model, its optimizer and its loop, ready to train or to be restored;
        ``checks`` is the check mode in force, for the header."""
        raise NotImplementedError


def run_training(args, training: Training) -> int:
    """The whole of ``train mlp`` or ``train gpt``; see the module's docstring."""
    check_plot_extra(args.plot)
    arrays, meta = run_to_resume(args, training)
    settings = training.settings(args, None if meta is None else meta["settings"])
    data = args.data
    if data is None and meta is not None and meta["data"] is not None:
        data = Path(meta["data"])  # what the saved run read
    inputs = {"--data": data, "--resume": args.resume}
    # train translate's held-out pairs and parallel files, given now or by the saved run
    for flag in ("--val", "--source-file", "--target-file"):
        if settings.get(flag[2:].replace("-", "_")):
            inputs[flag] = Path(settings[flag[2:].replace("-", "_")])
    check_outputs({"--save": args.save, "--json": args.json, "--plot": args.plot}, inputs,
                  continues=("--save", "--resume"))
    check_png("--plot", args.plot)
    checks = use_checks(args)
    dataset = training.read(data, settings, meta)
    check_fits(f"train {training.kind} with these settings", training.needs(settings, dataset))
    built = training.build(args, settings, dataset, meta, checks)
    if args.resume:
        progress = restore_run(args.resume, arrays, meta, built, training.progress_type,
                               settings[training.total], training.unit,
                               meta["data"] or training.read_without_data(settings), args.data)
    else:
        progress = training.progress_type.start(settings["seed"])
    blas_threads = use_threads(args.threads, None if meta is None else meta.get("blas_threads"))
    log = run_log(args.quiet)
    for line in built.header:
        log(line)
    if args.resume:
        log(f"resuming {args.resume} at {progress.where()}")
    description = ({"model": training.kind, "config": built.config.to_json(),
                    "settings": settings, "data": None if data is None else str(data.resolve()),
                    "data_sha256": built.data_sha256} | built.meta)
    if built.held_out_sha256 is not None:
        description["held_out_sha256"] = built.held_out_sha256
    if blas_threads is not None:  # what --resume continues on, to stay exact (threads.py)
        description["blas_threads"] = blas_threads
    writer = None if args.save is None else CheckpointWriter(
        args.save, built.model, built.optimizer, description, weights_only=args.weights_only)
    with telling_what_was_saved(writer):
        history = built.train(progress, writer)
        if writer is not None:  # the finished run, before anything else can stop it
            writer(progress)
    last_line, document = built.finish(history)
    if writer is not None:
        log(f"saved {args.save}")
    if args.plot:
        log(f"wrote {png.plot_curves(history, args.plot)}")
    if args.json:
        metrics = json.dumps(document | {"settings": settings, "config": built.config.to_json()},
                             indent=2)
        with writing_atomically(args.json) as file:  # a full disk keeps the earlier metrics
            file.write(metrics.encode("utf-8"))
    print(last_line)
    return 0


def run_to_resume(args, training: Training) -> tuple[dict | None, dict | None]:
    """Before any data is read: refuse save flags without --save, and load the
    run ``--resume`` names (``(arrays, meta)``, or ``(None, None)`` for a new run)."""
    for given, value in (("--save-every", args.save_every),
                         ("--weights-only", args.weights_only)):
        if value and not args.save:
            raise argparse.ArgumentTypeError(f"{given} needs --save: the file to write")
    if args.resume is None:
        return None, None
    return load_resumable(args.resume, training)


def settings_for(args, defaults: dict, saved: dict | None, resumed: Path | None) -> dict:
    """The run's settings: ``defaults`` under the flags given, or, when
    resuming, the ``saved`` ones, refusing a flag that would change them."""
    given = {name: getattr(args, name) for name in defaults if getattr(args, name) is not None}
    if saved is None:
        return defaults | given
    changed = sorted(name for name, value in given.items() if saved.get(name) != value)
    if changed:
        flags = ", ".join(flag(name) for name in changed)
        raise argparse.ArgumentTypeError(
            f"--resume {resumed} continues that run with its saved settings; leave out "
            f"{flags} (to change them, start a new run)")
    return dict(saved)


def preset_settings(args, saved: dict | None, presets: dict[str, dict], defaults: dict,
                    first_preset: str) -> dict:
    """A language model's settings: its preset (``--preset``, the saved run's,
    else ``first_preset``), with every flag the user gave laid over it; or,
    resuming, the ``saved`` settings (a flag that would change them is
    refused).  The preset's values replace the ``defaults`` (the model's own,
    from its config).  The cosine schedule decays from ``--lr`` to
    ``--min-lr``, so that one must not be the larger."""
    preset = args.preset or (saved or {}).get("preset") or first_preset
    settings = settings_for(args, {"preset": preset} | defaults | presets[preset], saved,
                            args.resume)
    if settings["min_lr"] > settings["lr"]:
        raise argparse.ArgumentTypeError(f"--min-lr {settings['min_lr']} is larger than "
                                         f"--lr {settings['lr']}")
    return settings


def load_resumable(path: Path, training: Training) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and description of a checkpoint a ``training.kind`` run can resume from.

    Everything the command will read from the description is checked here,
    so that a damaged or foreign file is one clear error naming it, not a
    traceback from deep inside the run: the ``training.described`` entries
    (name -> the types allowed), settings with the keys and types of
    ``training.defaults`` (their values, as far as a model's config checks
    them, are checked with the settings: see config_flags.check_config), and
    a progress whose history records have the fields of its ``record_type``.
    A setting the file names by an old name (``training.renamed_settings``)
    takes its name now, and one of ``training.later_settings`` that the file
    lacks takes the value given there: the one the run had before the
    setting existed.
    """
    kind, defaults = training.kind, training.defaults
    arrays, meta = load_checkpoint(path)
    if meta.get("model") != kind:
        raise CheckpointError(f"{path}: holds a {meta.get('model')!r} model, not a {kind}")
    if "progress" not in meta:
        raise CheckpointError(f"{path}: holds no training progress (saved with --weights-only, "
                              f"or by an older version), so there is no run to resume")
    described = ({"settings": (dict,), "data_sha256": (str,), "data": (str, type(None))}
                 | training.described)
    missing = [name for name in described if name not in meta]
    if missing:
        raise CheckpointError(f"{path}: the checkpoint's description lacks {', '.join(missing)}")
    for name, types in described.items():
        if not isinstance(meta[name], types):
            raise CheckpointError(f"{path}: its {name} is damaged ({type(meta[name]).__name__})")
    # the BLAS threads the run computed on (cli/threads.py); a run saved before the
    # count was kept has none, and continues as a new run would start
    threads = meta.get("blas_threads")
    if threads is not None and not (type(threads) is int and threads >= 1):
        raise CheckpointError(f"{path}: its blas_threads is damaged ({threads!r})")
    settings = {training.renamed_settings.get(name, name): value
                for name, value in meta["settings"].items()}
    meta["settings"] = settings = training.later_settings | settings
    progress = meta["progress"]
    if set(settings) != set(defaults):
        raise CheckpointError(f"{path}: its settings are not those of a {kind} run")
    for name, default in defaults.items():
        if default is None:  # "not given" (d_ff: 4 * d_model) or a number: the config checks it
            continue
        # an int where a float is expected is fine (JSON writes 3.0 as 3.0, but a
        # hand-edited file may say 3)
        expected = (int, float) if isinstance(default, float) else type(default)
        if not isinstance(settings[name], expected) or isinstance(settings[name], bool):
            raise CheckpointError(f"{path}: setting {name} is {settings[name]!r}, not a "
                                  f"{type(default).__name__}")
    fields = {field.name for field in dataclasses.fields(training.record_type)}
    history = progress.get("history") if isinstance(progress, dict) else None
    if not isinstance(history, list) or not all(isinstance(record, dict) and set(record) == fields
                                                for record in history):
        raise CheckpointError(f"{path}: its training history is damaged")
    return arrays, meta


def restore_run(path: Path, arrays: dict, meta: dict, built: Built, progress_type, total: int,
                unit: str, trained_on: str, given: Path | None):
    """Put the run saved in ``path`` back into ``built``'s model (its Dropout
    generators too) and optimizer, and return its progress (a ``progress_type``).

    Refused, before anything changes: other data than the run trained on
    (``trained_on`` names what it read, ``given`` the --data given now, if
    any), other held-out data than it was scored on, and a run already
    ``total`` ``unit`` long.
    """
    model, optimizer = built.model, built.optimizer
    if meta.get("data_sha256") != built.data_sha256:
        if given is not None and str(given.resolve()) != meta.get("data"):
            raise CheckpointError(f"{path}: that run trained on other data: {trained_on}, "
                                  f"where --data gives {given}; resume it on the data it "
                                  f"trained on (leave out --data, and it reads {trained_on} "
                                  f"again)")
        raise CheckpointError(f"{path}: that run trained on other data than {trained_on} "
                              f"holds now; resume it on the same data (--data)")
    # a run saved before its held-out data had a fingerprint has none to compare
    held_out_sha256 = meta.get("held_out_sha256")
    if held_out_sha256 is not None and held_out_sha256 != built.held_out_sha256:
        raise CheckpointError(f"{path}: that run was scored on other held-out data than "
                              f"{built.held_out_name} holds now, and its scores would not "
                              f"compare; resume it with the held-out data as it was, or start "
                              f"a new run")
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
