"""Sigmoid, ReLU, Tanh, Softmax: shapes, gradients, stability, PyTorch as reference."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from shapesafe_nn import ReLU, ShapeError, Sigmoid, Softmax, Tanh
from shapesafe_nn.testing import gradcheck

ELEMENTWISE = [Sigmoid, ReLU, Tanh]
ALL = [*ELEMENTWISE, Softmax]
shapes = array_shapes(min_dims=1, max_dims=3, max_side=5)


@st.composite
def wrong_size(draw, right: int) -> int:
    """A positive size other than ``right``: ``right`` plus an offset that is never 0."""
    offset = draw(st.integers(1 - right, 3))
    return right + (offset if offset < 0 else offset + 1)


def away_from_zero(rng, shape) -> np.ndarray:
    """Values with |z| in [0.1, 2]: ReLU's kink at 0 stays far outside ±eps."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.1, 2.0, shape)


@pytest.mark.parametrize("Layer", ALL)
@settings(max_examples=25, deadline=None)
@given(shape=shapes, dtype=st.sampled_from([np.float32, np.float64]))
def test_output_and_gradient_keep_the_input_shape_and_dtype(Layer, shape, dtype):
    layer = Layer()
    out = layer.forward(np.linspace(-3, 3, np.prod(shape)).reshape(shape).astype(dtype))
    assert out.shape == shape and out.dtype == dtype
    dz = layer.backward(np.ones(shape, dtype=dtype))
    assert dz.shape == shape and dz.dtype == dtype


@settings(max_examples=25, deadline=None)
@given(shape=shapes)
def test_softmax_rows_are_probabilities(shape):
    p = Softmax().forward(np.random.default_rng(0).standard_normal(shape) * 5)
    assert (p >= 0).all()
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)  # float64 rounding


@settings(max_examples=25, deadline=None)
@given(shape=shapes, data=st.data())
def test_softmax_backward_names_a_wrong_classes(shape, data):
    layer = Softmax()
    layer.forward(np.zeros(shape))
    wrong = data.draw(wrong_size(shape[-1]))
    with pytest.raises(ShapeError) as info:
        layer.backward(np.zeros(shape[:-1] + (wrong,)))
    assert info.value.dim == "classes"
    assert f"classes = {shape[-1]} was bound by the forward call" in str(info.value)


@pytest.mark.parametrize("Layer", ALL)
@settings(max_examples=25, deadline=None)
@given(shape=array_shapes(min_dims=2, max_dims=3, max_side=5), data=st.data())
def test_backward_names_a_dout_whose_batch_differs_from_the_forward(Layer, shape, data):
    # two axes at least, so that the first is a batch inside `*shape` even for Softmax
    layer = Layer()
    layer.forward(np.zeros(shape))
    wrong = data.draw(wrong_size(shape[0]))
    with pytest.raises(ShapeError) as info:
        layer.backward(np.zeros((wrong,) + shape[1:]))
    text = str(info.value)
    assert f"{Layer.__name__}.backward: argument dout" in text
    # `*shape` is variadic: the text names it with both shapes, and the forward call
    assert "'*shape'" in text and "last forward output" in text


@pytest.mark.parametrize("Layer", ALL)
def test_integer_input_is_refused_naming_the_layer_and_argument(Layer):
    with pytest.raises(ShapeError) as info:
        Layer().forward(np.arange(6).reshape(2, 3))
    text = str(info.value)
    assert f"{Layer.__name__}.forward: argument z" in text
    assert "z holds int64 but a floating-point array is declared" in text


@pytest.mark.parametrize("Layer", ALL)
def test_backward_before_forward_says_so(Layer):
    with pytest.raises(RuntimeError, match=f"{Layer.__name__}.backward: no forward is waiting"):
        Layer().backward(np.zeros((2, 3)))


@pytest.mark.parametrize("Layer", ALL)
def test_gradients_match_finite_differences(Layer):
    z = away_from_zero(np.random.default_rng(0), (3, 4))
    # float64, eps = 1e-6: central-difference error ~1e-10 for these smooth pieces
    report = gradcheck(Layer(), z, tolerance=1e-7)
    assert report.error < 1e-7


def test_values_at_known_points():
    z = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(Sigmoid().forward(z), 1 / (1 + np.exp(-z)), rtol=1e-14)
    np.testing.assert_array_equal(ReLU().forward(z), [0.0, 0.0, 3.0])
    np.testing.assert_allclose(Softmax().forward(np.log([[1.0, 3.0]])), [[0.25, 0.75]],
                               rtol=1e-14)


@pytest.mark.parametrize("Layer", ALL)
def test_extreme_inputs_give_finite_values_without_warnings(Layer):
    z = np.array([[-1000.0, 0.0, 1000.0]])
    layer = Layer()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp would be a RuntimeWarning
        out = layer.forward(z)
        dz = layer.backward(np.ones_like(z))
    assert np.isfinite(out).all() and np.isfinite(dz).all()
    if Layer is Sigmoid:
        np.testing.assert_array_equal(out, [[0.0, 0.5, 1.0]])


@pytest.mark.reference
@pytest.mark.parametrize("Layer, name", [(Sigmoid, "sigmoid"), (ReLU, "relu"), (Tanh, "tanh"),
                                         (Softmax, "softmax")])
def test_forward_and_backward_match_pytorch(Layer, name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    z, dout = away_from_zero(rng, (2, 3, 5)), rng.standard_normal((2, 3, 5))
    layer = Layer()
    out = layer.forward(z)
    dz = layer.backward(dout)

    tz = torch.tensor(z, requires_grad=True)
    function = getattr(torch, name)
    tout = function(tz, dim=-1) if name == "softmax" else function(tz)
    (tout * torch.tensor(dout)).sum().backward()

    # float64 on both sides; sigmoid is computed as (1 + tanh(z/2)) / 2 here, the same
    # function up to rounding
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dz, tz.grad.numpy(), rtol=1e-10, atol=1e-12)
