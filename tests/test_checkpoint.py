"""Checkpoints: the round trip, atomic writes, and errors that name the file.

A checkpoint is read with ``allow_pickle=False``, so a file holding Python
objects is refused instead of run; every unreadable file raises
CheckpointError (a ValueError) whose message starts with the file's path.
"""

import json
import os
import pickle
import stat
import struct

import numpy as np
import pytest

from shapesafe_nn.models import Network
from shapesafe_nn.saving.checkpoint import (
    FORMAT,
    META_KEY,
    VERSION,
    CheckpointError,
    description_digests,
    load_checkpoint,
    load_parameters,
    parameter_arrays,
    save_checkpoint,
)


def some_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"param/layers.0.W": rng.standard_normal((3, 4)),
            "param/layers.0.b": rng.standard_normal(3).astype(np.float32),
            "optimizer/step": np.array(7, dtype=np.int64),
            "counts": np.arange(5, dtype=np.uint8)}


def write_npz(path, **arrays):
    """An .npz written directly, bypassing save_checkpoint."""
    np.savez(path, **arrays)
    return path


def meta_array(**meta) -> np.ndarray:
    return np.array(json.dumps({"format": FORMAT, "version": VERSION, **meta}))


def assert_names_file(error: pytest.ExceptionInfo, path, *fragments: str) -> None:
    message = str(error.value)
    assert message.startswith(str(path)), message
    for fragment in fragments:
        assert fragment in message, message


# ---------------------------------------------------------------------------
# Round trip
# ---------------------------------------------------------------------------
def test_round_trip_keeps_values_dtypes_and_meta(tmp_path):
    arrays = some_arrays()
    meta = {"model": "mlp", "config": {"sizes": [4, 3], "seed": 0, "data": None}, "step": 12}
    path = save_checkpoint(tmp_path / "ck.npz", arrays, meta)
    loaded, loaded_meta = load_checkpoint(path)
    assert sorted(loaded) == sorted(arrays)  # __meta__ is not among the arrays
    for name, value in arrays.items():
        assert loaded[name].dtype == value.dtype, name
        np.testing.assert_array_equal(loaded[name], value)  # stored bit for bit
    # and a SHA-256 of each field of the config, to find edits (test_an_edited_...)
    assert loaded_meta == {"format": FORMAT, "version": VERSION, **meta,
                           "sha256": description_digests(meta)}


def test_saving_over_a_checkpoint_replaces_it(tmp_path):
    path = tmp_path / "ck.npz"
    save_checkpoint(path, {"x": np.zeros(2)}, {"step": 1})
    save_checkpoint(path, {"x": np.ones(3)}, {"step": 2})
    arrays, meta = load_checkpoint(path)
    np.testing.assert_array_equal(arrays["x"], np.ones(3))
    assert meta["step"] == 2


def test_a_description_edited_by_hand_is_refused_naming_the_field(tmp_path):
    path = save_checkpoint(tmp_path / "ck.npz", {"x": np.zeros(2)},
                           {"config": {"n_head": 4, "mask": "causal"}, "settings": {"lr": 0.1}})
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays.pop(META_KEY)))
    meta["config"]["n_head"] = 2  # the parameters' shapes would not show it
    np.savez(path, **arrays, **{META_KEY: np.array(json.dumps(meta))})
    with pytest.raises(CheckpointError, match=r"ck\.npz: the description's config\.n_head was "
                                              r"edited .*it is now 2"):
        load_checkpoint(path)


def test_a_relative_path_saves_in_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_checkpoint("ck.npz", {"x": np.arange(3)}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]
    np.testing.assert_array_equal(load_checkpoint("ck.npz")[0]["x"], np.arange(3))


def test_the_meta_name_is_reserved(tmp_path):
    with pytest.raises(ValueError, match=META_KEY):
        save_checkpoint(tmp_path / "ck.npz", {META_KEY: np.zeros(1)}, {})
    assert list(tmp_path.iterdir()) == []


