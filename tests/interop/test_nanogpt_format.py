"""nanoGPT's ckpt.pt and meta.pkl, both ways.

nanoGPT's own scripts are not installed here, so the exported checkpoint is
loaded, with ``strict=True``, into :class:`NanoGPTTwin`, a model with
nanoGPT's architecture and parameter names (shapesafe_nn/testing).
"""

import pickle
from dataclasses import replace

import numpy as np
import pytest

from shapesafe_nn import no_grad
from shapesafe_nn.interop import FormatError, export_nanogpt, import_nanogpt
from shapesafe_nn.interop.nanogpt import read_meta
from shapesafe_nn.models import GPT, GPTConfig
from shapesafe_nn.models.ladder import LadderConfig, build_gpt
from shapesafe_nn.tokenizers import CharTokenizer

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.reference
from shapesafe_nn.testing.nanogpt_twin import NanoGPTTwin  # noqa: E402  (needs torch)

TOKENIZER = CharTokenizer("\n !',.:;?abcdefghijklmnopqrstuvwxyz")
TEXT = "to be, or not to be: that is the question.\n" * 40


def our_gpt(**changes) -> GPT:
    """The GPT, or with ``rung=`` a rung of the ladder built as ``train gpt`` builds it."""
    Config = LadderConfig if "rung" in changes else GPTConfig
    return build_gpt(Config(**{"vocab_size": TOKENIZER.vocab_size, "block_size": 16,
                               "n_layer": 2, "n_head": 2, "d_model": 16, "gelu": "erf",
                               "dtype": "float64", "seed": 1, **changes}))


def adamw_state(model: GPT, step: int = 7) -> dict:
    """An AdamW state_dict() of ours, with every m and v distinct."""
    rng = np.random.default_rng(0)
    state = {"step": np.array(step)}
    for name, parameter in model.named_parameters():
        state[f"m.{name}"] = rng.standard_normal(parameter.value.shape)
        state[f"v.{name}"] = rng.random(parameter.value.shape)
    return state


def twin_of(path) -> tuple[NanoGPTTwin, dict]:
    checkpoint = torch.load(path, weights_only=True)
    twin = NanoGPTTwin(**checkpoint["model_args"]).double()
    twin.load_state_dict(checkpoint["model"], strict=True)  # every name, no other
    return twin.eval(), checkpoint


def logits_of(model: GPT, ids: np.ndarray) -> np.ndarray:
    model.eval()
    with no_grad():
        return model.forward(ids)


IDS = np.array([[0, 5, 17, 30, 3, 9, 4, 2], [7, 7, 7, 1, 25, 12, 0, 33]])


def test_exported_checkpoint_loads_strictly_with_equal_logits(tmp_path):
    model = our_gpt()
    path = export_nanogpt(model, TOKENIZER, tmp_path)
    twin, checkpoint = twin_of(path)
    assert checkpoint["model_args"] == dict(n_layer=2, n_head=2, n_embd=16, block_size=16,
                                            bias=True, vocab_size=TOKENIZER.vocab_size,
                                            dropout=0.0)
    with torch.no_grad():
        expected = twin(torch.from_numpy(IDS)).numpy()
    np.testing.assert_allclose(logits_of(model, IDS), expected, rtol=0,
                               atol=1e-12)  # float64 rounding


def test_the_optimizer_state_loads_into_nanogpts_two_groups(tmp_path):
    model = our_gpt()
    ours = adamw_state(model)
    path = export_nanogpt(model, TOKENIZER, tmp_path, optimizer_state=ours, betas=(0.9, 0.99),
                          settings={"lr": 1e-3, "weight_decay": 0.1},
                          progress={"step": 7, "history": [{"val_loss": 3.5}, {"val_loss": 3.2}]})
    twin, checkpoint = twin_of(path)
    assert (checkpoint["iter_num"], checkpoint["best_val_loss"]) == (7, 3.2)
    optimizer = twin.adamw(lr=6e-4, weight_decay=0.0, betas=(0.9, 0.95))
    optimizer.load_state_dict(checkpoint["optimizer"])  # refuses other groups or sizes
    decayed, kept = optimizer.param_groups
    assert (decayed["weight_decay"], kept["weight_decay"]) == (0.1, 0.0)
    assert decayed["betas"] == (0.9, 0.99)  # the run's, restored with the state
    named = dict(twin.named_parameters())
    for name, theirs, transposed in (
            ("transformer.h.1.attn.c_attn.weight", "blocks.1.attn.qkv.W", False),
            ("transformer.h.0.mlp.c_proj.bias", "blocks.0.ff.proj.b", False),
            ("transformer.wte.weight", "token_embedding.W", False)):
        state = optimizer.state[named[name]]
        assert float(state["step"]) == 7
        np.testing.assert_array_equal(state["exp_avg"].numpy(), ours[f"m.{theirs}"])
        np.testing.assert_array_equal(state["exp_avg_sq"].numpy(), ours[f"v.{theirs}"])


@pytest.mark.parametrize("length", ["steps", "iters"])  # iters: a run saved before steps
def test_the_runs_length_is_nanogpts_max_iters_and_lr_decay_iters(tmp_path, length):
    path = export_nanogpt(our_gpt(), TOKENIZER, tmp_path, settings={length: 300, "warmup": 30})
    config = torch.load(path, weights_only=True)["config"]
    assert (config["max_iters"], config["lr_decay_iters"], config["warmup_iters"]) == (300, 300,
                                                                                       30)


