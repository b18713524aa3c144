"""The ``shapesafe-nn`` command: train, evaluate and sample, and its exit codes.

Commands run in-process through ``cli.main`` (fast); two run as real
processes to check the installed entry points.  Exit codes: 0 success, 1 a
problem with the user's files or settings (one line naming it, no
traceback), 2 invalid arguments (argparse's usage error).
"""

import contextlib
import gzip
import io
import json
import re
import shutil
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from cli_runner import assert_fails, run

import shapesafe_nn
from shapesafe_nn.cli import main
from shapesafe_nn.cli.gpt import trained_batch_size
from shapesafe_nn.cli.stream import TextStream
from shapesafe_nn.data import load_bundled, stratified_split
from shapesafe_nn.data.mnist import IMAGES_MAGIC, LABELS_MAGIC
from shapesafe_nn.saving import load_gpt

MLP_SUMMARY = re.compile(r"^test accuracy 0\.\d{4} \((\d+)/1000\)$")
GPT_SUMMARY = re.compile(r"^val loss \d+\.\d{4} .*after 20 iterations$")
EPOCH = re.compile(r"^Epoch 0: (\d+) / (\d+)  ")


# ---------------------------------------------------------------------------
# Data files written from real bundled digits
# ---------------------------------------------------------------------------
def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An IDX file: big-endian int32 magic, one int32 per dim, then the uint8 values."""
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx_pair(directory: Path, prefix: str, x: np.ndarray, y: np.ndarray,
                   compress: bool) -> None:
    """MNIST's two files, ``{prefix}-images-idx3-ubyte`` and ``{prefix}-labels-idx1-ubyte``."""
    for kind, idx, content in (("images", "idx3", idx_bytes(x.reshape(-1, 28, 28), IMAGES_MAGIC)),
                               ("labels", "idx1", idx_bytes(y, LABELS_MAGIC))):
        name = f"{prefix}-{kind}-{idx}-ubyte"
        if compress:
            (directory / f"{name}.gz").write_bytes(gzip.compress(content))
        else:
            (directory / name).write_bytes(content)


@pytest.fixture(scope="module")
def digits():
    """600 training and 200 test digits, every class present, shuffled."""
    x_train, y_train, x_test, y_test = stratified_split(*load_bundled(), 200, seed=1)
    return (x_train[:600], y_train[:600]), (x_test, y_test)


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory, digits):
    """MNIST as distributed: a train pair (gzip-compressed) and a t10k pair (raw)."""
    directory = tmp_path_factory.mktemp("mnist")
    (x_train, y_train), (x_test, y_test) = digits
    write_idx_pair(directory, "train", x_train, y_train, compress=True)
    write_idx_pair(directory, "t10k", x_test, y_test, compress=False)
    return directory


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory, digits):
    (x, y), _ = digits
    path = tmp_path_factory.mktemp("npz") / "digits.npz"
    np.savez(path, x=x, y=y)
    return path


# ---------------------------------------------------------------------------
# Entry points and help
# ---------------------------------------------------------------------------
def test_the_console_script_prints_help():
    script = Path(sys.executable).parent / "shapesafe-nn"
    if not script.exists():
        script = shutil.which("shapesafe-nn")
    if script is None:
        pytest.skip("the shapesafe-nn script is not installed next to this Python")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: shapesafe-nn"), result.stdout
    assert "train" in result.stdout and "sample" in result.stdout


