"""The decoder block: causal self-attention, cross-attention over the source,
(dx, dmemory) from backward, post-LN or pre-LN."""

import numpy as np
import pytest

from shapesafe_nn import ShapeError
from shapesafe_nn.layers import DecoderBlock
from shapesafe_nn.testing import gradcheck

BATCH, TGT_SEQ, SRC_SEQ, D_MODEL, N_HEADS, D_FF = 2, 4, 6, 8, 2, 16
# source: sentence 0 fills all 6 positions, sentence 1 has 4; target: 4 and 3
MEMORY_PADDING = np.array([[False] * 6, [False] * 4 + [True] * 2])
PADDING = np.array([[False] * 4, [False] * 3 + [True]])


def make(norm="post", seed=0, dropout=0.0, norm_type="layer"):
    """A float64 block with weights large enough to matter (N(0, 0.5²))."""
    rng = np.random.default_rng(seed)
    block = DecoderBlock(D_MODEL, N_HEADS, D_FF, dropout, norm=norm, norm_type=norm_type, rng=rng,
                         dtype=np.float64)
    for parameter in block.parameters():
        parameter.value[...] = rng.standard_normal(parameter.value.shape) * 0.5
    return block


def inputs(seed=1):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((BATCH, TGT_SEQ, D_MODEL)),
            rng.standard_normal((BATCH, SRC_SEQ, D_MODEL)))


@pytest.mark.parametrize("norm", ["post", "pre"])
@pytest.mark.parametrize("norm_type", ["layer", "rms"])
def test_gradcheck_with_both_paddings(norm, norm_type):
    block = make(norm, norm_type=norm_type)
    x, memory = inputs()
    report = gradcheck(block, x, memory, MEMORY_PADDING, PADDING)  # raises beyond 1e-6
    assert report.compared == x.size + memory.size + block.num_parameters()


def test_gradcheck_in_training_mode_with_dropout():
    gradcheck(make(dropout=0.3), *inputs(), MEMORY_PADDING)  # holds the dropout masks fixed


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_the_decoder_is_causal(norm):
    block = make(norm)
    x, memory = inputs()
    out = block.forward(x, memory)
    for t in range(TGT_SEQ):
        changed = x.copy()
        changed[:, t:] += 1.0  # position t and every later one
        again = block.forward(changed, memory)
        np.testing.assert_array_equal(again[:, :t], out[:, :t])  # the past: bit for bit
        assert (np.abs(again[:, t] - out[:, t]).max(axis=-1) > 1e-3).all()


def test_every_target_position_reads_the_whole_source():
    block = make()
    x, memory = inputs()
    out = block.forward(x, memory)
    changed = memory.copy()
    changed[:, -1] += 1.0  # only the last source position
    assert (np.abs(block.forward(x, changed)[:, 0] - out[:, 0]).max(axis=-1) > 1e-3).all()


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_padding_changes_nothing_a_sentence_alone_would_not_see(norm):
    block = make(norm)
    x, memory = inputs()
    padded = block.forward(x, memory, MEMORY_PADDING, PADDING)[1, :3]
    alone = block.forward(x[1:2, :3], memory[1:2, :4])[0]
    np.testing.assert_allclose(padded, alone, rtol=1e-12, atol=1e-12)
    x[1, 3:], memory[1, 4:] = 1e3, -1e3  # whatever sits in the padding
    np.testing.assert_allclose(block.forward(x, memory, MEMORY_PADDING, PADDING)[1, :3], padded,
                               rtol=1e-12, atol=1e-12)


def test_backward_returns_the_target_and_the_source_gradients():
    block = make()
    x, memory = inputs()
    block.forward(x, memory, MEMORY_PADDING)
    dx, dmemory = block.backward(np.ones_like(x))
    assert dx.shape == x.shape and dmemory.shape == memory.shape
    assert (dmemory[MEMORY_PADDING] == 0).all()  # padding gets weight 0, so no gradient


def test_wrong_shapes_name_the_block_argument_and_dim():
    block = make()
    x, memory = inputs()
    with pytest.raises(ShapeError) as error:
        block.forward(x, memory[..., :6])
    assert error.value.argument == "memory" and error.value.dim == "d_model"
    assert "DecoderBlock.forward" in str(error.value)
    with pytest.raises(ShapeError) as error:
        block.forward(x, memory, MEMORY_PADDING[:, :4])
    assert error.value.argument == "memory_padding_mask" and error.value.dim == "kv_seq"
    with pytest.raises(ShapeError) as error:
        block.forward(x, memory, None, PADDING[:, :3])
    assert error.value.argument == "padding_mask" and error.value.dim == "seq"
    block.forward(x, memory)
    with pytest.raises(ShapeError) as error:
        block.backward(np.zeros_like(memory))  # the source's length, not the target's
    assert error.value.dim == "seq"


@pytest.mark.reference
@pytest.mark.parametrize("norm", ["post", "pre"])
def test_matches_torch_decoder_layer_with_both_paddings(norm):
    torch = pytest.importorskip("torch")
    from shapesafe_nn.testing import torch_translator as twin

    block = make(norm)
    x, memory = inputs()
    dout = np.random.default_rng(2).standard_normal(x.shape)
    out = block.forward(x, memory, MEMORY_PADDING, PADDING)
    dx, dmemory = block.backward(dout)
    tx, tmemory = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, memory))
    ours = {name: torch.from_numpy(p.value.copy()).requires_grad_()
            for name, p in block.named_parameters()}
    expected = torch.func.functional_call(
        twin.decoder_layer(torch, block), twin.torch_parameters(torch, ours, encoder=False),
        (tx, tmemory), {"tgt_mask": twin.causal(torch, TGT_SEQ),
                        "tgt_key_padding_mask": torch.from_numpy(PADDING),
                        "memory_key_padding_mask": torch.from_numpy(MEMORY_PADDING)})
    (expected * torch.from_numpy(dout)).sum().backward()
    # float64 on both sides: only the order of the sums differs
    tolerance = dict(rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(out, expected.detach().numpy(), **tolerance)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **tolerance)
    np.testing.assert_allclose(dmemory, tmemory.grad.numpy(), **tolerance)
    for name, parameter in block.named_parameters():
        np.testing.assert_allclose(parameter.grad, ours[name].grad.numpy(), **tolerance,
                                   err_msg=name)
