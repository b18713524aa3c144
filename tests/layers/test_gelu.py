"""GELU in both forms, GPT-2's tanh approximation and the exact erf, and their derivatives."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn.layers import GELU
from shapesafe_nn.layers.activations import normal_cdf
from shapesafe_nn.testing import gradcheck


def test_gradcheck_over_a_wide_range():
    x = np.linspace(-6, 6, 49).reshape(7, 7)
    gradcheck(GELU(), x)  # raises beyond 1e-6


def test_the_sigmoid_form_is_the_tanh_formula():
    """GELU computes z σ(2u); the docstring's formula is ½ z (1 + tanh u)."""
    z = np.linspace(-30, 30, 10_001)
    u = np.sqrt(2 / np.pi) * (z + 0.044715 * z ** 3)
    np.testing.assert_allclose(GELU().forward(z), 0.5 * z * (1 + np.tanh(u)), rtol=0,
                               atol=1e-14)  # float64 rounding


def test_known_values_and_extremes():
    x = np.array([-1e4, -30.0, 0.0, 30.0, 1e4], np.float32)
    with np.errstate(all="raise"):  # no overflow on the way
        out = GELU().forward(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0, 30.0, 1e4])  # saturates exactly
    # gelu(1) = 0.5 (1 + tanh(√(2/π) · 1.044715)) = 0.841191990607 (tanh form)
    assert GELU().forward(np.array([1.0]))[0] == pytest.approx(0.8411919906082768, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4))
def test_any_shape_in_any_shape_out(shape):
    x = np.ones(shape, np.float32)
    layer = GELU()
    assert layer.forward(x).shape == tuple(shape)
    assert layer.backward(x).shape == tuple(shape)


@pytest.mark.reference
@pytest.mark.parametrize("dtype, tolerance", [
    (np.float64, 1e-12),  # the same function: z σ(2u) = ½ z (1 + tanh u)
    # float32: torch's 1 + tanh(u) cancels for x < 0, so the two agree in absolute terms
    (np.float32, 1e-5)])
def test_matches_torch_gelu_tanh(dtype, tolerance):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((5, 6, 7)) * 3).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    x_t = torch.from_numpy(x).requires_grad_()
    expected = torch.nn.GELU(approximate="tanh")(x_t)
    (expected * torch.from_numpy(dout)).sum().backward()

    layer = GELU()
    out = layer.forward(x)
    dx = layer.backward(dout)
    assert out.dtype == dtype and dx.dtype == dtype
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=tolerance, atol=tolerance)


def test_erf_form_gradcheck_over_a_wide_range():
    x = np.linspace(-6, 6, 49).reshape(7, 7)
    gradcheck(GELU("erf"), x)  # raises beyond 1e-6


@pytest.mark.parametrize("dtype, tolerance", [
    (np.float64, 1e-15),  # a few units of float64 rounding
    (np.float32, 3e-7),  # a few units of float32 rounding
    (np.float16, 1e-3)])  # computed in float64, rounded once to float16
def test_normal_cdf_matches_math_erf_on_both_sides_of_the_split(dtype, tolerance):
    z = np.linspace(-12, 12, 24_001).astype(dtype)  # |z/√2| <= 2: series; beyond: fraction
    expected = np.array([0.5 * (1 + math.erf(float(value) / math.sqrt(2))) for value in z])
    phi = normal_cdf(z)
    assert phi.dtype == dtype
    np.testing.assert_allclose(phi.astype(np.float64), expected, rtol=0, atol=tolerance)
    # far in the left tail Φ is tiny, and computed without cancellation
    assert normal_cdf(np.array([-30.0]))[0] == pytest.approx(4.906713927148187e-198, rel=1e-12)


def test_the_two_forms_differ_by_at_most_4_7e_minus_4():
    """The number docs/10-outgrow-one-cpu.md gives: largest near z = ±2.7."""
    z = np.linspace(-10, 10, 200_001)
    difference = np.abs(GELU("tanh").forward(z) - GELU("erf").forward(z))
    assert 4.7e-4 < difference.max() < 4.8e-4
    assert 2.6 < abs(z[difference.argmax()]) < 2.8


def test_unknown_form_is_refused():
    with pytest.raises(ValueError, match="GELU: approximate must be one of tanh, erf, not 'exact'"):
        GELU("exact")


@pytest.mark.reference
@pytest.mark.parametrize("dtype, tolerance", [
    (np.float64, 1e-14),  # Φ to float64 rounding, against torch's erf
    (np.float32, 1e-6)])  # Φ computed in float64, rounded once to float32
def test_erf_form_matches_torch_gelu(dtype, tolerance):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = np.concatenate([(rng.standard_normal(300) * 3), np.linspace(-40, 40, 201)]).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    x_t = torch.from_numpy(x).requires_grad_()
    expected = torch.nn.GELU()(x_t)
    (expected * torch.from_numpy(dout)).sum().backward()

    layer = GELU("erf")
    out = layer.forward(x)
    dx = layer.backward(dout)
    assert out.dtype == dtype and dx.dtype == dtype
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=tolerance, atol=tolerance)
