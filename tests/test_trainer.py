"""The training loops: reproducible for a seed, learning on real digits, loud on divergence."""

import io

import numpy as np
import pytest

from shapesafe_nn import no_grad
from shapesafe_nn.data import load_bundled, stratified_split, to_inputs
from shapesafe_nn.data.text import get_batch
from shapesafe_nn.losses import QuadraticCost, SoftmaxCrossEntropy
from shapesafe_nn.models import GPT, GPTConfig, Network
from shapesafe_nn.optim import SGD, AdamW, cosine_with_warmup
from shapesafe_nn.training.trainer import (
    History,
    estimate_loss,
    progress_enabled,
    train_classifier,
    train_language_model,
    write_line,
)

# Nielsen's chapter-1 network on the bundled 4,000 / 1,000 split, 3 epochs,
# seed 0, measured 0.85 held-out accuracy. The threshold leaves room for other
# numpy builds' rounding while still failing a loop that does not learn: an
# untrained network scores about 0.10, and a broken gradient stays far below.
BOOK_ACCURACY_AFTER_3_EPOCHS = 0.78


@pytest.fixture(scope="module")
def digits():
    """The bundled digits split 4,000 / 1,000 as the command line splits them."""
    x_train, y_train, x_test, y_test = stratified_split(*load_bundled(), 1000, seed=0)
    return (to_inputs(x_train), y_train), (to_inputs(x_test), y_test)


@pytest.fixture(scope="module")
def few_digits(digits):
    """600 / 200 digits: enough to tell seeds apart, quick to train on."""
    (x_train, y_train), (x_test, y_test) = digits
    return (x_train[:600], y_train[:600]), (x_test[:200], y_test[:200])


def book_run(data, *, seed: int, epochs: int, log=lambda line: None):
    """Network([784, 30, 10]), sigmoid, quadratic cost, SGD η = 3.0, batch 10."""
    train, test = data
    model = Network([784, 30, 10], seed=0)
    history = train_classifier(model, QuadraticCost(), SGD(model.parameters(), lr=3.0),
                               train, test, epochs=epochs, batch_size=10, seed=seed,
                               quiet=True, log=log)
    return model, history


def weights(model) -> dict[str, np.ndarray]:
    return {name: p.value.copy() for name, p in model.named_parameters()}


# ---------------------------------------------------------------------------
# train_classifier
# ---------------------------------------------------------------------------
def test_the_same_seed_gives_the_same_history_and_weights(few_digits):
    model_a, history_a = book_run(few_digits, seed=3, epochs=2)
    model_b, history_b = book_run(few_digits, seed=3, epochs=2)
    assert history_a.to_json() == history_b.to_json()  # exactly: the same operations
    for name, value in weights(model_a).items():
        np.testing.assert_array_equal(weights(model_b)[name], value, err_msg=name)


def test_another_seed_shuffles_differently(few_digits):
    model_a, history_a = book_run(few_digits, seed=3, epochs=1)
    model_b, history_b = book_run(few_digits, seed=4, epochs=1)
    assert history_a.epochs[0].train_loss != history_b.epochs[0].train_loss
    assert not np.array_equal(weights(model_a)["layers.0.W"], weights(model_b)["layers.0.W"])


@pytest.mark.slow
def test_the_books_network_learns_the_bundled_digits(digits):
    lines = []
    _, history = book_run(digits, seed=0, epochs=3, log=lines.append)
    final = history.epochs[-1]
    assert final.total == 1000
    assert final.accuracy >= BOOK_ACCURACY_AFTER_3_EPOCHS, lines
    assert [line.split("  ")[0] for line in lines] == \
        [f"Epoch {r.epoch}: {r.correct} / 1000" for r in history.epochs]
    # the cost falls from the first epoch to the last
    assert history.epochs[-1].train_loss < history.epochs[0].train_loss


def test_each_epoch_is_logged_in_the_books_format(few_digits, capsys):
    _, history = book_run(few_digits, seed=0, epochs=2, log=print)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for line, record in zip(lines, history.epochs):
        assert line.startswith(f"Epoch {record.epoch}: {record.correct} / 200  "), line
        assert f"accuracy {record.correct / 200:.4f}" in line, line


def test_the_history_as_json_has_accuracy(few_digits):
    _, history = book_run(few_digits, seed=0, epochs=2)
    records = history.to_json()
    assert [record["epoch"] for record in records] == [0, 1]
    for record in records:
        assert set(record) == {"epoch", "train_loss", "correct", "total", "accuracy"}
        assert record["total"] == 200
        assert record["accuracy"] == record["correct"] / 200
        assert np.isfinite(record["train_loss"])


def test_without_a_test_set_there_is_no_accuracy(few_digits):
    train, _ = few_digits
    lines = []
    _, history = book_run((train, None), seed=0, epochs=1, log=lines.append)
    assert history.to_json()[0]["accuracy"] is None
    assert lines[0].startswith("Epoch 0 complete"), lines
    empty_test = (train[0][:0], train[1][:0])
    _, history = book_run((train, empty_test), seed=0, epochs=1)
    assert history.epochs[0].correct is None


