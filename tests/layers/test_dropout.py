"""Inverted dropout: a seeded random mask, the same mask in backward, off in eval mode."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import Module
from shapesafe_nn.layers import Dropout
from shapesafe_nn.testing import assert_all_finite, assert_finite_allclose, gradcheck


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan"), "0.5", True])
def test_p_outside_0_1_is_refused(p):
    with pytest.raises(ValueError) as error:
        Dropout(p)
    assert "Dropout" in str(error.value) and "p must be" in str(error.value)


def test_backward_uses_the_mask_of_the_forward():
    p = 0.25
    layer = Dropout(p, seed=0)
    rng = np.random.default_rng(1)
    x = rng.uniform(1, 2, size=(4, 5, 6))  # no zeros: a 0 in the output means dropped
    out = layer.forward(x)
    mask = out != 0
    assert 0 < mask.sum() < mask.size
    assert_finite_allclose(out, x * mask / (1 - p), rtol=1e-15)  # one float64 rounding
    dout = rng.standard_normal(x.shape)
    assert_finite_allclose(layer.backward(dout), dout * mask / (1 - p), rtol=1e-15)


def test_gradcheck_in_eval_mode():
    layer = Dropout(0.5, seed=0).eval()
    report = gradcheck(layer, np.random.default_rng(0).standard_normal((3, 4)))
    assert report.compared == 12


def test_gradcheck_with_the_mask_held_fixed():
    class FixedMask(Module):  # restore the generator so each forward draws the same mask
        def __init__(self, dropout):
            super().__init__()
            self.dropout, self.state = dropout, dropout.get_state()

        def forward(self, x):
            self.dropout.set_state(self.state)
            return self.dropout.forward(x)

        def backward(self, dout):
            return self.dropout.backward(dout)

    report = gradcheck(FixedMask(Dropout(0.4, seed=3)),
                       np.random.default_rng(0).standard_normal((5, 6)))
    assert report.compared == 30


def test_identity_in_eval_mode_and_when_p_is_0():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    for layer in (Dropout(0.5, seed=0).eval(), Dropout(0.0, seed=0)):
        np.testing.assert_array_equal(layer.forward(x), x)
        np.testing.assert_array_equal(layer.backward(x), x)


def test_keeps_about_1_minus_p_and_preserves_the_mean():
    layer = Dropout(0.3, seed=0)
    out = layer.forward(np.ones((200, 500), np.float32))
    assert out.dtype == np.float32
    # 100,000 Bernoulli(0.7) draws: standard error of the fraction ≈ 0.0015
    assert abs((out != 0).mean() - 0.7) < 0.01
    assert abs(out.mean() - 1.0) < 0.015  # scaled by 1/0.7, so the mean stays 1
    assert_finite_allclose(out[out != 0], 1 / 0.7, rtol=1e-6)  # float32 rounding


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
def test_the_rate_zeroes_a_fraction_p_and_scales_the_rest_by_1_over_1_minus_p(p):
    """p and 1 - p are told apart only when p != 0.5, so several rates are drawn.
    x is never 0, so a 0 in the output means dropped."""
    layer = Dropout(p, seed=1)
    x = np.random.default_rng(2).uniform(1, 2, size=(100, 400))
    out = layer.forward(x)
    dropped = out == 0
    # 40,000 Bernoulli(p) draws: the standard error of the fraction is at most 0.0025,
    # so 0.0125 is 5 standard errors (and far from 1 - p for every p here)
    assert abs(dropped.mean() - p) < 0.0125
    kept = ~dropped
    assert_finite_allclose(out[kept], x[kept] / (1 - p), rtol=1e-15)  # one float64 rounding
    dout = np.random.default_rng(3).standard_normal(x.shape)
    dx = layer.backward(dout)
    assert not dx[dropped].any()  # no gradient through a dropped number
    assert_finite_allclose(dx[kept], dout[kept] / (1 - p), rtol=1e-15)


def test_the_same_seed_draws_the_same_masks_and_each_forward_a_new_one():
    x = np.ones((8, 8))
    a, b = Dropout(0.5, seed=42), Dropout(0.5, seed=42)
    first = a.forward(x)
    assert_all_finite(first, "first")  # assert_array_equal counts NaN as equal to NaN
    np.testing.assert_array_equal(first, b.forward(x))
    assert not np.array_equal(first, a.forward(x))


def test_generator_state_round_trips_through_json():
    layer = Dropout(0.5, seed=7)
    layer.forward(np.ones(10))  # move the generator along
    saved = json.loads(json.dumps(layer.get_state()))  # what a checkpoint would store
    expected = layer.forward(np.ones(50))
    assert_all_finite(expected, "expected")  # assert_array_equal counts NaN as equal to NaN
    restored = Dropout(0.5, seed=0)
    restored.set_state(saved)
    np.testing.assert_array_equal(restored.forward(np.ones(50)), expected)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4),
       p=st.floats(0.0, 0.9), training=st.booleans())
def test_any_shape_in_any_shape_out(shape, p, training):
    layer = Dropout(p, seed=0).train(training)
    x = np.ones(shape, np.float32)
    out = layer.forward(x)
    assert out.shape == x.shape and out.dtype == np.float32
    assert layer.backward(x).shape == x.shape
