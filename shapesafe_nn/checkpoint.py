"""Checkpoints: named numpy arrays plus a JSON description, in one ``.npz``.

A checkpoint never holds pickled objects, so loading one cannot run code:
it is read with ``allow_pickle=False``.  The JSON (model kind and config,
and whatever else the trainer records) is stored as a string array named
``__meta__``.  Files are written atomically: to a temporary file in the same
folder, flushed to disk, then renamed over the target, so a crash during a
save never damages the previous checkpoint.
"""

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .module import Module

FORMAT = "shapesafe_nn checkpoint"
VERSION = 1
META_KEY = "__meta__"
ZIP_MAGIC = b"PK\x03\x04"  # the first bytes of a zip archive, and so of every .npz


def _new_file_mode() -> int:
    """The permissions open() gives a new file: rw for all, less the umask.
    mkstemp makes its file private (0o600); a checkpoint should not be."""
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask, read from /proc where Linux offers it: os.umask can
    only read it by setting it, which would briefly change it for every thread."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o077)  # elsewhere: set it (to a safe value), then put it back
    os.umask(umask)
    return umask


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
    document = json.dumps({"format": FORMAT, "version": VERSION, **meta})
    directory = path.parent if str(path.parent) else Path(".")
    # Named here: otherwise the error would name the temporary file below, not `path`
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory; save the checkpoint to a file "
                                f"inside it, such as {path / 'checkpoint.npz'}")
    if not directory.is_dir():
        raise FileNotFoundError(f"{path}: cannot save the checkpoint there: the folder "
                                f"{directory} does not exist")
    file_descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.",
                                                  suffix=".tmp")
    try:
        with os.fdopen(file_descriptor, "wb") as file:
            np.savez(file, **arrays, **{META_KEY: np.array(document)})
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _new_file_mode())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint: ``(arrays, meta)``; a :class:`CheckpointError` naming
    the file if it is missing, not a checkpoint, truncated or corrupt."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    # np.load reads anything that is not a zip archive as a lone .npy array
    # (no context manager, no names) or as a pickle: refuse those by their first bytes.
    # np.load gets the open file, not the path: given a path to a damaged archive it
    # raises without closing the file it opened.
    with path.open("rb") as file:
        if file.read(len(ZIP_MAGIC)) != ZIP_MAGIC:
            raise CheckpointError(f"{path}: not an .npz checkpoint (np.savez writes a zip "
                                  f"archive, and this file is not one)")
        file.seek(0)
        try:
            with np.load(file, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except Exception as error:
            # Damaged bytes fail in zipfile, zlib or numpy's .npy header parser, with errors
            # of many types (BadZipFile, zlib.error, ValueError, NotImplementedError for an
            # unknown compression method, RuntimeError for a set "encrypted" flag,
            # tokenize.TokenError, ...); each means the same here: the file is not readable.
            raise CheckpointError(f"{path}: not a readable .npz checkpoint ({error})") from error
    if META_KEY not in arrays:
        raise CheckpointError(f"{path}: an .npz file, but not a shapesafe_nn checkpoint "
                              f"(no {META_KEY} entry)")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: the checkpoint's description is corrupt") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a shapesafe_nn checkpoint")
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
        parameter.value[...] = saved[name]
