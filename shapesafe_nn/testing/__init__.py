"""Tools to test layers: finite-difference gradient checks, a check that a
sequence layer is causal, array comparisons that refuse NaN, and hypothesis
strategies drawn from a layer's own annotations (those need the ``test``
extra)."""

from .assertions import assert_all_finite, assert_finite_allclose
from .causal import assert_causal
from .gradcheck import RELATIVE_ERROR_FLOOR, GradcheckReport, gradcheck

STRATEGIES = ("fixed_dims", "inputs_for", "mismatched_inputs_for")

__all__ = ["RELATIVE_ERROR_FLOOR", "GradcheckReport", "assert_all_finite", "assert_causal",
           "assert_finite_allclose", "fixed_dims", "gradcheck", "inputs_for",
           "mismatched_inputs_for"]


def __getattr__(name: str):
    # the strategies import hypothesis, which only the `test` extra installs:
    # load them when asked for, so gradcheck works without it
    if name in STRATEGIES:
        from . import strategies
        return getattr(strategies, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
