"""llama.cpp's GGUF file, both ways, read back with ``gguf``'s own reader.

llama.cpp itself is not compiled here: the file is checked with the reader of
llama.cpp's Python package, and its tokenizer with
:class:`~shapesafe_nn.testing.llama_cpp_twin.LlamaCppBPE`, llama.cpp's
tokenizer in Python.  ``test_gguf_llama_cpp.py`` loads it in llama.cpp.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from cli_runner import assert_fails, run

from shapesafe_nn.interop import FormatError
from shapesafe_nn.interop.gguf import NO_MERGE, export_gguf, import_gguf
from shapesafe_nn.models import GPT, GPTConfig
from shapesafe_nn.models.ladder import LadderConfig, build_gpt
from shapesafe_nn.saving import load_gpt, save_gpt
from shapesafe_nn.tokenizers import BPETokenizer, CharTokenizer

gguf = pytest.importorskip("gguf")
pytest.importorskip("tokenizers")
from shapesafe_nn.testing.llama_cpp_twin import LlamaCppBPE  # noqa: E402  (needs regex)

TEXT = "O Romeo, Romeo! wherefore art thou Romeo?\nDeny thy father and refuse thy name;\n"
# characters of one to four UTF-8 bytes: "é" is "Ã©" in GPT-2's byte alphabet
WIDE = "Ô naïve café, ☃ & 🙂 — déjà vu.\n"
TOKENIZER = CharTokenizer.from_text(TEXT + WIDE)


def our_gpt(**changes) -> GPT:
    Config = LadderConfig if "rung" in changes else GPTConfig
    return build_gpt(Config(**{"vocab_size": TOKENIZER.vocab_size, "block_size": 16,
                               "n_layer": 2, "n_head": 2, "d_model": 16, "d_ff": 24,
                               "seed": 1, **changes}))


def read(path: Path):
    reader = gguf.GGUFReader(path)
    fields = {name: field.contents() for name, field in reader.fields.items()}
    return fields, {tensor.name: tensor for tensor in reader.tensors}


def llama_cpp_names(n_layer: int) -> set[str]:
    """The tensor names gguf's table gives llama.cpp's GPT-2, weights and biases."""
    names = set()
    for kind in gguf.MODEL_TENSORS[gguf.MODEL_ARCH.GPT2]:
        template = gguf.TENSOR_NAMES[kind]
        for block in range(n_layer) if "{bid}" in template else [None]:
            name = template.format(bid=block)
            names.add(f"{name}.weight")
            if kind not in (gguf.MODEL_TENSOR.TOKEN_EMBD, gguf.MODEL_TENSOR.POS_EMBD,
                            gguf.MODEL_TENSOR.OUTPUT):
                names.add(f"{name}.bias")
    return names


def test_every_tensor_is_ours_under_llama_cpps_name_in_float32(tmp_path):
    model = our_gpt()
    path = export_gguf(model, TOKENIZER, tmp_path / "model.gguf")
    fields, tensors = read(path)
    # every name llama.cpp's GPT-2 has, but the head: it is tied to token_embd
    assert set(tensors) == llama_cpp_names(2) - {"output.weight"}
    ours = dict(model.named_parameters())
    pairs = {"token_embd.weight": "token_embedding.W", "position_embd.weight": "positions.P",
             "blk.1.attn_qkv.weight": "blocks.1.attn.qkv.W",
             "blk.0.attn_output.bias": "blocks.0.attn.proj.b",
             "blk.1.ffn_up.weight": "blocks.1.ff.fc.W",
             "blk.0.ffn_down.weight": "blocks.0.ff.proj.W",
             "blk.0.ffn_norm.weight": "blocks.0.ln2.gamma", "output_norm.bias": "ln_f.beta"}
    for theirs, mine in pairs.items():
        assert tensors[theirs].tensor_type == gguf.GGMLQuantizationType.F32
        np.testing.assert_array_equal(tensors[theirs].data, ours[mine].value, err_msg=theirs)
    # ggml lists dims innermost first: (d_in, d_out) for a (d_out, d_in) weight
    assert list(tensors["blk.0.ffn_up.weight"].shape) == [16, 24]
    assert fields["general.file_type"] == 0  # all float32
    back, _ = import_gguf(path)
    for (name, a), (_, b) in zip(model.named_parameters(), back.named_parameters()):
        np.testing.assert_array_equal(b.value, a.value, err_msg=name)


def test_f16_rounds_the_matrices_and_keeps_the_vectors(tmp_path):
    model = our_gpt()
    path = export_gguf(model, TOKENIZER, tmp_path / "model.gguf", f16=True)
    fields, tensors = read(path)
    assert fields["general.file_type"] == 1  # float16 matrices
    ours = dict(model.named_parameters())
    for theirs, mine in {"token_embd.weight": "token_embedding.W",
                         "blk.0.attn_qkv.weight": "blocks.0.attn.qkv.W"}.items():
        assert tensors[theirs].tensor_type == gguf.GGMLQuantizationType.F16
        # float16 keeps 11 significant bits: within half a unit of the last, 2^-11
        np.testing.assert_allclose(tensors[theirs].data, ours[mine].value, rtol=2.0 ** -11,
                                   atol=2.0 ** -25)  # below 2^-14, float16's spacing
    assert tensors["blk.0.attn_qkv.bias"].tensor_type == gguf.GGMLQuantizationType.F32
    np.testing.assert_array_equal(tensors["blk.0.attn_qkv.bias"].data,
                                  ours["blocks.0.attn.qkv.b"].value)
    back, _ = import_gguf(path)
    np.testing.assert_array_equal(back.blocks[0].attn.qkv.W.value,
                                  model.blocks[0].attn.qkv.W.value.astype(np.float16))


def test_the_header_says_what_llama_cpp_reads(tmp_path):
    model = GPT(GPTConfig(vocab_size=TOKENIZER.vocab_size + 3, block_size=16, n_layer=3,
                          n_head=4, d_model=16))
    fields, _ = read(export_gguf(model, TOKENIZER, tmp_path / "model.gguf"))
    assert {key: fields[key] for key in (
        "general.architecture", "gpt2.context_length", "gpt2.embedding_length",
        "gpt2.feed_forward_length", "gpt2.block_count", "gpt2.attention.head_count",
        "gpt2.vocab_size", "tokenizer.ggml.model", "tokenizer.ggml.pre",
        "tokenizer.ggml.add_bos_token")} == {
        "general.architecture": "gpt2", "gpt2.context_length": 16,
        "gpt2.embedding_length": 16, "gpt2.feed_forward_length": 64,
        "gpt2.block_count": 3, "gpt2.attention.head_count": 4,
        "gpt2.vocab_size": TOKENIZER.vocab_size + 3, "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": "gpt-2", "tokenizer.ggml.add_bos_token": False}
    assert fields["gpt2.attention.layer_norm_epsilon"] == pytest.approx(1e-5, rel=1e-7)  # f32
    tokens, types = fields["tokenizer.ggml.tokens"], fields["tokenizer.ggml.token_type"]
    assert tokens[:2] == ["Ċ", "Ġ"]  # a line break and a space, in the byte alphabet
    assert tokens[-3:] == [f"[PAD{i}]" for i in range(TOKENIZER.vocab_size,
                                                      TOKENIZER.vocab_size + 3)]
    assert types == [1] * TOKENIZER.vocab_size + [5] * 3  # normal, then unused rows
    assert "tokenizer.ggml.eos_token_id" not in fields  # characters have no end of text
    # each character of two or more bytes rebuilt from its bytes: Ô, à, é, ï, —, ☃, 🙂
    assert fields["tokenizer.ggml.merges"] == ["Ã Ķ", "Ã ł", "Ã ©", "Ã ¯", "â Ģ", "âĢ Ķ",
                                               "â ĺ", "âĺ ĥ", "ð Ł", "ðŁ Ļ", "ðŁĻ Ĥ"]
    ascii_only = CharTokenizer.from_text(TEXT)
    fields, _ = read(export_gguf(our_gpt(vocab_size=ascii_only.vocab_size), ascii_only,
                                 tmp_path / "ascii.gguf"))
    assert fields["tokenizer.ggml.merges"] == [NO_MERGE]  # llama.cpp needs one, never used


@pytest.mark.parametrize("text", [TEXT, WIDE, "  Romeo  thy\n\n\nname, 🙂🙂! "])
def test_llama_cpps_tokenizer_reads_our_characters_as_our_ids(tmp_path, text):
    path = export_gguf(our_gpt(), TOKENIZER, tmp_path / "model.gguf")
    assert LlamaCppBPE.from_gguf(path).encode(text) == TOKENIZER.encode(text).tolist()
    _, back = import_gguf(path)
    assert back == TOKENIZER


def test_llama_cpps_tokenizer_reads_our_bpe_as_our_ids(tmp_path):
    bpe = BPETokenizer.train(TEXT * 20, 300)
    end = bpe.vocab_size  # the id of GPT-2's end of text, added after the pieces
    bpe.tokenizer.add_special_tokens(["<|endoftext|>"])
    path = export_gguf(our_gpt(vocab_size=310), bpe, tmp_path / "model.gguf")
    fields, _ = read(path)
    assert fields["tokenizer.ggml.eos_token_id"] == fields["tokenizer.ggml.bos_token_id"] == end
    # a piece, the end of text, a padding row
    assert fields["tokenizer.ggml.token_type"][end - 1:end + 2] == [1, 3, 5]
    text = TEXT + "Wherefore, naïve Romeo? 3 thous 🙂"
    ids = bpe.encode(text).tolist()
    assert len(ids) < 0.7 * len(text)  # word pieces, not bytes
    assert LlamaCppBPE.from_gguf(path).encode(text) == ids
    _, back = import_gguf(path)
    assert back.vocab_size == end + 1 and back.encode(text).tolist() == ids
    assert back.decode(back.encode(text)) == text


def test_a_sinusoidal_model_goes_over_as_its_table(tmp_path):
    model = our_gpt(positions="sinusoidal")
    _, tensors = read(export_gguf(model, TOKENIZER, tmp_path / "model.gguf"))
    assert list(tensors)[:2] == ["token_embd.weight", "position_embd.weight"]
    np.testing.assert_array_equal(tensors["position_embd.weight"].data, model.positions.table)


def test_the_erf_gelu_is_refused_unless_the_change_is_accepted(tmp_path):
    model = our_gpt(gelu="erf")
    with pytest.raises(FormatError, match="computes the tanh GELU, and this model has "
                                          "gelu='erf'.*--gelu-change-ok"):
        export_gguf(model, TOKENIZER, tmp_path / "model.gguf")
    assert list(tmp_path.iterdir()) == []
    export_gguf(model, TOKENIZER, tmp_path / "model.gguf", gelu_change_ok=True)
    assert import_gguf(tmp_path / "model.gguf")[0].config.gelu == "tanh"  # llama.cpp's


@pytest.mark.parametrize("changes, words", [
    ({"score": "cosine"}, "GGUF format cannot hold score='cosine'"),
    ({"mask": "anti_causal"}, "cannot hold mask='anti_causal'"),
    ({"rung": "heads"}, "cannot hold rung='heads'"),
    ({"norm_type": "rms"}, r"cannot hold norm_type='rms' \(RMSNorm\)")])
def test_what_llama_cpps_gpt2_cannot_hold_is_refused_naming_it(tmp_path, changes, words):
    with pytest.raises(FormatError, match=words):
        export_gguf(our_gpt(**changes), TOKENIZER, tmp_path / "model.gguf")
    assert list(tmp_path.iterdir()) == []


def test_a_weight_beyond_float16_is_refused_naming_it(tmp_path):
    model = our_gpt()
    model.blocks[1].ff.proj.W.value[0, 0] = 7e4
    with pytest.raises(FormatError, match="blk.1.ffn_down.weight holds 7e\\+04, beyond "
                                          "float16's largest number, 65504"):
        export_gguf(model, TOKENIZER, tmp_path / "model.gguf", f16=True)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = export_gguf(our_gpt(), TOKENIZER, tmp_path / "model.gguf")
    before = path.read_bytes()

    def disk_full(self, **_):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", disk_full)
    with pytest.raises(OSError, match="model.gguf: no space left on the device, so it was "
                                      "not written"):
        export_gguf(our_gpt(seed=2), TOKENIZER, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.gguf"]


def test_an_output_that_cannot_be_a_file_is_refused_before_any_work(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory; name the .gguf file"):
        export_gguf(our_gpt(), TOKENIZER, tmp_path)
    with pytest.raises(FileNotFoundError, match="the folder .*nowhere does not exist"):
        export_gguf(our_gpt(), TOKENIZER, tmp_path / "nowhere" / "model.gguf")


def write_gguf(path: Path, architecture="gpt2", eps=1e-5, **tensors):
    """A GGUF file of our tiny GPT with some keys or tensors changed (None: left out)."""
    model = our_gpt()
    values = {tensor.name: np.array(tensor.data) for tensor in gguf.GGUFReader(
        export_gguf(model, TOKENIZER, path)).tensors}
    fields, _ = read(path)
    values.update(tensors)
    writer = gguf.GGUFWriter(path, architecture)
    for key in ("context_length", "embedding_length", "feed_forward_length", "block_count",
                "attention.head_count"):
        writer.add_uint32(f"{architecture}.{key}", fields[f"gpt2.{key}"])
    writer.add_float32(f"{architecture}.attention.layer_norm_epsilon", eps)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(fields["tokenizer.ggml.tokens"])
    writer.add_token_merges(fields["tokenizer.ggml.merges"])
    for name, value in values.items():
        if value is not None:
            writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_a_file_with_the_head_written_out_and_no_token_types_is_read(tmp_path):
    path = export_gguf(our_gpt(), TOKENIZER, tmp_path / "model.gguf")
    head = {"output.weight": gguf.GGUFReader(path).tensors[0].data.copy()}  # token_embd
    back, tokenizer = import_gguf(write_gguf(path, **head))
    assert tokenizer == TOKENIZER and back.config == replace(our_gpt().config, seed=0)


@pytest.mark.parametrize("changes, words", [
    ({"architecture": "llama"}, "general.architecture is 'llama'; only GPT-2's, 'gpt2'"),
    ({"eps": 1e-6}, "gpt2.attention.layer_norm_epsilon is 9.99.*e-07; our GPT's LayerNorms"),
    ({"blk.1.ffn_up.bias": None}, r"the tensors are not GPT-2's \(missing: blk.1.ffn_up.bias; "
                                  r"unexpected: none\)"),
    ({"blk.0.attn_qkv.weight": np.zeros((40, 16), np.float32)},
     r"blk.0.attn_qkv.weight has shape \(40, 16\), but the header's sizes"),
    ({"output.weight": np.ones((35, 16), np.float32)}, "output.weight differs from token_embd"),
    ({"blk.0.attn_norm.weight": np.ones(16, np.int32)}, "blk.0.attn_norm.weight is I32; only "
                                                        "F32 and F16")])
def test_a_file_we_cannot_follow_is_refused_naming_the_key_or_tensor(tmp_path, changes, words):
    path = tmp_path / "model.gguf"
    write_gguf(path, **changes)
    with pytest.raises(FormatError, match=f"{path}: {words}"):
        import_gguf(path)


def test_a_file_that_is_not_gguf_is_refused_naming_it(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_text("not a model")
    with pytest.raises(FormatError, match=f"{path}: not a readable GGUF file"):
        import_gguf(path)
    with pytest.raises(FormatError, match="no such file"):
        import_gguf(tmp_path / "nothing.gguf")


def test_export_and_import_from_the_command_line(tmp_path):
    model = our_gpt(gelu="erf")
    save_gpt(tmp_path / "model.npz", model, TOKENIZER)
    assert_fails(run("export", "--checkpoint", tmp_path / "model.npz", "--format", "gguf",
                     "--out", tmp_path / "model.gguf"), 1, "gelu='erf'", "--gelu-change-ok")
    result = run("export", "--checkpoint", tmp_path / "model.npz", "--format", "gguf",
                 "--out", tmp_path / "model.gguf", "--f16", "--gelu-change-ok")
    assert result.code == 0, result.err
    assert result.lines[0] == f"wrote {tmp_path / 'model.gguf'} (float16, 35 tokens)"
    result = run("import", tmp_path / "model.gguf", "--format", "gguf", "--out",
                 tmp_path / "back.npz")
    assert result.code == 0, result.err
    back, tokenizer = load_gpt(tmp_path / "back.npz")
    assert tokenizer == TOKENIZER and back.config.gelu == "tanh"
    assert_fails(run("export", "--checkpoint", tmp_path / "model.npz", "--format", "gguf",
                     "--out", tmp_path / "model.npz", "--gelu-change-ok"), 1,
                 "is the same file as the input --checkpoint")
