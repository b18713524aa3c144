"""Every model and every command runs at float32 and at float64.

The float dtype is bound like a dim (``tests/test_float_dtype.py``), so a
loader, trainer or command that hands a model arrays of the other float dtype
(a float64 batch, a float64 gradient of the loss, a float64 dropout mask)
fails with a ShapeError.  These runs go through each path at both dtypes,
with the checks on."""

import numpy as np
import pytest

from shapesafe_nn import SGD, SoftmaxCrossEntropy, checks
from shapesafe_nn.data import load_bundled, stratified_split, to_inputs
from shapesafe_nn.losses import LabelSmoothedCrossEntropy
from shapesafe_nn.models import GPT, GPTConfig, Network, Translator, TranslatorConfig
from shapesafe_nn.optim import AdamW
from shapesafe_nn.saving import load_gpt, load_translator
from shapesafe_nn.training.trainer import train_classifier

from cli_runner import run

DTYPES = ["float32", "float64"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_mlp_trains_at_each_float_dtype(dtype):
    x, labels = load_bundled()
    x_train, y_train, x_test, y_test = stratified_split(x[:300], labels[:300], holdout=100)
    model = Network([784, 16, 10], dtype=dtype)
    with checks("always"):
        history = train_classifier(
            model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.5),
            (to_inputs(x_train, dtype=dtype), y_train), (to_inputs(x_test, dtype=dtype), y_test),
            epochs=1, batch_size=10, seed=0, quiet=True, log=lambda line: None)
    assert len(history.epochs) == 1 and history.epochs[0].accuracy is not None
    assert all(parameter.value.dtype == dtype for parameter in model.parameters())


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_gpt_steps_and_samples_at_each_float_dtype(dtype):
    model = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, d_model=8, d_ff=16,
                          dropout=0.1, dtype=dtype))
    ids = np.random.default_rng(0).integers(0, 7, (2, 8))
    optimizer = AdamW(model.named_parameters(), lr=1e-3)
    loss = SoftmaxCrossEntropy()
    with checks("always"):
        optimizer.zero_grad()
        logits = model.forward(ids)
        assert logits.dtype == dtype
        loss.forward(logits, np.roll(ids, -1, axis=1))
        model.backward(loss.backward())
        optimizer.step()
        model.eval()
        assert model.generate(ids[0, :3], 5, seed=0).shape == (8,)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_translator_steps_at_each_float_dtype(dtype):
    model = Translator(TranslatorConfig(src_vocab_size=9, tgt_vocab_size=9, d_model=8, d_ff=16,
                                        n_head=2, n_layer=1, max_len=8, dtype=dtype))
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(3, 9, (2, 5)), rng.integers(3, 9, (2, 4))
    loss = LabelSmoothedCrossEntropy(0.1, ignore_index=0)
    with checks("always"):
        logits = model.forward(src, tgt)
        assert logits.dtype == dtype
        loss.forward(logits, tgt)
        model.backward(loss.backward())
    assert all(parameter.grad.dtype == dtype for parameter in model.parameters())


SMALL_GPT = ("--preset", "tiny", "--iters", 12, "--warmup", 2, "--eval-interval", 6,
             "--eval-iters", 1, "--block-size", 16, "--batch-size", 4, "--checks", "always")


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_gpt_command_runs_at_each_float_dtype(dtype, tmp_path):
    checkpoint = tmp_path / "g.npz"
    trained = run("train", "gpt", *SMALL_GPT, "--dtype", dtype, "--save", checkpoint, "--quiet")
    assert trained.code == 0, trained.err
    model, _ = load_gpt(checkpoint)
    assert {parameter.value.dtype.name for parameter in model.parameters()} == {dtype}
    for command in (("sample", "--checkpoint", checkpoint, "--prompt", "ROMEO:", "--tokens", 8),
                    ("eval", "gpt", "--checkpoint", checkpoint, "--eval-iters", 1),
                    ("trace", "gpt", "--checkpoint", checkpoint, "--batch", 2, "--seq", 8)):
        result = run(*command)
        assert result.code == 0, (command, result.err)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_translator_command_runs_at_each_float_dtype(dtype, tmp_path):
    checkpoint = tmp_path / "t.npz"
    trained = run("train", "translate", "--preset", "tiny", "--steps", 12, "--eval-interval", 6,
                  "--checks", "always", "--dtype", dtype, "--save", checkpoint, "--quiet")
    assert trained.code == 0, trained.err
    model, _, _ = load_translator(checkpoint)
    assert {parameter.value.dtype.name for parameter in model.parameters()} == {dtype}
    for command in (("translate", "--checkpoint", checkpoint, "twenty-one"),
                    ("translate", "--checkpoint", checkpoint, "--beam", 2, "nine"),
                    ("eval", "translate", "--checkpoint", checkpoint, "--checks", "always"),
                    ("trace", "translate", "--checkpoint", checkpoint, "--batch", 2)):
        result = run(*command)
        assert result.code == 0, (command, result.err)
