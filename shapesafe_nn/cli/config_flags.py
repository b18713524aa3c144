"""A model's flags from its config: one flag a field, with its type, default, choices and help.

``train gpt`` takes ``--n-head`` because ``GPTConfig`` has ``n_head``: the
field's annotation gives the flag's type, its
:func:`~shapesafe_nn.models.settings.setting` the help and the choices, and
the command's presets, else the field, the default its help shows.  So a new
field is a new flag, and the flags cannot drift from the model.

Nothing here repeats a check the config makes.  As soon as the flags are
read, :func:`check_config` builds the config from the settings, before any
data is read, and a value it refuses is a usage error naming the flag::

    shapesafe-nn: error: argument --n-head: GPTConfig: n_head must be a positive integer, not 0
"""

import argparse
import dataclasses
from pathlib import Path
from types import UnionType

from ..core.validate import InvalidArgument
from ..models.settings import choices_of, help_of
from ..saving.checkpoint import CheckpointError
from .arguments import whole_number

# A config's seed is the run's --seed (runs.add_run_arguments), which seeds the
# batches too: it is a setting, and its flag is the run's
RUN_FLAGS = ("seed",)


def flag(name: str) -> str:
    """The flag of a field: ``n_head`` -> ``--n-head``; ``sizes[1]`` -> ``--sizes``."""
    return "--" + name.partition("[")[0].replace("_", "-")


def config_defaults(config_type, not_settings: tuple[str, ...]) -> dict:
    """Each field's default, but for the ``not_settings`` (the data's: the
    vocabulary); a tuple as a list, the way a checkpoint's JSON gives it back."""
    return {field.name: list(field.default) if isinstance(field.default, tuple)
            else field.default
            for field in dataclasses.fields(config_type) if field.name not in not_settings}


def shown(value) -> str:
    """A default as it is typed: ``784,30,10`` for a list."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


def default_text(name: str, defaults: dict, presets: dict[str, dict]) -> str | None:
    """What a flag's help says of its default: each preset's value where the
    presets differ (``default: baby 128, tiny 32``), else the one default; None
    for a default of None, which the help itself explains (``d_ff``: 4 * d_model)."""
    by_preset = {preset: shown(settings[name]) for preset, settings in presets.items()
                 if name in settings}
    if len(set(by_preset.values())) > 1:
        return "default: " + ", ".join(f"{preset} {value}" for preset, value in by_preset.items())
    if by_preset:
        return f"default {next(iter(by_preset.values()))}"
    return None if defaults[name] is None else f"default {shown(defaults[name])}"


def with_default(help_text: str, name: str, defaults: dict, presets: dict[str, dict]) -> str:
    """``help_text`` and its default, as argparse prints it (a ``%`` doubled)."""
    default = default_text(name, defaults, presets)
    text = help_text if default is None else f"{help_text} ({default})"
    return text.replace("%", "%%")


def flag_type(config_type, field: dataclasses.Field):
    """How a flag's text becomes the field's value: a whole number (``int``, or
    ``int | None``), a number, or a name.  The range is the config's to check."""
    kind = field.type
    if isinstance(kind, UnionType):  # int | None: a flag given is an int
        kind, = (member for member in kind.__args__ if member is not type(None))
    parse = {int: whole_number, float: float, str: str}.get(kind)
    if parse is None:
        raise TypeError(f"{config_type.__name__}.{field.name}: no flag reads a {kind}; give "
                        f"add_config_flags a parser for it")
    return parse


def add_config_flags(parser: argparse.ArgumentParser, config_type, not_flags: tuple[str, ...],
                     defaults: dict, presets: dict[str, dict], parsers: dict | None = None):
    """A flag for each field of ``config_type`` but ``not_flags`` (those the data
    or another flag gives) and the run's seed, in a group of their own.

    ``defaults`` and ``presets`` give the defaults the help shows; ``parsers``
    a parser for a field whose text is more than one value (``--sizes
    784,30,10``).  Every flag's default is None: "not given", so that a preset,
    or a resumed run's saved settings, fill it in."""
    group = parser.add_argument_group(
        f"the model: the fields of {config_type.__name__}",
        f"each flag sets the field of {config_type.__module__}.{config_type.__name__} "
        f"of its name")
    for field in dataclasses.fields(config_type):
        if field.name in not_flags or field.name in RUN_FLAGS:
            continue
        group.add_argument(flag(field.name), dest=field.name, default=None,
                           type=(parsers or {}).get(field.name) or flag_type(config_type, field),
                           choices=choices_of(field),
                           help=with_default(help_of(field), field.name, defaults, presets))


def config_of(config_type, settings: dict, **given):
    """``config_type`` with each field's value from ``settings``, but those ``given``
    (the data's vocabulary) and those the settings do not hold (their default)."""
    names = {field.name for field in dataclasses.fields(config_type)}
    return config_type(**{name: value for name, value in settings.items()
                          if name in names and name not in given}, **given)


def check_config(config_type, settings: dict, resumed: Path | None = None, **stand_ins) -> None:
    """Refuse now, before any data is read, settings that ``config_type`` refuses.

    The fields the data gives are not known yet: ``stand_ins`` holds a valid
    value for each (a vocabulary of 1), so that every other field is checked.
    A refused value is a usage error naming its flag; or, for a run resumed
    from ``resumed``, whose settings the checkpoint gave, an error naming it.
    """
    try:
        config_of(config_type, settings, **stand_ins)
    except InvalidArgument as error:
        if resumed is not None:
            raise CheckpointError(f"{resumed}: its saved settings are refused: {error}") from None
        raise argparse.ArgumentTypeError(f"argument {flag(error.name)}: {error}") from None
