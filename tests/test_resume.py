"""Stopping and resuming a run: bit-identical losses, --save-every, Ctrl-C, divergence.

The central property: a run stopped at step k and resumed with ``--resume``
ends with exactly the history and parameters (``==``, not approximately) of
the same run never stopped.  Runs are stopped the way a learner stops them:
with a real SIGINT (Ctrl-C), delivered in the middle of a step.
"""

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
from cli_runner import assert_fails, run
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import optim
from shapesafe_nn.data import load_bundled, load_text
from shapesafe_nn.losses import QuadraticCost
from shapesafe_nn.models import GPT, GPTConfig
from shapesafe_nn.optim import AdamW
from shapesafe_nn.saving.checkpoint import load_checkpoint, save_checkpoint
from shapesafe_nn.training.generator_state import generator_from_array, generator_to_array
from shapesafe_nn.training.signals import StopOnSignal
from shapesafe_nn.training.trainer import train_language_model

TRAIN_MLP = ["train", "mlp", "--epochs", "2", "--checks", "off"]
TRAIN_GPT = ["train", "gpt", "--preset", "tiny", "--iters", "30", "--eval-interval", "10",
       "--eval-iters", "2", "--dropout", "0.1", "--checks", "off"]


@pytest.fixture
def ctrl_c_at_step(monkeypatch):
    """Press Ctrl-C (a real SIGINT) inside optimizer step number ``k`` (1-based)."""
    def arm(optimizer_class, k: int) -> None:
        step = optimizer_class.step
        calls = {"n": 0}

        def step_then_interrupt(self):
            calls["n"] += 1
            if calls["n"] == k:
                signal.raise_signal(signal.SIGINT)  # arrives before the update below
            step(self)
        monkeypatch.setattr(optimizer_class, "step", step_then_interrupt)
    return arm


def saved(path) -> tuple[dict, dict]:
    return load_checkpoint(path)


def assert_same_run(full, resumed) -> None:
    """Same parameters and optimizer state, bit for bit."""
    full_arrays, _ = saved(full)
    resumed_arrays, _ = saved(resumed)
    assert full_arrays.keys() == resumed_arrays.keys()
    for name in full_arrays:
        assert np.array_equal(full_arrays[name], resumed_arrays[name]), name


# ---------------------------------------------------------------------------
# Random generators survive a checkpoint exactly
# ---------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**63), draws=st.integers(0, 5), odd_half=st.booleans())
def test_a_saved_generator_draws_what_the_original_would(seed, draws, odd_half):
    rng = np.random.default_rng(seed)
    rng.random(draws)
    if odd_half:  # leaves half of a 64-bit draw cached: part of the state too
        rng.integers(0, 10, dtype=np.int32)
    copy = generator_from_array(generator_to_array(rng))
    assert np.array_equal(copy.random(7), rng.random(7))
    assert np.array_equal(copy.integers(0, 1000, 5, dtype=np.int32),
                          rng.integers(0, 1000, 5, dtype=np.int32))


def test_a_damaged_generator_array_is_refused_with_its_name():
    with pytest.raises(ValueError, match="rng/batches: a saved random generator is 6 uint64"):
        generator_from_array(np.zeros(5, dtype=np.uint64), "rng/batches")


