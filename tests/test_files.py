"""saving/files.py: ordinary files only; every write all or nothing; a full disk
in one line; temporary files removed only when their process is gone."""

import errno
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from shapesafe_nn.saving.checkpoint import load_checkpoint, save_checkpoint
from shapesafe_nn.saving.files import (
    NoSpaceLeft,
    check_replaceable_folder,
    remove_stale_temporaries,
    special_kind,
    writing_atomically,
    writing_folder_atomically,
)

HOST = socket.gethostname()


def disk_full(*_) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def dead_pid() -> int:
    """The pid of a process that has ended (a pid is reused only after many others)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def temporary_of(target, pid: int, host: str = HOST, token: str = "0a1b2c3d") -> str:
    return f".{target}.{host}.{pid}.{token}.tmp"


# ---------------------------------------------------------------------------
# What a path is
# ---------------------------------------------------------------------------
def test_special_kind_names_pipes_and_devices_and_nothing_else(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "plain.txt").write_text("x")
    (tmp_path / "link").symlink_to("/dev/null")
    assert special_kind(tmp_path / "pipe") == "a named pipe"
    assert special_kind("/dev/null") == special_kind(tmp_path / "link") == "a character device"
    for ordinary in ("plain.txt", ".", "missing"):
        assert special_kind(tmp_path / ordinary) is None, ordinary


# ---------------------------------------------------------------------------
# One file
# ---------------------------------------------------------------------------
def test_a_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("old")
    with writing_atomically(path) as file:
        file.write(b"new")
        assert path.read_text() == "old"  # until the block ends, readers see the old file
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


@pytest.mark.parametrize("stop", [ValueError("a bug in the writer"), KeyboardInterrupt()])
def test_a_stopped_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, stop):
    path = tmp_path / "m.json"
    path.write_text("old")
    with pytest.raises(type(stop)):
        with writing_atomically(path) as file:
            file.write(b"half of the n")
            raise stop
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_a_full_disk_is_one_error_naming_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    save_checkpoint(path, {"x": np.arange(4)}, {"step": 1})
    before = path.read_bytes()
    monkeypatch.setattr(os, "fsync", disk_full)  # the written bytes do not reach the disk
    with pytest.raises(NoSpaceLeft) as error:
        save_checkpoint(path, {"x": np.arange(1000)}, {"step": 2})
    assert str(error.value) == (f"{path}: no space left on the device, so it was not written "
                                f"(an earlier one is unchanged); free some space and run again")
    assert error.value.errno == errno.ENOSPC and "[Errno" not in str(error.value)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ck.npz"]
    monkeypatch.undo()
    assert load_checkpoint(path)[1]["step"] == 1


def test_a_folder_that_cannot_be_written_is_named_not_the_temporary_file(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        with writing_atomically(tmp_path / "none" / "m.json"):
            pass
    assert str(error.value).startswith(f"{tmp_path / 'none' / 'm.json'}: cannot be written: ")
    assert ".tmp" not in str(error.value)


# ---------------------------------------------------------------------------
# Temporary files: only provably dead ones are removed
# ---------------------------------------------------------------------------
def test_the_next_write_removes_what_a_killed_write_of_the_same_file_left(tmp_path):
    """``kill -9`` during a save leaves its temporary file, as large as the file."""
    dead = tmp_path / temporary_of("ck.npz", dead_pid())
    dead_folder = tmp_path / temporary_of("ck.npz", dead_pid(), token="9f8e7d6c")
    kept = [tmp_path / temporary_of("ck.npz", os.getpid()),  # a running process's
            tmp_path / temporary_of("ck.npz", dead_pid(), host=f"not-{HOST}"),  # elsewhere
            tmp_path / ".ck.npz.k3j9x_2a.tmp",  # no pid: whose it is cannot be told
            tmp_path / temporary_of("other.npz", dead_pid()),  # another file's
            tmp_path / ".ck.npz.notes.txt"]
    for path in (dead, *kept):
        path.write_bytes(b"\0" * 1000)
    dead_folder.mkdir()
    (dead_folder / "ckpt.pt").write_bytes(b"\0" * 1000)
    save_checkpoint(tmp_path / "ck.npz", {"x": np.zeros(2)}, {})
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        ["ck.npz"] + [path.name for path in kept])


def test_a_second_run_saving_to_the_same_file_leaves_the_firsts_temporary_alone(tmp_path):
    """Two runs with one --save: the other process's save, between our write and
    our rename, must not remove the temporary file we are writing."""
    path = tmp_path / "same.npz"
    other_save = (f"import numpy as np; from shapesafe_nn.saving.checkpoint import "
                  f"save_checkpoint; save_checkpoint({str(path)!r}, {{'x': np.ones(2)}}, {{}})")
    with writing_atomically(path) as file:
        file.write(b"ours")
        subprocess.run([sys.executable, "-c", other_save], check=True)
        assert os.path.exists(file.name)
    assert path.read_bytes() == b"ours"  # the later rename wins, whole


def test_a_file_name_with_glob_characters_matches_only_itself(tmp_path):
    stranger = tmp_path / temporary_of("ckX.npz", dead_pid())
    stranger.write_bytes(b"1")
    remove_stale_temporaries(tmp_path / "ck?.npz")
    assert stranger.exists()


# ---------------------------------------------------------------------------
# A folder, replaced whole
# ---------------------------------------------------------------------------
def test_a_folder_is_swapped_in_whole(tmp_path):
    out = tmp_path / "hf"
    out.mkdir()
    (out / "config.json").write_text("old config")
    (out / "model.safetensors").write_text("old weights")
    with writing_folder_atomically(out, ("config.json", "model.safetensors")) as folder:
        (folder / "config.json").write_text("new config")
        assert (out / "config.json").read_text() == "old config"
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]
    assert (out / "config.json").read_text() == "new config"
    assert [p.name for p in tmp_path.iterdir()] == ["hf"]


def test_a_stopped_folder_write_keeps_the_old_folder_whole(tmp_path):
    out = tmp_path / "hf"
    out.mkdir()
    (out / "config.json").write_text("old config")
    with pytest.raises(KeyboardInterrupt):
        with writing_folder_atomically(out, ("config.json", "model.safetensors")) as folder:
            (folder / "model.safetensors").write_text("new weights")
            raise KeyboardInterrupt  # SIGTERM before config.json
    assert [p.name for p in out.iterdir()] == ["config.json"]
    assert (out / "config.json").read_text() == "old config"
    assert [p.name for p in tmp_path.iterdir()] == ["hf"]


def test_a_folder_holding_other_files_or_a_file_is_not_replaced(tmp_path):
    (tmp_path / "d").mkdir()
    for name in ("notes.txt", "config.json", "a", "b", "c"):
        (tmp_path / "d" / name).write_text(name)
    with pytest.raises(FileExistsError, match=r"d: holds a, b, c and 1 more, which writing the "
                                              r"folder would remove"):
        check_replaceable_folder(tmp_path / "d", ("config.json",))
    (tmp_path / "f").write_text("a file")
    with pytest.raises(NotADirectoryError, match="f: is a file, and a folder is written there"):
        check_replaceable_folder(tmp_path / "f", ("config.json",))
    check_replaceable_folder(tmp_path / "new", ("config.json",))  # missing: fine
