"""Every attention score with every mask, in AttentionHead and MultiHeadAttention:
finite-difference gradients, a PyTorch reference, what each score and mask does."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn.layers import AttentionHead, MultiHeadAttention, TransformerBlock
from shapesafe_nn.layers.attention import (MASKS, SCORES, anti_causal_mask, causal_mask, mask_bias,
                                           no_mask)
from shapesafe_nn.testing import gradcheck

VARIANTS = [(score, mask) for score in SCORES for mask in MASKS]


def make_head(score, mask, d_model=5, d_head=3, seed=0):
    """A float64 head; weights N(0, 0.5²) keep even the squared scores of order 1,
    so no softmax row saturates and every gradient is of real size."""
    rng = np.random.default_rng(seed)
    layer = AttentionHead(d_model, d_head, mask, score=score, rng=rng, dtype=np.float64)
    for parameter in layer.parameters():
        parameter.value[...] = rng.standard_normal(parameter.value.shape) * 0.5
    return layer


def make_mha(score, mask, d_model=6, n_heads=2, seed=0):
    rng = np.random.default_rng(seed)
    layer = MultiHeadAttention(d_model, n_heads, mask, score=score, rng=rng, dtype=np.float64)
    for parameter in layer.parameters():
        parameter.value[...] = rng.standard_normal(parameter.value.shape) * 0.5
    return layer


# ---------------------------------------------------------------------------
# Gradients: every score's backward, under every mask
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("score, mask", VARIANTS)
def test_gradcheck_attention_head(score, mask):
    layer = make_head(score, mask)
    gradcheck(layer, np.random.default_rng(1).standard_normal((2, 4, 5)))  # raises beyond 1e-6
    # W_q reaches the output only through the scores: a gradient of real size
    # there means the score's backward was exercised, not skipped by saturation
    assert np.abs(layer.query.W.grad).max() > 1e-2


@pytest.mark.parametrize("score, mask", VARIANTS)
def test_gradcheck_multi_head_attention(score, mask):
    layer = make_mha(score, mask)
    gradcheck(layer, np.random.default_rng(1).standard_normal((2, 4, 6)))  # raises beyond 1e-6
    assert np.abs(layer.qkv.W.grad[:6]).max() > 1e-2  # the query rows: see above


# ---------------------------------------------------------------------------
# PyTorch: the same computation written with torch's own operations
# ---------------------------------------------------------------------------
def torch_attention(torch, q, k, v, score, mask):
    """softmax(score(q, k) with -∞ where hidden) v, and the weights."""
    from shapesafe_nn.testing.torch_gpt import attention_scores, hidden_positions

    hidden = hidden_positions(mask, q.shape[-2])
    weights = attention_scores(q, k, score).masked_fill(hidden, float("-inf")).softmax(-1)
    return weights @ v, weights


def assert_close(ours, theirs, name):
    assert np.isfinite(ours).all(), f"{name} is not finite"  # allclose counts NaN == NaN
    # float64 on both sides; the tolerances allow for different summation orders
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-12,
                               err_msg=name)


@pytest.mark.reference
@pytest.mark.parametrize("score, mask", VARIANTS)
def test_attention_head_matches_torch(score, mask):
    torch = pytest.importorskip("torch")
    layer = make_head(score, mask, d_model=6, d_head=4)
    rng = np.random.default_rng(5)
    x, dout = rng.standard_normal((3, 7, 6)), rng.standard_normal((3, 7, 4))
    x_t = torch.from_numpy(x).requires_grad_()
    weights_t = {name: torch.from_numpy(p.value.copy()).requires_grad_()
                 for name, p in layer.named_parameters()}
    q, k, v = (x_t @ weights_t[f"{name}.W"].T for name in ("query", "key", "value"))
    expected, attention = torch_attention(torch, q, k, v, score, mask)
    (expected * torch.from_numpy(dout)).sum().backward()

    out = layer.forward(x)
    dx = layer.backward(dout)
    assert_close(out, expected, "out")
    assert_close(layer.attention_weights, attention, "attention_weights")
    assert_close(dx, x_t.grad, "dx")
    for name, parameter in layer.named_parameters():
        assert_close(parameter.grad, weights_t[name].grad, name)


@pytest.mark.reference
@pytest.mark.parametrize("score, mask", VARIANTS)
def test_multi_head_attention_matches_torch(score, mask):
    torch = pytest.importorskip("torch")
    d_model, n_heads, seq = 8, 2, 5
    layer = make_mha(score, mask, d_model, n_heads)
    rng = np.random.default_rng(7)
    x, dout = rng.standard_normal((3, seq, d_model)), rng.standard_normal((3, seq, d_model))
    x_t = torch.from_numpy(x).requires_grad_()
    params = {name: torch.from_numpy(p.value.copy()).requires_grad_()
              for name, p in layer.named_parameters()}
    q, k, v = ((x_t @ params["qkv.W"].T + params["qkv.b"])[..., i * d_model:(i + 1) * d_model]
               .reshape(3, seq, n_heads, d_model // n_heads).transpose(1, 2) for i in range(3))
    heads, attention = torch_attention(torch, q, k, v, score, mask)
    merged = heads.transpose(1, 2).reshape(3, seq, d_model)
    expected = merged @ params["proj.W"].T + params["proj.b"]
    (expected * torch.from_numpy(dout)).sum().backward()

    out = layer.forward(x)
    dx = layer.backward(dout)
    assert_close(out, expected, "out")
    assert_close(layer.attention_weights, attention, "attention_weights")
    assert_close(dx, x_t.grad, "dx")
    for name, parameter in layer.named_parameters():
        assert_close(parameter.grad, params[name].grad, name)


# ---------------------------------------------------------------------------
# Masks: which positions can change which outputs
# ---------------------------------------------------------------------------
def test_the_mask_tables():
    np.testing.assert_array_equal(anti_causal_mask(3), [[False, False, False],
                                                        [True, False, False],
                                                        [True, True, False]])
    np.testing.assert_array_equal(anti_causal_mask(5), causal_mask(5).T)
    assert not no_mask(4).any()
    for mask in MASKS:
        hidden = MASKS[mask](6)
        assert hidden is MASKS[mask](6) and not hidden.flags.writeable  # built once, read-only
        assert not hidden.diagonal().any()  # every position sees itself: no row all -inf
        bias = mask_bias(mask, 6, 6, np.dtype(np.float32))
        assert bias.dtype == np.float32 and not bias.flags.writeable
        np.testing.assert_array_equal(bias == -np.inf, hidden)
        np.testing.assert_array_equal(bias[~hidden], 0.0)


def layer_of(kind, score, mask, n_heads, d_head):
    d_model = n_heads * d_head  # consistent by construction
    if kind == "head":
        return make_head(score, mask, d_model, d_head), d_model
    return make_mha(score, mask, d_model, n_heads), d_model


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["head", "multi_head"]), score=st.sampled_from(list(SCORES)),
       mask=st.sampled_from(["causal", "anti_causal"]), batch=st.integers(1, 2),
       n_heads=st.integers(1, 3), d_head=st.integers(1, 3), seq=st.integers(2, 6),
       data=st.data())
def test_hidden_positions_cannot_change_the_output(kind, score, mask, batch, n_heads, d_head,
                                                   seq, data):
    """causal: the output at t ignores every later input; anti_causal: every earlier one."""
    t = data.draw(st.integers(0, seq - 2) if mask == "causal" else st.integers(1, seq - 1))
    layer, d_model = layer_of(kind, score, mask, n_heads, d_head)
    rng = np.random.default_rng(seq)
    x = rng.standard_normal((batch, seq, d_model))
    changed = x.copy()
    hidden = np.s_[:, t + 1:] if mask == "causal" else np.s_[:, :t]
    changed[hidden] = rng.standard_normal(changed[hidden].shape) * 10
    kept = np.s_[:, :t + 1] if mask == "causal" else np.s_[:, t:]
    # masked weights are exactly 0, so the kept outputs see the same numbers;
    # the tolerance only allows for BLAS grouping its sums differently
    np.testing.assert_allclose(layer.forward(changed)[kept], layer.forward(x)[kept],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["head", "multi_head"])
@pytest.mark.parametrize("score", list(SCORES))
def test_without_a_mask_the_first_position_sees_the_last(kind, score):
    layer, d_model = layer_of(kind, score, "none", n_heads=2, d_head=3)
    x = np.random.default_rng(0).standard_normal((1, 5, d_model))
    changed = x.copy()
    changed[:, 4] += 1.0
    before, after = layer.forward(x)[:, 0], layer.forward(changed)[:, 0]
    assert np.abs(after - before).max() > 1e-3  # not rounding: a real change
    # the same change under the causal mask leaves position 0 exactly as it was
    causal, _ = layer_of(kind, score, "causal", n_heads=2, d_head=3)
    np.testing.assert_array_equal(causal.forward(changed)[:, 0], causal.forward(x)[:, 0])


# ---------------------------------------------------------------------------
# Scores: the property each one is there to show
# ---------------------------------------------------------------------------
def random_qk(seed=0, shape=(2, 5, 4), size=1.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) * size, rng.standard_normal(shape) * size


def test_dot_is_scaled_dot_times_the_square_root_of_d_head():
    q, k = random_qk()
    dot, _ = SCORES["dot"].forward(q, k)
    scaled, _ = SCORES["scaled_dot"].forward(q, k)
    np.testing.assert_allclose(dot, scaled * 2.0, rtol=1e-14)  # √d_head = √4


def test_squared_dot_cannot_tell_an_opposite_key_from_an_aligned_one():
    q, k = random_qk()
    squared = SCORES["squared_dot"].forward
    scaled = SCORES["scaled_dot"].forward
    np.testing.assert_array_equal(squared(q, -k)[0], squared(q, k)[0])
    assert (squared(q, k)[0] >= 0).all()
    np.testing.assert_array_equal(scaled(q, -k)[0], -scaled(q, k)[0])


def test_dot_of_squares_ignores_every_sign():
    q, k = random_qk()
    flips = np.random.default_rng(1).choice([-1.0, 1.0], size=q.shape)
    dot_of_squares = SCORES["dot_of_squares"].forward
    np.testing.assert_allclose(dot_of_squares(q * flips, k)[0], dot_of_squares(q, k)[0],
                               rtol=1e-14)  # the same squares: only rounding may differ
    np.testing.assert_allclose(dot_of_squares(q, -k)[0], dot_of_squares(q, k)[0], rtol=1e-14)
    # while squared_dot still tells (1, -1) from (1, 1): the sign inside the sum counts
    one, other = np.array([[[1.0, -1.0]]]), np.array([[[1.0, 1.0]]])
    assert SCORES["squared_dot"].forward(one, other)[0] == 0.0
    assert dot_of_squares(one, other)[0] == dot_of_squares(one, one)[0] > 0


def test_negative_dot_is_scaled_dot_with_the_keys_flipped():
    q, k = random_qk()
    negative, _ = SCORES["negative_dot"].forward(q, k)
    np.testing.assert_array_equal(negative, SCORES["scaled_dot"].forward(q, -k)[0])


def test_negative_squared_distance_is_a_dot_product_with_a_key_length_term():
    q, k = random_qk()
    scores, _ = SCORES["negative_squared_distance"].forward(q, k)
    distances = ((q[:, :, None, :] - k[:, None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(scores, -distances / 2.0, rtol=1e-12)  # √d_head = 2
    # -‖q‖² is the same for every key of a row: the softmax weights do not see it
    with_lengths = (2 * q @ k.swapaxes(-1, -2) - (k * k).sum(-1)[:, None, :]) / 2.0
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    expected = np.exp(with_lengths - with_lengths.max(-1, keepdims=True))
    np.testing.assert_allclose(weights / weights.sum(-1, keepdims=True),
                               expected / expected.sum(-1, keepdims=True), rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(d_head=st.integers(1, 8), size=st.sampled_from([1e-3, 1.0, 1e3]),
       seed=st.integers(0, 2**32 - 1))
def test_cosine_scores_stay_within_the_temperature(d_head, size, seed):
    q, k = random_qk(seed, (2, 4, d_head), size)
    scores, _ = SCORES["cosine"].forward(q, k)
    bound = math.sqrt(d_head)
    assert np.abs(scores).max() <= bound * (1 + 1e-12)  # 1e-12: rounding of the unit vectors
    # a key along the query scores the bound exactly, whatever the sizes
    aligned, _ = SCORES["cosine"].forward(q, 3.0 * q)
    np.testing.assert_allclose(np.diagonal(aligned, axis1=-2, axis2=-1), bound, rtol=1e-12)


def test_a_zero_query_scores_zero_with_cosine_not_nan():
    q, k = random_qk()
    q[0, 0] = 0.0
    scores, saved = SCORES["cosine"].forward(q, k)
    np.testing.assert_array_equal(scores[0, 0], 0.0)
    dq, dk = SCORES["cosine"].backward(np.ones_like(scores), *saved)
    assert np.isfinite(dq).all() and np.isfinite(dk).all()


@pytest.mark.parametrize("score", list(SCORES))
def test_float32_stays_float32(score):
    layer = MultiHeadAttention(8, 2, score=score, rng=np.random.default_rng(0))
    out = layer.forward(np.ones((2, 3, 8), np.float32))
    assert out.dtype == np.float32 and layer.attention_weights.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("build, layer, argument, bad", [
    (lambda: AttentionHead(4, 2, "causual"), "AttentionHead", "mask", "'causual'"),
    (lambda: AttentionHead(4, 2, True), "AttentionHead", "mask", "True"),  # the old `causal`
    (lambda: AttentionHead(4, 2, score="scaled"), "AttentionHead", "score", "'scaled'"),
    (lambda: MultiHeadAttention(4, 2, "future"), "MultiHeadAttention", "mask", "'future'"),
    (lambda: MultiHeadAttention(4, 2, score="Dot"), "MultiHeadAttention", "score", "'Dot'"),
    (lambda: TransformerBlock(4, 2, mask="none "), "TransformerBlock", "mask", "'none '"),
    (lambda: TransformerBlock(4, 2, score="cos"), "TransformerBlock", "score", "'cos'"),
])
def test_an_unknown_option_names_the_layer_and_every_allowed_value(build, layer, argument, bad):
    with pytest.raises(ValueError) as error:
        build()
    allowed = ", ".join(MASKS if argument == "mask" else SCORES)
    assert str(error.value) == f"{layer}: {argument} must be one of {allowed}, not {bad}"


def test_the_options_are_shown_and_reach_the_attention():
    block = TransformerBlock(4, 2, mask="anti_causal", score="cosine",
                             rng=np.random.default_rng(0))
    assert (block.attn.attend.mask, block.attn.attend.score) == ("anti_causal", "cosine")
    assert "mask=anti_causal, score=cosine" in repr(block)
    assert "mask=causal, score=scaled_dot" in repr(AttentionHead(4, 2))
