"""gradcheck itself: it passes right gradients and catches wrong ones, saying where;
and it fails, rather than passes, on everything it cannot compare."""

import re

import numpy as np
import pytest

from shapesafe_nn import Dense, Module, Sigmoid
from shapesafe_nn.layers import LayerNorm
from shapesafe_nn.models import Network
from shapesafe_nn.shapes import Array, Float, checked
from shapesafe_nn.testing import (RELATIVE_ERROR_FLOOR, GradcheckReport, assert_all_finite,
                                  assert_finite_allclose, gradcheck)


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

    def backward(self, dout):  # super().backward is checked, and consumes the record
        dx = super().backward(dout)
        self.b.grad += dout.sum(axis=0)
        return dx


class DenseGivingNaN(Dense):
    """A broken Dense whose backward is NaN everywhere: dx and W.grad."""

    def backward(self, dout):  # super().backward is checked, and consumes the record
        dx = super().backward(dout)
        self.W.grad[...] = np.nan
        return np.full_like(dx, np.nan)


class DenseGivingNaNForW(Dense):
    """A broken Dense: right dx, but one NaN in W.grad."""

    def backward(self, dout):  # super().backward is checked, and consumes the record
        dx = super().backward(dout)
        self.W.grad[1, 2] = np.nan
        return dx


class LayerNormGivingNone(LayerNorm):
    """A broken LayerNorm: right γ and β gradients, but no dx at all."""

    def backward(self, dout):  # super().backward is checked, and consumes the record
        super().backward(dout)
        return None


class TinyScale(Module):
    """out = c x with c = 1e-7, whose backward is ``factor`` times too large:
    every gradient is of the order of 1e-7."""

    def __init__(self, factor: float):
        super().__init__()
        self.c, self.factor = 1e-7, factor

    def forward(self, x):
        return self.c * x

    def backward(self, dout):
        return self.factor * self.c * dout


def dense_and_input(seed: int, Layer=Dense):
    rng = np.random.default_rng(seed)
    return Layer(3, 2, rng=rng, bias_std=1.0), rng.standard_normal((4, 3))


# ---------------------------------------------------------------------------
# Right gradients pass, and the report says what was compared
# ---------------------------------------------------------------------------
def test_a_right_backward_passes_and_reports_its_worst_entry_and_the_count():
    layer, x = dense_and_input(0)
    report = gradcheck(layer, x, tolerance=1e-7)
    assert isinstance(report, GradcheckReport)
    assert report.error < 1e-7  # float64, eps = 1e-6
    assert report.name in {"input 0", "W", "b"}
    assert report.analytic == pytest.approx(report.numeric, rel=1e-6, abs=1e-7)
    assert report.compared == 4 * 3 + 2 * 3 + 2  # x, W and b: every entry


def test_the_error_is_relative_above_the_floor():
    """A backward 1% too large on gradients of about 0.5 has a relative error of
    1%, not the 0.5% that dividing by max(1, |n|) would report."""

    class HalfScale(TinyScale):
        def __init__(self):
            super().__init__(factor=1.01)
            self.c = 0.5

    report = gradcheck(HalfScale(), np.random.default_rng(1).standard_normal((3, 4)),
                       tolerance=1.0)
    assert report.error == pytest.approx(0.01, rel=1e-6)  # central difference of a line: exact
    assert report.compared == 12


def test_a_backward_twice_too_large_on_tiny_gradients_fails():
    x = np.random.default_rng(2).standard_normal((3, 4))
    gradcheck(TinyScale(factor=1.0), x)  # right: passes
    with pytest.raises(AssertionError) as info:
        gradcheck(TinyScale(factor=2.0), x)
    # |a - n| = 1e-7 |dout|, measured in units of the floor: above the tolerance 1e-6,
    # where dividing by max(1, |n|) would have left it at 1e-7 |dout|, below
    found = re.search(r"\(error (\S+)\)", str(info.value))
    assert float(found.group(1)) > 1e-7 / RELATIVE_ERROR_FLOOR


# ---------------------------------------------------------------------------
# Wrong gradients fail, naming the worst entry
# ---------------------------------------------------------------------------
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
    layer, x = dense_and_input(2, DenseDoublingBiasGradient)
    with pytest.raises(AssertionError, match=r"worst entry: b\[\d+\]"):
        gradcheck(layer, x)


# ---------------------------------------------------------------------------
# What cannot be compared is a failure, not a pass
# ---------------------------------------------------------------------------
def test_nan_gradients_fail_naming_the_array_and_the_index():
    layer, x = dense_and_input(3, DenseGivingNaN)
    with pytest.raises(AssertionError, match=r"gradcheck of DenseGivingNaN failed: backward "
                                             r"gives nan for input 0\[0, 0\]; nothing can be"):
        gradcheck(layer, x)


def test_a_single_nan_in_a_parameter_gradient_fails_naming_it():
    layer, x = dense_and_input(4, DenseGivingNaNForW)
    with pytest.raises(AssertionError, match=r"backward gives nan for W\[1, 2\]"):
        gradcheck(layer, x)