# ---------------------------------------------------------------------------
# Bit-identical resume
# ---------------------------------------------------------------------------
def test_mlp_resumed_after_ctrl_c_mid_epoch_matches_the_uninterrupted_run(tmp_path,
                                                                           ctrl_c_at_step):
    full = run(*TRAIN_MLP, "--save", tmp_path / "full.npz", "--json", tmp_path / "full.json")
    assert full.code == 0, full.err
    ctrl_c_at_step(optim.SGD, 555)  # epoch 1, mini-batch 155 of 400
    stopped = run(*TRAIN_MLP, "--save", tmp_path / "part.npz")
    assert stopped.code == 130, stopped.err
    assert "interrupted: saved step 555" in stopped.err and "--resume" in stopped.err
    arrays, meta = saved(tmp_path / "part.npz")
    assert meta["progress"]["step"] == 555 and int(arrays["progress/batch"]) == 155
    resumed = run("train", "mlp", "--resume", tmp_path / "part.npz",
                  "--save", tmp_path / "resumed.npz", "--json", tmp_path / "resumed.json")
    assert resumed.code == 0, resumed.err
    assert "resuming" in resumed.out and "at step 555 (epoch 1, mini-batch 155)" in resumed.out
    assert resumed.lines[-1] == full.lines[-1]  # "test accuracy ..."
    assert (json.loads((tmp_path / "resumed.json").read_text())["history"]
            == json.loads((tmp_path / "full.json").read_text())["history"])
    assert_same_run(tmp_path / "full.npz", tmp_path / "resumed.npz")


def test_gpt_with_dropout_resumed_after_ctrl_c_matches_the_uninterrupted_run(tmp_path,
                                                                              ctrl_c_at_step):
    full = run(*TRAIN_GPT, "--save", tmp_path / "full.npz", "--json", tmp_path / "full.json")
    assert full.code == 0, full.err
    ctrl_c_at_step(optim.AdamW, 13)
    stopped = run(*TRAIN_GPT, "--save", tmp_path / "part.npz")
    assert stopped.code == 130, stopped.err
    arrays, meta = saved(tmp_path / "part.npz")
    assert meta["progress"]["step"] == 13 and int(arrays["optimizer/step"]) == 13
    assert any(name.startswith("rng/dropout/") for name in arrays)  # every Dropout's generator
    resumed = run("train", "gpt", "--resume", tmp_path / "part.npz",
                  "--save", tmp_path / "resumed.npz", "--json", tmp_path / "resumed.json")
    assert resumed.code == 0, resumed.err
    # the evaluations after the stop, the sample and the summary: the same text
    after_the_stop = resumed.out[resumed.out.index("step    20"):]
    assert after_the_stop.replace("resumed.npz", "full.npz") == \
        full.out[full.out.index("step    20"):]
    full_history = json.loads((tmp_path / "full.json").read_text())["history"]
    assert json.loads((tmp_path / "resumed.json").read_text())["history"] == full_history
    assert_same_run(tmp_path / "full.npz", tmp_path / "resumed.npz")


def test_a_periodic_save_survives_a_crash_and_resumes_identically(tmp_path, monkeypatch):
    full = run(*TRAIN_GPT, "--save", tmp_path / "full.npz")
    assert full.code == 0, full.err
    step = optim.AdamW.step
    calls = {"n": 0}

    def power_cut_in_step_24(self):
        calls["n"] += 1
        if calls["n"] == 24:
            raise RuntimeError("power cut")
        step(self)
    monkeypatch.setattr(optim.AdamW, "step", power_cut_in_step_24)
    with pytest.raises(RuntimeError, match="power cut"):
        run(*TRAIN_GPT, "--save", tmp_path / "every.npz", "--save-every", "7")
    monkeypatch.undo()
    assert saved(tmp_path / "every.npz")[1]["progress"]["step"] == 21  # 7, 14, 21
    resumed = run("train", "gpt", "--resume", tmp_path / "every.npz", "--quiet",
                  "--save", tmp_path / "resumed.npz")
    assert resumed.code == 0, resumed.err
    assert_same_run(tmp_path / "full.npz", tmp_path / "resumed.npz")


