"""The training loops: mini-batches -> forward -> cost -> backward -> step.

:func:`train_classifier` trains Nielsen's network by epochs;
:func:`train_language_model` trains the GPT by iterations, as nanoGPT does.

This is Nielsen's ``SGD`` method (ch. 1) with the per-example loop replaced
by whole mini-batches: each epoch shuffles the training data, cuts it into
mini-batches (the last one may be smaller, as in the book), and for each
one runs::

    optimizer.zero_grad()          # gradients accumulate: clear them
    a = model.forward(x)           # (batch, classes)
    cost.forward(a, labels)        # a float: C averaged over the batch
    model.backward(cost.backward())
    optimizer.step()               # w -> w - η ∇C

then evaluates on the held-out data and prints ``Epoch 3: 912 / 1000`` as
the book does.  Everything random comes from ``seed``: the same seed gives
the same numbers.
"""

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from tqdm import tqdm

from ..data.text import get_batch
from ..losses import SoftmaxCrossEntropy
from ..core import Module
from ..optim import clip_grad_norm, cosine_with_warmup
from ..core import no_grad
from ..core.validate import positive_int
from .progress import ClassifierProgress, LanguageModelProgress
from .signals import Interrupted, StopOnSignal


# A diverging run overflows somewhere (an exp, a matmul) before its loss becomes
# NaN or inf, and numpy would print a warning for each array it happens in, six
# lines before the one that matters.  The loops test the loss after each forward
# (and the checkpoint writer every parameter), so each overflow is caught there,
# with a message that says what to do; numpy's warnings are silenced inside.
QUIET_OVERFLOW = dict(over="ignore", invalid="ignore", divide="ignore")


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float  # mean cost over the epoch's mini-batches
    correct: int | None  # held-out examples classified correctly; None without a test set
    total: int | None

    @property
    def accuracy(self) -> float | None:
        return None if not self.total else self.correct / self.total


@dataclass
class History:
    """One record per epoch, for ``--json`` and for plots."""

    epochs: list[EpochRecord] = field(default_factory=list)

    def to_json(self) -> list[dict]:
        return [asdict(record) | {"accuracy": record.accuracy} for record in self.epochs]


def progress_enabled(quiet: bool) -> bool:
    """A progress bar only for a person watching a terminal."""
    return not quiet and sys.stderr.isatty()


def write_line(text: str) -> None:
    """Print one line of a run's log (an evaluation, an epoch's accuracy) on stdout.

    The loops' default ``log``.  A plain ``print`` would land on the line the
    progress bar is drawn on: the bar's next redraw starts with a carriage
    return and overwrites the start of the text, and the bar drawn before
    the text stays on screen.  ``tqdm.write`` clears the bar, prints the line
    and draws the bar again below it.  Without a bar it is a plain print.
    """
    tqdm.write(text, file=sys.stdout)


def after_step(progress, save: Callable | None, save_every: int, stop: StopOnSignal) -> None:
    """Once a step is complete: save every ``save_every`` steps, and after
    Ctrl-C (or SIGTERM, SIGHUP) save this whole step and stop."""
    if save is not None and save_every and progress.step % save_every == 0:
        save(progress)
    stop_if_asked(progress, save, stop)


def stop_if_asked(progress, save: Callable | None, stop: StopOnSignal) -> None:
    """After Ctrl-C, SIGTERM or SIGHUP, at a point where the run is whole: save
    it and stop, raising :class:`~shapesafe_nn.training.signals.Interrupted` (a KeyboardInterrupt)."""
    if stop.requested:
        if save is not None:
            save(progress)
        raise Interrupted(stop.signum)


