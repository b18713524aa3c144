"""Multi-head attention: fused QKV, heads split and merged, output projection, dropout."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import ShapeError
from shapesafe_nn.layers import MultiHeadAttention
from shapesafe_nn.layers.attention import MASKS
from shapesafe_nn.testing import gradcheck


def make(d_model=6, n_heads=2, mask="causal", dropout=0.0, seed=0):
    """A float64 layer with weights and biases large enough to matter."""
    rng = np.random.default_rng(seed)
    layer = MultiHeadAttention(d_model, n_heads, mask, dropout, rng=rng, dtype=np.float64)
    for parameter in layer.parameters():
        parameter.value[...] = rng.standard_normal(parameter.value.shape) * 0.7
    return layer


def test_d_model_must_be_divisible_by_n_heads():
    with pytest.raises(ValueError) as error:
        MultiHeadAttention(130, 4)
    assert "MultiHeadAttention" in str(error.value)
    assert "d_model 130" in str(error.value) and "n_heads 4" in str(error.value)


@pytest.mark.parametrize("mask", ["causal", "none"])
def test_gradcheck_input_and_every_parameter(mask):
    x = np.random.default_rng(1).standard_normal((2, 4, 6))
    gradcheck(make(mask=mask), x)  # raises beyond 1e-6


def test_gradcheck_in_training_mode_with_dropout():
    layer = make(dropout=0.3)
    x = np.random.default_rng(1).standard_normal((2, 4, 6))
    out = layer.forward(x)
    weights_mask = layer.attend.dropout._records[-1].arrays["scaled_mask"]  # this forward's
    assert (out == 0).any() and (weights_mask == 0).any()
    gradcheck(layer, x)  # holds each Dropout's mask fixed; raises beyond 1e-6


def test_eval_mode_switches_dropout_off():
    x = np.random.default_rng(1).standard_normal((2, 5, 6))
    with_dropout, without = make(dropout=0.5), make(dropout=0.0)
    assert not np.allclose(with_dropout.forward(x), without.forward(x))
    with_dropout.eval()
    np.testing.assert_array_equal(with_dropout.forward(x), without.forward(x))
    gradcheck(with_dropout, x)


def test_parameters_dims_and_gpt2_init():
    layer = MultiHeadAttention(64, 4, rng=np.random.default_rng(0))
    dims = {name: p.dims for name, p in layer.named_parameters()}
    assert dims == {"qkv.W": "d_out d_in", "qkv.b": "d_out",
                    "proj.W": "d_out d_in", "proj.b": "d_out"}  # two Dense layers
    assert layer.qkv.W.value.shape == (3 * 64, 64) and layer.proj.W.value.shape == (64, 64)
    assert abs(layer.qkv.W.value.std() - 0.02) < 0.001  # 12,288 draws: std error ~1e-4
    assert not layer.qkv.b.value.any() and not layer.proj.b.value.any()
    assert layer.qkv.W.value.dtype == np.float32


def test_the_wrong_input_width_names_d_model():
    with pytest.raises(ShapeError) as error:
        make(d_model=6).forward(np.zeros((2, 3, 8)))
    assert error.value.where == "MultiHeadAttention.forward" and error.value.argument == "x"
    assert error.value.dim == "d_model" and "d_model" in str(error.value)


def test_a_gradient_of_the_wrong_length_names_seq():
    layer = make()
    layer.forward(np.zeros((2, 3, 6)))
    with pytest.raises(ShapeError) as error:
        layer.backward(np.zeros((2, 4, 6)))
    assert error.value.where == "MultiHeadAttention.backward" and error.value.dim == "seq"


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 3), seq=st.integers(1, 6), n_heads=st.integers(1, 4),
       d_head=st.integers(1, 4), mask=st.sampled_from(list(MASKS)))
def test_shapes(batch, seq, n_heads, d_head, mask):
    d_model = n_heads * d_head  # consistent by construction
    layer = MultiHeadAttention(d_model, n_heads, mask, rng=np.random.default_rng(0))
    assert layer.d_head == d_head
    out = layer.forward(np.ones((batch, seq, d_model), np.float32))
    assert out.shape == (batch, seq, d_model) and out.dtype == np.float32
    assert layer.attention_weights.shape == (batch, n_heads, seq, seq)
    assert layer.backward(out).shape == (batch, seq, d_model)


@settings(max_examples=20, deadline=None)
@given(batch=st.integers(1, 3), n_heads=st.integers(1, 3), d_head=st.integers(1, 3),
       seq=st.integers(2, 6), data=st.data())
def test_the_past_does_not_see_the_future(batch, n_heads, d_head, seq, data):
    d_model = n_heads * d_head
    t = data.draw(st.integers(0, seq - 2))
    layer = make(d_model, n_heads)
    rng = np.random.default_rng(seq)
    x = rng.standard_normal((batch, seq, d_model))
    changed = x.copy()
    changed[:, t + 1:] = rng.standard_normal(changed[:, t + 1:].shape) * 10
    # same arithmetic on the same numbers; the tolerance only allows for
    # matrix products that group their sums differently
    kept = layer.forward(x)[:, : t + 1]
    assert np.isfinite(kept).all()  # allclose counts NaN == NaN
    np.testing.assert_allclose(layer.forward(changed)[:, : t + 1], kept, rtol=1e-12, atol=1e-12)


@pytest.mark.reference
@pytest.mark.parametrize("mask", ["causal", "none"])
def test_matches_torch_multihead_attention(mask):
    torch = pytest.importorskip("torch")
    d_model, n_heads, seq = 8, 2, 5
    layer = make(d_model, n_heads, mask)
    rng = np.random.default_rng(7)
    x, dout = rng.standard_normal((3, seq, d_model)), rng.standard_normal((3, seq, d_model))

    reference = torch.nn.MultiheadAttention(d_model, n_heads, batch_first=True,
                                            dtype=torch.float64)
    with torch.no_grad():  # the same layout: y = x Wᵀ + b
        reference.in_proj_weight.copy_(torch.from_numpy(layer.qkv.W.value))
        reference.in_proj_bias.copy_(torch.from_numpy(layer.qkv.b.value))
        reference.out_proj.weight.copy_(torch.from_numpy(layer.proj.W.value))
        reference.out_proj.bias.copy_(torch.from_numpy(layer.proj.b.value))
    x_t = torch.from_numpy(x).requires_grad_()
    # torch's boolean attn_mask: True where a query may not look; built from the
    # formula here, not from ours, so that a wrong mask of ours cannot agree with it
    hidden = torch.ones(seq, seq, dtype=torch.bool).triu(1) if mask == "causal" else None
    expected, weights = reference(x_t, x_t, x_t, attn_mask=hidden, need_weights=True,
                                  average_attn_weights=False)
    (expected * torch.from_numpy(dout)).sum().backward()

    out = layer.forward(x)
    dx = layer.backward(dout)
    assert np.isfinite(out).all() and np.isfinite(dx).all()  # allclose counts NaN == NaN
    # float64 on both sides; the tolerances allow for different summation orders
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.attention_weights, weights.detach().numpy(),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in ((layer.qkv.W.grad, reference.in_proj_weight.grad),
                         (layer.qkv.b.grad, reference.in_proj_bias.grad),
                         (layer.proj.W.grad, reference.out_proj.weight.grad),
                         (layer.proj.b.grad, reference.out_proj.bias.grad)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-12)
