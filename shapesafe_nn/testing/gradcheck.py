"""Finite-difference gradient checks: is a layer's ``backward`` right?

For a layer ``f`` and a fixed random ``dout``, define the scalar
``L = Σ f(x) ⊙ dout``.  Then ``∂L/∂x`` is exactly what ``backward(dout)``
must return, and ``∂L/∂W`` what it must add into ``W.grad``.  Each entry is
estimated by the central difference

    ∂L/∂θ ≈ (L(θ + ε) - L(θ - ε)) / 2ε,

whose error shrinks like ε², and compared with the analytic value.  Run it
in float64: in float32 the rounding error of L swamps the difference.
"""

from dataclasses import dataclass

import numpy as np

from ..layers import Dropout
from ..module import Module


@dataclass
class GradcheckReport:
    """The worst disagreement found: which array, which entry, both values."""

    name: str
    index: tuple
    analytic: float
    numeric: float
    error: float  # |analytic - numeric| / max(1, |numeric|)

    def __str__(self) -> str:
        return (f"worst entry: {self.name}{list(self.index)}: backward gives {self.analytic:.10g}, "
                f"finite differences give {self.numeric:.10g} (error {self.error:.3g})")


def _forward(layer: Module, inputs: tuple, dropouts: list):
    for dropout, state in dropouts:  # the same masks on every call: one fixed function
        dropout.set_state(state)
    return layer.forward(*inputs)


def _scalar_loss(layer: Module, inputs: tuple, dout, dropouts: list) -> float:
    out = _forward(layer, inputs, dropouts)
    if dout is None:  # the layer is itself a cost: its output is the scalar
        return float(out)
    return float(np.sum(out * dout))


def gradcheck(layer: Module, *inputs, eps: float = 1e-6, tolerance: float = 1e-6,
              seed: int = 0) -> GradcheckReport:
    """Compare ``layer.backward`` with central differences, for every float
    input and every parameter.  Returns the report of the worst entry; raises
    ``AssertionError`` with that report if its error exceeds ``tolerance``.

    Integer inputs (token ids, labels) are passed through and not
    differentiated.  A layer whose forward returns a float (a cost) is
    differentiated directly; otherwise a seeded random ``dout`` weights its
    output.  Every :class:`~shapesafe_nn.layers.Dropout` inside draws the same
    mask on every forward, so a layer in training mode is checked too.  Use
    float64 inputs and parameters.
    """
    rng = np.random.default_rng(seed)
    dropouts = [(module, module.get_state()) for _, module in layer.named_modules()
                if isinstance(module, Dropout)]
    out = _forward(layer, inputs, dropouts)
    dout = None if np.isscalar(out) else rng.standard_normal(np.shape(out))
    layer.zero_grad()
    _forward(layer, inputs, dropouts)
    analytic_inputs = layer.backward() if dout is None else layer.backward(dout)
    if not isinstance(analytic_inputs, tuple):
        analytic_inputs = (analytic_inputs,)
    float_positions = [i for i, x in enumerate(inputs)
                       if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)]
    checks = []  # (name, array to perturb, analytic gradient)
    for position, analytic in zip(float_positions, analytic_inputs):
        if analytic is None:  # the layer declines to send a gradient to this input
            continue
        checks.append((f"input {position}", inputs[position], analytic))
    for name, parameter in layer.named_parameters():
        checks.append((name, parameter.value, parameter.grad.copy()))

    worst = GradcheckReport("nothing", (), 0.0, 0.0, 0.0)
    for name, array, analytic in checks:
        if array.dtype != np.float64:
            raise TypeError(f"gradcheck: {name} is {array.dtype}; use float64")
        for index in np.ndindex(array.shape):
            original = array[index]
            array[index] = original + eps
            plus = _scalar_loss(layer, inputs, dout, dropouts)
            array[index] = original - eps
            minus = _scalar_loss(layer, inputs, dout, dropouts)
            array[index] = original
            numeric = (plus - minus) / (2 * eps)
            error = abs(analytic[index] - numeric) / max(1.0, abs(numeric))
            if error >= worst.error:
                worst = GradcheckReport(name, index, float(analytic[index]), numeric, error)
    if worst.error > tolerance:
        raise AssertionError(f"gradcheck of {type(layer).__name__} failed: {worst}")
    return worst