def test_an_empty_history_serialises_to_an_empty_list():
    assert History().to_json() == []


def test_no_progress_bar_when_stderr_is_not_a_terminal(few_digits, capsys):
    train, test = few_digits
    model = Network([784, 10], seed=0)
    train_classifier(model, QuadraticCost(), SGD(model.parameters(), lr=3.0),
                     (train[0][:100], train[1][:100]), test, epochs=1, batch_size=10,
                     seed=0, quiet=False, log=lambda line: None)
    assert capsys.readouterr().err == ""  # pytest's capture is not a TTY


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_only_for_a_terminal_and_not_when_quiet(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert not progress_enabled(quiet=False)
    monkeypatch.setattr("sys.stderr", Terminal())
    assert progress_enabled(quiet=False)
    assert not progress_enabled(quiet=True)


def test_write_line_prints_a_line_on_stdout(capsys):
    write_line("Epoch 0: 751 / 1000")
    assert capsys.readouterr() == ("Epoch 0: 751 / 1000\n", "")


def test_a_diverging_run_raises_with_a_hint_about_the_learning_rate(few_digits):
    # Two ReLU layers and an absurd step: the logits overflow to inf, and
    # log-softmax of inf - inf is NaN.
    (x, y), _ = few_digits
    model = Network([784, 30, 30, 10], activation="relu", output="logits", seed=0)
    optimizer = SGD(model.parameters(), lr=1e100)
    with np.errstate(over="ignore", invalid="ignore"), \
            pytest.raises(FloatingPointError) as error:
        train_classifier(model, SoftmaxCrossEntropy(), optimizer, (x[:200], y[:200]), None,
                         epochs=1, batch_size=10, seed=0, quiet=True, log=lambda line: None)
    message = str(error.value)
    assert "epoch 0" in message and "nan" in message and "--lr" in message, message


@pytest.mark.parametrize("epochs, batch_size", [(0, 10), (-1, 10), (1, 0)])
def test_no_epochs_or_empty_batches_are_refused(few_digits, epochs, batch_size):
    train, test = few_digits
    model = Network([784, 10])
    with pytest.raises(ValueError, match="at least 1"):
        train_classifier(model, QuadraticCost(), SGD(model.parameters(), lr=3.0), train, test,
                         epochs=epochs, batch_size=batch_size, seed=0)


def test_an_empty_training_set_is_refused(few_digits):
    (x, y), test = few_digits
    model = Network([784, 10])
    with pytest.raises(ValueError, match="empty"):
        train_classifier(model, QuadraticCost(), SGD(model.parameters(), lr=3.0),
                         (x[:0], y[:0]), test, epochs=1, batch_size=10, seed=0)


# ---------------------------------------------------------------------------
# train_language_model
# ---------------------------------------------------------------------------
TINY = GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, d_model=16)
SCHEDULE = dict(max_lr=1e-2, min_lr=1e-3, warmup=2)


@pytest.fixture(scope="module")
def token_ids():
    """A repeating pattern with noise: learnable, and different windows differ."""
    rng = np.random.default_rng(0)
    ids = np.tile(np.arange(7), 60)
    flips = rng.random(len(ids)) < 0.1
    ids[flips] = rng.integers(0, 7, flips.sum())
    return ids[:360], ids[360:]


def language_run(token_ids, *, seed: int, iters: int, eval_interval: int, config=TINY,
                 log=lambda line: None):
    model = GPT(config)
    optimizer = AdamW(model.named_parameters(), lr=SCHEDULE["max_lr"])
    history = train_language_model(model, optimizer, *token_ids, iters=iters, batch_size=4,
                                   block_size=config.block_size, grad_clip=1.0,
                                   eval_interval=eval_interval, eval_iters=2, seed=seed,
                                   quiet=True, log=log, **SCHEDULE)
    return model, history


@pytest.mark.parametrize("iters, eval_interval, steps", [
    (7, 3, [0, 3, 6, 7]),  # every eval_interval steps, then after the last
    (6, 3, [0, 3, 6]),  # the last step falls on the interval: recorded once
    (5, 10, [0, 5]),  # an interval longer than the run: the start and the end
])
def test_the_history_records_the_start_each_interval_and_the_end(token_ids, iters,
                                                                eval_interval, steps):
    lines = []
    _, history = language_run(token_ids, seed=0, iters=iters, eval_interval=eval_interval,
                              log=lines.append)
    assert [record.step for record in history] == steps
    assert len(lines) == len(steps)
    for line, record in zip(lines, history):
        assert line.startswith(f"step {record.step:5d}: train loss {record.train_loss:.4f}, "
                               f"val loss {record.val_loss:.4f}"), line
        assert np.isfinite(record.train_loss) and np.isfinite(record.val_loss)
    assert history[0].lr == cosine_with_warmup(0, total=iters, **SCHEDULE)