def test_python_dash_m_prints_help():
    result = subprocess.run([sys.executable, "-m", "shapesafe_nn", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: shapesafe-nn"), result.stdout


@pytest.mark.parametrize("command, flag", [
    (["train", "mlp"], "--epochs"), (["eval", "mlp"], "--checkpoint"),
    (["train", "gpt"], "--preset"), (["eval", "gpt"], "--eval-iters"),
    (["sample"], "--prompt"),
])
def test_every_command_has_help(command, flag):
    result = run(*command, "--help")
    assert result.code == 0
    assert flag in result.out


# ---------------------------------------------------------------------------
# train mlp / eval mlp
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    """The book's network, one epoch on the bundled 4,000 / 1,000 split."""
    folder = tmp_path_factory.mktemp("mlp")
    result = run("train", "mlp", "--epochs", 1, "--save", folder / "ck.npz",
                 "--json", folder / "m.json")
    return folder, result


def test_train_mlp_prints_the_header_epochs_and_a_summary(mlp_run):
    folder, result = mlp_run
    assert result.code == 0, result.err
    lines = result.lines
    assert lines[0].startswith("Network [784, 30, 10]: sigmoid, quadratic cost, init nielsen, "
                               "η = 3.0, batch 10, 1 epochs"), lines[0]
    assert lines[1] == "data: bundled MNIST subset: 4,000 train / 1,000 held out"
    epoch = EPOCH.match(lines[2])
    assert epoch and epoch.group(2) == "1000", lines[2]
    assert lines[3] == f"saved {folder / 'ck.npz'}"
    summary = MLP_SUMMARY.match(lines[-1])
    assert summary, lines[-1]
    assert summary.group(1) == epoch.group(1)  # the summary is the last epoch's count
    assert result.err == ""  # stderr is not a terminal here: no progress bar


def test_train_mlp_writes_final_metrics_and_history(mlp_run):
    folder, result = mlp_run
    metrics = json.loads((folder / "m.json").read_text())
    final = metrics["final"]
    assert final["split"] == "test" and final["total"] == 1000
    assert final["accuracy"] == final["correct"] / 1000
    assert f"({final['correct']}/1000)" in result.lines[-1]
    assert [record["epoch"] for record in metrics["history"]] == [0]
    assert metrics["history"][0]["accuracy"] == final["accuracy"]
    assert metrics["settings"]["epochs"] == 1 and metrics["settings"]["lr"] == 3.0


def test_quiet_prints_only_the_summary_line(mlp_run, tmp_path):
    _, loud = mlp_run
    result = run("train", "mlp", "--epochs", 1, "--quiet", "--checks", "off",
                 "--save", tmp_path / "ck.npz")
    assert result.code == 0, result.err
    assert result.lines == [loud.lines[-1]] and result.err == ""
    assert (tmp_path / "ck.npz").is_file()  # said nothing, saved all the same


def test_eval_mlp_reproduces_the_accuracy_on_the_held_out_digits(mlp_run):
    folder, trained = mlp_run
    result = run("eval", "mlp", "--checkpoint", folder / "ck.npz")
    assert result.code == 0, result.err
    assert "held out from the bundled subset" in result.lines[0]
    assert result.lines[-1] == trained.lines[-1]


def test_holdout_zero_trains_on_everything(tmp_path):
    result = run("train", "mlp", "--epochs", 1, "--holdout", 0,
                 "--save", tmp_path / "all.npz")
    assert result.code == 0, result.err
    assert "5,000 train / 0 held out" in result.lines[1]
    assert result.lines[2].startswith("Epoch 0 complete"), result.lines
    assert re.match(r"^train accuracy 0\.\d{4} \(\d+/5000\)$", result.lines[-1]), result.lines
    # nothing was held out, so evaluation needs data of its own
    assert_fails(run("eval", "mlp", "--checkpoint", tmp_path / "all.npz"), 1,
                 str(tmp_path / "all.npz"), "--data")


def test_an_idx_directory_trains_and_tests_on_t10k(tmp_path, idx_dir):
    checkpoint = tmp_path / "ck.npz"
    result = run("train", "mlp", "--data", idx_dir, "--epochs", 1,
                 "--save", checkpoint)
    assert result.code == 0, result.err
    assert result.lines[1] == f"data: {idx_dir}: 600 train / 200 t10k test"
    epoch = EPOCH.match(result.lines[2])
    assert epoch and epoch.group(2) == "200", result.lines[2]
    summary = f"test accuracy {int(epoch.group(1)) / 200:.4f} ({epoch.group(1)}/200)"
    assert result.lines[-1] == summary
    for data in (["--data", idx_dir], []):  # given, or remembered from training
        evaluated = run("eval", "mlp", "--checkpoint", checkpoint, *data)
        assert evaluated.code == 0, evaluated.err
        assert evaluated.lines[-1] == summary


def test_eval_mlp_reads_an_idx_directory_as_its_t10k_pair(mlp_run, idx_dir):
    folder, _ = mlp_run
    result = run("eval", "mlp", "--checkpoint", folder / "ck.npz", "--data", idx_dir)
    assert result.code == 0, result.err
    assert result.lines[0] == f"evaluating {folder / 'ck.npz'} on {idx_dir} (t10k)"
    assert re.match(r"^test accuracy 0\.\d{4} \(\d+/200\)$", result.lines[-1]), result.lines


def test_an_idx_directory_without_t10k_holds_out_from_train(tmp_path, digits):
    (x, y), _ = digits
    write_idx_pair(tmp_path, "train", x, y, compress=False)
    checkpoint = tmp_path / "ck.npz"
    result = run("train", "mlp", "--data", tmp_path, "--holdout", 100, "--epochs", 1,
                 "--save", checkpoint)
    assert result.code == 0, result.err
    assert result.lines[1] == f"data: {tmp_path}: 500 train / 100 held out"
    evaluated = run("eval", "mlp", "--checkpoint", checkpoint)  # the same 100 again
    assert evaluated.lines[-1] == result.lines[-1]


def test_half_a_t10k_pair_exits_1_naming_what_is_missing(tmp_path, digits):
    (x, y), (x_test, _) = digits
    write_idx_pair(tmp_path, "train", x, y, compress=False)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(x_test.reshape(-1, 28, 28),
                                                                IMAGES_MAGIC))
    assert_fails(run("train", "mlp", "--data", tmp_path, "--quiet"), 1, str(tmp_path),
                 "t10k-labels-idx1-ubyte")


def test_an_npz_of_digits_trains_and_is_evaluated(tmp_path, digits_npz):
    checkpoint = tmp_path / "ck.npz"
    result = run("train", "mlp", "--data", digits_npz, "--holdout", 100, "--epochs", 1,
                 "--save", checkpoint)
    assert result.code == 0, result.err
    assert result.lines[1] == f"data: {digits_npz}: 500 train / 100 held out"
    assert EPOCH.match(result.lines[2]).group(2) == "100"
    # without --data: the same 100 held out again
    evaluated = run("eval", "mlp", "--checkpoint", checkpoint)
    assert evaluated.code == 0, evaluated.err
    assert evaluated.lines[-1] == result.lines[-1]
    # with --data: every digit in the file
    evaluated = run("eval", "mlp", "--checkpoint", checkpoint, "--data", digits_npz)
    assert re.match(r"^test accuracy 0\.\d{4} \(\d+/600\)$", evaluated.lines[-1])


def test_cross_entropy_with_scaled_init_learns(tmp_path):
    result = run("train", "mlp", "--cost", "cross-entropy", "--init", "scaled", "--lr", 0.5,
                 "--epochs", 1, "--json", tmp_path / "m.json")
    assert result.code == 0, result.err
    assert "cross-entropy cost, init scaled, η = 0.5" in result.lines[0]
    assert MLP_SUMMARY.match(result.lines[-1]), result.lines[-1]
    # chapter 3's setup reaches about 0.9 in one epoch; 0.5 is far above chance (0.1)
    assert json.loads((tmp_path / "m.json").read_text())["final"]["accuracy"] > 0.5


@pytest.mark.parametrize("mode", ["first", "off"])
def test_check_modes_train_the_same_network(digits_npz, mode):
    args = ("train", "mlp", "--data", digits_npz, "--holdout", 100, "--epochs", 1)
    checked = run(*args)
    result = run(*args, "--checks", mode)
    assert result.code == 0, result.err
    assert f"checks {mode}" in result.lines[0]
    assert result.lines[2:] == checked.lines[2:]  # checks only look: the numbers are the same


def test_a_diverging_run_exits_1_with_a_hint(digits_npz):
    with np.errstate(over="ignore", invalid="ignore"):
        result = run("train", "mlp", "--data", digits_npz, "--holdout", 100, "--epochs", 1,
                     "--quiet", "--sizes", "784,30,30,10", "--activation", "relu",
                     "--cost", "cross-entropy", "--lr", "1e100")
    assert_fails(result, 1, "--lr")


def test_a_missing_data_path_exits_1_naming_it(tmp_path, mlp_run):
    missing = tmp_path / "no-such-mnist"
    assert_fails(run("train", "mlp", "--data", missing, "--quiet"), 1, str(missing))
    folder, _ = mlp_run
    assert_fails(run("eval", "mlp", "--checkpoint", folder / "ck.npz", "--data", missing), 1,
                 str(missing))


def test_a_bad_data_file_exits_1_naming_it(tmp_path):
    path = tmp_path / "digits.npz"
    path.write_text("not an archive")
    assert_fails(run("train", "mlp", "--data", path, "--quiet"), 1, str(path))


@pytest.mark.parametrize("content", [None, b"", b"PK\x03\x04 cut short"],
                         ids=["missing", "empty", "truncated"])
def test_a_bad_checkpoint_exits_1_naming_it(tmp_path, content):
    path = tmp_path / "ck.npz"
    if content is not None:
        path.write_bytes(content)
    assert_fails(run("eval", "mlp", "--checkpoint", path), 1, str(path))


@pytest.mark.parametrize("argv, named", [
    (["train", "mlp", "--lr", "0"], "--lr"),
    (["train", "mlp", "--lr", "fast"], "--lr"),
    (["train", "mlp", "--sizes", "784,x"], "--sizes"),
    (["train", "mlp", "--sizes", "784"], "--sizes"),
    (["train", "mlp", "--sizes", "100,10"], "784"),  # MNIST has 784 pixels
    (["train", "mlp", "--sizes", "784,30,5"], "10"),  # ... and 10 digits
    (["train", "mlp", "--epochs", "-1"], "--epochs"),
    (["train", "mlp", "--epochs", "0"], "--epochs"),
    (["train", "mlp", "--holdout", "-5"], "--holdout"),
    (["train", "mlp", "--cost", "hinge"], "--cost"),
    (["train", "cnn"], "cnn"),
    (["eval", "cnn"], "cnn"),
    (["eval", "mlp"], "--checkpoint"),
    (["fly"], "fly"),
    ([], "COMMAND"),
])
def test_invalid_arguments_exit_2(argv, named):
    assert_fails(run(*argv), 2, named)


# ---------------------------------------------------------------------------
# train gpt / sample / eval gpt
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory):
    """The tiny preset, 20 iterations on the bundled Shakespeare."""
    folder = tmp_path_factory.mktemp("gpt")
    result = run("train", "gpt", "--preset", "tiny", "--iters", 20, "--eval-interval", 10,
                 "--eval-iters", 2, "--save", folder / "g.npz",
                 "--json", folder / "g.json")
    return folder, result