def test_ours_to_nanogpt_to_ours_is_bit_identical(tmp_path):
    model = our_gpt(dtype="float32", dropout=0.1)
    export_nanogpt(model, TOKENIZER, tmp_path, text=TEXT)
    back, tokenizer = import_nanogpt(tmp_path)  # meta.pkl found in tmp_path/shapesafe_char
    assert replace(back.config, seed=model.config.seed) == model.config  # seed: not stored
    assert tokenizer == TOKENIZER
    for (name, ours), (_, theirs) in zip(model.named_parameters(), back.named_parameters()):
        assert theirs.value.dtype == ours.value.dtype
        np.testing.assert_array_equal(theirs.value, ours.value, err_msg=name)


def test_data_is_written_where_nanogpt_reads_it(tmp_path):
    export_nanogpt(our_gpt(), TOKENIZER, tmp_path, text=TEXT, dataset="mine")
    meta = pickle.loads((tmp_path / "mine" / "meta.pkl").read_bytes())
    assert meta["vocab_size"] == TOKENIZER.vocab_size
    assert meta["itos"][10] == TOKENIZER.chars[10] and meta["stoi"]["q"] == TOKENIZER.encode("q")[0]
    train = np.fromfile(tmp_path / "mine" / "train.bin", dtype=np.uint16)
    val = np.fromfile(tmp_path / "mine" / "val.bin", dtype=np.uint16)
    assert len(train) == int(0.9 * len(TEXT)) and len(train) + len(val) == len(TEXT)
    assert TOKENIZER.decode(val.astype(np.int64)) == TEXT[len(train):]
    checkpoint = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert checkpoint["config"]["dataset"] == "mine"  # where sample.py looks for meta.pkl


def test_a_model_without_biases_reads_as_zero_biases(tmp_path):
    twin = NanoGPTTwin(n_layer=1, n_head=2, n_embd=8, block_size=8, vocab_size=20,
                       bias=False).double().eval()
    torch.save({"model": {f"_orig_mod.{name}": value  # as torch.compile names them
                          for name, value in twin.state_dict().items()},
                "model_args": dict(n_layer=1, n_head=2, n_embd=8, block_size=8, bias=False,
                                   vocab_size=20, dropout=0.0)}, tmp_path / "ckpt.pt")
    model, _ = import_nanogpt(tmp_path, tokenizer_path=write_meta(tmp_path, "abcdefghij"))
    assert not dict(model.named_parameters())["blocks.0.attn.qkv.b"].value.any()
    ids = np.array([[1, 2, 3, 19]])
    with torch.no_grad():
        expected = twin(torch.from_numpy(ids)).numpy()
    np.testing.assert_allclose(logits_of(model, ids), expected, rtol=0,
                               atol=1e-12)  # float64 rounding


def write_meta(folder, chars: str, **extra):
    path = folder / "meta.pkl"
    path.write_bytes(pickle.dumps({"vocab_size": len(chars), "itos": dict(enumerate(chars)),
                                   "stoi": {c: i for i, c in enumerate(chars)}, **extra}))
    return path


def test_a_meta_pkl_that_names_a_class_is_refused_unread(tmp_path):
    path = write_meta(tmp_path, "abc", evil=pickle.PickleError)  # pickled by reference
    with pytest.raises(FormatError, match="a meta.pkl holds only plain data"):
        read_meta(path)


def test_the_tanh_gelu_is_refused_unless_the_change_is_accepted(tmp_path):
    model = our_gpt(gelu="tanh")
    with pytest.raises(FormatError, match="model has gelu='tanh'.*--gelu-change-ok"):
        export_nanogpt(model, TOKENIZER, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    export_nanogpt(model, TOKENIZER, tmp_path / "out", gelu_change_ok=True)
    assert (tmp_path / "out" / "ckpt.pt").is_file()


@pytest.mark.parametrize("changes, words", [
    ({"d_ff": 24}, "cannot hold d_ff=24: its MLP is 4 \\* n_embd = 64 wide"),
    ({"score": "cosine"}, "cannot hold score='cosine'"),
    ({"mask": "anti_causal"}, "cannot hold mask='anti_causal'"),
    ({"rung": "bigram"}, "cannot hold rung='bigram'"),
    ({"rung": "heads"}, "cannot hold rung='heads'"),
    ({"norm_type": "rms"}, r"cannot hold norm_type='rms' \(RMSNorm\): GPT-2's norms are "
                           r"LayerNorms")])
def test_what_nanogpt_cannot_hold_is_refused_naming_the_setting(tmp_path, changes, words):
    with pytest.raises(FormatError, match=words):
        export_nanogpt(our_gpt(**changes), TOKENIZER, tmp_path)


def test_bad_checkpoints_are_refused_naming_the_file_and_field(tmp_path):
    path = export_nanogpt(our_gpt(), TOKENIZER, tmp_path)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["model_args"]["n_embd"] = 32
    torch.save(checkpoint, path)
    with pytest.raises(FormatError, match=f"{path}: transformer.wte.weight has shape "
                                          r"\(35, 16\), but model_args \(n_embd 32"):
        import_nanogpt(tmp_path)
    path.write_bytes(path.read_bytes()[:1000])  # truncated
    with pytest.raises(FormatError, match=f"{path}: not a readable nanoGPT checkpoint"):
        import_nanogpt(tmp_path)
