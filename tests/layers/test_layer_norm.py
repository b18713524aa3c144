"""LayerNorm over d_model: each position normalized on its own, then scaled and shifted."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import ShapeError
from shapesafe_nn.layers import LayerNorm
from shapesafe_nn.testing import gradcheck


def make(d_model=5, seed=0):
    """A float64 LayerNorm with gamma and beta moved away from 1 and 0."""
    rng = np.random.default_rng(seed)
    layer = LayerNorm(d_model, dtype=np.float64)
    layer.gamma.value[...] = 1.0 + rng.standard_normal(d_model)
    layer.beta.value[...] = rng.standard_normal(d_model)
    return layer


def test_gradcheck_input_gamma_and_beta():
    x = np.random.default_rng(1).standard_normal((3, 4, 5)) * 2 + 1
    gradcheck(make(), x)  # raises beyond 1e-6


def test_starts_as_gamma_1_beta_0_in_float32():
    layer = LayerNorm(6)
    assert layer.gamma.value.dtype == np.float32 and (layer.gamma.value == 1).all()
    assert not layer.beta.value.any()
    assert layer.forward(np.ones((1, 2, 6), np.float32)).dtype == np.float32


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 4), seq=st.integers(1, 5), d_model=st.integers(2, 16),
       offset=st.floats(-100, 100), scale=st.floats(0.1, 100))
def test_each_position_comes_out_with_mean_0_and_variance_1(batch, seq, d_model, offset, scale):
    x = np.random.default_rng(d_model).standard_normal((batch, seq, d_model)) * scale + offset
    out = LayerNorm(d_model, dtype=np.float64).forward(x)
    assert out.shape == (batch, seq, d_model)
    np.testing.assert_allclose(out.mean(axis=-1), 0.0, atol=1e-9)
    variance = x.var(axis=-1)
    # ε = 1e-5 pulls the variance slightly below 1: var / (var + ε)
    np.testing.assert_allclose(out.var(axis=-1), variance / (variance + 1e-5), rtol=1e-9)


def test_a_constant_position_gives_beta_not_nan():
    layer = make()
    out = layer.forward(np.full((1, 2, 5), 3.0))
    np.testing.assert_allclose(out[0, 0], layer.beta.value, atol=1e-12)


def test_the_wrong_width_names_d_model():
    with pytest.raises(ShapeError) as error:
        LayerNorm(8).forward(np.zeros((2, 3, 7), np.float32))
    assert error.value.where == "LayerNorm.forward" and error.value.dim == "d_model"
    assert "gamma" in str(error.value)  # where d_model = 8 was bound


def test_eps_must_be_positive():
    with pytest.raises(ValueError, match="LayerNorm: eps"):
        LayerNorm(4, eps=0.0)


@pytest.mark.reference
@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-10),  # summation order only
                                              (np.float32, 2e-5)])  # float32 rounding
def test_matches_torch_layer_norm(dtype, tolerance):
    torch = pytest.importorskip("torch")
    layer = make(d_model=16)
    for parameter in layer.parameters():
        parameter.value = parameter.value.astype(dtype)
        parameter.grad = np.zeros_like(parameter.value)
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((4, 6, 16)) * 3 + 2).astype(dtype)
    dout = rng.standard_normal((4, 6, 16)).astype(dtype)
    reference = torch.nn.LayerNorm(16, eps=1e-5, dtype=torch.from_numpy(x).dtype)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.gamma.value))
        reference.bias.copy_(torch.from_numpy(layer.beta.value))
    x_t = torch.from_numpy(x).requires_grad_()
    expected = reference(x_t)
    (expected * torch.from_numpy(dout)).sum().backward()

    out = layer.forward(x)
    dx = layer.backward(dout)
    assert out.dtype == dtype and dx.dtype == dtype
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=tolerance, atol=tolerance)
    # gamma and beta sum over 24 positions: allow that many roundings
    np.testing.assert_allclose(layer.gamma.grad, reference.weight.grad.numpy(),
                               rtol=tolerance, atol=24 * tolerance)
    np.testing.assert_allclose(layer.beta.grad, reference.bias.grad.numpy(),
                               rtol=tolerance, atol=24 * tolerance)