def test_train_gpt_prints_steps_a_sample_and_a_summary(gpt_run):
    folder, result = gpt_run
    assert result.code == 0, result.err
    lines = result.lines
    assert lines[0].startswith("GPT (tiny): "), lines[0]
    assert "20 iterations" in lines[0]
    assert re.match(r"^data: bundled Shakespeare tragedies: [\d,]+ characters, vocab \d+, ",
                    lines[1]), lines[1]
    steps = [line for line in lines if line.startswith("step ")]
    assert [int(line.split(":")[0].split()[1]) for line in steps] == [0, 10, 20]
    assert "--- sample ---" in result.out
    assert f"saved {folder / 'g.npz'}" in lines
    assert GPT_SUMMARY.match(lines[-1]), lines[-1]
    assert result.err == ""


def test_train_gpt_quiet_prints_only_the_summary_line(gpt_run, tmp_path):
    _, loud = gpt_run
    result = run("train", "gpt", "--preset", "tiny", "--iters", 20, "--eval-interval", 10,
                 "--eval-iters", 2, "--quiet", "--checks", "off", "--save", tmp_path / "g.npz")
    assert result.code == 0, result.err
    assert result.lines == [loud.lines[-1]] and result.err == ""  # no sample either


def test_train_gpt_writes_final_losses_and_history(gpt_run):
    folder, result = gpt_run
    metrics = json.loads((folder / "g.json").read_text())
    assert [record["step"] for record in metrics["history"]] == [0, 10, 20]
    assert metrics["final"]["step"] == 20
    assert metrics["final"]["val_loss"] == metrics["history"][-1]["val_loss"]
    assert f"val loss {metrics['final']['val_loss']:.4f}" in result.lines[-1]
    assert f"vocab {metrics['config']['vocab_size']}," in result.lines[1]
    assert metrics["settings"]["steps"] == 20  # given as --iters, its other name


