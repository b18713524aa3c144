"""gradcheck itself: it passes right gradients and catches wrong ones, saying where."""

import re

import numpy as np
import pytest

from shapesafe_nn import Dense, Module, Sigmoid
from shapesafe_nn.shapes import Array, Float, checked
from shapesafe_nn.testing import GradcheckReport, gradcheck


class SigmoidMissingAFactor(Module):
    """A broken sigmoid: backward forgets the (1 - a) of σ'(z) = a (1 - a)."""

    @checked
    def forward(self, z: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        a = 0.5 * (1.0 + np.tanh(0.5 * z))
        self.save_for_backward(a=a)
        return a

    @checked
    def backward(self, dout: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        return dout * self.saved["a"]


class DenseDoublingBiasGradient(Dense):
    """A broken Dense: right dx and dW, but db counted twice."""

    @checked
    def backward(self, dout: Float[Array, "batch d_out"]) -> Float[Array, "batch d_in"]:
        dx = super().backward(dout)
        self.b.grad += dout.sum(axis=0)
        return dx


def test_a_right_backward_passes_and_reports_its_worst_entry():
    rng = np.random.default_rng(0)
    report = gradcheck(Dense(3, 2, rng=rng), rng.standard_normal((4, 3)), tolerance=1e-7)
    assert isinstance(report, GradcheckReport)
    assert report.error < 1e-7  # float64, eps = 1e-6
    assert report.name in {"input 0", "W", "b"}
    assert report.analytic == pytest.approx(report.numeric, rel=1e-6, abs=1e-7)


def test_a_wrong_input_gradient_fails_naming_the_worst_entry():
    z = np.random.default_rng(1).standard_normal((3, 4))
    with pytest.raises(AssertionError) as info:
        gradcheck(SigmoidMissingAFactor(), z)
    text = str(info.value)
    assert text.startswith("gradcheck of SigmoidMissingAFactor failed: worst entry: input 0[")
    found = re.search(r"input 0\[(\d+), (\d+)\]: backward gives (\S+), "
                      r"finite differences give (\S+) \(error", text)
    row, column, analytic, numeric = found.groups()
    # at the named entry the two differ by exactly the missing factor (1 - a)
    a = Sigmoid().forward(z)[int(row), int(column)]
    assert float(numeric) / float(analytic) == pytest.approx(1 - a, rel=1e-6)  # 10 printed digits


def test_a_wrong_parameter_gradient_fails_naming_the_parameter():
    rng = np.random.default_rng(2)
    layer = DenseDoublingBiasGradient(3, 2, rng=rng)
    with pytest.raises(AssertionError, match=r"worst entry: b\[\d+\]"):
        gradcheck(layer, rng.standard_normal((4, 3)))


def test_parameters_and_inputs_are_restored_after_the_check():
    rng = np.random.default_rng(3)
    layer = Dense(3, 2, rng=rng, bias_std=1.0)
    x = rng.standard_normal((4, 3))
    W, b, x_before = layer.W.value.copy(), layer.b.value.copy(), x.copy()
    gradcheck(layer, x)
    np.testing.assert_array_equal(layer.W.value, W)
    np.testing.assert_array_equal(layer.b.value, b)
    np.testing.assert_array_equal(x, x_before)


def test_float32_is_refused():
    layer = Dense(3, 2, dtype=np.float32)
    with pytest.raises(TypeError, match="gradcheck: input 0 is float32; use float64"):
        gradcheck(layer, np.ones((2, 3), dtype=np.float32))


def test_report_text():
    report = GradcheckReport("W", (1, 0), analytic=0.5, numeric=0.25, error=0.25)
    assert str(report) == ("worst entry: W[1, 0]: backward gives 0.5, "
                           "finite differences give 0.25 (error 0.25)")