# ---------------------------------------------------------------------------
# Divergence: the last good checkpoint stays
# ---------------------------------------------------------------------------
def test_a_nan_cost_stops_with_the_step_the_last_finite_cost_and_the_kept_checkpoint(
        tmp_path, monkeypatch):
    forward = QuadraticCost.forward
    calls = {"n": 0}

    def nan_at_step_12(self, a, labels):
        calls["n"] += 1
        cost = forward(self, a, labels)
        return float("nan") if calls["n"] == 13 else cost
    monkeypatch.setattr(QuadraticCost, "forward", nan_at_step_12)
    result = run(*TRAIN_MLP, "--save", tmp_path / "ck.npz", "--save-every", "5")
    assert_fails(result, 1, "step 12 (epoch 0, mini-batch 12): the cost became nan",
                 "the last finite cost was 0.", "--lr",
                 f"the last good checkpoint, step 10, stays in {tmp_path / 'ck.npz'}")
    arrays, meta = saved(tmp_path / "ck.npz")
    assert meta["progress"]["step"] == 10
    assert all(np.isfinite(value).all() for name, value in arrays.items()
               if name.startswith("param/"))


def test_non_finite_parameters_are_never_saved(tmp_path, monkeypatch):
    step = optim.SGD.step
    calls = {"n": 0}

    def step_to_inf_at_4(self):
        step(self)
        calls["n"] += 1
        if calls["n"] == 4:  # just before the save at step 4
            self.parameters[0].value[0, 0] = np.inf
    monkeypatch.setattr(optim.SGD, "step", step_to_inf_at_4)
    result = run(*TRAIN_MLP, "--save", tmp_path / "ck.npz", "--save-every", "2")
    assert_fails(result, 1, "step 4: parameter layers.0.W is no longer finite",
                 "the last good checkpoint, step 2, stays in")
    assert saved(tmp_path / "ck.npz")[1]["progress"]["step"] == 2


# ---------------------------------------------------------------------------
# What --resume refuses
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished_gpt(tmp_path_factory):
    """The checkpoint of a finished 12-step tiny GPT run."""
    path = tmp_path_factory.mktemp("resume") / "finished.npz"
    result = run(*TRAIN_GPT, "--iters", "12", "--save", path)
    assert result.code == 0, result.err
    return path


def test_resume_refuses_a_flag_that_would_change_the_run(finished_gpt):
    result = run("train", "gpt", "--resume", finished_gpt, "--lr", "0.01", "--n-layer", "3")
    assert_fails(result, 2, f"--resume {finished_gpt} continues that run with its saved settings",
                 "leave out --lr, --n-layer")


def test_resume_accepts_a_flag_repeating_the_saved_value_and_refuses_a_finished_run(finished_gpt):
    result = run("train", "gpt", "--resume", finished_gpt, "--preset", "tiny", "--iters", "12")
    assert_fails(result, 1, f"{finished_gpt}: that run is complete (12 of 12 iterations)")


def test_resume_refuses_a_weights_only_checkpoint(tmp_path):
    path = tmp_path / "weights.npz"
    assert run(*TRAIN_GPT, "--iters", "12", "--save", path, "--weights-only").code == 0
    arrays, meta = saved(path)
    assert not any(name.startswith(("optimizer/", "rng/", "progress/")) for name in arrays)
    assert_fails(run("train", "gpt", "--resume", path), 1, "saved with --weights-only")
    assert run("sample", "--checkpoint", path, "--tokens", "5").code == 0  # still a model


def test_resume_refuses_another_text(finished_gpt, tmp_path):
    text = tmp_path / "other.txt"
    text.write_text("to be or not to be, that is the question\n" * 200)
    assert_fails(run("train", "gpt", "--resume", finished_gpt, "--data", text), 1,
                 "that run trained on other data: the bundled corpus, where --data gives "
                 f"{text}; resume it on the data it trained on (leave out --data, and it reads "
                 "the bundled corpus again)")


def damaged_copy(source, tmp_path, change) -> str:
    """``source`` saved again after ``change(arrays, meta)``."""
    arrays, meta = load_checkpoint(source)
    change(arrays, meta)
    meta = {key: value for key, value in meta.items() if key not in ("format", "version")}
    return save_checkpoint(tmp_path / "damaged.npz", arrays, meta)