def train_classifier(model: Module, cost: Module, optimizer, train: tuple, test: tuple | None,
                     *, epochs: int, batch_size: int, seed: int, quiet: bool = False,
                     log: Callable[[str], None] = write_line,
                     progress: ClassifierProgress | None = None, save_every: int = 0,
                     save: Callable[[ClassifierProgress], None] | None = None) -> History:
    """Train ``model`` with mini-batch gradient descent; evaluate after each epoch.

    ``train`` and ``test`` are ``(x, labels)`` pairs: x (n, d_in) floats,
    labels (n,) integers.  ``test`` may be None (or empty) to skip evaluation.
    Each epoch's line goes to ``log`` (by default :func:`write_line`, through
    the progress bar, which a terminal shows unless ``quiet``).

    To resume, pass the ``progress`` a checkpoint saved (with the model and
    optimizer restored from it too): the run continues at the next
    mini-batch exactly as if it had never stopped (``seed`` is then unused:
    the saved generator carries on).  ``save(progress)`` is
    called every ``save_every`` mini-batches, and once more when Ctrl-C, SIGTERM
    or SIGHUP stops the run (after the step in flight completes; then
    :class:`~shapesafe_nn.training.signals.Interrupted`, a KeyboardInterrupt).
    A NaN or inf cost stops the run with a FloatingPointError before that
    step changes anything.
    """
    x_train, y_train = train
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be at least 1, got {epochs} and {batch_size}")
    if len(x_train) == 0:
        raise ValueError("the training set is empty")
    for part, pair in (("training", train), ("test", test)):
        # a longer labels array would be ignored silently, a shorter one fail on a row index
        if pair is not None and len(pair[0]) != len(pair[1]):
            raise ValueError(f"the {part} set has {len(pair[0])} inputs but {len(pair[1])} "
                             f"labels: each input needs exactly one label")
    finite = np.isfinite(x_train)
    if not finite.all():  # else the NaN cost below would blame the learning rate
        position = tuple(np.argwhere(~finite)[0].tolist())
        raise ValueError(f"the training inputs hold NaN or inf, first at index {position}: "
                         f"clean the data before training")
    progress = progress or ClassifierProgress.start(seed)
    if progress.order is not None and len(progress.order) != len(x_train):
        raise ValueError(f"the saved progress shuffles {len(progress.order)} examples but the "
                         f"training set has {len(x_train)}")
    with StopOnSignal() as stop, np.errstate(**QUIET_OVERFLOW):
        while progress.epoch < epochs:
            if progress.order is None:  # a new epoch: shuffle, as the book does
                progress.order = progress.rng.permutation(len(x_train))
            starts = range(progress.batch * batch_size, len(x_train), batch_size)
            model.train()
            # dynamic_ncols: the bar follows the window's width; one drawn for a wider
            # window would wrap onto a second line, left behind at every redraw
            for start in tqdm(starts, desc=f"epoch {progress.epoch}", leave=False,
                              unit="batch", dynamic_ncols=True,
                              disable=not progress_enabled(quiet)):
                batch = progress.order[start:start + batch_size]
                optimizer.zero_grad()
                loss = cost.forward(model.forward(x_train[batch]), y_train[batch])
                if not np.isfinite(loss):
                    last = progress.losses[-1] if progress.losses else None
                    raise FloatingPointError(
                        f"step {progress.step} (epoch {progress.epoch}, mini-batch "
                        f"{progress.batch}): the cost became {loss}"
                        + ("" if last is None else f"; the last finite cost was {last:.4f}")
                        + "; the learning rate is probably too large for this network "
                          "(try a smaller --lr)")
                model.backward(cost.backward())
                optimizer.step()
                progress.losses.append(float(loss))
                progress.batch += 1
                progress.step += 1
                after_step(progress, save, save_every, stop)
            train_loss = float(np.mean(progress.losses))
            if test is not None and len(test[0]):
                model.eval()
                correct = model.evaluate(*test)
                record = EpochRecord(progress.epoch, train_loss, correct, len(test[0]))
                log(f"Epoch {progress.epoch}: {correct} / {len(test[0])}  "
                    f"(accuracy {record.accuracy:.4f}, train cost {train_loss:.4f})")
            else:
                record = EpochRecord(progress.epoch, train_loss, None, None)
                log(f"Epoch {progress.epoch} complete  (train cost {train_loss:.4f})")
            progress.history.append(asdict(record))
            progress.epoch += 1
            progress.batch, progress.order, progress.losses = 0, None, []
            stop_if_asked(progress, save, stop)  # a Ctrl-C during the evaluation
    return History([EpochRecord(**record) for record in progress.history])


@dataclass
class EvalRecord:
    step: int
    train_loss: float  # mean over `eval_iters` random batches of the training split
    val_loss: float  # the same over the validation split
    lr: float  # the learning rate the schedule gave at this step


