"""The attention core: two sequence lengths, the mask tables, key padding,
and a query that would see nothing."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import ShapeError
from shapesafe_nn.layers import Attention, MultiHeadAttention
from shapesafe_nn.layers.attention import MASKS, causal_mask, mask_bias


def qkv(batch=2, heads=(3,), q_seq=4, kv_seq=6, d_head=5, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, *heads, q_seq, d_head)),
            rng.standard_normal((batch, *heads, kv_seq, d_head)),
            rng.standard_normal((batch, *heads, kv_seq, d_head)))


def test_a_causal_mask_for_fewer_queries_puts_them_at_the_end():
    # 2 queries over 4 keys: they are positions 2 and 3, and see keys up to themselves
    np.testing.assert_array_equal(causal_mask(2, 4), [[False, False, False, True],
                                                      [False, False, False, False]])
    np.testing.assert_array_equal(causal_mask(3), causal_mask(3, 3))
    np.testing.assert_array_equal(causal_mask(3), np.triu(np.ones((3, 3), bool), k=1))
    assert causal_mask(2, 4) is causal_mask(2, 4) and not causal_mask(2, 4).flags.writeable


@settings(max_examples=30, deadline=None)
@given(q_seq=st.integers(1, 6), extra=st.integers(0, 4), mask=st.sampled_from(list(MASKS)))
def test_every_table_mask_leaves_each_query_its_own_position(q_seq, extra, mask):
    kv_seq = q_seq + extra
    hidden = MASKS[mask](q_seq, kv_seq)
    assert hidden.shape == (q_seq, kv_seq)
    own = np.arange(q_seq) + extra  # where each query sits among the keys
    assert not hidden[np.arange(q_seq), own].any()
    bias = mask_bias(mask, q_seq, kv_seq, np.dtype(np.float32))
    np.testing.assert_array_equal(bias == -np.inf, hidden)


def test_more_causal_queries_than_keys_is_an_error_naming_the_blind_query():
    q, k, v = qkv(q_seq=5, kv_seq=3)
    with pytest.raises(ValueError, match="query 0 of sequence 0 can see no key: all 3 are "
                                         "hidden by the 'causal' mask"):
        Attention("scaled_dot", "causal").forward(q, k, v)


def test_output_and_weights_have_the_shapes_of_both_sequences():
    attend = Attention("scaled_dot", "none")
    q, k, v = qkv()
    out = attend.forward(q, k, v)
    assert out.shape == (2, 3, 4, 5) and attend.attention_weights.shape == (2, 3, 4, 6)
    dq, dk, dv = attend.backward(np.ones_like(out))
    assert (dq.shape, dk.shape, dv.shape) == (q.shape, k.shape, v.shape)


def test_a_single_head_has_no_head_axis():
    attend = Attention("scaled_dot", "none")
    q, k, v = qkv(heads=())
    assert attend.forward(q, k, v).shape == (2, 4, 5)


def test_key_padding_gives_weight_exactly_0_and_equals_the_shorter_sequence():
    attend = Attention("scaled_dot", "none")
    q, k, v = qkv(batch=1)
    padding = np.array([[False, False, False, False, True, True]])  # 4 real keys
    padded = attend.forward(q, k, v, key_padding_mask=padding)
    assert (attend.attention_weights[..., 4:] == 0).all()
    shorter = attend.forward(q, k[..., :4, :], v[..., :4, :])
    np.testing.assert_allclose(padded, shorter, rtol=1e-12, atol=1e-12)  # float64 rounding


def test_a_given_mask_replaces_the_table_and_is_checked_against_both_lengths():
    attend = Attention("scaled_dot", "none")
    q, k, v = qkv()
    hidden = np.zeros((4, 6), bool)
    hidden[:, 0] = True  # nobody may read key 0
    attend.forward(q, k, v, mask=hidden)
    assert (attend.attention_weights[..., 0] == 0).all()
    with pytest.raises(ShapeError) as error:
        attend.forward(q, k, v, mask=np.zeros((4, 5), bool))
    assert error.value.argument == "mask" and error.value.dim == "kv_seq"
    assert "kv_seq is 5 here, but kv_seq = 6 was bound by argument k" in str(error.value)
    blind = np.zeros((4, 6), bool)
    blind[2] = True
    with pytest.raises(ValueError, match="query 2 of sequence 0 can see no key: all 6 are "
                                         "hidden by the mask"):
        attend.forward(q, k, v, mask=blind)


def test_keys_and_values_must_have_the_same_length():
    q, k, v = qkv()
    with pytest.raises(ShapeError) as error:
        Attention("scaled_dot", "none").forward(q, k, v[..., :5, :])
    assert error.value.argument == "v" and error.value.dim == "kv_seq"


def test_self_attention_takes_a_key_padding_mask_for_an_encoder():
    layer = MultiHeadAttention(8, 2, "none", rng=np.random.default_rng(0), dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((2, 5, 8))
    padding = np.array([[False] * 5, [False, False, False, True, True]])
    out = layer.forward(x, padding)
    assert (layer.attention_weights[1, :, :, 3:] == 0).all()
    alone = layer.forward(x[1:2, :3])  # the second sentence without its padding
    np.testing.assert_allclose(out[1, :3], alone[0], rtol=1e-12, atol=1e-12)


def test_an_unknown_score_or_mask_names_the_core():
    with pytest.raises(ValueError, match="Attention: mask must be one of causal, none, "
                                         "anti_causal, not 'future'"):
        Attention(mask="future")