def test_sample_extends_the_prompt_and_is_deterministic_for_a_seed(gpt_run):
    folder, _ = gpt_run
    args = ("sample", "--checkpoint", folder / "g.npz", "--prompt", "ROMEO:", "--tokens", 30)
    first, again, other = run(*args, "--seed", 1), run(*args, "--seed", 1), run(*args, "--seed", 2)
    assert first.code == 0, first.err
    assert first.out.startswith("ROMEO:")
    assert len(first.out) == len("ROMEO:") + 30 + 1  # the prompt, 30 characters, a newline
    assert again.out == first.out
    assert other.out != first.out


def test_sample_refuses_a_character_outside_the_vocabulary(gpt_run):
    folder, _ = gpt_run
    assert_fails(run("sample", "--checkpoint", folder / "g.npz", "--prompt", "café"), 1, "'é'")


class FlushRecorder(io.StringIO):
    """A stdout that remembers what had been written at each flush."""

    def __init__(self):
        super().__init__()
        self.at_flush = []

    def flush(self):
        self.at_flush.append(self.getvalue())


def test_sample_prints_each_character_as_it_is_drawn(gpt_run):
    folder, _ = gpt_run
    out = FlushRecorder()
    with contextlib.redirect_stdout(out):
        code = main(["sample", "--checkpoint", str(folder / "g.npz"), "--prompt", "ROMEO:",
                     "--tokens", "30", "--seed", "1"])
    assert code == 0
    # the prompt with the first character, then one flush per character, each
    # adding to the last
    shown = [text for text in out.at_flush if text]
    assert len(shown[0]) == len("ROMEO:") + 1 and len(shown) >= 30
    assert all(later.startswith(earlier) for earlier, later in zip(shown, shown[1:]))
    # what was streamed is the text the model writes for this seed, then a newline
    model, tokenizer = load_gpt(folder / "g.npz")
    written = tokenizer.decode(model.generate(tokenizer.encode("ROMEO:"), 30, seed=1))
    assert out.getvalue() == written + "\n"


