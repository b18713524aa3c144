"""The training loop: mini-batches -> forward -> cost -> backward -> step.

This is Nielsen's ``SGD`` method (ch. 1) with the per-example loop replaced
by whole mini-batches: each epoch shuffles the training data, cuts it into
mini-batches (the last one may be smaller, as in the book), and for each
one runs::

    optimizer.zero_grad()           # gradients accumulate: clear them
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

from .module import Module


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


def train_classifier(model: Module, cost: Module, optimizer, train: tuple, test: tuple | None,
                     *, epochs: int, batch_size: int, seed: int, quiet: bool = False,
                     log: Callable[[str], None] = print) -> History:
    """Train ``model`` with mini-batch gradient descent; evaluate after each epoch.

    ``train`` and ``test`` are ``(x, labels)`` pairs: x (n, d_in) floats,
    labels (n,) integers.  ``test`` may be None (or empty) to skip evaluation.
    """
    x_train, y_train = train
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be at least 1, got {epochs} and {batch_size}")
    if len(x_train) == 0:
        raise ValueError("the training set is empty")
    rng = np.random.default_rng(seed)
    history = History()
    for epoch in range(epochs):
        order = rng.permutation(len(x_train))
        starts = range(0, len(order), batch_size)
        losses = []
        model.train()
        for start in tqdm(starts, desc=f"epoch {epoch}", leave=False, unit="batch",
                          disable=not progress_enabled(quiet)):
            batch = order[start:start + batch_size]
            optimizer.zero_grad()
            losses.append(cost.forward(model.forward(x_train[batch]), y_train[batch]))
            model.backward(cost.backward())
            optimizer.step()
        train_loss = float(np.mean(losses))
        if not np.isfinite(train_loss):
            raise FloatingPointError(
                f"epoch {epoch}: the training cost became {train_loss}; the learning rate "
                f"is probably too large for this network (try a smaller --lr)")
        if test is not None and len(test[0]):
            model.eval()
            correct = model.evaluate(*test)
            record = EpochRecord(epoch, train_loss, correct, len(test[0]))
            log(f"Epoch {epoch}: {correct} / {len(test[0])}  "
                f"(accuracy {record.accuracy:.4f}, train cost {train_loss:.4f})")
        else:
            record = EpochRecord(epoch, train_loss, None, None)
            log(f"Epoch {epoch} complete  (train cost {train_loss:.4f})")
        history.epochs.append(record)
    return history
