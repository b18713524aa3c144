"""The one transformer block: pre-LN, x + attn(ln1(x)), then + ff(ln2(·)), causal, as
in a GPT; post-LN, ln1(x + attn(x)), then ln2(· + ff(·)), with no mask and the padding
hidden, as in a translator's encoder; LayerNorm or RMSNorm."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import ShapeError
from shapesafe_nn.layers import Dropout, TransformerBlock
from shapesafe_nn.testing import gradcheck


def make(d_model=4, n_heads=2, d_ff=8, dropout=0.0, mask="causal", score="scaled_dot", seed=0,
         dtype=np.float64):
    """A block with every parameter moved well away from its initial value."""
    rng = np.random.default_rng(seed)
    block = TransformerBlock(d_model, n_heads, d_ff, dropout, mask, score=score, rng=rng,
                             dtype=dtype)
    for name, parameter in block.named_parameters():
        centre = 1.0 if name.endswith("gamma") else 0.0
        parameter.value[...] = centre + rng.standard_normal(parameter.value.shape) * 0.5
    return block


@pytest.mark.parametrize("score, mask", [("scaled_dot", "causal"), ("cosine", "anti_causal"),
                                         ("squared_dot", "none")])
def test_gradcheck_input_and_every_parameter(score, mask):
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    gradcheck(make(score=score, mask=mask), x)  # raises beyond 1e-6


def test_gradcheck_in_training_mode_with_dropout():
    block = make(dropout=0.2)
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    block.forward(x)
    dropouts = [m for _, m in block.named_modules() if isinstance(m, Dropout)]
    assert len(dropouts) == 3  # attention weights, attention output, feed-forward output
    assert any((d._records[-1].arrays["scaled_mask"] == 0).any() for d in dropouts)
    gradcheck(block, x)  # holds each Dropout's mask fixed; raises beyond 1e-6


def test_d_ff_defaults_to_4_d_model_and_sizes_are_shown():
    block = TransformerBlock(16, 4, rng=np.random.default_rng(0))
    assert block.d_ff == 64 and block.ff.fc.W.value.shape == (64, 16)
    assert block.attn.d_head == 4
    text = repr(block)
    assert "d_model=16, n_heads=4, d_ff=64" in text and "W: (d_out d_in) = (48, 16)" in text
    # ln 2·2·16 + attn 16·48 + 48 + 16·16 + 16 + ff 16·64 + 64 + 64·16 + 16
    assert block.num_parameters() == 64 + 768 + 48 + 256 + 16 + 1024 + 64 + 1024 + 16


def test_dropout_is_random_in_training_and_off_in_eval():
    block = make(dropout=0.3)
    x = np.random.default_rng(1).standard_normal((2, 5, 4))
    assert not np.array_equal(block.forward(x), block.forward(x))
    block.eval()
    np.testing.assert_array_equal(block.forward(x), block.forward(x))
    np.testing.assert_array_equal(block.forward(x), make(dropout=0.0).forward(x))


def test_d_model_must_be_divisible_by_n_heads():
    with pytest.raises(ValueError, match="d_model 10 is not divisible by n_heads 4"):
        TransformerBlock(10, 4)


def test_the_wrong_width_names_d_model():
    with pytest.raises(ShapeError) as error:
        make(d_model=4).forward(np.zeros((2, 3, 6)))
    assert error.value.where == "TransformerBlock.forward" and error.value.dim == "d_model"
    assert "d_model" in str(error.value)


def test_a_gradient_of_the_wrong_batch_names_batch():
    block = make()
    block.forward(np.zeros((2, 3, 4)))
    with pytest.raises(ShapeError) as error:
        block.backward(np.zeros((3, 3, 4)))
    assert error.value.where == "TransformerBlock.backward" and error.value.dim == "batch"


@settings(max_examples=20, deadline=None)
@given(batch=st.integers(1, 3), seq=st.integers(1, 5), n_heads=st.integers(1, 3),
       d_head=st.integers(1, 3), d_ff=st.integers(1, 8))
def test_shapes(batch, seq, n_heads, d_head, d_ff):
    d_model = n_heads * d_head  # consistent by construction
    block = TransformerBlock(d_model, n_heads, d_ff, rng=np.random.default_rng(0))
    out = block.forward(np.ones((batch, seq, d_model), np.float32))
    assert out.shape == (batch, seq, d_model) and out.dtype == np.float32
    assert block.backward(out).shape == (batch, seq, d_model)


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 2), n_heads=st.integers(1, 3), d_head=st.integers(1, 3),
       seq=st.integers(2, 6), data=st.data())
def test_the_past_does_not_see_the_future(batch, n_heads, d_head, seq, data):
    d_model = n_heads * d_head
    t = data.draw(st.integers(0, seq - 2))
    block = make(d_model, n_heads, d_ff=6)
    rng = np.random.default_rng(seq)
    x = rng.standard_normal((batch, seq, d_model))
    changed = x.copy()
    changed[:, t + 1:] = rng.standard_normal(changed[:, t + 1:].shape) * 10
    # same arithmetic on the same numbers; the tolerance only allows for
    # matrix products that group their sums differently
    np.testing.assert_allclose(block.forward(changed)[:, : t + 1], block.forward(x)[:, : t + 1],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.reference
@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-10),  # summation order only
                                              (np.float32, 1e-4)])  # float32 rounding
def test_matches_a_torch_pre_ln_block(dtype, tolerance):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    d_model, n_heads, seq = 8, 2, 5
    block = make(d_model, n_heads, d_ff=16, dtype=dtype)
    torch_dtype = torch.from_numpy(np.zeros(1, dtype)).dtype

    class Block(nn.Module):  # nanoGPT's Block, built from torch layers
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(d_model, dtype=torch_dtype)
            self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True,
                                              dtype=torch_dtype)
            self.ln2 = nn.LayerNorm(d_model, dtype=torch_dtype)
            self.fc = nn.Linear(d_model, 16, dtype=torch_dtype)
            self.proj = nn.Linear(16, d_model, dtype=torch_dtype)

        def forward(self, x):
            h = self.ln1(x)
            seq = x.shape[1]
            mask = torch.ones(seq, seq, dtype=torch.bool).triu(1)  # the formula, not our mask
            x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
            return x + self.proj(nn.functional.gelu(self.fc(self.ln2(x)), approximate="tanh"))

    reference = Block()
    pairs = {  # ours -> theirs, in the same layout: W (d_out, d_in)
        "ln1.gamma": reference.ln1.weight, "ln1.beta": reference.ln1.bias,
        "attn.qkv.W": reference.attn.in_proj_weight, "attn.qkv.b": reference.attn.in_proj_bias,
        "attn.proj.W": reference.attn.out_proj.weight, "attn.proj.b": reference.attn.out_proj.bias,
        "ln2.gamma": reference.ln2.weight, "ln2.beta": reference.ln2.bias,
        "ff.fc.W": reference.fc.weight, "ff.fc.b": reference.fc.bias,
        "ff.proj.W": reference.proj.weight, "ff.proj.b": reference.proj.bias,
    }
    ours = dict(block.named_parameters())
    assert set(ours) == set(pairs)
    with torch.no_grad():
        for name, theirs in pairs.items():
            theirs.copy_(torch.from_numpy(ours[name].value))
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, seq, d_model)).astype(dtype)
    dout = rng.standard_normal((3, seq, d_model)).astype(dtype)
    x_t = torch.from_numpy(x).requires_grad_()
    expected = reference(x_t)
    (expected * torch.from_numpy(dout)).sum().backward()

    out = block.forward(x)
    dx = block.backward(dout)
    assert out.dtype == dtype and dx.dtype == dtype
    assert np.isfinite(out).all() and np.isfinite(dx).all()  # allclose counts NaN == NaN
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=tolerance, atol=tolerance)
    for name, theirs in pairs.items():
        np.testing.assert_allclose(ours[name].grad, theirs.grad.numpy(),
                                   rtol=tolerance, atol=tolerance, err_msg=name)


# ---------------------------------------------------------------------------
# Post-LN, no mask, padding: the block as a translator's encoder builds it
# ---------------------------------------------------------------------------
BATCH, SEQ, D_MODEL, N_HEADS, D_FF = 2, 5, 8, 2, 16
# sentence 0 fills all 5 positions, sentence 1 has 3 and 2 of padding
PADDING = np.array([[False] * 5, [False] * 3 + [True] * 2])


def encoder(norm="post", seed=0, dropout=0.0, norm_type="layer"):
    """A float64 block as a translator's encoder builds it (no mask, ReLU), with
    weights large enough to matter (N(0, 0.5²))."""
    rng = np.random.default_rng(seed)
    block = TransformerBlock(D_MODEL, N_HEADS, D_FF, dropout, "none", norm=norm,
                             norm_type=norm_type, activation="relu", rng=rng, dtype=np.float64)
    for parameter in block.parameters():
        parameter.value[...] = rng.standard_normal(parameter.value.shape) * 0.5
    return block


def source(seed=1):
    return np.random.default_rng(seed).standard_normal((BATCH, SEQ, D_MODEL))


@pytest.mark.parametrize("norm", ["post", "pre"])
@pytest.mark.parametrize("norm_type", ["layer", "rms"])
def test_gradcheck_with_padding(norm, norm_type):
    block, x = encoder(norm, norm_type=norm_type), source()
    report = gradcheck(block, x, PADDING)  # raises beyond 1e-6
    assert report.compared == x.size + block.num_parameters()


def test_gradcheck_of_an_encoder_block_in_training_mode_with_dropout():
    gradcheck(encoder(dropout=0.3), source(), PADDING)  # holds the dropout masks fixed


def test_every_position_reads_the_later_ones_too():
    block, x = encoder(), source()
    out = block.forward(x)
    changed = x.copy()
    changed[:, -1] += 1.0  # only the last position
    assert (np.abs(block.forward(changed)[:, 0] - out[:, 0]).max(axis=-1) > 1e-3).all()


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_padding_changes_nothing_a_sentence_alone_would_not_see(norm):
    block, x = encoder(norm), source()
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
    post, pre = (TransformerBlock(D_MODEL, N_HEADS, mask="none", norm=norm, dtype=np.float64)
                 for norm in ("post", "pre"))
    out = post.forward(x)  # γ = 1, β = 0 as built: the last LayerNorm's output itself
    np.testing.assert_allclose(out.mean(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=-1), 1.0, rtol=1e-3)  # eps 1e-5 in the variance
    # pre-LN adds onto x: the residual stream keeps x's own scale
    assert np.abs(pre.forward(x).var(axis=-1) - 1.0).max() > 0.1


def test_wrong_shapes_of_an_encoder_block_name_the_argument_and_dim():
    block, x = encoder(), source()
    with pytest.raises(ShapeError) as error:
        block.forward(x[..., :6])
    assert error.value.argument == "x" and error.value.dim == "d_model"
    assert "TransformerBlock.forward" in str(error.value)
    with pytest.raises(ShapeError) as error:
        block.forward(x, PADDING[:, :4])
    assert error.value.argument == "padding_mask" and error.value.dim == "seq"


def test_unknown_options_are_named():
    with pytest.raises(ValueError, match="TransformerBlock: norm must be one of post, pre"):
        TransformerBlock(D_MODEL, N_HEADS, norm="middle")
    with pytest.raises(ValueError, match="TransformerBlock: norm_type must be one of layer, rms, "
                                         "not 'batch'"):
        TransformerBlock(D_MODEL, N_HEADS, norm_type="batch")
    with pytest.raises(ValueError, match="TransformerBlock: activation must be one of gelu, relu"):
        TransformerBlock(D_MODEL, N_HEADS, activation="tanh")


@pytest.mark.reference
@pytest.mark.parametrize("norm", ["post", "pre"])
def test_matches_torch_encoder_layer_with_padding(norm):
    torch = pytest.importorskip("torch")
    from shapesafe_nn.testing import torch_translator as twin

    block, x = encoder(norm), source()
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
