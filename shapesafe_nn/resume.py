"""Everything a training run needs to continue exactly where it stopped.

A checkpoint of the parameters alone is not enough to resume: the next
mini-batch depends on the random generator that draws it, AdamW's next step
on its moment estimates and step count, a Dropout's next mask on its own
generator, and the epoch's mean cost on the costs of the mini-batches
already done.  With all of them saved, resuming at step k gives losses
bit-identical to the run that never stopped (tests/test_resume.py checks
exactly that, with dropout on).

- :class:`ClassifierProgress` and :class:`LanguageModelProgress`: where
  :func:`~shapesafe_nn.trainer.train_classifier` and
  :func:`~shapesafe_nn.trainer.train_language_model` are, as named arrays
  (for the ``.npz``) and JSON (for the checkpoint's description);
- :func:`generator_to_array` / :func:`generator_from_array`: a numpy random
  generator's exact state as six 64-bit words;
- :func:`dropout_arrays` / :func:`load_dropout_arrays`: the generator of
  every Dropout in a model;
- :class:`StopOnSignal`: Ctrl-C, SIGTERM or SIGHUP finishes the current step,
  then stops, so the checkpoint written afterwards holds a whole step, never
  half of one.
"""

import hashlib
import signal
import threading
from dataclasses import dataclass, field

import numpy as np

from .layers.dropout import Dropout
from .module import Module

WORD = 2 ** 64


def generator_to_array(rng: np.random.Generator) -> np.ndarray:
    """PCG64's 128-bit state and increment, split into 64-bit words, plus its
    cached 32-bit half-draw: six uint64s that restore the generator exactly."""
    state = rng.bit_generator.state
    if state["bit_generator"] != "PCG64":
        raise ValueError(f"only PCG64 generators (numpy's default) can be saved, not "
                         f"{state['bit_generator']}")
    words = [state["state"]["state"] // WORD, state["state"]["state"] % WORD,
             state["state"]["inc"] // WORD, state["state"]["inc"] % WORD,
             state["has_uint32"], state["uinteger"]]
    return np.array(words, dtype=np.uint64)


def generator_from_array(words: np.ndarray, name: str = "generator") -> np.random.Generator:
    """The generator :func:`generator_to_array` saved."""
    words = np.asarray(words)
    if words.shape != (6,) or words.dtype != np.uint64:
        raise ValueError(f"{name}: a saved random generator is 6 uint64 words, not "
                         f"{words.dtype} of shape {words.shape}")
    high_state, low_state, high_inc, low_inc, has_uint32, uinteger = (int(w) for w in words)
    rng = np.random.default_rng()
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": high_state * WORD + low_state, "inc": high_inc * WORD + low_inc},
        "has_uint32": has_uint32, "uinteger": uinteger}
    return rng


def dropout_arrays(model: Module) -> dict[str, np.ndarray]:
    """Each Dropout's generator, named ``rng/dropout/<its path in the model>``."""
    return {f"rng/dropout/{name}": generator_to_array(module.rng)
            for name, module in model.named_modules() if isinstance(module, Dropout)}


def load_dropout_arrays(model: Module, arrays: dict[str, np.ndarray], source: str) -> None:
    """Put back the generators :func:`dropout_arrays` saved; all or none."""
    dropouts = {f"rng/dropout/{name}": module for name, module in model.named_modules()
                if isinstance(module, Dropout)}
    saved = {name for name in arrays if name.startswith("rng/dropout/")}
    if saved != set(dropouts):
        raise ValueError(f"{source}: the saved Dropout generators "
                         f"({sorted(saved) or 'none'}) do not match the model's "
                         f"({sorted(dropouts) or 'none'})")
    generators = {name: generator_from_array(arrays[name], f"{source}: {name}")
                  for name in dropouts}
    for name, module in dropouts.items():
        module.rng = generators[name]


def fingerprint(*arrays: np.ndarray) -> str:
    """A SHA-256 of the training data, so a run is never resumed on other data."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
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
    """Where :func:`~shapesafe_nn.trainer.train_classifier` is.

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
    """Where :func:`~shapesafe_nn.trainer.train_language_model` is: ``step``
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


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))  # Windows has no SIGHUP
"""Ctrl-C, ``kill`` (and a system shutting down), a closed terminal: each asks a
run to stop, and each is handled alike."""


class Interrupted(KeyboardInterrupt):
    """A run stopped by ``signum`` (one of :data:`STOP_SIGNALS`).  A
    KeyboardInterrupt, so that code which stops on Ctrl-C stops on each."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopOnSignal:
    """``with StopOnSignal() as stop:``: a first Ctrl-C, SIGTERM or SIGHUP sets
    ``stop.requested`` (and ``stop.signum``) instead of ending the process, so
    the loop can finish its step, save, and stop; a second one raises
    :class:`Interrupted` at once.

    Why not just catch KeyboardInterrupt?  It can arrive in the middle of
    ``optimizer.step()``, after some parameters moved and before others did:
    a checkpoint written then would hold a model that no step produced.  And
    SIGTERM and SIGHUP would, by default, end the process on the spot,
    losing every step since the last save.
    Outside the main thread (where Python delivers no signals) this does nothing.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise Interrupted(signum)
        self.signum = signum

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.getsignal(signum)
                signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, previous in self._previous.items():
            # None: a handler set outside Python, which cannot be put back as it
            # was; Python's default is the closest (KeyboardInterrupt for SIGINT)
            if previous is None:
                previous = signal.default_int_handler if signum == signal.SIGINT else \
                    signal.SIG_DFL
            signal.signal(signum, previous)
