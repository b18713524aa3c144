"""The pre-LN transformer block: x + attn(ln1(x)), then + ff(ln2(·))."""

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
