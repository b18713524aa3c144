"""Finite-difference gradient checks: is a layer's ``backward`` right?

For a layer ``f`` and a fixed random ``dout``, define the scalar
``L = Σ f(x) ⊙ dout``.  Then ``∂L/∂x`` is exactly what ``backward(dout)``
must return, and ``∂L/∂W`` what it must add into ``W.grad``.  Each entry is
estimated by the central difference

    n = ∂L/∂θ ≈ (L(θ + ε) - L(θ - ε)) / 2ε,

whose error shrinks like ε², and compared with the analytic value ``a`` by
the relative error

    error = |a - n| / max(|n|, floor).

Run it in float64: in float32 the rounding error of L swamps the difference.

A check is only evidence if it cannot pass on numbers it did not compare, so
everything it cannot compare is a failure that says where: a NaN or an
infinity in the output, in a gradient or in a finite difference (NaN
compares false with everything, so a search for the worst error would step
over it), and a float input that ``backward`` sends no gradient to, unless
the caller names it in ``no_gradient_for``.
"""

from dataclasses import dataclass

import numpy as np

from ..layers import Dropout
from ..core import Module
from ..core import no_grad

# Why a floor: the central difference has an absolute error of its own,
# whatever the size of the true gradient: rounding in the forward pass, divided
# by 2ε (ε_mach / ε ≈ 1e-10 per unit of output at ε = 1e-6), plus ε² |∂³L/∂θ³| / 6
# from truncation.  Measured over every gradient check in the test suite it
# reaches 5e-9.  Divided by |n| alone, that noise would make an entry whose
# true gradient is 0 (a masked score, a row of a position table the sequence
# does not reach, a dead ReLU) fail at any tolerance.  So below the floor an
# entry is judged by its absolute error in units of the floor: with the
# defaults, |a - n| <= 1e-6 · 1e-2 = 1e-8 there (the measured noise stays at
# most 2e-7 in those units).  The floor is still small enough that a backward
# twice too large on gradients of 1e-7 fails (error 1e-5).
RELATIVE_ERROR_FLOOR = 1e-2


@dataclass
class GradcheckReport:
    """The worst disagreement found: which array, which entry, both values,
    and how many entries were compared in all."""

    name: str
    index: tuple
    analytic: float
    numeric: float
    error: float  # |analytic - numeric| / max(|numeric|, floor)
    compared: int = 0  # entries of inputs and parameters compared

    def __str__(self) -> str:
        return (f"worst entry: {self.name}{list(self.index)}: backward gives {self.analytic:.10g}, "
                f"finite differences give {self.numeric:.10g} (error {self.error:.3g})")


def _first_non_finite(array) -> tuple | None:
    """The index of the first NaN or ±inf in ``array``, or None if every entry is finite."""
    bad = np.argwhere(~np.isfinite(np.asarray(array, dtype=np.float64)))
    return tuple(int(i) for i in bad[0]) if len(bad) else None


def _forward(layer: Module, inputs: tuple, dropouts: list):
    for dropout, state in dropouts:  # the same masks on every call: one fixed function
        dropout.set_state(state)
    return layer.forward(*inputs)


def _central_difference(layer: Module, inputs: tuple, dout, dropouts: list, array, index,
                        eps: float) -> float:
    """(L(θ + ε) - L(θ - ε)) / 2ε for the entry ``array[index]``, restored afterwards."""
    original = array[index]
    # copies: a layer may return its input itself (Dropout in eval mode)
    array[index] = original + eps
    plus = np.array(_forward(layer, inputs, dropouts), dtype=np.float64)
    array[index] = original - eps
    minus = np.array(_forward(layer, inputs, dropouts), dtype=np.float64)
    array[index] = original
    # L(θ + ε) - L(θ - ε) = Σ (f(θ + ε) - f(θ - ε)) ⊙ dout: subtracting the outputs
    # before summing keeps the rounding error of a large L out of the difference
    change = plus - minus if dout is None else np.sum((plus - minus) * dout)
    return float(change) / (2 * eps)


def _input_gradients(where: str, inputs: tuple, returned, no_gradient_for: tuple) -> list:
    """``(name, input, its analytic gradient)`` for every float input that gets one."""
    float_positions = [i for i, x in enumerate(inputs)
                       if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)]
    for position in no_gradient_for:
        if position not in float_positions:
            raise ValueError(f"gradcheck: no_gradient_for names input {position!r}, which is not "
                             f"a float array input; the float inputs are {float_positions}")
    if not float_positions:  # token ids, labels: nothing to differentiate
        return []
    gradients = returned if isinstance(returned, tuple) else (returned,)
    if len(gradients) != len(float_positions):
        raise AssertionError(f"{where}: backward returned {len(gradients)} gradient(s) for "
                             f"{len(float_positions)} float input(s) {float_positions}")
    checks = []
    for position, gradient in zip(float_positions, gradients):
        name = f"input {position}"
        if position in no_gradient_for:
            if gradient is not None:
                raise AssertionError(f"{where}: no_gradient_for names {name}, but backward "
                                     f"returned a gradient for it")
            continue
        if gradient is None:
            raise AssertionError(f"{where}: backward returned no gradient (None) for {name}, a "
                                 f"float input; if that is by design, pass "
                                 f"no_gradient_for=({position},)")
        checks.append((name, inputs[position], gradient))
    return checks


