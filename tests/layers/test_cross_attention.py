"""Cross-attention: queries from the target, keys and values from the source,
two sequences of different lengths and a padded source."""

import numpy as np
import pytest

from shapesafe_nn import ShapeError
from shapesafe_nn.layers import CrossAttention
from shapesafe_nn.testing import gradcheck

BATCH, TGT_SEQ, SRC_SEQ, D_MODEL, N_HEADS = 3, 4, 6, 8, 2
# sentence 0 fills all 6 source positions, sentence 1 has 4 (2 of padding), sentence 2 has 1
PADDING = np.array([[False] * 6, [False] * 4 + [True] * 2, [False] + [True] * 5])


def make(seed=0, dropout=0.0):
    """A float64 layer with weights and biases large enough to matter."""
    rng = np.random.default_rng(seed)
    layer = CrossAttention(D_MODEL, N_HEADS, dropout, rng=rng, dtype=np.float64)
    for parameter in layer.parameters():
        parameter.value[...] = rng.standard_normal(parameter.value.shape) * 0.5
    return layer


def inputs(seed=1):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((BATCH, TGT_SEQ, D_MODEL)),
            rng.standard_normal((BATCH, SRC_SEQ, D_MODEL)))


def test_scores_are_target_by_source_and_padding_gets_weight_exactly_0():
    layer = make()
    x, memory = inputs()
    out = layer.forward(x, memory, PADDING)
    assert out.shape == (BATCH, TGT_SEQ, D_MODEL)
    weights = layer.attention_weights
    assert weights.shape == (BATCH, N_HEADS, TGT_SEQ, SRC_SEQ)
    assert (weights[PADDING[:, None, None, :].repeat(N_HEADS, 1).repeat(TGT_SEQ, 2)] == 0).all()
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-12)  # float64 rows
    assert (weights[2, :, :, 0] == 1.0).all()  # a one-word source: all weight on it


def test_padding_changes_nothing_a_sentence_alone_would_not_see():
    layer = make()
    x, memory = inputs()
    padded = layer.forward(x, memory, PADDING)[1]
    alone = layer.forward(x[1:2], memory[1:2, :4])[0]  # sentence 1 without its padding
    # the same sums, except that the padded terms are exact zeros
    np.testing.assert_allclose(padded, alone, rtol=1e-12, atol=1e-12)
    changed = memory.copy()
    changed[1, 4:] = 1e3  # whatever sits in the padding
    np.testing.assert_allclose(layer.forward(x, changed, PADDING)[1], padded, rtol=1e-12,
                               atol=1e-12)


def test_gradcheck_with_two_lengths_and_padding():
    x, memory = inputs()
    layer = make()
    report = gradcheck(layer, x, memory, PADDING)  # raises beyond 1e-6
    # both float inputs and every parameter: the bool mask is passed through
    assert report.compared == x.size + memory.size + layer.num_parameters()
    assert np.abs(layer.query.W.grad).max() > 1e-2  # the scores' backward was reached


def test_gradcheck_in_training_mode_with_dropout():
    x, memory = inputs()
    gradcheck(make(dropout=0.3), x, memory, PADDING)  # holds the dropout masks fixed


def test_padded_source_positions_get_no_gradient():
    layer = make()
    x, memory = inputs()
    layer.forward(x, memory, PADDING)
    dx, dmemory = layer.backward(np.ones((BATCH, TGT_SEQ, D_MODEL)))
    assert dx.shape == x.shape and dmemory.shape == memory.shape
    assert (dmemory[PADDING] == 0).all()  # exactly: no weight, no gradient
    assert (np.abs(dmemory[~PADDING]).max(axis=-1) > 0).all()


def test_a_source_that_is_all_padding_is_an_error_not_nan():
    layer = make()
    x, memory = inputs()
    padding = PADDING.copy()
    padding[2] = True
    with pytest.raises(ValueError, match="query 0 of sequence 2 can see no key: all 6 are "
                                         "hidden by the mask and the key padding together"):
        layer.forward(x, memory, padding)
    assert layer.pending_records() == 0  # the refused call left nothing behind


def test_wrong_shapes_name_the_sequence_they_belong_to():
    layer = make()
    x, memory = inputs()
    with pytest.raises(ShapeError) as error:
        layer.forward(x, memory, PADDING[:, :5])
    assert error.value.argument == "memory_padding_mask" and error.value.dim == "kv_seq"
    assert "kv_seq is 5 here, but kv_seq = 6 was bound by argument memory" in str(error.value)
    with pytest.raises(ShapeError) as error:
        layer.forward(x, memory[:2])
    assert error.value.dim == "batch"
    with pytest.raises(ShapeError) as error:
        layer.forward(x, memory[..., :6])
    assert error.value.argument == "memory" and error.value.dim == "d_model"
    layer.forward(x, memory)
    with pytest.raises(ShapeError) as error:
        layer.backward(np.zeros((BATCH, SRC_SEQ, D_MODEL)))  # the memory's length, not x's
    assert error.value.dim == "seq"


def test_a_padding_mask_must_be_boolean():
    layer = make()
    x, memory = inputs()
    with pytest.raises(ShapeError, match="memory_padding_mask holds int64 but a boolean array"):
        layer.forward(x, memory, PADDING.astype(np.int64))


@pytest.mark.reference
def test_matches_torch_multihead_attention_with_a_key_padding_mask():
    torch = pytest.importorskip("torch")
    layer = make()
    x, memory = inputs()
    dout = np.random.default_rng(2).standard_normal((BATCH, TGT_SEQ, D_MODEL))
    reference = torch.nn.MultiheadAttention(D_MODEL, N_HEADS, batch_first=True,
                                            dtype=torch.float64)
    with torch.no_grad():  # the same layout, W (d_out, d_in): rows [q; k; v]
        reference.in_proj_weight.copy_(torch.from_numpy(
            np.concatenate([layer.query.W.value, layer.kv.W.value])))
        reference.in_proj_bias.copy_(torch.from_numpy(
            np.concatenate([layer.query.b.value, layer.kv.b.value])))
        reference.out_proj.weight.copy_(torch.from_numpy(layer.proj.W.value))
        reference.out_proj.bias.copy_(torch.from_numpy(layer.proj.b.value))
    x_t = torch.from_numpy(x).requires_grad_()
    memory_t = torch.from_numpy(memory).requires_grad_()
    expected, weights = reference(x_t, memory_t, memory_t,
                                  key_padding_mask=torch.from_numpy(PADDING),
                                  average_attn_weights=False)
    (expected * torch.from_numpy(dout)).sum().backward()

    out = layer.forward(x, memory, PADDING)
    dx, dmemory = layer.backward(dout)
    for array in (out, dx, dmemory):
        assert np.isfinite(array).all()  # allclose counts NaN == NaN
    # float64 on both sides: only the order of the sums differs
    tolerance = dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out, expected.detach().numpy(), **tolerance)
    np.testing.assert_allclose(layer.attention_weights, weights.detach().numpy(), **tolerance)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), **tolerance)
    np.testing.assert_allclose(dmemory, memory_t.grad.numpy(), **tolerance)
    in_grad = reference.in_proj_weight.grad.numpy()
    np.testing.assert_allclose(layer.query.W.grad, in_grad[:D_MODEL], **tolerance)
    np.testing.assert_allclose(layer.kv.W.grad, in_grad[D_MODEL:], **tolerance)
    np.testing.assert_allclose(layer.proj.W.grad, reference.out_proj.weight.grad.numpy(),
                               **tolerance)
