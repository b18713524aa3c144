"""RMSNorm over d_model: each position divided by its root mean square, then scaled."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import ShapeError
from shapesafe_nn.layers import RMSNorm
from shapesafe_nn.testing import gradcheck


def make(d_model=5, seed=0, dtype=np.float64):
    """An RMSNorm with gamma moved away from 1, so that a backward forgetting it fails."""
    layer = RMSNorm(d_model, dtype=dtype)
    layer.gamma.value[...] = 1.0 + np.random.default_rng(seed).standard_normal(d_model)
    return layer


def test_gradcheck_input_and_gamma():
    x = np.random.default_rng(1).standard_normal((3, 4, 5)) * 2 + 1
    report = gradcheck(make(), x)  # raises beyond 1e-6
    assert report.compared == x.size + 5


def test_starts_as_gamma_1_in_float32_with_no_shift():
    layer = RMSNorm(6)
    assert layer.gamma.value.dtype == np.float32 and (layer.gamma.value == 1).all()
    assert [name for name, _ in layer.named_parameters()] == ["gamma"]
    assert layer.forward(np.ones((1, 2, 6), np.float32)).dtype == np.float32


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 4), seq=st.integers(1, 5), d_model=st.integers(1, 16),
       scale=st.floats(0.1, 100))
def test_each_position_comes_out_with_root_mean_square_1(batch, seq, d_model, scale):
    x = np.random.default_rng(d_model).standard_normal((batch, seq, d_model)) * scale + scale
    out = RMSNorm(d_model, dtype=np.float64).forward(x)
    mean_square = np.square(x).mean(axis=-1)
    # ε = 1e-5 pulls the mean square of the output slightly below 1: ms / (ms + ε)
    np.testing.assert_allclose(np.square(out).mean(axis=-1), mean_square / (mean_square + 1e-5),
                               rtol=1e-9)
    # no mean is subtracted: the output keeps the sign pattern of x
    np.testing.assert_array_equal(np.sign(out), np.sign(x))


def test_a_zero_position_gives_zeros_not_nan():
    out = make().forward(np.zeros((1, 2, 5)))
    np.testing.assert_array_equal(out, 0.0)


def test_the_wrong_width_names_d_model():
    with pytest.raises(ShapeError) as error:
        RMSNorm(8).forward(np.zeros((2, 3, 7), np.float32))
    assert error.value.where == "RMSNorm.forward" and error.value.dim == "d_model"
    assert "gamma" in str(error.value)  # where d_model = 8 was bound


def test_a_gradient_of_another_batch_names_batch():
    layer = make()
    layer.forward(np.ones((2, 3, 5)))
    with pytest.raises(ShapeError) as error:
        layer.backward(np.ones((4, 3, 5)))
    assert error.value.where == "RMSNorm.backward" and error.value.dim == "batch"


@pytest.mark.parametrize("eps", [0.0, -1e-5, float("nan")])
def test_eps_must_be_positive(eps):
    with pytest.raises(ValueError, match="RMSNorm: eps must be a positive number"):
        RMSNorm(4, eps=eps)


@pytest.mark.reference
@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-10),  # summation order only
                                              (np.float32, 2e-5)])  # float32 rounding
def test_matches_torch_rms_norm(dtype, tolerance):
    torch = pytest.importorskip("torch")
    layer = make(d_model=16, dtype=dtype)
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((4, 6, 16)) * 3 + 2).astype(dtype)
    dout = rng.standard_normal((4, 6, 16)).astype(dtype)
    reference = torch.nn.RMSNorm(16, eps=1e-5, dtype=torch.from_numpy(x).dtype)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.gamma.value))
    x_t = torch.from_numpy(x).requires_grad_()
    expected = reference(x_t)
    (expected * torch.from_numpy(dout)).sum().backward()

    out = layer.forward(x)
    dx = layer.backward(dout)
    assert out.dtype == dtype and dx.dtype == dtype
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=tolerance, atol=tolerance)
    # gamma sums over 24 positions: allow that many roundings
    np.testing.assert_allclose(layer.gamma.grad, reference.weight.grad.numpy(),
                               rtol=tolerance, atol=24 * tolerance)
