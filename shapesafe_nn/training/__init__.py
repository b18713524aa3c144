"""Training: the loops that fit a model, and what a run saves to continue.

- ``trainer.py``: the loops for a classifier (epochs of shuffled
  mini-batches) and for a language model (iterations of random windows),
  with the learning-rate schedule, gradient clipping and evaluation;
- ``translation.py``: the translator's loop, and greedy or beam translation
  of held-out sentences;
- ``progress.py``: where a run is (step, epoch, losses so far), saved so that
  a resumed run gives the same losses, bit for bit, as one that never stopped;
- ``generator_state.py``: random generators (the batches', each Dropout's)
  saved as arrays;
- ``signals.py``: Ctrl-C, SIGTERM or SIGHUP ends a run between two steps,
  never in the middle of one.
"""

from .generator_state import (dropout_arrays, generator_from_array, generator_to_array,
                              load_dropout_arrays)
from .progress import ClassifierProgress, LanguageModelProgress, fingerprint
from .signals import STOP_SIGNALS, Interrupted, StopOnSignal
from .trainer import (EpochRecord, EvalRecord, History, estimate_loss, train_classifier,
                      train_language_model)
from .translation import Example, exact_match, train_translator, translate

__all__ = [
    "STOP_SIGNALS", "ClassifierProgress", "EpochRecord", "EvalRecord", "Example", "History",
    "Interrupted", "LanguageModelProgress", "StopOnSignal", "dropout_arrays", "estimate_loss",
    "exact_match", "fingerprint", "generator_from_array", "generator_to_array",
    "load_dropout_arrays", "train_classifier", "train_language_model", "train_translator",
    "translate",
]
