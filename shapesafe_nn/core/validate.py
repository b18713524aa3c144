"""The checks a constructor runs on its arguments, each written once.

A layer, a config or an optimizer given a size of 0, a probability of 1.5 or
an unknown option must say so when it is built, naming itself and the
argument, not fail later with a numpy error from deep inside a forward.
Each function takes ``owner``, the object (or class, or name) being built:
the message names its class, so a subclass of ``Dense`` reports its own name.
The error is an :class:`InvalidArgument`, a ValueError that also says which
argument it is about: the command line, which took the value from a flag,
names the flag (see cli/config_flags.py).
"""

import math

import numpy as np

FLOAT_DTYPES = ("float32", "float64")  # the float types a layer or model computes in


class InvalidArgument(ValueError):
    """A constructor's refusal of one of its arguments; ``name`` is the argument's
    (``"n_head"``; ``"sizes[1]"`` for an item of one)."""

    def __init__(self, message: str, name: str):
        super().__init__(message)
        self.name = name


def owner_name(owner) -> str:
    """``"Dense"`` for a Dense, the Dense class or the string ``"Dense"``."""
    if isinstance(owner, str):
        return owner
    return owner.__name__ if isinstance(owner, type) else type(owner).__name__


def is_integer(value) -> bool:
    """An int or numpy integer, not a bool (which Python counts as an int)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value) -> bool:
    """An int or float (numpy's too), finite, not a bool."""
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, bool) and math.isfinite(value))


def positive_int(owner, name: str, value) -> int:
    """``value`` as an int, or a ValueError naming it if it is not an integer >= 1."""
    if not is_integer(value) or value <= 0:
        raise InvalidArgument(f"{owner_name(owner)}: {name} must be a positive integer, "
                              f"not {value!r}", name)
    return int(value)


def non_negative_int(owner, name: str, value) -> int:
    """``value`` as an int, or a ValueError naming it if it is not an integer >= 0."""
    if not is_integer(value) or value < 0:
        raise InvalidArgument(f"{owner_name(owner)}: {name} must be an integer >= 0, not {value!r}",
                              name)
    return int(value)


def positive_number(owner, name: str, value) -> float:
    """``value`` as a float, or a ValueError naming it if it is not a finite number > 0."""
    if not is_number(value) or value <= 0:
        raise InvalidArgument(f"{owner_name(owner)}: {name} must be a positive number, "
                              f"not {value!r}", name)
    return float(value)


def non_negative_number(owner, name: str, value) -> float:
    """``value`` as a float, or a ValueError naming it if it is not a finite number >= 0."""
    if not is_number(value) or value < 0:
        raise InvalidArgument(f"{owner_name(owner)}: {name} must be a number >= 0, not {value!r}",
                              name)
    return float(value)


def probability(owner, name: str, value) -> float:
    """``value`` as a float in [0, 1), or a ValueError naming it.

    1 is left out on purpose: a dropout of 1 would zero everything and then
    divide by 1 - p = 0.
    """
    if not is_number(value) or not 0 <= value < 1:
        raise InvalidArgument(f"{owner_name(owner)}: {name} must be a probability in [0, 1), "
                              f"not {value!r}", name)
    return float(value)


def option(owner, name: str, value, allowed) -> str:
    """``value`` if it is one of the names in ``allowed``, else a ValueError naming them."""
    if not (isinstance(value, str) and value in allowed):
        raise InvalidArgument(f"{owner_name(owner)}: {name} must be one of "
                              f"{', '.join(allowed)}, not {value!r}", name)
    return value


def float_dtype(owner, name: str, value) -> np.dtype:
    """``value`` as np.float32 or np.float64, or a ValueError naming it."""
    try:  # np.dtype(None) is float64: None must not pass as a choice
        dtype = None if value is None else np.dtype(value)
    except TypeError:  # a name numpy does not know ("f32"): the same error as a wrong one
        dtype = None
    if dtype is None or dtype.name not in FLOAT_DTYPES:
        raise InvalidArgument(f"{owner_name(owner)}: {name} must be {' or '.join(FLOAT_DTYPES)}, "
                              f"not {value!r}", name)
    return dtype


def head_width(owner, d_model: int, n_heads: int, heads_name: str = "n_heads") -> int:
    """d_head = d_model // n_heads, or a ValueError if the heads do not split d_model evenly."""
    if d_model % n_heads:
        raise InvalidArgument(f"{owner_name(owner)}: d_model {d_model} is not divisible by "
                              f"{heads_name} {n_heads}; d_model must be {heads_name} * d_head",
                              heads_name)
    return d_model // n_heads


def check_ids(where: str, name: str, ids, size: int) -> None:
    """Refuse ids outside ``[0, size)``, negative ones included.

    numpy would read ``table[-1]`` as the last row and raise only for ids
    ``>= size``; a wrong id must never become a silently wrong answer.
    """
    if ids.size and (ids.min() < 0 or ids.max() >= size):
        bad = np.argwhere((ids < 0) | (ids >= size))[0]
        raise ValueError(f"{where}: {name} holds {ids[tuple(bad)]} at index {tuple(bad.tolist())}, "
                         f"outside [0, {size})")