def test_the_language_model_learns_the_pattern(token_ids):
    _, history = language_run(token_ids, seed=0, iters=30, eval_interval=30)
    # ln 7 = 1.95 is a uniform guess; 30 steps on a period-7 pattern must beat it clearly
    assert history[0].train_loss > 1.5
    assert history[-1].train_loss < history[0].train_loss - 0.3, history


def test_language_model_training_is_deterministic_for_a_seed(token_ids):
    model_a, history_a = language_run(token_ids, seed=5, iters=6, eval_interval=3)
    model_b, history_b = language_run(token_ids, seed=5, iters=6, eval_interval=3)
    assert history_a == history_b  # dataclasses: every float equal
    for name, value in weights(model_a).items():
        np.testing.assert_array_equal(weights(model_b)[name], value, err_msg=name)
    _, history_c = language_run(token_ids, seed=6, iters=6, eval_interval=3)
    assert [r.train_loss for r in history_c] != [r.train_loss for r in history_a]


def test_a_diverging_language_model_raises_with_a_hint(token_ids, monkeypatch):
    def cost_becomes_nan(self, logits, labels):
        return float("nan")

    monkeypatch.setattr(SoftmaxCrossEntropy, "forward", cost_becomes_nan)
    model = GPT(TINY)
    with pytest.raises(FloatingPointError, match="step 0: the loss became nan.*--lr"):
        train_language_model(model, AdamW(model.named_parameters(), lr=1e-2), *token_ids,
                             iters=3, batch_size=2, block_size=TINY.block_size, grad_clip=1.0,
                             eval_interval=10, eval_iters=1, seed=0, quiet=True,
                             log=lambda line: None, **SCHEDULE)


def screen(written: str) -> list[str]:
    """The lines a terminal shows for ``written``: a carriage return goes back to
    the start of the line, a newline starts the next, and every other character
    overwrites the one under the cursor."""
    lines, column = [[]], 0
    for character in written:
        if character == "\n":
            lines.append([])
            column = 0
        elif character == "\r":
            column = 0
        else:
            line = lines[-1]
            line[column:column + 1] = [character]
            column += 1
    return ["".join(line).rstrip() for line in lines]


def test_log_lines_are_written_through_the_progress_bar(token_ids, monkeypatch):
    """On a terminal the bar (stderr) and the lines (stdout) share the screen: the
    default log clears the bar before each line, so the line starts at column 0,
    and no old bar is left above it."""
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr("sys.stdout", terminal)
    model = GPT(TINY)
    history = train_language_model(model, AdamW(model.named_parameters(), lr=1e-2),
                                   *token_ids, iters=6, batch_size=2,
                                   block_size=TINY.block_size, grad_clip=1.0,
                                   eval_interval=3, eval_iters=1, seed=0, **SCHEDULE)
    shown = [line for line in screen(terminal.getvalue()) if line]
    assert len(shown) == len(history) == 3, shown  # the bar (leave=False) is gone at the end
    for line, record in zip(shown, history):
        assert line.startswith(f"step {record.step:5d}: train loss"), line


@pytest.mark.parametrize("training", [True, False])
def test_estimate_loss_runs_in_eval_mode_and_restores_the_mode(token_ids, training):
    # With dropout, two estimates on the same windows agree only if dropout is off.
    model = GPT(GPTConfig(**{**TINY.to_json(), "dropout": 0.5}))
    model.train(training)
    train_ids, _ = token_ids
    estimates = [estimate_loss(model, train_ids, batch_size=3, block_size=8, iters=2,
                               rng=np.random.default_rng(1)) for _ in range(2)]
    assert estimates[0] == estimates[1]
    assert all(module.training == training for _, module in model.named_modules())


def test_estimate_loss_restores_the_mode_after_an_error(token_ids):
    model = GPT(TINY)
    model.train()
    with pytest.raises(ValueError, match="block_size"):
        estimate_loss(model, token_ids[0][:5], batch_size=2, block_size=8, iters=1,
                      rng=np.random.default_rng(0))
    assert model.training


def test_estimate_loss_keeps_no_record_and_gives_the_mean_of_the_batch_losses(token_ids):
    model = GPT(GPTConfig(**{**TINY.to_json(), "dtype": "float64"}))
    train_ids, _ = token_ids
    estimate = estimate_loss(model, train_ids, batch_size=12, block_size=8, iters=5,
                             rng=np.random.default_rng(3))
    assert all(module.pending_records() == 0 for _, module in model.named_modules())  # no_grad
    rng, cost = np.random.default_rng(3), SoftmaxCrossEntropy()
    model.eval()
    with no_grad():
        one_by_one = [cost.forward(model.forward(x), y)
                      for x, y in (get_batch(train_ids, 12, 8, rng) for _ in range(5))]
    assert estimate == pytest.approx(np.mean(one_by_one), rel=1e-12)  # float64 sums
