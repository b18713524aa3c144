"""One attention head: projections, scaled scores, causal mask, softmax, weighted values.
(The other scores and masks: test_attention_variants.py.)"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import ShapeError
from shapesafe_nn.layers import AttentionHead
from shapesafe_nn.layers.attention import MASKS, causal_mask
from shapesafe_nn.testing import gradcheck


def make(d_model=5, d_head=3, mask="causal", seed=0):
    """A float64 head with weights large enough that the softmax is far from uniform."""
    rng = np.random.default_rng(seed)
    layer = AttentionHead(d_model, d_head, mask, rng=rng, dtype=np.float64)
    for parameter in layer.parameters():
        parameter.value[...] = rng.standard_normal(parameter.value.shape)
    return layer


@pytest.mark.parametrize("mask", ["causal", "none"])
def test_gradcheck_input_and_every_weight(mask):
    x = np.random.default_rng(1).standard_normal((2, 4, 5))
    gradcheck(make(mask=mask), x)  # raises beyond 1e-6


def test_weights_are_causal_rows_that_sum_to_one():
    layer = make()
    layer.forward(np.random.default_rng(1).standard_normal((2, 6, 5)))
    weights = layer.attention_weights
    assert weights.shape == (2, 6, 6)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-12)
    assert not weights[:, causal_mask(6)].any()  # no weight on the future, exactly 0
    np.testing.assert_array_equal(weights[:, 0, 0], 1.0)  # the first position sees only itself


def test_the_mask_is_built_once_per_length_and_cannot_be_changed():
    assert causal_mask(7) is causal_mask(7)
    assert not causal_mask(7).flags.writeable
    np.testing.assert_array_equal(causal_mask(3), [[False, True, True],
                                                   [False, False, True],
                                                   [False, False, False]])


def test_default_dtype_and_init_follow_gpt2():
    layer = AttentionHead(64, 32, rng=np.random.default_rng(0))
    assert [name for name, _ in layer.named_parameters()] == ["query.W", "key.W", "value.W"]
    for name, parameter in layer.named_parameters():
        assert parameter.value.shape == (32, 64), name  # (d_head, d_model): (d_out, d_in)
        assert parameter.value.dtype == np.float32
        assert abs(parameter.value.std() - 0.02) < 0.002  # 2,048 draws: std error ~3e-4
    out = layer.forward(np.ones((1, 3, 64), np.float32))
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32


def check_causal(layer, d_model, batch, seq, t, rng):
    """Changing the input after position t leaves the output up to t as it was."""
    x = rng.standard_normal((batch, seq, d_model))
    changed = x.copy()
    changed[:, t + 1:] = rng.standard_normal(changed[:, t + 1:].shape) * 10
    before = layer.forward(x)[:, : t + 1]
    after = layer.forward(changed)[:, : t + 1]
    # same arithmetic on the same numbers; the tolerance only allows for
    # matrix products that group their sums differently
    np.testing.assert_allclose(after, before, rtol=1e-12, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(batch=st.integers(1, 3), d_model=st.integers(1, 6), d_head=st.integers(1, 4),
       seq=st.integers(2, 7), data=st.data())
def test_the_past_does_not_see_the_future(batch, d_model, d_head, seq, data):
    t = data.draw(st.integers(0, seq - 2))
    check_causal(make(d_model, d_head), d_model, batch, seq, t, np.random.default_rng(seq))


def test_without_the_mask_the_future_does_change_the_past():
    layer = make(mask="none")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 4, 5))
    changed = x.copy()
    changed[:, 3] += 1.0
    assert not np.allclose(layer.forward(x)[:, 0], layer.forward(changed)[:, 0])


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 4), seq=st.integers(1, 8), d_model=st.integers(1, 8),
       d_head=st.integers(1, 8), mask=st.sampled_from(list(MASKS)))
def test_shapes(batch, seq, d_model, d_head, mask):
    layer = AttentionHead(d_model, d_head, mask, rng=np.random.default_rng(0))
    out = layer.forward(np.ones((batch, seq, d_model), np.float32))
    assert out.shape == (batch, seq, d_head)
    assert layer.attention_weights.shape == (batch, seq, seq)
    assert layer.backward(out).shape == (batch, seq, d_model)


def test_the_wrong_input_width_names_d_model():
    with pytest.raises(ShapeError) as error:
        make(d_model=5).forward(np.zeros((2, 3, 4)))
    assert error.value.where == "AttentionHead.forward" and error.value.argument == "x"
    assert error.value.dim == "d_model" and "d_model" in str(error.value)


def test_a_gradient_of_the_wrong_width_names_d_head():
    layer = make(d_model=5, d_head=3)
    layer.forward(np.zeros((2, 3, 5)))
    with pytest.raises(ShapeError) as error:
        layer.backward(np.zeros((2, 3, 4)))
    assert error.value.where == "AttentionHead.backward" and error.value.dim == "d_head"


@pytest.mark.reference
@pytest.mark.parametrize("mask", ["causal", "none"])
def test_matches_torch_scaled_dot_product_attention(mask):
    torch = pytest.importorskip("torch")
    causal = mask == "causal"
    layer = make(d_model=6, d_head=4, mask=mask)
    rng = np.random.default_rng(5)
    x, dout = rng.standard_normal((3, 7, 6)), rng.standard_normal((3, 7, 4))
    x_t = torch.from_numpy(x).requires_grad_()
    weights_t = {name: torch.from_numpy(p.value.copy()).requires_grad_()
                 for name, p in layer.named_parameters()}
    q, k, v = (x_t @ weights_t[f"{name}.W"].T for name in ("query", "key", "value"))
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    (expected * torch.from_numpy(dout)).sum().backward()

    out = layer.forward(x)
    dx = layer.backward(dout)
    assert np.isfinite(out).all() and np.isfinite(dx).all()  # allclose counts NaN == NaN
    # float64 on both sides; the tolerances allow for different summation orders
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, parameter in layer.named_parameters():
        np.testing.assert_allclose(parameter.grad, weights_t[name].grad.numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=name)
    scores = q @ k.transpose(1, 2) / 2.0  # √d_head = 2
    if causal:
        hidden = torch.ones(7, 7, dtype=torch.bool).triu(1)  # the formula, not our mask
        scores = scores.masked_fill(hidden, float("-inf"))
    np.testing.assert_allclose(layer.attention_weights, scores.softmax(-1).detach().numpy(),
                               rtol=1e-10, atol=1e-12)
