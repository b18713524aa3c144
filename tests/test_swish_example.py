"""CONTRIBUTING.md's example: a learner's own activation, tested from its annotations.

The code between the two markers is CONTRIBUTING.md's code block, verbatim
(the last test holds them to that), and this file runs exactly that code.
Swish's forward accepts any shape, so nothing there can mismatch; its
backward must get a ``dout`` of the forward output's shape, so that is where
``mismatched_inputs_for`` applies.
"""

# --- CONTRIBUTING.md example start ---
import re

import numpy as np
import pytest
from hypothesis import given, settings

from shapesafe_nn import Module, ShapeError, checked
from shapesafe_nn.shapes import Array, Float
from shapesafe_nn.testing import gradcheck, inputs_for, mismatched_inputs_for


class Swish(Module):
    r"""a = z σ(z);  a'(z) = σ(z) (1 + z (1 - σ(z))).  Ramachandran et al. 2017."""

    @checked
    def forward(self, z: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        s = 0.5 * (1.0 + np.tanh(0.5 * z))  # σ(z), as Sigmoid computes it: no overflow
        self.save_for_backward(z=z, s=s)
        return z * s

    @checked
    def backward(self, dout: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        z, s = self.saved["z"], self.saved["s"]
        return dout * s * (1.0 + z * (1.0 - s))


swish = Swish()


@settings(max_examples=20, deadline=None)
@given(inputs_for(swish))  # (z,): float64, 1 to 3 axes of 1 to 8
def test_swish_backward_matches_finite_differences(args):
    gradcheck(swish, *args)  # raises unless backward agrees with central differences to 1e-6


@settings(max_examples=20, deadline=None)
@given(mismatched_inputs_for(swish, "backward"))
def test_swish_refuses_a_dout_of_another_shape(example):
    ((z,), (dout,)), dim = example  # dim is "*shape": one axis of dout is off
    swish.forward(z)
    with pytest.raises(ShapeError, match=re.escape(dim)):
        swish.backward(dout)
# --- CONTRIBUTING.md example end ---


def test_contributing_shows_this_code():
    from pathlib import Path  # here, not above: the lines above are the guide's, verbatim

    here = Path(__file__).read_text(encoding="utf-8")
    start, end = "# --- CONTRIBUTING.md example start ---\n", "# --- CONTRIBUTING.md example end ---"
    code = here[here.index(start) + len(start):here.index(end)]
    guide = (Path(__file__).resolve().parent.parent / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert f"```python\n{code}```" in guide
