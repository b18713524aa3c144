"""The shape core's face: everything a layer's author imports, in one place.

*Know the dimension of every symbol and variable.*  Every layer's
``forward`` and ``backward`` carries jaxtyping annotations such as
``Float[Array, "batch d_in"]``; the :func:`checked` decorator enforces them
on every call, together with the declared shapes of the layer's parameters
(``W: "d_out d_in"``) and the float dtype they bound, in one memo.  A dim
bound by ``W`` therefore constrains ``x``: give ``Dense(784, 30)`` an ``x``
of shape ``(32, 785)`` and the error blames ``x`` and names ``d_in``, 784
and 785.

The code lives in :mod:`shapesafe_nn.core`, one idea per file; this module
gathers its public names:

- :data:`DIMENSIONS` and :func:`register_dim`: the one table of dim names;
- :func:`checked`, :func:`expect`: the checks, on a call and on an intermediate;
- :func:`set_checks`, :func:`checks`, :func:`get_checks`: ``always``,
  ``first`` or ``off``, per thread (``SHAPESAFE_CHECKS`` sets the start);
- :class:`ShapeError`: the short message, and everything behind it.
"""

from .core import (CHECK_MODES, DIMENSIONS, Array, Bool, Float, Integer, ShapeError,
                   anchor_value, booleans, check_ids, checked, checks, checks_from_environment,
                   expect, floats, get_checks, integers, register_dim, set_checks)

__all__ = [
    "Array", "Bool", "CHECK_MODES", "DIMENSIONS", "Float", "Integer", "ShapeError",
    "anchor_value", "booleans", "check_ids", "checked", "checks", "checks_from_environment",
    "expect", "floats", "get_checks", "integers", "register_dim", "set_checks",
]
