"""Hugging Face's GPT-2 folder, both ways, against ``transformers`` itself.

Every model here is a random tiny GPT-2 built by ``transformers`` in a
temporary folder: nothing is downloaded.
"""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from shapesafe_nn import no_grad
from shapesafe_nn.interop import FormatError, export_hf, import_hf
from shapesafe_nn.models import GPT, GPTConfig
from shapesafe_nn.models.ladder import LadderConfig, build_gpt
from shapesafe_nn.tokenizers import BPETokenizer, CharTokenizer

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")
pytestmark = pytest.mark.reference

TEXT = "the quick brown fox jumps over the lazy dog; " * 8


def hf_folder(folder: Path, dtype=torch.float32, **sizes) -> "transformers.GPT2LMHeadModel":
    """A random GPT-2 of ``sizes`` saved with its tokenizer in ``folder``; returns it."""
    tokenizer = BPETokenizer.train(TEXT, 280)
    config = transformers.GPT2Config(**{"vocab_size": 290, "n_positions": 16, "n_embd": 24,
                                        "n_layer": 2, "n_head": 3, **sizes})
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).to(dtype).eval()
    with torch.no_grad():  # LayerNorms start at 1 and 0: make them count in the comparison
        for name, tensor in model.named_parameters():
            if "ln" in name:
                tensor.normal_(1.0 if name.endswith("weight") else 0.0, 0.1)
    model.save_pretrained(folder)
    (folder / "tokenizer.json").write_text(tokenizer.to_json())
    return model


def logits_of(model: GPT, ids: np.ndarray) -> np.ndarray:
    model.eval()
    with no_grad():
        return model.forward(ids)


def hf_logits(model, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(ids)).logits.numpy()


IDS = np.array([[0, 5, 17, 280, 3, 9, 44, 2], [7, 7, 7, 1, 250, 12, 0, 99]])


@pytest.mark.parametrize("dtype, sizes, tolerance", [
    (torch.float64, {}, 1e-12),  # float64: rounding only
    (torch.float64, {"n_inner": 40, "activation_function": "gelu"}, 1e-12),
    (torch.float32, {"n_layer": 3, "n_head": 2, "n_embd": 16}, 1e-5),  # float32 rounding
])
def test_imported_logits_equal_transformers(tmp_path, dtype, sizes, tolerance):
    reference = hf_folder(tmp_path, dtype, **sizes)
    model, tokenizer = import_hf(tmp_path)
    assert model.config.dtype == ("float64" if dtype == torch.float64 else "float32")
    assert model.config.gelu == ("erf" if sizes.get("activation_function") == "gelu" else "tanh")
    assert tokenizer.vocab_size == 280
    np.testing.assert_allclose(logits_of(model, IDS), hf_logits(reference, IDS),
                               rtol=0, atol=tolerance)


@pytest.mark.parametrize("gelu", ["tanh", "erf"])
def test_exported_folder_loads_in_transformers_with_equal_logits(tmp_path, gelu):
    model = GPT(GPTConfig(vocab_size=290, block_size=16, n_layer=2, n_head=2, d_model=16,
                          gelu=gelu, dtype="float64", seed=3))
    export_hf(model, BPETokenizer.train(TEXT, 280), tmp_path)
    loaded, info = transformers.GPT2LMHeadModel.from_pretrained(
        tmp_path, output_loading_info=True, dtype=torch.float64)
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set()
    assert info["mismatched_keys"] == set()
    np.testing.assert_allclose(hf_logits(loaded.eval(), IDS), logits_of(model, IDS),
                               rtol=0, atol=1e-12)  # float64 rounding


def test_sinusoidal_positions_are_exported_as_the_position_table(tmp_path):
    model = GPT(GPTConfig(vocab_size=290, block_size=16, n_layer=1, n_head=2, d_model=16,
                          positions="sinusoidal", dtype="float64"))
    export_hf(model, BPETokenizer.train(TEXT, 280), tmp_path)
    loaded = transformers.GPT2LMHeadModel.from_pretrained(tmp_path, dtype=torch.float64)
    np.testing.assert_array_equal(loaded.transformer.wpe.weight.detach().numpy(),
                                  model.positions.table)
    np.testing.assert_allclose(hf_logits(loaded.eval(), IDS), logits_of(model, IDS),
                               rtol=0, atol=1e-12)  # float64 rounding


