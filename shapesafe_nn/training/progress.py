"""Where a training run is, saved so that it continues exactly where it stopped.

A checkpoint of the parameters alone is not enough to resume: the next
mini-batch depends on the random generator that draws it, AdamW's next step
on its moment estimates and step count, a Dropout's next mask on its own
generator, and the epoch's mean cost on the costs of the mini-batches
already done.  With all of them saved, resuming at step k gives losses
bit-identical to the run that never stopped (tests/test_resume.py checks
exactly that, with dropout on).

- :class:`ClassifierProgress` and :class:`LanguageModelProgress`: where
  :func:`~shapesafe_nn.training.trainer.train_classifier` and
  :func:`~shapesafe_nn.training.trainer.train_language_model` are, as named arrays
  (for the ``.npz``) and JSON (for the checkpoint's description);
- :func:`fingerprint`: the training data a run belongs to, so that it is
  never resumed on other data; :func:`pairs_fingerprint`, the held-out
  sentence pairs a translator is scored on, so that it is never resumed to
  be scored on others.
"""

import hashlib
from dataclasses import dataclass, field

import numpy as np

from .generator_state import generator_from_array, generator_to_array


def fingerprint(*arrays: np.ndarray) -> str:
    """A SHA-256 of the training data, so a run is never resumed on other data."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def pairs_fingerprint(pairs: list[tuple[str, str]]) -> str:
    """A SHA-256 of sentence pairs, hashed as ``source<TAB>target`` lines.

    Of their text, not their ids: exact match and BLEU compare translations
    with the references as text, and two references that differ only in
    characters the vocabulary lacks have the same ids.  A sentence holds no
    tab or newline, so the lines tell where each sentence ends.
    """
    digest = hashlib.sha256()
    for source, target in pairs:
        digest.update(f"{source}\t{target}\n".encode("utf-8"))
    return digest.hexdigest()


def _scalar(arrays: dict[str, np.ndarray], name: str, source: str) -> int:
    if name not in arrays:
        raise ValueError(f"{source}: no {name!r}: not a checkpoint that can be resumed "
                         f"(saved with --weights-only, or by an older version)")
    value = np.asarray(arrays[name])
    if value.shape != () or not np.issubdtype(value.dtype, np.integer) or value < 0:
        raise ValueError(f"{source}: {name!r} must be one integer >= 0, not {value!r}")
    return int(value)


@dataclass
class ClassifierProgress:
    """Where :func:`~shapesafe_nn.training.trainer.train_classifier` is.

    ``step`` counts mini-batches done since the start; within the current
    ``epoch``, ``order`` is its shuffle of the training set (None until it is
    drawn), ``batch`` the next mini-batch and ``losses`` the costs of those
    done, from which the epoch's mean cost is computed at its end.
    """

    rng: np.random.Generator  # draws each epoch's shuffle
    step: int = 0
    epoch: int = 0
    batch: int = 0
    order: np.ndarray | None = None
    losses: list[float] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)  # EpochRecord fields, epoch by epoch

    @classmethod
    def start(cls, seed: int) -> "ClassifierProgress":
        return cls(rng=np.random.default_rng(seed))

    def arrays(self) -> dict[str, np.ndarray]:
        order = np.array([], dtype=np.int64) if self.order is None else self.order
        return {"progress/step": np.array(self.step, dtype=np.int64),
                "progress/epoch": np.array(self.epoch, dtype=np.int64),
                "progress/batch": np.array(self.batch, dtype=np.int64),
                "progress/order": order.astype(np.int64),
                "progress/losses": np.array(self.losses, dtype=np.float64),
                "rng/shuffle": generator_to_array(self.rng)}

    @property
    def completed(self) -> int:
        """Whole epochs done: how far the run is in the unit it is asked for."""
        return self.epoch

    def where(self) -> str:
        return f"step {self.step} (epoch {self.epoch}, mini-batch {self.batch})"

    def meta(self) -> dict:
        return {"step": self.step, "history": self.history}

    @classmethod
    def from_checkpoint(cls, arrays: dict[str, np.ndarray], meta: dict,
                        source: str) -> "ClassifierProgress":
        for name in ("progress/order", "progress/losses", "rng/shuffle"):
            if name not in arrays:
                raise ValueError(f"{source}: no {name!r}: not a checkpoint that can be resumed")
        order = arrays["progress/order"]
        if order.size and (order.ndim != 1 or not np.issubdtype(order.dtype, np.integer)
                           or not np.array_equal(np.sort(order), np.arange(order.size))):
            # else a damaged file would index the training set out of range, or
            # visit some examples twice and others never
            raise ValueError(f"{source}: 'progress/order' is not a shuffle of the "
                             f"training set (a permutation of 0..n-1)")
        return cls(rng=generator_from_array(arrays["rng/shuffle"], f"{source}: rng/shuffle"),
                   step=_scalar(arrays, "progress/step", source),
                   epoch=_scalar(arrays, "progress/epoch", source),
                   batch=_scalar(arrays, "progress/batch", source),
                   order=order if order.size else None,
                   losses=[float(loss) for loss in arrays["progress/losses"]],
                   history=list(meta.get("history", [])))


@dataclass
class LanguageModelProgress:
    """Where :func:`~shapesafe_nn.training.trainer.train_language_model` is: ``step``
    iterations done, the generators of training and evaluation windows, the
    evaluations so far, and the last finite loss (for a divergence message)."""

    batch_rng: np.random.Generator  # training windows
    # evaluation windows: a generator of their own, so evaluating never shifts training
    eval_rng: np.random.Generator
    step: int = 0
    history: list[dict] = field(default_factory=list)  # EvalRecord fields
    last_loss: float | None = None

    @classmethod
    def start(cls, seed: int) -> "LanguageModelProgress":
        return cls(batch_rng=np.random.default_rng([seed, 0]),
                   eval_rng=np.random.default_rng([seed, 1]))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"progress/step": np.array(self.step, dtype=np.int64),
                "rng/batches": generator_to_array(self.batch_rng),
                "rng/evaluation": generator_to_array(self.eval_rng)}

    @property
    def completed(self) -> int:
        """Iterations done: how far the run is in the unit it is asked for."""
        return self.step

    def where(self) -> str:
        return f"step {self.step}"

    def meta(self) -> dict:
        return {"step": self.step, "history": self.history, "last_loss": self.last_loss}

    @classmethod
    def from_checkpoint(cls, arrays: dict[str, np.ndarray], meta: dict,
                        source: str) -> "LanguageModelProgress":
        for name in ("rng/batches", "rng/evaluation"):
            if name not in arrays:
                raise ValueError(f"{source}: no {name!r}: not a checkpoint that can be resumed")
        return cls(batch_rng=generator_from_array(arrays["rng/batches"], f"{source}: rng/batches"),
                   eval_rng=generator_from_array(arrays["rng/evaluation"],
                                                 f"{source}: rng/evaluation"),
                   step=_scalar(arrays, "progress/step", source),
                   history=list(meta.get("history", [])), last_loss=meta.get("last_loss"))
