"""Saving: a model, its training run and its tokenizer on disk, and back.

Every file is an ``.npz`` of named arrays, read without ever loading code
from it (no pickle), so opening a file from elsewhere is safe.

- ``files.py``: what every command reads and writes is an ordinary file
  (never a named pipe or a device), written all or nothing: a temporary
  file (or folder) beside the target, renamed over it; a full disk is one
  error naming the file;
- ``npz.py``: reading an ``.npz`` and refusing a damaged one with one clear
  error, for checkpoints and data alike;
- ``checkpoint.py``: a checkpoint is named arrays plus a JSON description,
  written atomically so that a crash never damages the previous one;
- ``load.py``: a saved GPT or translator, with its tokenizers, in one line
  (``model, tokenizer = load_gpt("baby.npz")``).
"""

from .checkpoint import (CheckpointError, check_unedited, config_from, load_checkpoint,
                         load_parameters, parameter_arrays, save_checkpoint)
from .load import (gpt_from, load_gpt, load_gpt_checkpoint, load_translator,
                   load_translator_checkpoint, save_gpt)
from .npz import NpzError, read_npz

__all__ = [
    "CheckpointError", "NpzError", "check_unedited", "config_from", "gpt_from", "load_checkpoint",
    "load_gpt", "load_gpt_checkpoint", "load_parameters", "load_translator",
    "load_translator_checkpoint", "parameter_arrays", "read_npz", "save_checkpoint", "save_gpt",
]