def gradcheck(layer: Module, *inputs, eps: float = 1e-6, tolerance: float = 1e-6,
              floor: float = RELATIVE_ERROR_FLOOR, no_gradient_for: tuple = (),
              seed: int = 0) -> GradcheckReport:
    """Compare ``layer.backward`` with central differences, for every float
    input and every parameter.

    Every entry's error is ``|a - n| / max(|n|, floor)``: a relative error
    where the finite difference ``n`` is at least ``floor`` (default
    :data:`RELATIVE_ERROR_FLOOR`), an absolute error in units of ``floor``
    below it (see the comment at the constant for why).  The check passes
    when every entry's error is at most ``tolerance``.  It returns the report
    of the worst entry, whose ``compared`` counts the entries compared, so a
    caller can assert that nothing was left out.

    It raises ``AssertionError``, naming the array and the index, when

    - the worst error exceeds ``tolerance``;
    - the output, an analytic gradient or a finite difference holds NaN or
      ±inf (nothing can be compared there);
    - ``backward`` returns ``None`` for a float input not listed in
      ``no_gradient_for`` (a tuple of input positions: a first ``Dense``
      built with ``input_grad=False`` declares ``no_gradient_for=(0,)``), or
      returns a gradient for one that is listed;
    - a gradient's shape differs from its array's.

    A parameter whose ``.grad`` backward never touched is compared as it is,
    zeros, which is right only if the loss does not depend on it.

    Integer inputs (token ids, labels) are passed through and not
    differentiated.  A layer whose forward returns a float (a cost) is
    differentiated directly; otherwise a seeded random ``dout`` weights its
    output.  Every :class:`~shapesafe_nn.layers.Dropout` inside draws the same
    mask on every forward, so a layer in training mode is checked too.  Use
    float64 inputs and parameters.
    """
    where = f"gradcheck of {type(layer).__name__} failed"
    # before anything runs: a float32 layer would refuse the float64 dout below
    floats = [(f"input {position}", value) for position, value in enumerate(inputs)
              if isinstance(value, np.ndarray) and value.dtype.kind == "f"]
    for name, array in floats + [(name, p.value) for name, p in layer.named_parameters()]:
        if array.dtype != np.float64:
            raise TypeError(f"gradcheck: {name} is {array.dtype}; use float64")
    rng = np.random.default_rng(seed)
    dropouts = [(module, module.get_state()) for _, module in layer.named_modules()
                if isinstance(module, Dropout)]
    with no_grad():  # only the output's shape is needed: keep no record
        out = _forward(layer, inputs, dropouts)
    if (bad := _first_non_finite(out)) is not None:
        raise AssertionError(f"{where}: the output of forward holds {np.asarray(out)[bad]} at "
                             f"{list(bad)}; nothing can be compared")
    dout = None if np.isscalar(out) else rng.standard_normal(np.shape(out))
    layer.zero_grad()
    _forward(layer, inputs, dropouts)
    returned = layer.backward() if dout is None else layer.backward(dout)

    checks = _input_gradients(where, inputs, returned, tuple(no_gradient_for))
    for name, parameter in layer.named_parameters():
        checks.append((name, parameter.value, parameter.grad))
    # copies: later forwards may reuse the buffers backward returned
    checks = [(name, array, np.array(gradient, dtype=np.float64))
              for name, array, gradient in checks]
    for name, array, analytic in checks:
        if analytic.shape != array.shape:
            raise AssertionError(f"{where}: the gradient of {name} has shape {analytic.shape}, "
                                 f"but {name} has shape {array.shape}")
        if (bad := _first_non_finite(analytic)) is not None:
            raise AssertionError(f"{where}: backward gives {analytic[bad]} for {name}"
                                 f"{list(bad)}; nothing can be compared")

    worst = GradcheckReport("nothing", (), 0.0, 0.0, 0.0)
    compared = 0
    with no_grad():  # the nudged forwards are never differentiated: they keep no records
        for name, array, analytic in checks:
            for index in np.ndindex(array.shape):
                numeric = _central_difference(layer, inputs, dout, dropouts, array, index, eps)
                if not np.isfinite(numeric):
                    raise AssertionError(f"{where}: finite differences give {numeric} for "
                                         f"{name}{list(index)}: forward is not finite or not "
                                         f"smooth within ±{eps:g} of it; nothing can be "
                                         f"compared")
                error = abs(analytic[index] - numeric) / max(abs(numeric), floor)
                compared += 1
                if error >= worst.error:
                    worst = GradcheckReport(name, index, float(analytic[index]), numeric, error)
    worst.compared = compared
    if worst.error > tolerance:
        raise AssertionError(f"{where}: {worst}")
    return worst