def backward_and_update(model: Module, cost: Module, optimizer, loss: float, grad_clip: float,
                        progress, step: int) -> None:
    """The rest of step ``step`` once its ``loss`` is known, as both
    iteration-based loops take it: refuse a NaN or inf loss before anything
    changes, backward, clip the gradients to ``grad_clip`` (0: no clipping),
    update, and note the step and its loss in ``progress``."""
    if not np.isfinite(loss):
        last = progress.last_loss
        raise FloatingPointError(
            f"step {step}: the loss became {loss}"
            + ("" if last is None else f"; the last finite loss was {last:.4f}")
            + "; try a smaller --lr")
    model.backward(cost.backward())
    if grad_clip > 0:
        clip_grad_norm(optimizer.parameters, grad_clip)
    optimizer.step()
    progress.last_loss = float(loss)
    progress.step = step + 1


def estimate_loss(model: Module, ids, *, batch_size: int, block_size: int, iters: int,
                  rng: np.random.Generator) -> float:
    """Mean cross-entropy over ``iters`` random (batch, block) windows, in eval mode
    and inference mode: nothing is differentiated, so no forward keeps a record."""
    cost = SoftmaxCrossEntropy()
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            losses = [cost.forward(model.forward(x), y)
                      for x, y in (get_batch(ids, batch_size, block_size, rng)
                                   for _ in range(iters))]
    finally:
        model.train(was_training)
    return float(np.mean(losses))


def train_language_model(model: Module, optimizer, train_ids, val_ids, *, iters: int,
                         batch_size: int, block_size: int, max_lr: float, min_lr: float,
                         warmup: int, grad_clip: float, eval_interval: int, eval_iters: int,
                         seed: int, quiet: bool = False,
                         log: Callable[[str], None] = write_line,
                         progress: LanguageModelProgress | None = None, save_every: int = 0,
                         save: Callable[[LanguageModelProgress], None] | None = None,
                         ) -> list[EvalRecord]:
    """nanoGPT's loop, iteration-based: ``iters`` steps on random windows of
    ``train_ids``; every ``eval_interval`` steps (and after the last) the mean
    loss over ``eval_iters`` random batches of each split.

    Each step::

        x, y = get_batch(train_ids)      # (batch, block) ids; y is x shifted by one
        optimizer.lr = cosine_with_warmup(step)
        optimizer.zero_grad()
        cost.forward(model.forward(x), y)
        model.backward(cost.backward())
        clip_grad_norm(parameters, grad_clip)
        optimizer.step()

    ``quiet`` and ``log``, and ``progress``, ``save_every`` and ``save``
    (which resume and checkpoint the run), are as in :func:`train_classifier`.
    """
    for name, value in (("iters", iters), ("batch_size", batch_size), ("block_size", block_size),
                        ("eval_interval", eval_interval), ("eval_iters", eval_iters)):
        # 0 would divide by zero (step % eval_interval) or average no batches (NaN)
        positive_int("train_language_model", name, value)
    cost = SoftmaxCrossEntropy()
    progress = progress or LanguageModelProgress.start(seed)
    model.train()

    def evaluate(step: int, lr: float) -> None:
        record = EvalRecord(step, *(estimate_loss(model, ids, batch_size=batch_size,
                                                  block_size=block_size, iters=eval_iters,
                                                  rng=progress.eval_rng)
                                    for ids in (train_ids, val_ids)), lr)
        progress.history.append(asdict(record))
        log(f"step {step:5d}: train loss {record.train_loss:.4f}, val loss {record.val_loss:.4f}"
            f"  (lr {lr:.2e})")

    def schedule(step: int) -> float:
        return cosine_with_warmup(step, max_lr=max_lr, min_lr=min_lr, warmup=warmup, total=iters)

    with StopOnSignal() as stop, np.errstate(**QUIET_OVERFLOW):
        for step in tqdm(range(progress.step, iters), unit="step", leave=False,  # as above
                         initial=progress.step, total=iters, dynamic_ncols=True,
                         disable=not progress_enabled(quiet)):
            lr = schedule(step)
            if step % eval_interval == 0:
                evaluate(step, lr)
            optimizer.lr = lr
            x, y = get_batch(train_ids, batch_size, block_size, progress.batch_rng)
            optimizer.zero_grad()
            loss = cost.forward(model.forward(x), y)
            backward_and_update(model, cost, optimizer, loss, grad_clip, progress, step)
            after_step(progress, save, save_every, stop)
        evaluate(iters, schedule(iters))
        stop_if_asked(progress, save, stop)  # a Ctrl-C during the last evaluation
    return [EvalRecord(**record) for record in progress.history]
