"""The one table from our parameter names and layouts to GPT-2's."""

import pytest

from shapesafe_nn.interop.names import IN_OUT, OUT_IN, gpt2_tensors
from shapesafe_nn.models import GPT, GPTConfig

MODEL = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, d_model=8, d_ff=12))


def test_every_parameter_has_one_gpt2_name_in_gpt2s_order():
    tensors = gpt2_tensors(MODEL, OUT_IN)
    assert [t.ours for t in tensors] == [name for name, _ in MODEL.named_parameters()]
    assert len({t.theirs for t in tensors}) == len(tensors)
    assert [t.theirs for t in tensors[:6]] == [
        "transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight",
        "transformer.h.0.ln_1.bias", "transformer.h.0.attn.c_attn.weight",
        "transformer.h.0.attn.c_attn.bias"]


def test_only_hugging_faces_projections_are_transposed():
    assert not any(t.transposed for t in gpt2_tensors(MODEL, OUT_IN))  # nn.Linear, as Dense
    transposed = {t.theirs.split(".", 3)[-1]: t.their_shape
                  for t in gpt2_tensors(MODEL, IN_OUT) if t.transposed}
    assert transposed == {"attn.c_attn.weight": (8, 24), "attn.c_proj.weight": (8, 8),
                          "mlp.c_fc.weight": (8, 12), "mlp.c_proj.weight": (12, 8)}


def test_a_projection_of_unknown_layout_is_refused_not_guessed():
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, d_model=8))
    model.blocks[0].attn.proj.W.dims = "d_in d_out"
    with pytest.raises(ValueError, match=r"blocks.0.attn.proj.W is declared \(d_in d_out\)"):
        gpt2_tensors(model, IN_OUT)


def test_a_sinusoidal_model_has_no_position_tensor():
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, d_model=8,
                          positions="sinusoidal"))
    assert "transformer.wpe.weight" not in {t.theirs for t in gpt2_tensors(model, OUT_IN)}


def test_a_model_without_a_tensor_gpt2_has_is_refused_naming_both():
    # RMSNorm has a gain and no bias: GPT-2's ln_1.bias would have nothing to hold
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, d_model=8,
                          norm_type="rms"))
    with pytest.raises(ValueError, match=r"GPT-2's transformer.h.0.ln_1.bias has no parameter "
                                         r"here; the model has no blocks.0.ln1.beta"):
        gpt2_tensors(model, OUT_IN)
