"""Sequential: layers in order forward, in reverse backward; each layer checks itself."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import Dense, ReLU, Sequential, ShapeError, Sigmoid, Softmax, Tanh
from shapesafe_nn.testing import gradcheck

sizes = st.integers(1, 8)


@st.composite
def wrong_size(draw, right: int) -> int:
    """A positive size other than ``right``: ``right`` plus an offset that is never 0."""
    offset = draw(st.integers(1 - right, 3))
    return right + (offset if offset < 0 else offset + 1)


def two_layers(d_in: int, d_hidden: int, d_out: int, seed: int = 0) -> Sequential:
    rng = np.random.default_rng(seed)
    return Sequential(Dense(d_in, d_hidden, rng=rng, bias_std=1.0), Tanh(),
                      Dense(d_hidden, d_out, rng=rng, bias_std=1.0), Sigmoid())


@settings(max_examples=40, deadline=None)
@given(batch=sizes, d_in=sizes, d_hidden=sizes, d_out=sizes)
def test_forward_and_backward_shapes(batch, d_in, d_hidden, d_out):
    model = two_layers(d_in, d_hidden, d_out)
    assert model.forward(np.ones((batch, d_in))).shape == (batch, d_out)
    assert model.backward(np.ones((batch, d_out))).shape == (batch, d_in)


@settings(max_examples=40, deadline=None)
@given(batch=sizes, d_in=sizes, d_hidden=sizes, d_out=sizes, data=st.data())
def test_a_wrong_input_width_is_named_by_the_first_layer(batch, d_in, d_hidden, d_out, data):
    wrong = data.draw(wrong_size(d_in))
    with pytest.raises(ShapeError) as info:
        two_layers(d_in, d_hidden, d_out).forward(np.ones((batch, wrong)))
    assert info.value.where == "Dense.forward" and info.value.dim == "d_in"
    assert f"d_in is {wrong} here, but d_in = {d_in}" in str(info.value)


@settings(max_examples=40, deadline=None)
@given(batch=sizes, d_in=sizes, d_hidden=sizes, d_out=sizes, data=st.data())
def test_layers_that_do_not_chain_are_named_where_they_meet(batch, d_in, d_hidden, d_out, data):
    wrong = data.draw(wrong_size(d_hidden))
    model = Sequential(Dense(d_in, d_hidden), ReLU(), Dense(wrong, d_out))
    with pytest.raises(ShapeError) as info:
        model.forward(np.ones((batch, d_in)))
    assert info.value.dim == "d_in"
    assert f"d_in is {d_hidden} here, but d_in = {wrong} was bound by parameter W" \
        in str(info.value)


def test_backward_is_the_chain_rule_in_reverse_order():
    rng = np.random.default_rng(1)
    first, middle, last = Dense(4, 3, rng=rng), Tanh(), Dense(3, 2, rng=rng)
    model = Sequential(first, middle, last)
    x, dout = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    out = model.forward(x)
    np.testing.assert_allclose(out, last.forward(middle.forward(first.forward(x))), rtol=1e-14)
    dx = model.backward(dout)
    # by hand: dz = dout W2, through tanh', then through W1
    dz = (dout @ last.W.value) * (1 - np.tanh(x @ first.W.value.T + first.b.value) ** 2)
    np.testing.assert_allclose(dx, dz @ first.W.value, rtol=1e-12)  # float64 rounding


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    model = Sequential(Dense(4, 3, rng=rng, bias_std=1.0), Sigmoid(),
                       Dense(3, 3, rng=rng, bias_std=1.0), Softmax())
    # float64, eps = 1e-6: central-difference error ~1e-10 for this smooth composition
    report = gradcheck(model, rng.standard_normal((3, 4)), tolerance=1e-7)
    assert report.error < 1e-7


def test_layers_are_named_and_indexed_by_position():
    first, second = Dense(3, 2), Sigmoid()
    model = Sequential(first, second)
    assert len(model) == 2 and model[0] is first and model[-1] is second
    assert list(model) == [first, second]
    assert [name for name, _ in model.named_parameters()] == ["0.W", "0.b"]


def test_an_item_that_is_not_a_layer_is_refused():
    with pytest.raises(TypeError, match=r"Sequential: item 1 is a function, not a layer"):
        Sequential(Dense(3, 2), lambda x: x)


def test_an_input_that_is_not_an_array_is_refused_by_the_sequential_itself():
    with pytest.raises(ShapeError) as info:
        two_layers(3, 2, 1).forward([[1.0, 2.0, 3.0]])
    assert info.value.where == "Sequential.forward"
    assert "x is a list, not a numpy array" in str(info.value)