def test_ours_to_hf_to_ours_is_bit_identical(tmp_path):
    tokenizer = CharTokenizer.from_text(TEXT)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=16, n_layer=2, n_head=2,
                          d_model=16, d_ff=24, dropout=0.1, gelu="erf", seed=5))
    export_hf(model, tokenizer, tmp_path)
    back, back_tokenizer = import_hf(tmp_path)
    assert replace(back.config, seed=model.config.seed) == model.config  # seed: not stored
    assert back_tokenizer == tokenizer  # the characters come back as a CharTokenizer
    for (name, ours), (_, theirs) in zip(model.named_parameters(), back.named_parameters()):
        assert theirs.value.dtype == ours.value.dtype
        np.testing.assert_array_equal(theirs.value, ours.value, err_msg=name)


def test_a_bare_gpt2model_file_with_mask_buffers_is_read(tmp_path):
    """The Hub's gpt2: names without "transformer.", and each attention's mask kept."""
    from safetensors.numpy import load_file, save_file
    reference = hf_folder(tmp_path, torch.float64)
    tensors = load_file(tmp_path / "model.safetensors")
    bare = {name.removeprefix("transformer."): value for name, value in tensors.items()}
    for i in range(2):
        bare[f"h.{i}.attn.bias"] = np.tril(np.ones((1, 1, 16, 16)))
    save_file(bare, tmp_path / "model.safetensors", metadata={"format": "pt"})
    model, _ = import_hf(tmp_path)
    np.testing.assert_allclose(logits_of(model, IDS), hf_logits(reference, IDS), rtol=0,
                               atol=1e-12)  # float64 rounding


def test_an_untied_head_is_refused(tmp_path):
    from safetensors.numpy import load_file, save_file
    hf_folder(tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    tensors["lm_head.weight"] = tensors["transformer.wte.weight"] + 1
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(FormatError, match="lm_head.weight differs from transformer.wte"):
        import_hf(tmp_path)


# --- bad input: each error names the file and the field --------------------------------


def test_a_truncated_weights_file_is_refused_naming_it(tmp_path):
    hf_folder(tmp_path)
    path = tmp_path / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(FormatError, match=f"{path}: not a readable safetensors file"):
        import_hf(tmp_path)


def test_a_config_whose_sizes_disagree_with_the_tensors_is_refused(tmp_path):
    hf_folder(tmp_path)
    path = tmp_path / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps(config | {"n_embd": 30, "n_head": 3}))
    with pytest.raises(FormatError) as error:
        import_hf(tmp_path)
    assert str(error.value).startswith(f"{tmp_path / 'model.safetensors'}: ")
    assert "has shape (290, 24), but config.json's vocab_size and n_embd make it (290, 30)" \
        in str(error.value)


def test_an_unknown_architecture_is_refused_naming_the_field(tmp_path):
    hf_folder(tmp_path)
    path = tmp_path / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps(config | {"model_type": "llama",
                                         "architectures": ["LlamaForCausalLM"]}))
    with pytest.raises(FormatError, match=f"{path}: model_type is 'llama' "
                                          r"\(architectures \['LlamaForCausalLM'\]\)"):
        import_hf(tmp_path)


@pytest.mark.parametrize("field, value, words", [
    ("activation_function", "relu", "activation_function 'relu' is not one of"),
    ("layer_norm_epsilon", 1e-6, "layer_norm_epsilon is 1e-06"),
    ("scale_attn_weights", False, "scale_attn_weights is False"),
    ("n_head", 5, "d_model 24 is not divisible by n_head 5"),
])
def test_a_config_our_gpt_cannot_follow_is_refused_naming_the_field(tmp_path, field, value,
                                                                     words):
    hf_folder(tmp_path)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {field: value}))
    with pytest.raises(FormatError, match=f"^{path}: .*" + words.replace("(", r"\(")):
        import_hf(tmp_path)


@pytest.mark.parametrize("setting, value", [("score", "dot"), ("mask", "none"),
                                            ("rung", "bigram"), ("rung", "feed_forward"),
                                            ("norm_type", "rms")])
def test_what_gpt2_cannot_hold_is_refused_naming_the_setting(tmp_path, setting, value):
    model = build_gpt(LadderConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, d_model=8,
                                   **{setting: value}))
    with pytest.raises(FormatError, match=f"cannot hold {setting}='{value}'"):
        export_hf(model, CharTokenizer("abc"), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_character_model_writes_no_special_id_outside_its_vocabulary(tmp_path):
    """GPT2Config's defaults are GPT-2's 50256, which a character vocabulary does not
    have (transformers warned on load): null is written, the tokenizer's own eos."""
    chars = CharTokenizer(sorted(set(TEXT)))
    model = GPT(GPTConfig(vocab_size=chars.vocab_size, block_size=16, n_layer=1, n_head=2,
                          d_model=8))
    config = json.loads((export_hf(model, chars, tmp_path / "hf") / "config.json").read_text())
    assert config["bos_token_id"] is None and config["eos_token_id"] is None
    loaded = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf")
    assert loaded.config.eos_token_id is None