def test_a_non_finite_output_fails():
    class LogOfX(Module):
        def forward(self, x):
            self.x = x.copy()
            with np.errstate(divide="ignore"):
                return np.log(x)

        def backward(self, dout):
            return dout / self.x

    x = np.array([[1.0, 0.0, 2.0]])
    with pytest.raises(AssertionError, match=r"the output of forward holds -inf at \[0, 1\]"):
        gradcheck(LogOfX(), x)


def test_a_non_finite_finite_difference_fails_naming_the_entry():
    class SquareRoot(Module):  # √0 is finite, but √(0 - ε) is NaN
        def forward(self, x):
            self.x = x.copy()
            with np.errstate(invalid="ignore"):
                return np.sqrt(x)

        def backward(self, dout):
            return dout  # finite, so only the finite difference can fail

    x = np.array([1.0, 4.0, 0.0])
    with pytest.raises(AssertionError, match=r"finite differences give nan for input 0\[2\]"):
        gradcheck(SquareRoot(), x)


def test_a_missing_input_gradient_fails():
    rng = np.random.default_rng(5)
    layer = LayerNormGivingNone(4, dtype=np.float64)
    with pytest.raises(AssertionError, match=r"gradcheck of LayerNormGivingNone failed: backward "
                                             r"returned no gradient \(None\) for input 0"):
        gradcheck(layer, rng.standard_normal((2, 3, 4)))


def test_an_input_declared_without_gradient_is_skipped_and_the_rest_compared():
    # Network builds its first Dense with input_grad=False: backward returns None for x
    model = Network([4, 3, 2], seed=6)
    x = np.random.default_rng(6).standard_normal((5, 4))
    with pytest.raises(AssertionError, match=r"no_gradient_for=\(0,\)"):
        gradcheck(model, x)
    report = gradcheck(model, x, no_gradient_for=(0,))
    assert report.compared == model.num_parameters()  # every parameter, and no input
    assert report.name != "input 0"


def test_declaring_no_gradient_for_an_input_that_gets_one_fails():
    layer, x = dense_and_input(7)
    with pytest.raises(AssertionError, match="no_gradient_for names input 0, but backward "
                                             "returned a gradient for it"):
        gradcheck(layer, x, no_gradient_for=(0,))


def test_no_gradient_for_must_name_a_float_input():
    layer, x = dense_and_input(8)
    with pytest.raises(ValueError, match=r"no_gradient_for names input 1, which is not a float "
                                         r"array input; the float inputs are \[0\]"):
        gradcheck(layer, x, no_gradient_for=(1,))


def test_a_gradient_of_the_wrong_shape_fails():
    class Transposing(TinyScale):
        def backward(self, dout):
            return dout.T

    with pytest.raises(AssertionError, match=r"the gradient of input 0 has shape \(4, 3\), but "
                                             r"input 0 has shape \(3, 4\)"):
        gradcheck(Transposing(1.0), np.ones((3, 4)))


# ---------------------------------------------------------------------------
# Housekeeping
# ---------------------------------------------------------------------------
def test_parameters_and_inputs_are_restored_after_the_check():
    layer, x = dense_and_input(9)
    W, b, x_before = layer.W.value.copy(), layer.b.value.copy(), x.copy()
    gradcheck(layer, x)
    np.testing.assert_array_equal(layer.W.value, W)
    np.testing.assert_array_equal(layer.b.value, b)
    np.testing.assert_array_equal(x, x_before)


def test_the_nudged_forwards_leave_no_records_behind():
    model = Network([4, 3, 2], seed=10, input_grad=True)
    gradcheck(model, np.random.default_rng(10).standard_normal((2, 4)))
    assert all(module.pending_records() == 0 for _, module in model.named_modules())


def test_float32_is_refused():
    layer = Dense(3, 2, dtype=np.float32)
    with pytest.raises(TypeError, match="gradcheck: input 0 is float32; use float64"):
        gradcheck(layer, np.ones((2, 3), dtype=np.float32))


def test_report_text():
    report = GradcheckReport("W", (1, 0), analytic=0.5, numeric=0.25, error=1.0, compared=6)
    assert str(report) == ("worst entry: W[1, 0]: backward gives 0.5, "
                           "finite differences give 0.25 (error 1)")


# ---------------------------------------------------------------------------
# assert_finite_allclose: assert_allclose, but NaN is never close to anything
# ---------------------------------------------------------------------------
def test_assert_allclose_alone_lets_nan_through_and_the_helper_does_not():
    nan = np.full((2, 3), np.nan)
    np.testing.assert_allclose(nan, nan, rtol=1e-12)  # the hole: NaN == NaN here
    with pytest.raises(AssertionError, match=r"logits: actual holds nan at \[0, 0\] "
                                             r"\(6 of 6 entries are not finite\)"):
        assert_finite_allclose(nan, nan, rtol=1e-12, err_msg="logits")


def test_assert_finite_allclose_checks_the_reference_too_and_then_compares():
    ones = np.ones(3)
    with pytest.raises(AssertionError, match=r"desired holds inf at \[2\]"):
        assert_finite_allclose(ones, np.array([1.0, 1.0, np.inf]), rtol=1e-12)
    assert_finite_allclose(ones, ones + 1e-13, rtol=1e-12)
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        assert_finite_allclose(ones, ones + 1e-6, rtol=1e-12)
    with pytest.raises(AssertionError, match=r"array holds -inf at \[1\]"):
        assert_all_finite(np.array([0.0, -np.inf]))