def test_a_model_round_trips_through_parameter_arrays(tmp_path):
    source = Network([4, 3, 2], seed=1)
    save_checkpoint(tmp_path / "ck.npz", parameter_arrays(source), {"model": "mlp"})
    target = Network([4, 3, 2], seed=2)
    load_parameters(target, load_checkpoint(tmp_path / "ck.npz")[0])
    for (name, expected), (_, loaded) in zip(source.named_parameters(),
                                             target.named_parameters()):
        np.testing.assert_array_equal(loaded.value, expected.value, err_msg=name)
    x = np.random.default_rng(0).random((5, 4))
    np.testing.assert_array_equal(target.forward(x), source.forward(x))


# ---------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------
def test_a_successful_save_leaves_no_temporary_file(tmp_path):
    save_checkpoint(tmp_path / "ck.npz", some_arrays(), {})
    save_checkpoint(tmp_path / "ck.npz", some_arrays(), {})
    assert [p.name for p in tmp_path.iterdir()] == ["ck.npz"]


def test_a_failed_save_keeps_the_previous_checkpoint_and_leaves_no_temporary_file(
        tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    save_checkpoint(path, {"x": np.arange(4)}, {"step": 1})
    before = path.read_bytes()
    real_savez = np.savez

    def savez_then_fail(file, **arrays):
        real_savez(file, **arrays)  # bytes are written to the temporary file...
        raise OSError("disk full")  # ...and then the write fails

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"x": np.arange(1000)}, {"step": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ck.npz"]
    monkeypatch.undo()
    assert load_checkpoint(path)[1]["step"] == 1


def test_an_interrupted_first_save_leaves_nothing(tmp_path, monkeypatch):
    def interrupted(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "ck.npz", {"x": np.zeros(2)}, {})
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# Unreadable files: CheckpointError naming the file
# ---------------------------------------------------------------------------
def test_a_missing_file_is_named(tmp_path):
    path = tmp_path / "nowhere.npz"
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert_names_file(error, path, "no such")


def test_a_directory_is_named(tmp_path):
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(tmp_path)
    assert_names_file(error, tmp_path, "directory")


@pytest.mark.parametrize("content", [b"", b"hello, this is text\n",
                                     b"\x80\x04\x95 pickle-like bytes"],
                         ids=["empty", "text", "pickle-like"])
def test_a_file_that_is_not_a_zip_archive_is_named(tmp_path, content):
    path = tmp_path / "ck.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert_names_file(error, path, "not an .npz checkpoint")


def test_a_lone_npy_array_is_named(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert_names_file(error, path, "not an .npz checkpoint")


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_a_truncated_checkpoint_is_named(tmp_path, keep):
    path = save_checkpoint(tmp_path / "ck.npz", some_arrays(), {"model": "mlp"})
    data = path.read_bytes()
    path.write_bytes(data[:int(keep * len(data))])
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert_names_file(error, path, "not a readable .npz checkpoint")


@pytest.mark.parametrize("offset", [0.2, 0.5, 0.8])
def test_corrupted_compressed_bytes_are_named(tmp_path, offset):
    # A damaged deflate stream fails inside zlib, not zipfile: it must still be named.
    path = tmp_path / "ck.npz"
    np.savez_compressed(path, x=np.random.default_rng(0).standard_normal(20000),
                        **{META_KEY: meta_array()})
    data = bytearray(path.read_bytes())
    start = int(offset * len(data))
    data[start:start + 64] = np.random.default_rng(1).integers(0, 256, 64, np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert_names_file(error, path, "not a readable .npz checkpoint")


def central_directory_field(data: bytes, offset: int, value: int) -> bytes:
    """``data`` with one 2-byte field of the first central-directory entry set to ``value``."""
    damaged = bytearray(data)
    entry = damaged.find(b"PK\x01\x02")  # the central directory entry's signature
    damaged[entry + offset:entry + offset + 2] = struct.pack("<H", value)
    return bytes(damaged)


# Damage that zipfile and numpy report with errors other than ValueError or BadZipFile.
DAMAGE = {
    "unknown compression method": lambda data: central_directory_field(data, 10, 99),
    "encrypted flag set": lambda data: central_directory_field(data, 8, 1),
    # the .npy header is a Python dict literal; "{{" fails in numpy's tokenizer
    "broken array header": lambda data: data.replace(b"{'descr'", b"{{descr'", 1),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_damaged_archive_structure_is_named(tmp_path, damage):
    # large enough that numpy reads the header before zipfile reaches the checksum
    path = save_checkpoint(tmp_path / "ck.npz", {"x": np.zeros((300, 100))}, {})
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert_names_file(error, path, "not a readable .npz checkpoint")


def test_an_npz_without_a_description_is_named(tmp_path):
    path = write_npz(tmp_path / "data.npz", x=np.zeros((2, 784)), y=np.zeros(2))
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert_names_file(error, path, "not a shapesafe_nn checkpoint", META_KEY)


@pytest.mark.parametrize("document", ["{not json", "[1, 2]", '{"format": "other"}', "3"],
                         ids=["corrupt", "a list", "another format", "a number"])
def test_a_description_that_is_not_ours_is_named(tmp_path, document):
    path = write_npz(tmp_path / "ck.npz", **{META_KEY: np.array(document)})
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert_names_file(error, path)


def test_object_arrays_are_refused_without_unpickling(tmp_path, monkeypatch):
    path = write_npz(tmp_path / "ck.npz", x=np.array([{"code": "anything"}], dtype=object),
                     **{META_KEY: meta_array()})
    unpickled = []
    monkeypatch.setattr(pickle, "load", lambda *args, **kwargs: unpickled.append(args))
    monkeypatch.setattr(pickle, "loads", lambda *args, **kwargs: unpickled.append(args))
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert_names_file(error, path, "allow_pickle=False")
    assert unpickled == []


# ---------------------------------------------------------------------------
# load_parameters: every name and shape checked before anything is copied
# ---------------------------------------------------------------------------
def values(model) -> dict[str, np.ndarray]:
    return {name: p.value.copy() for name, p in model.named_parameters()}


def assert_unchanged(model, before: dict[str, np.ndarray]) -> None:
    after = values(model)
    assert sorted(after) == sorted(before)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)


def test_a_wrong_shape_names_the_parameter_and_both_shapes():
    model = Network([4, 3, 2])
    arrays = parameter_arrays(Network([4, 5, 2]))
    with pytest.raises(CheckpointError) as error:
        load_parameters(model, arrays, source="old.npz")
    message = str(error.value)
    assert message.startswith("old.npz"), message
    assert "layers.0.W" in message and "(5, 4)" in message and "(3, 4)" in message, message


def test_missing_and_unexpected_parameters_are_listed():
    model = Network([4, 3, 3, 2])  # layers.0, layers.2, layers.4
    arrays = parameter_arrays(Network([4, 3, 2]))  # layers.0, layers.2
    arrays["param/extra.W"] = np.zeros((2, 2))
    with pytest.raises(CheckpointError) as error:
        load_parameters(model, arrays, source="small.npz")
    message = str(error.value)
    assert message.startswith("small.npz"), message
    assert "missing: ['layers.4.W', 'layers.4.b']" in message, message
    assert "unexpected: ['extra.W']" in message, message


def test_a_failed_load_leaves_the_model_unchanged():
    model = Network([4, 3, 2], seed=0)
    before = values(model)
    # Every parameter but the last fits: the fitting ones must not be copied either.
    arrays = parameter_arrays(Network([4, 3, 2], seed=1))
    arrays["param/layers.2.b"] = np.zeros(5)
    with pytest.raises(CheckpointError, match="layers.2.b"):
        load_parameters(model, arrays)
    assert_unchanged(model, before)
    with pytest.raises(CheckpointError, match="missing"):
        load_parameters(model, {k: v for k, v in arrays.items() if "layers.0" not in k})
    assert_unchanged(model, before)


def test_load_copies_values_and_ignores_other_arrays():
    source = Network([4, 3, 2], seed=1)
    arrays = parameter_arrays(source) | {"optimizer/step": np.array(3)}
    arrays = {name: value.copy() for name, value in arrays.items()}
    model = Network([4, 3, 2], seed=0)
    load_parameters(model, arrays)
    arrays["param/layers.0.W"][...] = 0  # the model holds a copy, not the saved array
    assert_unchanged(model, values(source))


def test_a_checkpoint_gets_the_permissions_of_any_new_file(tmp_path):
    """Not the private 0o600 of the temporary file it was written as."""
    umask = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "ck.npz", {"x": np.zeros(2)}, {})
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