class ByteTokenizer:
    """One token per UTF-8 byte, as a byte-level BPE's single bytes are."""

    def decode(self, ids) -> str:
        return bytes(ids).decode("utf-8", errors="replace")


def test_a_stream_holds_back_half_a_character_until_its_other_half():
    out = FlushRecorder()
    stream = TextStream(ByteTokenizer(), list(b"a"), out=out)
    for token in "é!".encode():  # é is two bytes, 0xc3 0xa9
        stream.add(token)
    stream.close()
    assert [text for text in out.at_flush] == ["aé", "aé!", "aé!\n"]  # never "a\ufffd"


def test_a_stream_prints_a_character_left_broken_at_the_end():
    out = FlushRecorder()
    stream = TextStream(ByteTokenizer(), [], out=out)
    stream.add("é".encode()[0])  # the first of its two bytes, and no second
    stream.close()
    assert out.getvalue() == "\ufffd\n"  # what tokenizer.decode gives for the same ids


def test_version_prints_the_package_version():
    result = run("--version")
    assert result.code == 0
    assert result.out == f"shapesafe-nn {shapesafe_nn.__version__}\n"


def test_eval_gpt_prints_the_val_loss(gpt_run):
    folder, _ = gpt_run
    result = run("eval", "gpt", "--checkpoint", folder / "g.npz", "--eval-iters", 3)
    assert result.code == 0, result.err
    assert "3 batches of 8" in result.lines[0]  # the batch size it was trained with
    assert re.match(r"^val loss \d+\.\d{4}$", result.lines[-1]), result.lines


