"""A config's field, said once: its default, what it means and, for a name, its choices.

Each model's config (``GPTConfig``, ``TranslatorConfig``, ``NetworkConfig``)
declares its fields with :func:`setting`::

    score: str = setting("scaled_dot", "how attention scores a key", choices=SCORES)

The help and the choices ride in the field's ``metadata``, the place the
``dataclasses`` module keeps for such extras.  The config's ``__post_init__``
still checks every value (``option(owner, "score", self.score, SCORES)``);
the command line reads the same fields to make its flags (``--score``, with
its default, its choices and this help: see cli/config_flags.py), so a new
field is a new flag, and the flags cannot drift from the model.
"""

import dataclasses


def setting(default=dataclasses.MISSING, help: str = "", choices: tuple[str, ...] | None = None):
    """A dataclass field with ``default`` (none: the field must be given), ``help``
    (what the value means, in a phrase) and ``choices`` (the names it may take)."""
    if not help:
        raise ValueError("setting: every field says what it means (help)")
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


def help_of(field: dataclasses.Field) -> str:
    """What a field means, as :func:`setting` recorded it."""
    return field.metadata["help"]


def choices_of(field: dataclasses.Field) -> tuple[str, ...] | None:
    """The names a field may take (None: any value its type allows)."""
    return field.metadata.get("choices")