@pytest.mark.parametrize("change, message", [
    (lambda a, m: m.pop("progress"), "holds no training progress"),
    (lambda a, m: m.pop("settings"), "description lacks settings"),
    (lambda a, m: m.pop("data_sha256"), "description lacks data_sha256"),
    (lambda a, m: m.update(data=5), "its data is damaged (int)"),
    (lambda a, m: m.update(tokenizer=None), "its tokenizer is damaged (NoneType)"),
    (lambda a, m: m["settings"].pop("steps"), "its settings are not those of a gpt run"),
    (lambda a, m: m["settings"].update(lr="fast"), "setting lr is 'fast', not a float"),
    (lambda a, m: m["settings"].update(n_head=0), "its saved settings are refused: GPTConfig: "
                                                  "n_head must be a positive integer, not 0"),
    (lambda a, m: m["settings"].update(d_ff="wide"), "GPTConfig: d_ff must be a positive "
                                                     "integer, not 'wide'"),
    (lambda a, m: m.update(progress=[1]), "its training history is damaged"),
    (lambda a, m: m["progress"]["history"][0].pop("lr"), "its training history is damaged"),
    (lambda a, m: a.pop("rng/batches"), "no 'rng/batches'"),
    (lambda a, m: a.update({"progress/step": np.array(-3)}), "'progress/step' must be one "
                                                            "integer >= 0"),
], ids=["no-progress", "no-settings", "no-fingerprint", "data-int", "tokenizer-none",
        "settings-keys", "setting-type", "setting-the-config-refuses", "optional-setting",
        "progress-list", "history-record", "no-rng", "negative-step"])
def test_a_damaged_checkpoint_is_refused_naming_the_file(finished_gpt, tmp_path, change, message):
    damaged = damaged_copy(finished_gpt, tmp_path, change)
    assert_fails(run("train", "gpt", "--resume", damaged, "--quiet"), 1, str(damaged), message)


def test_a_damaged_shuffle_is_refused(tmp_path):
    path = tmp_path / "ck.npz"
    assert run(*TRAIN_MLP, "--epochs", "1", "--save", path).code == 0

    def shuffle_out_of_range(arrays, meta):
        arrays["progress/order"] = np.arange(4000) + 7  # as if mid-epoch, indices too large
        meta["progress"]["step"] = 3
        arrays["progress/epoch"] = np.array(0)
    damaged = damaged_copy(path, tmp_path, shuffle_out_of_range)
    assert_fails(run("train", "mlp", "--resume", damaged), 1,
                 "is not a shuffle of the training set")


def test_mlp_resume_refuses_other_digits(tmp_path, ctrl_c_at_step):
    ctrl_c_at_step(optim.SGD, 5)
    path = tmp_path / "part.npz"
    assert run(*TRAIN_MLP, "--save", path).code == 130
    x, y = load_bundled()
    other = tmp_path / "other.npz"
    np.savez(other, x=x[::-1], y=y[::-1])
    assert_fails(run("train", "mlp", "--resume", path, "--data", other), 1,
                 f"part.npz: that run trained on other data: the bundled subset, where --data "
                 f"gives {other}")


def test_resume_refuses_a_checkpoint_of_the_other_model(finished_gpt):
    assert_fails(run("train", "mlp", "--resume", finished_gpt), 1,
                 "holds a 'gpt' model, not a mlp")


@pytest.mark.parametrize("flag", ["--save-every", "--weights-only"])
def test_save_every_and_weights_only_need_save(flag):
    argv = ["train", "mlp", flag] + (["5"] if flag == "--save-every" else [])
    assert_fails(run(*argv), 2, f"{flag} needs --save")


# ---------------------------------------------------------------------------
# Ctrl-C itself
# ---------------------------------------------------------------------------
def test_a_second_ctrl_c_stops_at_once_and_the_handler_is_put_back():
    before = signal.getsignal(signal.SIGINT)
    with StopOnSignal() as stop:
        signal.raise_signal(signal.SIGINT)
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                           (signal.SIGHUP, 129)],
                         ids=["ctrl-c", "sigterm", "sighup"])
