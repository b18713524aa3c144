"""Checkpoints: named numpy arrays plus a JSON description, in one ``.npz``.

A checkpoint never holds pickled objects, so loading one cannot run code:
it is read with ``allow_pickle=False``.  The JSON (model kind and config,
and whatever else the trainer records) is stored as a string array named
``__meta__``.  Files are written atomically (:mod:`.files`): to a temporary
file in the same folder, flushed to disk, then renamed over the target, so a
crash or a full disk during a save never damages the previous checkpoint.
"""

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from ..core import Module
from .files import writing_atomically
from .npz import NpzError, read_npz

FORMAT = "shapesafe_nn checkpoint"
VERSION = 1
META_KEY = "__meta__"
DIGESTS_KEY = "sha256"
DIGESTED = ("config", "settings")  # the parts of a description check_unedited guards, by field
DIGESTED_WHOLE = ("tokenizer", "src_tokenizer", "tgt_tokenizer")  # and those it guards whole


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model."""


def save_checkpoint(path, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write ``arrays`` and ``meta`` (JSON-serialisable) to ``path`` atomically."""
    path = Path(path)
    if META_KEY in arrays:
        raise ValueError(f"{META_KEY!r} is reserved for the checkpoint's description")
    for name, array in arrays.items():
        # np.savez would pickle them, and load_checkpoint (rightly) refuses pickles:
        # the save would replace a good checkpoint with one that cannot be read
        if np.asarray(array).dtype.hasobject:
            raise ValueError(f"{path}: {name!r} holds Python objects (dtype object); a "
                             f"checkpoint stores numeric arrays only")
    meta = meta | {DIGESTS_KEY: description_digests(meta)}  # see check_unedited
    document = json.dumps({"format": FORMAT, "version": VERSION, **meta})
    directory = path.parent if str(path.parent) else Path(".")
    # Named here: otherwise the error would name the temporary file below, not `path`
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory; save the checkpoint to a file "
                                f"inside it, such as {path / 'checkpoint.npz'}")
    if not directory.is_dir():
        raise FileNotFoundError(f"{path}: cannot save the checkpoint there: the folder "
                                f"{directory} does not exist")
    with writing_atomically(path) as file:  # see files.py
        np.savez(file, **arrays, **{META_KEY: np.array(document)})
    return path


def load_checkpoint(path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint: ``(arrays, meta)``; a :class:`CheckpointError` naming
    the file if it is missing, not a checkpoint, truncated or corrupt."""
    path = Path(path)
    try:
        arrays = read_npz(path, "checkpoint")
    except NpzError as error:
        raise CheckpointError(str(error)) from error
    if META_KEY not in arrays:
        raise CheckpointError(f"{path}: an .npz file, but not a shapesafe_nn checkpoint "
                              f"(no {META_KEY} entry)")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: the checkpoint's description is corrupt") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a shapesafe_nn checkpoint")
    check_unedited(meta, path)
    return arrays, meta


def parameter_arrays(model: Module) -> dict[str, np.ndarray]:
    """The model's parameters by name, ready for :func:`save_checkpoint`."""
    return {f"param/{name}": p.value for name, p in model.named_parameters()}


def load_parameters(model: Module, arrays: dict[str, np.ndarray], source="checkpoint") -> None:
    """Copy saved parameters into ``model``, after checking every name and shape.

    Nothing is copied unless everything fits, so a failed load leaves the
    model as it was.
    """
    expected = dict(model.named_parameters())
    saved = {name.removeprefix("param/"): value for name, value in arrays.items()
             if name.startswith("param/")}
    missing = sorted(set(expected) - set(saved))
    unexpected = sorted(set(saved) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{source}: parameters do not match the model "
                              f"(missing: {missing or 'none'}; unexpected: {unexpected or 'none'})")
    for name, parameter in expected.items():
        if saved[name].shape != parameter.value.shape:
            raise CheckpointError(f"{source}: parameter {name} has shape {saved[name].shape} "
                                  f"in the file but {parameter.value.shape} in the model")
    for name, parameter in expected.items():
        if saved[name].dtype != parameter.value.dtype:  # the copy below would cast silently
            raise CheckpointError(f"{source}: parameter {name} holds {saved[name].dtype} in the "
                                  f"file but the model is {parameter.value.dtype}")
        if not np.isfinite(saved[name]).all():  # else the first loss is NaN, blaming --lr
            raise CheckpointError(f"{source}: parameter {name} holds NaN or inf: the file was "
                                  f"saved from a diverged model or damaged")
    for name, parameter in expected.items():
        parameter.value[...] = saved[name]


def description_digests(meta: dict) -> dict[str, str]:
    """A SHA-256 of each field of the description's ``config`` and ``settings``,
    and of each of its tokenizers, whole."""
    fields = {f"{part}.{field}": value for part in DIGESTED if isinstance(meta.get(part), dict)
              for field, value in meta[part].items()}
    wholes = {part: meta[part] for part in DIGESTED_WHOLE if part in meta}
    return {name: hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
            for name, value in (fields | wholes).items()}


def check_unedited(meta: dict, source) -> None:
    """Refuse a description whose config, settings or tokenizers changed since it
    was saved.

    The description is JSON, which a person can edit, and some fields
    (``n_head``, ``mask``, ``score``) change the model without changing any
    parameter's shape, so that an edited file would load without complaint
    and compute something its parameters were never trained for; two words
    swapped in a tokenizer make every translation of them wrong.  So the
    description keeps a SHA-256 of every field and of each tokenizer
    (``sha256``), written by :func:`save_checkpoint`; files without it are not
    checked, nor the tokenizers of a file saved before they were digested.
    """
    saved = meta.get(DIGESTS_KEY)
    if saved is None:
        return
    if not isinstance(saved, dict):
        raise CheckpointError(f"{source}: the description's {DIGESTS_KEY} is damaged")
    now = {name: digest for name, digest in description_digests(meta).items()
           if name in saved or name not in DIGESTED_WHOLE}
    changed = sorted(name for name in set(saved) | set(now) if saved.get(name) != now.get(name))
    if not changed:
        return
    if changed[0] in DIGESTED_WHOLE:
        raise CheckpointError(f"{source}: the description's {changed[0]} was edited after the "
                              f"checkpoint was saved; the parameters were trained with the "
                              f"saved one, whose tokens and ids they learned")
    part, _, field = changed[0].partition(".")
    value = meta[part].get(field, "missing") if isinstance(meta.get(part), dict) else None
    raise CheckpointError(f"{source}: the description's {changed[0]} was edited after the "
                          f"checkpoint was saved (it is now {value!r}); the parameters "
                          f"were trained with the saved value")


def config_from(config_type, meta: dict, source):
    """The ``config_type`` (a config dataclass) that ``meta["config"]`` describes.

    Every field must be there, with no other, and pass the config's own
    checks.  Each refusal names ``source`` and the field.
    """
    config = meta.get("config")  # unedited: load_checkpoint checked it (check_unedited)
    if not isinstance(config, dict):
        raise CheckpointError(f"{source}: the description's config is damaged "
                              f"({type(config).__name__}, not a mapping of fields)")
    fields = {field.name: field for field in dataclasses.fields(config_type)}
    required = {name for name, field in fields.items()
                if field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING}
    for problem, names in (("lacks", sorted(required - set(config))),
                           ("has an unknown field", sorted(set(config) - set(fields)))):
        if names:
            raise CheckpointError(f"{source}: the description's config {problem} "
                                  f"{', '.join(names)}")
    try:
        return config_type(**config)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{source}: the description's config is refused: {error}") \
            from error
