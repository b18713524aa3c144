"""The shape core: what makes every tensor know its shape and its dtype.

One idea per file, and nothing here imports the rest of the package:

- ``dims.py``: the one table of dimension names (``batch``, ``d_model``, ...)
  and the array hints built from it;
- ``modes.py``: how often checks run (``always``, ``first``, ``off``), per thread;
- ``quick_check.py``: jaxtyping's rule applied directly to the hints layers
  use, so that a checked call costs microseconds;
- ``jaxtyping_internals.py``: the one file reading jaxtyping's private modules;
- ``call.py``: one checked call, its memo of bound dims and float dtype, and
  the per-thread stack of calls (``expect`` checks an intermediate in it);
- ``errors.py``: :class:`ShapeError` and the five lines a learner reads;
- ``explain.py``: a numpy error inside a layer's own line, said in dim names;
- ``decorator.py``: the ``@checked`` decorator, step by step;
- ``records.py``: what a forward keeps for its backward, and ``no_grad``;
- ``module.py``: :class:`Parameter` and :class:`Module`;
- ``validate.py``: the checks constructors run on their arguments.

Users import these from ``shapesafe_nn`` (or ``shapesafe_nn.shapes``).
"""

from .call import expect
from .decorator import anchor_value, checked
from .dims import Array, Bool, DIMENSIONS, Float, Integer, booleans, floats, integers, register_dim
from .errors import ShapeError
from .modes import CHECK_MODES, checks, checks_from_environment, get_checks, set_checks
from .module import Module, Parameter, modules_holding, unconsumed_forwards
from .records import is_recording, no_grad
from .validate import check_ids

__all__ = [
    "Array", "Bool", "CHECK_MODES", "DIMENSIONS", "Float", "Integer", "Module", "Parameter",
    "ShapeError", "anchor_value", "booleans", "check_ids", "checked", "checks",
    "checks_from_environment", "expect", "floats", "get_checks", "integers", "is_recording",
    "modules_holding", "no_grad", "register_dim", "set_checks", "unconsumed_forwards",
]