def test_a_signal_to_a_real_process_saves_the_last_step_and_exits_128_plus_it(tmp_path, signum,
                                                                             code):
    """Ctrl-C, ``kill`` and a closed terminal each finish the step, save, and exit
    with 128 + the signal's number, as a shell reports a process a signal ended."""
    checkpoint = tmp_path / "ck.npz"
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "shapesafe_nn", "train", "gpt", "--preset", "tiny",
         "--iters", "100000", "--eval-interval", "100000", "--eval-iters", "1",
         "--save", checkpoint],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:  # the first evaluation is printed before step 0
            if line.startswith("step     0"):
                break
        # Ctrl-C lands during step 0's evaluation or its training: either way
        # the step finishes and is saved, so the checkpoint holds step 1 or later
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == code, err
    assert "interrupted: saved step" in err and "Traceback" not in err
    assert f"interrupted ({signal.Signals(signum).name})" in err
    arrays, meta = load_checkpoint(checkpoint)
    assert meta["progress"]["step"] >= 1 and int(arrays["optimizer/step"]) == \
        meta["progress"]["step"]


def test_ctrl_c_during_the_last_evaluation_still_saves_the_finished_run():
    """The last evaluation runs after the last step: a Ctrl-C there is not lost."""
    text = "to be or not to be, that is the question. " * 40
    ids = np.frombuffer(text.encode(), dtype=np.uint8).astype(np.int64) % 32
    model = GPT(GPTConfig(vocab_size=32, block_size=8, n_layer=1, n_head=2, d_model=8))
    optimizer = AdamW(model.named_parameters(), lr=1e-3)
    saved = []

    def press_ctrl_c_at_the_last_evaluation(line: str) -> None:
        if line.startswith("step     6"):
            signal.raise_signal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        train_language_model(model, optimizer, ids[:1500], ids[1500:], iters=6, batch_size=2,
                             block_size=8, max_lr=1e-3, min_lr=1e-4, warmup=1, grad_clip=1.0,
                             eval_interval=3, eval_iters=1, seed=0, quiet=True,
                             log=press_ctrl_c_at_the_last_evaluation, save=saved.append)
    assert [progress.step for progress in saved] == [6]
    assert [record["step"] for record in saved[0].history] == [0, 3, 6]


def test_a_second_sigterm_stops_at_once_and_every_handler_is_put_back():
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
    with StopOnSignal() as stop:
        signal.raise_signal(signal.SIGTERM)
        assert stop.requested and stop.signum == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt) as interrupted:
            signal.raise_signal(signal.SIGTERM)
    assert interrupted.value.signum == signal.SIGTERM
    assert {signum: signal.getsignal(signum) for signum in before} == before


def test_resuming_a_checkpoint_with_nan_parameters_names_it_and_does_not_blame_the_lr(
        tmp_path, finished_gpt):
    arrays, meta = load_checkpoint(finished_gpt)
    name = next(key for key in sorted(arrays) if key.startswith("param/"))
    arrays[name] = np.full_like(arrays[name], np.nan)
    arrays["progress/step"] = np.array(1, dtype=np.int64)
    meta["progress"]["step"] = 1
    save_checkpoint(tmp_path / "nan.npz", arrays, meta)
    result = run("train", "gpt", "--resume", tmp_path / "nan.npz", "--quiet")
    assert_fails(result, 1, "nan.npz", f"parameter {name.removeprefix('param/')} holds NaN or inf")
    assert "--lr" not in result.err