def test_a_gpt_checkpoint_given_to_eval_mlp_exits_1(gpt_run):
    folder, _ = gpt_run
    assert_fails(run("eval", "mlp", "--checkpoint", folder / "g.npz"), 1,
                 str(folder / "g.npz"), "gpt")


def test_an_mlp_checkpoint_given_to_sample_or_eval_gpt_exits_1(mlp_run):
    folder, _ = mlp_run
    checkpoint = folder / "ck.npz"
    assert_fails(run("sample", "--checkpoint", checkpoint), 1, str(checkpoint), "mlp")
    assert_fails(run("eval", "gpt", "--checkpoint", checkpoint), 1, str(checkpoint), "mlp")


POEM = ("the owl and the pussy-cat went to sea\n"
        "in a beautiful pea-green boat,\n"
        "they took some honey, and plenty of money,\n"
        "wrapped up in a five-pound note.\n") * 8
SMALL = ("--preset", "tiny", "--iters", 12, "--warmup", 2, "--eval-interval", 6,
         "--eval-iters", 1, "--block-size", 16, "--batch-size", 4)


def test_train_gpt_with_another_score_and_mask_saves_them(tmp_path):
    checkpoint = tmp_path / "variant.npz"
    result = run("train", "gpt", *SMALL, "--score", "cosine", "--mask", "none",
                 "--save", checkpoint)
    assert result.code == 0, result.err
    assert "attention cosine none" in result.lines[0]
    evaluated = run("eval", "gpt", "--checkpoint", checkpoint, "--eval-iters", 2)
    assert evaluated.code == 0, evaluated.err  # the variant is rebuilt from the checkpoint


def test_train_gpt_on_a_text_file_of_ones_own(tmp_path):
    text = tmp_path / "poem.txt"
    text.write_text(POEM, encoding="utf-8")
    checkpoint = tmp_path / "poem.npz"
    result = run("train", "gpt", "--data", text, *SMALL, "--save", checkpoint)
    assert result.code == 0, result.err
    vocab = len(set(POEM))
    assert result.lines[1].startswith(f"data: {text}: {len(POEM):,} characters, vocab {vocab}, ")
    assert re.match(r"^val loss \d+\.\d{4} .*after 12 iterations$", result.lines[-1])
    sample = run("sample", "--checkpoint", checkpoint, "--prompt", "the owl", "--tokens", 20)
    assert sample.code == 0, sample.err
    assert sample.out.startswith("the owl")
    assert set(sample.out) <= set(POEM)  # only characters of the poem
    evaluated = run("eval", "gpt", "--checkpoint", checkpoint, "--data", text, "--eval-iters", 2)
    assert evaluated.code == 0, evaluated.err
    assert re.match(r"^val loss \d+\.\d{4}$", evaluated.lines[-1])
    # The bundled corpus holds characters the poem's vocabulary lacks: named, not crashed.
    assert_fails(run("eval", "gpt", "--checkpoint", checkpoint, "--eval-iters", 1), 1,
                 "not in the vocabulary")


@pytest.mark.parametrize("text", ["to be or not to be\n", POEM[:150]],
                         ids=["one line", "too short for the validation part"])
def test_a_text_too_short_for_one_block_exits_1(tmp_path, text):
    path = tmp_path / "short.txt"
    path.write_text(text, encoding="utf-8")
    assert_fails(run("train", "gpt", "--data", path, "--preset", "tiny", "--quiet"), 1,
                 str(path), "too short", "--block-size")


