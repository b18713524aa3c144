"""FeedForward: Dense -> GELU -> Dense -> dropout, at every position alike."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import ShapeError
from shapesafe_nn.layers import FeedForward
from shapesafe_nn.testing import gradcheck


def make(d_model=4, d_ff=6, dropout=0.0, seed=0):
    """A float64 layer with weights and biases large enough to matter."""
    rng = np.random.default_rng(seed)
    layer = FeedForward(d_model, d_ff, dropout, rng=rng, dtype=np.float64)
    for parameter in layer.parameters():
        parameter.value[...] = rng.standard_normal(parameter.value.shape) * 0.7
    return layer


def test_gradcheck_input_and_every_parameter():
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    gradcheck(make(), x)  # raises beyond 1e-6


def test_gradcheck_in_training_mode_with_dropout():
    layer = make(dropout=0.3)
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    assert (layer.forward(x) == 0).any()  # dropout is really on
    gradcheck(layer, x)  # holds each Dropout's mask fixed; raises beyond 1e-6


def test_each_position_is_transformed_on_its_own():
    layer = make()
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    out = layer.forward(x)
    alone = layer.forward(x[1:, 2:])  # one position as a batch of one
    np.testing.assert_allclose(alone[0, 0], out[1, 2], rtol=1e-12)  # only rounding differs


def test_dense_layout_dims_and_gpt2_init():
    layer = FeedForward(32, 128, rng=np.random.default_rng(0))
    assert layer.fc.W.value.shape == (128, 32)  # Dense keeps (d_out, d_in)
    assert layer.proj.W.value.shape == (32, 128)
    assert layer.fc.W.value.dtype == np.float32
    assert abs(layer.fc.W.value.std() - 0.02) < 0.001  # 4,096 draws: std error ~2e-4
    assert not layer.fc.b.value.any() and not layer.proj.b.value.any()


def test_the_wrong_width_names_d_model():
    with pytest.raises(ShapeError) as error:
        make(d_model=4).forward(np.zeros((2, 3, 5)))
    assert error.value.where == "FeedForward.forward" and error.value.dim == "d_model"
    assert "d_model" in str(error.value)


def test_input_without_a_seq_axis_is_refused():
    with pytest.raises(ShapeError) as error:
        make(d_model=4).forward(np.zeros((2, 4)))
    assert error.value.argument == "x" and "batch seq d_model" in str(error.value)


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 4), seq=st.integers(1, 5), d_model=st.integers(1, 8),
       d_ff=st.integers(1, 16))
def test_shapes(batch, seq, d_model, d_ff):
    layer = FeedForward(d_model, d_ff, rng=np.random.default_rng(0))
    out = layer.forward(np.ones((batch, seq, d_model), np.float32))
    assert out.shape == (batch, seq, d_model) and out.dtype == np.float32
    assert layer.backward(out).shape == (batch, seq, d_model)


@pytest.mark.reference
def test_matches_torch_mlp():
    torch = pytest.importorskip("torch")
    layer = make(d_model=8, d_ff=32)
    rng = np.random.default_rng(4)
    x, dout = rng.standard_normal((3, 5, 8)), rng.standard_normal((3, 5, 8))
    # nanoGPT's MLP: c_fc, GELU(tanh), c_proj (dropout 0)
    reference = torch.nn.Sequential(torch.nn.Linear(8, 32, dtype=torch.float64),
                                    torch.nn.GELU(approximate="tanh"),
                                    torch.nn.Linear(32, 8, dtype=torch.float64))
    with torch.no_grad():  # same (d_out, d_in) layout as Dense: no transposes
        for ours, theirs in ((layer.fc, reference[0]), (layer.proj, reference[2])):
            theirs.weight.copy_(torch.from_numpy(ours.W.value))
            theirs.bias.copy_(torch.from_numpy(ours.b.value))
    x_t = torch.from_numpy(x).requires_grad_()
    expected = reference(x_t)
    (expected * torch.from_numpy(dout)).sum().backward()

    out = layer.forward(x)
    dx = layer.backward(dout)
    # float64 on both sides; the tolerances allow for different summation orders
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in ((layer.fc, reference[0]), (layer.proj, reference[2])):
        np.testing.assert_allclose(ours.W.grad, theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours.b.grad, theirs.bias.grad.numpy(), rtol=1e-10, atol=1e-12)
