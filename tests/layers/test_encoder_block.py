"""The encoder block: no causal mask, padding hidden, post-LN or pre-LN."""

import numpy as np
import pytest

from shapesafe_nn import ShapeError
from shapesafe_nn.layers import EncoderBlock
from shapesafe_nn.testing import gradcheck

BATCH, SRC_SEQ, D_MODEL, N_HEADS, D_FF = 2, 5, 8, 2, 16
# sentence 0 fills all 5 positions, sentence 1 has 3 and 2 of padding
PADDING = np.array([[False] * 5, [False] * 3 + [True] * 2])


def make(norm="post", seed=0, dropout=0.0):
    """A float64 block with weights large enough to matter (N(0, 0.5²))."""
    rng = np.random.default_rng(seed)
    block = EncoderBlock(D_MODEL, N_HEADS, D_FF, dropout, norm=norm, rng=rng, dtype=np.float64)
    for parameter in block.parameters():
        parameter.value[...] = rng.standard_normal(parameter.value.shape) * 0.5
    return block


def source(seed=1):
    return np.random.default_rng(seed).standard_normal((BATCH, SRC_SEQ, D_MODEL))


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_gradcheck_with_padding(norm):
    block, x = make(norm), source()
    report = gradcheck(block, x, PADDING)  # raises beyond 1e-6
    assert report.compared == x.size + block.num_parameters()


def test_gradcheck_in_training_mode_with_dropout():
    gradcheck(make(dropout=0.3), source(), PADDING)  # holds the dropout masks fixed


def test_every_position_reads_the_later_ones_too():
    block, x = make(), source()
    out = block.forward(x)
    changed = x.copy()
    changed[:, -1] += 1.0  # only the last position
    assert (np.abs(block.forward(changed)[:, 0] - out[:, 0]).max(axis=-1) > 1e-3).all()


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_padding_changes_nothing_a_sentence_alone_would_not_see(norm):
    block, x = make(norm), source()
    padded = block.forward(x, PADDING)[1, :3]
    alone = block.forward(x[1:2, :3])[0]
    # the same sums, except that the padded terms are exact zeros
    np.testing.assert_allclose(padded, alone, rtol=1e-12, atol=1e-12)
    changed = x.copy()
    changed[1, 3:] = 1e3  # whatever sits in the padding
    np.testing.assert_allclose(block.forward(changed, PADDING)[1, :3], padded, rtol=1e-12,
                               atol=1e-12)


def test_post_ln_outputs_are_normalized_and_pre_ln_outputs_are_not():
    x = source()
    post, pre = EncoderBlock(D_MODEL, N_HEADS, dtype=np.float64), EncoderBlock(
        D_MODEL, N_HEADS, norm="pre", dtype=np.float64)
    out = post.forward(x)  # γ = 1, β = 0 as built: the last LayerNorm's output itself
    np.testing.assert_allclose(out.mean(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=-1), 1.0, rtol=1e-3)  # eps 1e-5 in the variance
    # pre-LN adds onto x: the residual stream keeps x's own scale
    assert np.abs(pre.forward(x).var(axis=-1) - 1.0).max() > 0.1


def test_wrong_shapes_name_the_block_argument_and_dim():
    block, x = make(), source()
    with pytest.raises(ShapeError) as error:
        block.forward(x[..., :6])
    assert error.value.argument == "x" and error.value.dim == "d_model"
    assert "EncoderBlock.forward" in str(error.value)
    with pytest.raises(ShapeError) as error:
        block.forward(x, PADDING[:, :4])
    assert error.value.argument == "padding_mask" and error.value.dim == "src_seq"


def test_unknown_options_are_named():
    with pytest.raises(ValueError, match="EncoderBlock: norm must be one of post, pre"):
        EncoderBlock(D_MODEL, N_HEADS, norm="middle")
    with pytest.raises(ValueError, match="EncoderBlock: activation must be one of gelu, relu"):
        EncoderBlock(D_MODEL, N_HEADS, activation="tanh")


@pytest.mark.reference
@pytest.mark.parametrize("norm", ["post", "pre"])
def test_matches_torch_encoder_layer_with_padding(norm):
    torch = pytest.importorskip("torch")
    from shapesafe_nn.testing import torch_translator as twin

    block, x = make(norm), source()
    dout = np.random.default_rng(2).standard_normal(x.shape)
    out = block.forward(x, PADDING)
    dx = block.backward(dout)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    ours = {name: torch.from_numpy(p.value.copy()).requires_grad_()
            for name, p in block.named_parameters()}
    expected = torch.func.functional_call(
        twin.encoder_layer(torch, block), twin.torch_parameters(torch, ours), (tx,),
        {"src_key_padding_mask": torch.from_numpy(PADDING)})
    (expected * torch.from_numpy(dout)).sum().backward()
    # float64 on both sides: only the order of the sums differs
    tolerance = dict(rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(out, expected.detach().numpy(), **tolerance)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **tolerance)
    for name, parameter in block.named_parameters():
        np.testing.assert_allclose(parameter.grad, ours[name].grad.numpy(), **tolerance,
                                   err_msg=name)