def test_a_text_that_is_not_utf8_exits_1_naming_it(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("naïve café\n".encode("latin-1") * 100)
    assert_fails(run("train", "gpt", "--data", path, "--preset", "tiny", "--quiet"), 1,
                 str(path), "UTF-8")


def test_a_missing_text_file_exits_1_naming_it(tmp_path):
    path = tmp_path / "nothing.txt"
    assert_fails(run("train", "gpt", "--data", path, "--quiet"), 1, str(path))


def test_heads_that_do_not_divide_the_width_are_a_usage_error_before_the_text_is_read(tmp_path):
    # the config refuses it as soon as the flags are read: the missing text is never opened
    result = run("train", "gpt", "--data", tmp_path / "missing.txt", *SMALL, "--n-head", 3)
    assert_fails(result, 2, "argument --n-head: GPTConfig: d_model 32 is not divisible by "
                            "n_head 3")


@pytest.mark.parametrize("argv, named", [
    (["--min-lr", "0.01", "--lr", "0.001"], "--min-lr"),  # flags that clash
    (["--iters", "5"], "--warmup"),  # the tiny preset warms up for 10 steps
    (["--dropout", "1"], "--dropout"),
    (["--n-head", "0"], "--n-head"),
    (["--preset", "huge"], "--preset"),
])
def test_invalid_gpt_arguments_exit_2(argv, named):
    assert_fails(run("train", "gpt", "--preset", "tiny", *argv, "--quiet"), 2, named)


@pytest.mark.parametrize("meta, size", [
    ({"settings": {"batch_size": 7}}, 7),
    ({"training": {"batch_size": 5}}, 5),  # a checkpoint from before --resume
    ({}, 12),  # says nothing: baby's
    ({"settings": [1, 2]}, 12),  # damaged: baby's, not a traceback
], ids=["settings", "older-training", "nothing", "damaged"])
def test_eval_and_trace_read_the_batch_size_a_checkpoint_was_trained_with(meta, size):
    assert trained_batch_size(meta) == size


# ---------------------------------------------------------------------------
# The environment, the pipe, the sampling temperature
# ---------------------------------------------------------------------------
def test_shapesafe_checks_applies_when_no_flag_is_given(digits_npz, monkeypatch):
    args = ("train", "mlp", "--data", digits_npz, "--holdout", 100, "--epochs", 1)
    monkeypatch.setenv("SHAPESAFE_CHECKS", "off")
    assert "checks off" in run(*args).lines[0]
    assert "checks first" in run(*args, "--checks", "first").lines[0]  # the flag wins


def test_a_closed_stdout_does_not_stop_the_run_before_it_saves(tmp_path, digits_npz):
    """``... | head -1``: the reader goes away after one line; the run still saves.
    Unbuffered (-u), so the very next line printed meets the closed pipe mid-run."""
    checkpoint = tmp_path / "ck.npz"
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "shapesafe_nn", "train", "mlp", "--data", digits_npz,
         "--holdout", "100", "--epochs", "3", "--save", checkpoint],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()  # as head does after its lines
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0, err
    assert first.startswith(b"Network [784, 30, 10]")
    assert "Traceback" not in err and "Broken pipe" not in err
    assert checkpoint.is_file()


def test_a_text_without_a_line_break_samples_from_its_first_character(tmp_path):
    (tmp_path / "line.txt").write_text("abcd efgh ijkl mnop qrst uvwx yz " * 20, encoding="utf-8")
    result = run("train", "gpt", "--data", tmp_path / "line.txt", "--preset", "tiny", "--iters",
                 3, "--warmup", 1, "--eval-interval", 3, "--eval-iters", 1, "--block-size", 8,
                 "--json", tmp_path / "m.json")
    assert result.code == 0, result.err
    assert "--- sample ---a" in result.out  # the prompt: the text's first character
    assert json.loads((tmp_path / "m.json").read_text())["final"]["step"] == 3


@pytest.mark.parametrize("temperature", ["1e-300", "5e-324"])
def test_a_temperature_near_zero_samples_the_likeliest_without_warnings(gpt_run, temperature):
    folder, _ = gpt_run
    args = ("sample", "--checkpoint", folder / "g.npz", "--tokens", 20, "--prompt", "ROMEO:")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow or inf - inf would be a RuntimeWarning
        near_zero = run(*args, "--temperature", temperature, "--seed", 1)
        other_seed = run(*args, "--temperature", temperature, "--seed", 2)
    assert near_zero.code == 0, near_zero.err
    assert near_zero.out == other_seed.out  # no randomness left: always the likeliest
