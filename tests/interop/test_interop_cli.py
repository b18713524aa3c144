"""``shapesafe-nn export`` and ``import``, and the commands that then open the model."""

import re

import numpy as np
import pytest
from cli_runner import assert_fails, run

from shapesafe_nn.data import load_text, split_train_val
from shapesafe_nn.models import GPT, GPTConfig
from shapesafe_nn.saving import load_gpt, save_gpt
from shapesafe_nn.tokenizers import BPETokenizer, CharTokenizer

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytestmark = pytest.mark.reference

TEXT = "O Romeo, Romeo! wherefore art thou Romeo?\n" * 30


def saved(tmp_path, tokenizer, **changes):
    model = GPT(GPTConfig(**{"vocab_size": tokenizer.vocab_size, "block_size": 16,
                             "n_layer": 1, "n_head": 2, "d_model": 16, **changes}))
    return save_gpt(tmp_path / "model.npz", model, tokenizer), model


def test_hf_export_then_import_then_sample(tmp_path):
    tokenizer = BPETokenizer.train(TEXT, 270)
    path, model = saved(tmp_path, tokenizer)
    result = run("export", "--checkpoint", path, "--format", "hf", "--out", tmp_path / "hf")
    assert result.code == 0, result.err
    assert result.lines[0] == f"wrote {tmp_path / 'hf'}/config.json, model.safetensors and " \
                              f"tokenizer.json"
    result = run("import", tmp_path / "hf", "--format", "hf", "--out", tmp_path / "back.npz")
    assert result.code == 0, result.err
    assert result.lines[0] == ("GPT: 7,888 parameters, vocab 270, d_model 16, n_head 2, "
                               "n_layer 1, block 16, gelu tanh; tokenizer: BPETokenizer of "
                               "270 tokens")
    back, _ = load_gpt(tmp_path / "back.npz")
    assert back.num_parameters() == model.num_parameters() == 7_888
    result = run("sample", "--checkpoint", tmp_path / "back.npz", "--prompt", "Romeo",
                 "--tokens", "5")
    assert result.code == 0 and result.out.startswith("Romeo"), result.err
    text = tmp_path / "romeo.txt"
    text.write_text(TEXT)
    result = run("trace", "gpt", "--checkpoint", tmp_path / "back.npz", "--data", text,
                 "--batch", "2", "--seq", "8")
    assert result.code == 0, result.err
    assert result.lines[0] == f"GPT ({tmp_path / 'back.npz'}) on 2 windows of 8 tokens of {text}"
    assert "(batch seq vocab) = (2, 8, 270)" in result.out


def test_an_erf_run_goes_to_nanogpt_with_no_flag_and_says_where_the_data_goes(tmp_path):
    path = tmp_path / "run.npz"
    result = run("train", "gpt", "--preset", "tiny", "--iters", "12", "--warmup", "2",
                 "--eval-interval", "12", "--eval-iters", "1", "--gelu", "erf", "--save", path,
                 "--quiet")
    assert result.code == 0, result.err
    assert load_gpt(path)[0].config.gelu == "erf"
    out = tmp_path / "ng"
    result = run("export", "--checkpoint", path, "--format", "nanogpt", "--out", out)
    assert result.code == 0, result.err  # nanoGPT's GELU is the exact one: nothing changes
    assert result.lines == [
        f"wrote {out}/ckpt.pt (with the optimizer state)",
        f"wrote {out}/shapesafe_char/meta.pkl, train.bin and val.bin: nanoGPT reads them from "
        f"data/shapesafe_char/, so copy the folder there: cp -r {out}/shapesafe_char "
        f"nanoGPT/data/",
        f"in nanoGPT's folder: python sample.py --init_from=resume --out_dir={out.resolve()}"]
    result = run("import", out, "--format", "nanogpt", "--out", tmp_path / "back.npz")
    assert result.code == 0, result.err


def test_refusals_are_one_line_naming_the_setting_or_file(tmp_path):
    path, _ = saved(tmp_path, CharTokenizer.from_text(TEXT))  # gelu tanh
    assert_fails(run("export", "--checkpoint", path, "--format", "nanogpt", "--out",
                     tmp_path / "ng"), 1, "gelu='tanh'", "--gelu-change-ok")
    assert_fails(run("import", tmp_path / "nowhere", "--format", "hf", "--out",
                     tmp_path / "x.npz"), 1, f"{tmp_path / 'nowhere'}: not a folder")
    assert_fails(run("import", tmp_path, "--format", "nanogpt", "--out", tmp_path / "x.npz"),
                 1, f"{tmp_path / 'ckpt.pt'}: no such file; nanoGPT saves out_dir/ckpt.pt")
    assert not (tmp_path / "x.npz").exists()
    assert run("export", "--checkpoint", path, "--format", "hf", "--out", tmp_path / "hf").code == 0
    weights = tmp_path / "hf" / "model.safetensors"
    before = weights.read_bytes()
    assert_fails(run("import", tmp_path / "hf", "--format", "hf", "--out", weights), 1,
                 "is the same file as the input DIR's model.safetensors")
    assert weights.read_bytes() == before


def test_a_bpe_gpt_trains_samples_evaluates_and_goes_to_each_format(tmp_path):
    path, data = tmp_path / "bpe.npz", tmp_path / "plays.txt"
    text = load_text(None)[:50_000]  # the bundled Shakespeare's first pages: quicker to encode
    data.write_text(text, encoding="utf-8")
    result = run("train", "gpt", "--preset", "tiny", "--tokenizer", "bpe", "--vocab-size", "300",
                 "--data", data, "--iters", "12", "--warmup", "2", "--eval-interval", "12",
                 "--eval-iters", "1", "--checks", "off", "--save", path, "--quiet")
    assert result.code == 0, result.err
    model, tokenizer = load_gpt(path)
    assert isinstance(tokenizer, BPETokenizer)
    assert tokenizer.vocab_size == model.config.vocab_size == 300
    result = run("sample", "--checkpoint", path, "--prompt", "ROMEO:", "--tokens", "5")
    assert result.code == 0 and result.out.startswith("ROMEO:"), result.err
    result = run("eval", "gpt", "--checkpoint", path, "--data", data, "--eval-iters", "2",
                 "--checks", "off")
    assert result.code == 0, result.err
    losses = re.fullmatch(r"val loss (\S+) per token, (\S+) per character \((\S+) characters "
                          r"a token\)", result.lines[1])
    assert losses, result.out
    per_token, per_character, characters = map(float, losses.groups())
    # the same loss spread over the characters: equal up to the printed digits
    assert per_character == pytest.approx(per_token / characters, rel=1e-3)
    out = tmp_path / "ng"
    result = run("export", "--checkpoint", path, "--format", "nanogpt", "--out", out,
                 "--gelu-change-ok")
    assert result.code == 0, result.err
    assert result.lines[1].startswith(f"wrote {out}/shapesafe_char/train.bin and val.bin")
    assert sorted(p.name for p in (out / "shapesafe_char").iterdir()) == ["train.bin", "val.bin"]
    train_ids = np.fromfile(out / "shapesafe_char" / "train.bin", dtype=np.uint16)
    np.testing.assert_array_equal(train_ids, split_train_val(tokenizer.encode(text))[0])
    for fmt, target in (("hf", tmp_path / "hf"), ("gguf", tmp_path / "bpe.gguf")):
        result = run("export", "--checkpoint", path, "--format", fmt, "--out", target)
        assert result.code == 0, result.err
