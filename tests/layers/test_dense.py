"""Dense: shapes over drawn dims, gradients by finite differences, PyTorch as reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import Dense, ShapeError
from shapesafe_nn.testing import gradcheck

sizes = st.integers(1, 8)


@st.composite
def wrong_size(draw, right: int) -> int:
    """A positive size other than ``right``: ``right`` plus an offset that is never 0."""
    offset = draw(st.integers(1 - right, 3))
    return right + (offset if offset < 0 else offset + 1)


@settings(max_examples=40, deadline=None)
@given(batch=sizes, d_in=sizes, d_out=sizes, dtype=st.sampled_from([np.float32, np.float64]))
def test_forward_and_backward_shapes(batch, d_in, d_out, dtype):
    layer = Dense(d_in, d_out, dtype=dtype)
    out = layer.forward(np.ones((batch, d_in), dtype=dtype))
    assert out.shape == (batch, d_out) and out.dtype == dtype
    dx = layer.backward(np.ones((batch, d_out), dtype=dtype))
    assert dx.shape == (batch, d_in) and dx.dtype == dtype
    assert layer.W.grad.shape == (d_out, d_in) and layer.b.grad.shape == (d_out,)


@settings(max_examples=40, deadline=None)
@given(batch=sizes, d_in=sizes, d_out=sizes, data=st.data())
def test_a_wrong_d_in_is_named(batch, d_in, d_out, data):
    wrong = data.draw(wrong_size(d_in))
    with pytest.raises(ShapeError) as info:
        Dense(d_in, d_out).forward(np.ones((batch, wrong)))
    assert info.value.dim == "d_in"
    assert f"d_in is {wrong} here, but d_in = {d_in} was bound by parameter W" in str(info.value)


@settings(max_examples=40, deadline=None)
@given(batch=sizes, d_in=sizes, d_out=sizes, data=st.data())
def test_a_wrong_dout_in_backward_is_named(batch, d_in, d_out, data):
    layer = Dense(d_in, d_out)
    layer.forward(np.ones((batch, d_in)))
    wrong_d_out = data.draw(wrong_size(d_out))
    with pytest.raises(ShapeError) as info:
        layer.backward(np.ones((batch, wrong_d_out)))
    assert info.value.dim == "d_out" and f"d_out is {wrong_d_out}" in str(info.value)
    wrong_batch = data.draw(wrong_size(batch))
    with pytest.raises(ShapeError) as info:
        layer.backward(np.ones((wrong_batch, d_out)))
    assert info.value.dim == "batch"
    assert f"batch = {batch} was bound by the forward call" in str(info.value)


@pytest.mark.parametrize("d_in, d_out", [(0, 3), (3, -1), (2.0, 3), (True, 3)])
def test_sizes_must_be_positive_integers(d_in, d_out):
    bad_name, bad = ("d_in", d_in) if d_out == 3 else ("d_out", d_out)
    with pytest.raises(ValueError, match=rf"Dense: {bad_name} must be a positive integer, "
                                         rf"not {bad!r}"):
        Dense(d_in, d_out)


def test_initial_weights_and_biases():
    layer = Dense(400, 50, rng=np.random.default_rng(0))
    # 20,000 draws: the sample std has a relative standard error of 0.005, so 0.02 is 4 sigma
    assert abs(layer.W.value.std() * np.sqrt(400) - 1) < 0.02
    assert not layer.b.value.any()  # bias_std = 0: zeros
    assert Dense(3, 2, dtype=np.float32).W.value.dtype == np.float32


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    layer = Dense(4, 3, rng=rng, bias_std=1.0)
    # eps = 1e-6 in float64: the central difference is good to ~1e-9 here
    report = gradcheck(layer, rng.standard_normal((5, 4)), tolerance=1e-7)
    assert report.error < 1e-7


def test_gradients_accumulate_over_two_calls_each_with_its_own_input():
    rng = np.random.default_rng(2)
    layer = Dense(3, 2, rng=rng)
    x1, x2 = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    dout1, dout2 = rng.standard_normal((4, 2)), rng.standard_normal((5, 2))
    layer.forward(x1)
    layer.forward(x2)
    layer.backward(dout2)  # the most recent forward first, as reverse mode runs them
    layer.backward(dout1)
    expected_dW = dout1.T @ x1 + dout2.T @ x2
    np.testing.assert_allclose(layer.W.grad, expected_dW, rtol=1e-12)  # float64 rounding
    np.testing.assert_allclose(layer.b.grad, dout1.sum(0) + dout2.sum(0), rtol=1e-12)
    with pytest.raises(RuntimeError, match="Dense.backward: no forward is waiting"):
        layer.backward(dout1)  # each forward has had its backward


def test_without_input_grad_backward_returns_none_but_fills_the_gradients():
    rng = np.random.default_rng(4)
    x, dout = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    lean = Dense(3, 2, rng=np.random.default_rng(0), input_grad=False)
    lean.forward(x)
    assert lean.backward(dout) is None
    np.testing.assert_allclose(lean.W.grad, dout.T @ x, rtol=1e-12)  # float64 rounding
    np.testing.assert_allclose(lean.b.grad, dout.sum(0), rtol=1e-12)


@pytest.mark.reference
def test_forward_and_backward_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    layer = Dense(6, 4, rng=rng, bias_std=1.0)
    x, dout = rng.standard_normal((5, 6)), rng.standard_normal((5, 4))
    out = layer.forward(x)
    dx = layer.backward(dout)

    tx = torch.tensor(x, requires_grad=True)
    tW = torch.tensor(layer.W.value, requires_grad=True)
    tb = torch.tensor(layer.b.value, requires_grad=True)
    tout = torch.nn.functional.linear(tx, tW, tb)
    (tout * torch.tensor(dout)).sum().backward()  # its gradient w.r.t. tout is dout

    # float64 on both sides: only summation order differs
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.W.grad, tW.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.b.grad, tb.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_repr_shows_the_sizes():
    text = repr(Dense(784, 30))
    assert text.startswith("Dense(d_in=784, d_out=30)  # 23,550 parameters")
    assert "W: (d_out d_in) = (30, 784)" in text and "b: (d_out) = (30,)" in text