def test_a_bpe_gpt_run_resumes_exactly_with_its_own_pieces(tmp_path, ctrl_c_at_step):
    data = tmp_path / "plays.txt"
    data.write_text(load_text(None)[:50_000], encoding="utf-8")  # quick to learn and encode
    bpe = [*TRAIN_GPT, "--iters", "12", "--tokenizer", "bpe", "--vocab-size", "300",
           "--data", data]
    full = run(*bpe, "--save", tmp_path / "full.npz")
    assert full.code == 0, full.err
    ctrl_c_at_step(optim.AdamW, 5)
    assert run(*bpe, "--save", tmp_path / "part.npz").code == 130
    resumed = run("train", "gpt", "--resume", tmp_path / "part.npz", "--data", data,
                  "--save", tmp_path / "resumed.npz")
    assert resumed.code == 0, resumed.err
    assert resumed.lines[-1] == full.lines[-1]


def test_a_gpt_run_saved_before_the_gelu_setting_existed_resumes_with_the_tanh_gelu(
        tmp_path, ctrl_c_at_step):
    full = run(*TRAIN_GPT, "--iters", "12", "--save", tmp_path / "full.npz")
    assert full.code == 0, full.err
    ctrl_c_at_step(optim.AdamW, 5)
    assert run(*TRAIN_GPT, "--iters", "12", "--save", tmp_path / "part.npz").code == 130
    arrays, meta = load_checkpoint(tmp_path / "part.npz")
    del meta["settings"]["gelu"]  # as an older version wrote it (its config says "tanh")
    save_checkpoint(tmp_path / "old.npz", arrays, meta)
    resumed = run("train", "gpt", "--resume", tmp_path / "old.npz",
                  "--save", tmp_path / "resumed.npz")
    assert resumed.code == 0, resumed.err
    assert resumed.lines[-1] == full.lines[-1]
    assert load_checkpoint(tmp_path / "resumed.npz")[1]["settings"]["gelu"] == "tanh"


def test_a_gpt_run_saved_before_the_rung_setting_existed_resumes_as_the_full_gpt(
        tmp_path, ctrl_c_at_step):
    full = run(*TRAIN_GPT, "--save", tmp_path / "full.npz")
    assert full.code == 0, full.err
    ctrl_c_at_step(optim.AdamW, 13)
    assert run(*TRAIN_GPT, "--save", tmp_path / "part.npz").code == 130
    arrays, meta = load_checkpoint(tmp_path / "part.npz")
    del meta["settings"]["rung"], meta["config"]["rung"]  # as an older version wrote it
    save_checkpoint(tmp_path / "old.npz", arrays, meta)
    resumed = run("train", "gpt", "--resume", tmp_path / "old.npz",
                  "--save", tmp_path / "resumed.npz")
    assert resumed.code == 0, resumed.err
    assert resumed.lines[-1] == full.lines[-1]
    assert load_checkpoint(tmp_path / "resumed.npz")[1]["settings"]["rung"] == "full"


def test_a_gpt_run_saved_when_its_length_was_iters_resumes_as_steps(tmp_path, ctrl_c_at_step):
    full = run(*TRAIN_GPT, "--steps", "12", "--save", tmp_path / "full.npz")
    assert full.code == 0, full.err
    ctrl_c_at_step(optim.AdamW, 5)
    assert run(*TRAIN_GPT, "--steps", "12", "--save", tmp_path / "part.npz").code == 130
    arrays, meta = load_checkpoint(tmp_path / "part.npz")
    # as an older version wrote it: the run's length was --iters, and there was no d_ff
    meta["settings"]["iters"] = meta["settings"].pop("steps")
    del meta["settings"]["d_ff"]
    save_checkpoint(tmp_path / "old.npz", arrays, meta)
    resumed = run("train", "gpt", "--resume", tmp_path / "old.npz", "--iters", "12",
                  "--save", tmp_path / "resumed.npz")
    assert resumed.code == 0, resumed.err
    assert resumed.lines[-1] == full.lines[-1]
    settings = load_checkpoint(tmp_path / "resumed.npz")[1]["settings"]
    assert (settings["steps"], settings["d_ff"]) == (12, None) and "iters" not in settings
