"""A catalogue of bad inputs: each is refused with a message that names it, and
leaves everything as it was.

Every row of ``CASES`` is one class of mistake: its id, a ``setup`` that builds a
scene (a layer after a good forward, a folder with a checkpoint in it, ...), the
bad ``act`` on that scene, the exception it must raise (this exact type), words
the message must hold (the layer, the argument, the dim, the file, the number),
and what must be left unchanged:

- ``params``: every module in the scene keeps its parameters, gradients and
  train/eval mode, bit for bit;
- ``cache``: every module keeps the records of its forwards awaiting a
  backward, the very same ones: a failed call pushes none and consumes none,
  so a ``backward`` after it still differentiates the last good forward;
- ``state``: every array, optimizer (learning rate and state) and random
  generator in the scene is as it was;
- ``files``: the scene's folder holds the same files with the same bytes:
  nothing written, nothing removed, an earlier checkpoint byte-identical;
- ``stdout``: a failed command printed nothing on stdout: it stopped before
  doing any work.

No warning may come before the error.  Commands run in-process through
``cli.main``; exit code 2 must be argparse's usage error and exit code 1 one
line ``shapesafe-nn: error: ...``, neither with a traceback.
"""

import errno
import functools
import gzip
import io
import json
import os
import pickle
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
from cli_runner import run

from shapesafe_nn import (
    SGD,
    Dense,
    Module,
    Momentum,
    Parameter,
    QuadraticCost,
    ShapeError,
    Sigmoid,
    SoftmaxCrossEntropy,
    checks,
    no_grad,
)
from shapesafe_nn.core.validate import InvalidArgument
from shapesafe_nn.data import (
    CharTokenizer,
    DataError,
    TextDataError,
    get_batch,
    load_bundled,
    load_idx,
    load_npz,
    load_text,
    split_train_val,
    stratified_split,
    to_inputs,
)
from shapesafe_nn.data.mnist import IMAGES_MAGIC, LABELS_MAGIC
from shapesafe_nn.data.pairs import PairsError, read_pairs
from shapesafe_nn.layers import (
    Dropout,
    Embedding,
    KVCache,
    LayerNorm,
    LearnedPositionalEmbedding,
    MultiHeadAttention,
    TransformerBlock,
)
from shapesafe_nn.models import GPT, GPTConfig, Network
from shapesafe_nn.models.mlp import NetworkConfig
from shapesafe_nn.optim import AdamW, Optimizer, clip_grad_norm, cosine_with_warmup
from shapesafe_nn.saving.checkpoint import (
    CheckpointError,
    config_from,
    load_checkpoint,
    load_parameters,
    parameter_arrays,
    save_checkpoint,
)
from shapesafe_nn.training.trainer import train_classifier, train_language_model

# ---------------------------------------------------------------------------
# The table's row, and what it may promise to keep
# ---------------------------------------------------------------------------
INVARIANTS = ("params", "cache", "state", "files", "stdout")
LAYER = ("params", "cache", "state")  # a layer or model after a good forward, its input
UNUSED = ("params", "cache")  # a layer that has not run yet


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Path], SimpleNamespace]  # builds the scene in a fresh folder
    act: Callable[[SimpleNamespace], object]  # the bad action
    raises: type[BaseException]
    words: tuple[str, ...]  # each must appear in the message
    keeps: tuple[str, ...]  # from INVARIANTS


# ---------------------------------------------------------------------------
# Commands, run in-process
# ---------------------------------------------------------------------------
class CommandFailed(Exception):
    """A ``shapesafe-nn`` run that exited with a non-zero code; the message is its stderr."""


class UsageError(CommandFailed):
    """Exit code 2: argparse's usage line and one ``error:`` line."""


class UserError(CommandFailed):
    """Exit code 1: one line, ``shapesafe-nn: error: ...``."""


def command(scene: SimpleNamespace, *argv) -> None:
    """``shapesafe-nn argv...``; a failure raises UsageError or UserError with its stderr."""
    code, scene.stdout, message = run(*argv)
    if code == 0:
        return
    assert "Traceback" not in message, message
    if code == 2:
        assert message.startswith("usage: ") and "error: " in message, message
        raise UsageError(message)
    assert code == 1, (code, message)
    assert message.startswith("shapesafe-nn: error: ") and message.count("\n") == 1, message
    raise UserError(message)


# ---------------------------------------------------------------------------
# Files the scenes use
# ---------------------------------------------------------------------------
POEM = ("the owl and the pussy-cat went to sea\n"
        "in a beautiful pea-green boat,\n"
        "they took some honey, and plenty of money,\n"
        "wrapped up in a five-pound note.\n") * 8


@functools.cache
def digits() -> tuple[np.ndarray, np.ndarray]:
    """Two bundled digits of each class, shuffled: 20 rows."""
    x, y = load_bundled()
    rows = np.random.default_rng(0).permutation(np.concatenate(
        [np.flatnonzero(y == label)[:2] for label in range(10)]))
    return x[rows], y[rows]


@functools.cache
def trained_checkpoint(model: str) -> bytes:
    """The bytes of a checkpoint written by a one-second ``train mlp``, ``train gpt`` or
    ``train translate`` run."""
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        scene = SimpleNamespace()
        if model == "mlp":
            np.savez(folder / "digits.npz", x=digits()[0], y=digits()[1])
            command(scene, "train", "mlp", "--data", folder / "digits.npz", "--sizes", "784,10",
                    "--epochs", 1, "--holdout", 0, "--quiet", "--save", folder / "ck.npz")
        elif model == "translate":
            command(scene, "train", "translate", "--preset", "tiny", "--steps", 2, "--warmup", 1,
                    "--eval-interval", 2, "--checks", "off", "--quiet", "--save",
                    folder / "ck.npz")
        else:
            (folder / "poem.txt").write_text(POEM, encoding="utf-8")
            command(scene, "train", "gpt", "--data", folder / "poem.txt", "--preset", "tiny",
                    "--iters", 3, "--warmup", 1, "--eval-interval", 3, "--eval-iters", 1,
                    "--block-size", 8, "--batch-size", 2, "--quiet", "--save", folder / "ck.npz")
        return (folder / "ck.npz").read_bytes()


def with_files(files: dict[str, bytes | Callable[[Path], None]] | None = None):
    """A setup that writes ``files`` (bytes, or a function of the path) into the folder."""
    def setup(folder: Path) -> SimpleNamespace:
        for name, content in (files or {}).items():
            path = folder / name
            if callable(content):
                content(path)
            else:
                path.write_bytes(content)
        return SimpleNamespace(folder=folder)
    return setup


def npz(**arrays) -> Callable[[Path], None]:
    return lambda path: np.savez(path, **arrays)


def truncated(content: bytes) -> bytes:
    return content[:len(content) // 2]


def truncated_checkpoint(path: Path) -> None:
    path.write_bytes(truncated(trained_checkpoint("mlp")))


def idx(array: np.ndarray, magic: int) -> bytes:
    """An IDX file: big-endian int32 magic, one int32 per dim, then the bytes."""
    header = np.array([magic, *array.shape], dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


# ---------------------------------------------------------------------------
# Scenes: each setup builds fresh objects, so no case can disturb another
# ---------------------------------------------------------------------------
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def dense(folder: Path) -> SimpleNamespace:
    """Dense(4, 3) after a forward with batch 2."""
    layer, x = Dense(4, 3, rng=rng()), rng().standard_normal((2, 4))
    layer.forward(x)
    return SimpleNamespace(layer=layer, x=x)


def dense_with_a_bias_of_4(folder: Path) -> SimpleNamespace:
    """Dense(4, 3) after a forward, then given a bias of 4 numbers instead of d_out = 3."""
    scene = dense(folder)
    scene.layer.b.value = np.zeros(4)
    return scene


def fresh(build: Callable[[], Module]) -> Callable[[Path], SimpleNamespace]:
    """A layer that has never run forward."""
    return lambda folder: SimpleNamespace(layer=build())


def sequence_layer(build: Callable[[], Module], shape=(2, 3, 8)):
    """A layer of (batch, seq, d_model) after a forward with ``shape``."""
    def setup(folder: Path) -> SimpleNamespace:
        layer, x = build(), rng().standard_normal(shape).astype(np.float32)
        layer.forward(x)
        return SimpleNamespace(layer=layer, x=x)
    return setup


def cached_attention(folder: Path) -> SimpleNamespace:
    """A MultiHeadAttention that has kept one position in a KVCache, and a second
    one of the same shapes; ``storage``, the cache's array, is where a second
    layer's keys would be written."""
    first, second = (MultiHeadAttention(8, 2, rng=rng()) for _ in range(2))
    cache, x = KVCache(4), rng().standard_normal((1, 1, 8)).astype(np.float32)
    with no_grad():
        first.forward(x, cache=cache)
    return SimpleNamespace(layer=first, second=second, cache=cache, x=x, storage=cache._keys)


def cached_forward(scene: SimpleNamespace) -> None:
    """The second layer of :func:`cached_attention` given the first's cache."""
    with no_grad():
        scene.second.forward(scene.x, cache=scene.cache)


def sigmoid_unchecked(folder: Path) -> SimpleNamespace:
    """A Sigmoid after a forward of (4, 3) run with checks off: it bound no dims."""
    layer, x = Sigmoid(), rng().standard_normal((4, 3))
    with checks("off"):
        layer.forward(x)
    return SimpleNamespace(layer=layer, x=x)


def embedding(folder: Path) -> SimpleNamespace:
    """Embedding(5, 4) after a forward of (2, 3) ids."""
    layer, ids = Embedding(5, 4, rng=rng()), rng().integers(0, 5, (2, 3))
    layer.forward(ids)
    return SimpleNamespace(layer=layer, ids=ids)


TINY = {"vocab_size": 7, "block_size": 4, "n_layer": 1, "n_head": 2, "d_model": 8}


def gpt(folder: Path) -> SimpleNamespace:
    """A one-block GPT (vocab 7, block_size 4) after a forward of a (2, 4) batch."""
    model, ids = GPT(GPTConfig(**TINY)), rng().integers(0, 7, (2, 4))
    model.forward(ids)
    return SimpleNamespace(model=model, ids=ids)


def network(folder: Path) -> SimpleNamespace:
    """Network([4, 3, 2]) with logits after a forward of batch 6, labels for it."""
    model = Network([4, 3, 2], output="logits")
    x, labels = rng().standard_normal((6, 4)), np.array([0, 1, 0, 1, 0, 1])
    model.forward(x)
    return SimpleNamespace(model=model, x=x, labels=labels)


def costs(folder: Path) -> SimpleNamespace:
    """Both costs after a forward of 2 examples and 3 classes."""
    logits, labels = rng().standard_normal((2, 3)), np.array([0, 2])
    cross_entropy, quadratic = SoftmaxCrossEntropy(), QuadraticCost()
    cross_entropy.forward(logits, labels)
    quadratic.forward(logits, labels)
    return SimpleNamespace(cross_entropy=cross_entropy, quadratic=quadratic, logits=logits,
                           labels=labels)


def momentum(folder: Path) -> SimpleNamespace:
    """A network with gradients, and Momentum after one step (its velocities are not 0)."""
    scene = network(folder)
    scene.model.zero_grad()  # a new pass: the scene's forward is not this step's
    SoftmaxCrossEntropy().forward(scene.model.forward(scene.x), scene.labels)
    scene.model.backward(np.ones((6, 2)) / 6)
    scene.optimizer = Momentum(scene.model.named_parameters(), lr=0.1)
    scene.optimizer.step()
    return scene


def nan_gradient(folder: Path) -> SimpleNamespace:
    """The momentum scene with one gradient entry NaN."""
    scene = momentum(folder)
    scene.model.layers[0].W.grad[0, 0] = np.nan
    return scene


def tokenizer(folder: Path) -> SimpleNamespace:
    """The tokenizer of "hello world\\n" (9 characters) and the ids of that text."""
    chars = CharTokenizer.from_text("hello world\n")
    return SimpleNamespace(tokenizer=chars, ids=chars.encode("hello world\n"))


def checkpoints(folder: Path) -> SimpleNamespace:
    """A trained MLP checkpoint (784-10) and a trained GPT checkpoint, in the folder."""
    (folder / "mlp.npz").write_bytes(trained_checkpoint("mlp"))
    (folder / "gpt.npz").write_bytes(trained_checkpoint("gpt"))
    return SimpleNamespace(folder=folder, mlp=folder / "mlp.npz", gpt=folder / "gpt.npz")


def saved_network(folder: Path) -> SimpleNamespace:
    """Network([4, 3, 2]) and its checkpoint ``ck.npz``."""
    scene = network(folder)
    save_checkpoint(folder / "ck.npz", parameter_arrays(scene.model), {"model": "mlp"})
    scene.folder = folder
    return scene


def loaded(setup, build: Callable[[], Module]):
    """``setup``'s scene, plus the arrays of its ``ck.npz`` and a model of ``build``."""
    def scene_with_model(folder: Path) -> SimpleNamespace:
        scene = setup(folder)
        scene.arrays, _ = load_checkpoint(folder / "ck.npz")
        scene.target = build()
        return scene
    return scene_with_model


def cli_data(folder: Path) -> SimpleNamespace:
    """The checkpoints, a previous checkpoint ``ck.npz`` to keep, and data files."""
    scene = checkpoints(folder)
    (folder / "ck.npz").write_bytes(trained_checkpoint("mlp"))
    (folder / "poem.txt").write_text(POEM, encoding="utf-8")
    (folder / "short.txt").write_text(POEM[:100], encoding="utf-8")
    (folder / "latin1.txt").write_bytes("naïve café\n".encode("latin-1") * 100)
    x, y = digits()
    np.savez(folder / "digits.npz", x=x, y=y)
    np.savez(folder / "nan.npz", x=np.where(np.arange(784) == 5, np.nan, x.astype(float)), y=y)
    return scene


def cli_truncated(folder: Path) -> SimpleNamespace:
    """The command-line scene with the MLP checkpoint cut in half."""
    scene = cli_data(folder)
    scene.mlp.write_bytes(truncated(scene.mlp.read_bytes()))
    return scene


def nothing(folder: Path) -> SimpleNamespace:
    return SimpleNamespace()


def cli_with(files: dict[str, bytes | Callable[[Path], None]]):
    """The command-line scene, plus ``files`` (bytes, or a function of the path)."""
    def setup(folder: Path) -> SimpleNamespace:
        scene = cli_data(folder)
        with_files(files)(folder)
        return scene
    return setup


def read_archive(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


def edited(model: str, edit: Callable[[dict, dict], None], checksums: bool = True):
    """A trained checkpoint whose description (and arrays) ``edit(meta, arrays)``
    changed in place, rewritten by hand as a person with numpy would; without
    ``checksums``, also without the fields' SHA-256s, as an older file."""
    def write(path: Path) -> None:
        path.write_bytes(trained_checkpoint(model))
        arrays = read_archive(path)
        meta = json.loads(str(arrays.pop("__meta__")))
        edit(meta, arrays)
        if not checksums:
            meta.pop("sha256")
        np.savez(path, **arrays, __meta__=np.array(json.dumps(meta)))
    return write


def swap_two_characters(meta: dict, arrays: dict) -> None:
    """The GPT's tokenizer with its first two characters swapped: every id the
    same, two meanings exchanged, nothing a shape or size check can see."""
    tokenizer = json.loads(meta["tokenizer"])
    chars = tokenizer["chars"]
    chars[0], chars[1] = chars[1], chars[0]
    meta["tokenizer"] = json.dumps(tokenizer)


def swap_two_target_words(meta: dict, arrays: dict) -> None:
    """The translator's target tokenizer with its last two words swapped."""
    tokenizer = json.loads(meta["tgt_tokenizer"])
    words = next(value for value in tokenizer.values() if isinstance(value, list))
    words[-1], words[-2] = words[-2], words[-1]
    meta["tgt_tokenizer"] = json.dumps(tokenizer)


def config_field(name: str, value) -> Callable[[dict, dict], None]:
    def edit(meta: dict, arrays: dict) -> None:
        meta["config"][name] = value
    return edit


def without(part: str, name: str) -> Callable[[dict, dict], None]:
    def edit(meta: dict, arrays: dict) -> None:
        del meta[part][name]
    return edit


def first_parameter_nan(meta: dict, arrays: dict) -> None:
    name = sorted(key for key in arrays if key.startswith("param/"))[0]
    arrays[name] = arrays[name].copy()
    arrays[name].flat[0] = np.nan


def unfinished_with_a_nan(meta: dict, arrays: dict) -> None:
    """Step 1 of 3 (so a resume would train on), with a NaN parameter."""
    arrays["progress/step"] = np.array(1, dtype=np.int64)
    meta["progress"]["step"] = 1
    first_parameter_nan(meta, arrays)


def npy(header: str, data: bytes = b"") -> bytes:
    """A .npy file: magic, version 1.0, the header's length, the header, the data."""
    text = header.encode("latin-1")
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + data


def zip_of(**members: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with zipfile.ZipFile(path, "w") as archive:
            for name, content in members.items():
                archive.writestr(f"{name}.npy", content)
    return write


def zip_flag(kind: str) -> Callable[[Path], None]:
    """An .npz of digits whose zip headers claim ``kind``: "compression" method 99
    (none that zipfile knows), or the "encrypted" flag."""
    local, central = (8, 10) if kind == "compression" else (6, 8)
    value = 99 if kind == "compression" else 1

    def write(path: Path) -> None:
        np.savez(path, x=digits()[0], y=digits()[1])
        content = bytearray(path.read_bytes())
        for signature, offset in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
            start = content.find(signature)
            while start >= 0:
                content[start + offset:start + offset + 2] = value.to_bytes(2, "little")
                start = content.find(signature, start + 4)
        path.write_bytes(bytes(content))
    return write


UNTERMINATED = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,\n")
ENORMOUS = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000000,), }\n")
SHORT_DATA = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }\n", b"\0" * 8)


def trained_on_a_holdout(folder: Path) -> SimpleNamespace:
    """The command-line scene, and ``held.npz``: a network trained on digits.npz
    with 10 digits held out, whose rows were then put in another order."""
    scene = cli_data(folder)
    command(scene, "train", "mlp", "--data", folder / "digits.npz", "--sizes", "784,10",
            "--epochs", 1, "--holdout", 10, "--quiet", "--save", folder / "held.npz")
    x, y = digits()
    np.savez(folder / "digits.npz", x=x[::-1], y=y[::-1])
    return scene


def with_environment(name: str, value: str, scene: SimpleNamespace, *argv) -> None:
    """``command(scene, *argv)`` with the environment variable ``name`` set to ``value``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(name, value)
        command(scene, *argv)


def without_matplotlib(scene: SimpleNamespace, *argv) -> None:
    """``command(scene, *argv)`` as if the plot extra were not installed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("shapesafe_nn.pictures.png.matplotlib_available", lambda: False)
        command(scene, *argv)


def symlink(target: str) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(path.parent / target)


def hard_link(target: str) -> Callable[[Path], None]:
    return lambda path: path.hardlink_to(path.parent / target)


def folder_named(path: Path) -> None:
    path.mkdir()


def named_pipe(path: Path) -> None:
    os.mkfifo(path)  # opened for reading, it waits for a writer: a test would hang, not fail


def plus(setup: Callable[[Path], SimpleNamespace], files: dict):
    """``setup``'s scene, with ``files`` (bytes, or a function of the path) added."""
    def setup_plus(folder: Path) -> SimpleNamespace:
        scene = setup(folder)
        with_files(files)(folder)
        return scene
    return setup_plus


def translator_and_pipe(folder: Path) -> SimpleNamespace:
    (folder / "translator.npz").write_bytes(trained_checkpoint("translate"))
    named_pipe(folder / "pipe")
    return SimpleNamespace(folder=folder, translator=folder / "translator.npz")


NUMBERS = (("one", "un"), ("two", "deux"), ("three", "trois"), ("four", "quatre"),
           ("five", "cinq")) * 4
NUMBER_PAIRS = "".join(f"{en}\t{fr}\n" for en, fr in NUMBERS)
# ten pairs whose words are each in one pair only: the one held out (a tenth) has
# words the training pairs lack, whichever it is; a blank line puts pair 10 on line 11
SPELLED = [f"{word}\t{word}\n" for word in ("alpha", "bravo", "charlie", "delta", "echo",
                                            "foxtrot", "golf", "hotel", "india", "juliet")]
SPELLED_PAIRS = "".join(SPELLED[:3]) + "\n" + "".join(SPELLED[3:])
# --seed 0 holds out pair 10 of SPELLED_PAIRS (held_out_split draws it)
SPELLED_HELD_OUT = "line 11: WordTokenizer.encode: 1 token(s) of 'juliet'"


def translator_on_held_out_pairs(folder: Path) -> SimpleNamespace:
    """A finished tiny translator trained on pairs.tsv with val.tsv held out;
    val.tsv then loses a pair."""
    (folder / "pairs.tsv").write_text(NUMBER_PAIRS, encoding="utf-8")
    (folder / "val.tsv").write_text("one\tun\ntwo\tdeux\n", encoding="utf-8")
    scene = SimpleNamespace(folder=folder, translator=folder / "run.npz")
    command(scene, "train", "translate", "--preset", "tiny", "--steps", 2, "--warmup", 1,
            "--eval-interval", 2, "--checks", "off", "--quiet", "--data", folder / "pairs.tsv",
            "--val", folder / "val.tsv", "--save", scene.translator)
    (folder / "val.tsv").write_text("one\tun\n", encoding="utf-8")
    return scene


def translator_with(files: dict[str, bytes | Callable[[Path], None]]):
    """The bundled numbers' tiny translator as translator.npz, plus ``files``."""
    def setup(folder: Path) -> SimpleNamespace:
        (folder / "translator.npz").write_bytes(trained_checkpoint("translate"))
        with_files(files)(folder)
        return SimpleNamespace(folder=folder, translator=folder / "translator.npz")
    return setup


def with_standard_input(data: bytes, scene: SimpleNamespace, *argv) -> None:
    """``command`` reading ``data`` on standard input, bytes as a pipe gives them."""
    with mock.patch("sys.stdin", io.TextIOWrapper(io.BytesIO(data))):
        command(scene, *argv)


QUICK_MLP = ("train", "mlp", "--sizes", "784,10", "--epochs", 1, "--holdout", 0, "--quiet")


def on_a_full_disk(scene: SimpleNamespace, *argv) -> None:
    """``shapesafe-nn argv...`` on a disk that is full: every file written is
    refused when it is flushed to the disk (os.fsync), as the OS refuses it."""
    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with mock.patch.object(os, "fsync", full):
        command(scene, *argv)


def gpt_inside(folder_name: str, file_name: str):
    """The command-line scene, with a copy of gpt.npz as ``folder_name/file_name``."""
    def setup(folder: Path) -> SimpleNamespace:
        scene = cli_data(folder)
        (folder / folder_name).mkdir()
        (folder / folder_name / file_name).write_bytes(scene.gpt.read_bytes())
        return scene
    return setup


def exported_hf(folder: Path) -> SimpleNamespace:
    """The command-line scene, with gpt.npz exported to ``hf/``, to keep."""
    scene = cli_data(folder)
    command(scene, "export", "--checkpoint", scene.gpt, "--format", "hf", "--out", folder / "hf")
    return scene


def hf_config(**changes) -> Callable[[Path], None]:
    """The exported config.json, with ``changes``."""
    def write(path: Path) -> None:
        path.write_text(json.dumps(json.loads(path.read_text()) | changes))
    return write


def folder_of_notes(path: Path) -> None:
    path.mkdir()
    (path / "notes.txt").write_text("mine, not the export's")


def nanogpt_files(edit: Callable[[dict], None] = lambda checkpoint: None,
                  itos: dict | None = None):
    """``nano/``: nanoGPT's ckpt.pt and meta.pkl as ``export`` writes them for a
    tiny GPT, then ``edit(checkpoint)`` saved back with torch, and ``itos`` (if
    given) as the meta.pkl's table, pickled as a person with Python would."""
    def setup(folder: Path) -> SimpleNamespace:
        torch = pytest.importorskip("torch")
        from shapesafe_nn.interop import export_nanogpt
        chars = CharTokenizer("abcdefg")
        model = GPT(GPTConfig(**TINY, gelu="erf"))
        path = export_nanogpt(model, chars, folder / "nano")
        checkpoint = torch.load(path, weights_only=True)
        edit(checkpoint)
        torch.save(checkpoint, path)
        if itos is not None:
            meta = folder / "nano" / checkpoint["config"]["dataset"] / "meta.pkl"
            meta.write_bytes(pickle.dumps({"vocab_size": len(itos), "itos": itos}))
        return SimpleNamespace(folder=folder)
    return setup


def nanogpt_import(scene: SimpleNamespace) -> None:
    command(scene, "import", scene.folder / "nano", "--format", "nanogpt", "--out",
            scene.folder / "back.npz")


def first_tensor_renamed(checkpoint: dict, name) -> None:
    """The model's first tensor under ``name`` instead of its own."""
    model = checkpoint["model"]
    model[name] = model.pop(next(iter(model)))


def curves_json(*records: dict) -> bytes:
    return json.dumps({"history": list(records)}).encode()


HUGE = str(10 ** 309)  # 310 digits: beyond float64, and far beyond numpy's int64
STEP = {"step": 1, "train_loss": 2.0, "val_loss": 2.1, "lr": 1e-3}


def f32(*shape) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


# ---------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------
CASES = [
    # -- layers, forward --------------------------------------------------------------
    Case("dense-x-wrong-rank", dense, lambda s: s.layer.forward(s.x[0]), ShapeError,
         ("Dense.forward", "argument x", "1 axis", "(batch d_in) needs 2"), LAYER),
    Case("dense-x-wrong-d_in", dense, lambda s: s.layer.forward(np.ones((2, 5))), ShapeError,
         ("Dense.forward", "argument x", "d_in is 5", "d_in = 4", "parameter W"), LAYER),
    Case("dense-x-int", dense, lambda s: s.layer.forward(np.ones((2, 4), dtype=int)), ShapeError,
         ("Dense.forward", "x holds int64", "floating-point"), LAYER),
    Case("dense-x-bool", dense, lambda s: s.layer.forward(np.ones((2, 4), dtype=bool)),
         ShapeError, ("Dense.forward", "x holds bool"), LAYER),
    Case("dense-x-complex", dense, lambda s: s.layer.forward(s.x.astype(complex)), ShapeError,
         ("Dense.forward", "x holds complex128"), LAYER),
    Case("dense-x-object-array", dense, lambda s: s.layer.forward(s.x.astype(object)),
         ShapeError, ("Dense.forward", "x holds object"), LAYER),
    Case("dense-x-numpy-scalar", dense, lambda s: s.layer.forward(np.float64(1.0)), ShapeError,
         ("Dense.forward", "x is a float64, not a numpy array", "np.asarray(x"), LAYER),
    Case("dense-x-python-list", dense, lambda s: s.layer.forward(s.x.tolist()), ShapeError,
         ("Dense.forward", "x is a list, not a numpy array"), LAYER),
    Case("dense-x-batch-0", dense, lambda s: s.layer.forward(np.ones((0, 4))), ShapeError,
         ("Dense.forward", "argument x is empty", "batch is 0", "at least one example"), LAYER),
    Case("dense-parameter-of-wrong-shape", dense_with_a_bias_of_4,
         lambda s: s.layer.forward(s.x), ShapeError,
         ("Dense.forward", "parameter b", "d_out is 4", "d_out = 3"), LAYER),
    Case("layer-norm-x-wrong-d_model", sequence_layer(lambda: LayerNorm(8)),
         lambda s: s.layer.forward(f32(2, 3, 6)), ShapeError,
         ("LayerNorm.forward", "argument x", "d_model is 6", "d_model = 8"), LAYER),
    Case("attention-seq-0", sequence_layer(lambda: MultiHeadAttention(8, 2, rng=rng())),
         lambda s: s.layer.forward(f32(2, 0, 8)), ShapeError,
         ("MultiHeadAttention.forward", "argument x is empty", "seq is 0"), LAYER),
    Case("attention-x-wrong-rank", sequence_layer(lambda: MultiHeadAttention(8, 2, rng=rng())),
         lambda s: s.layer.forward(f32(3, 8)), ShapeError,
         ("MultiHeadAttention.forward", "x has 2 axes", "(batch seq d_model) needs 3"), LAYER),
    Case("block-x-wrong-d_model", sequence_layer(lambda: TransformerBlock(8, 2, rng=rng())),
         lambda s: s.layer.forward(f32(2, 3, 12)), ShapeError,
         ("TransformerBlock.forward", "d_model is 12", "d_model = 8"), LAYER),
    Case("positions-seq-beyond-max_len",
         sequence_layer(lambda: LearnedPositionalEmbedding(4, 8, rng=rng())),
         lambda s: s.layer.forward(f32(1, 5, 8)), ValueError,
         ("LearnedPositionalEmbedding.forward", "seq = 5", "max_len = 4"), LAYER),
    Case("embedding-id-negative", embedding,
         lambda s: s.layer.forward(np.array([[0, -1]])), ValueError,
         ("Embedding.forward", "ids holds -1 at index (0, 1)", "outside [0, 5)"), LAYER),
    Case("embedding-id-equal-to-vocab", embedding,
         lambda s: s.layer.forward(np.array([[0, 5]])), ValueError,
         ("Embedding.forward", "ids holds 5", "outside [0, 5)"), LAYER),
    Case("embedding-ids-float", embedding,
         lambda s: s.layer.forward(np.array([[0.0, 1.0]])), ShapeError,
         ("Embedding.forward", "ids holds float64", "integer array"), LAYER),

    # -- layers, backward -------------------------------------------------------------
    Case("dense-dout-wrong-d_out", dense, lambda s: s.layer.backward(np.ones((2, 4))),
         ShapeError, ("Dense.backward", "argument dout", "d_out is 4", "d_out = 3"), LAYER),
    Case("dense-dout-batch-differs-from-forward", dense,
         lambda s: s.layer.backward(np.ones((3, 3))), ShapeError,
         ("Dense.backward", "batch is 3", "batch = 2", "forward call"), LAYER),
    Case("dense-dout-int", dense, lambda s: s.layer.backward(np.ones((2, 3), dtype=int)),
         ShapeError, ("Dense.backward", "dout holds int64"), LAYER),
    Case("dense-backward-before-forward", fresh(lambda: Dense(4, 3, rng=rng())),
         lambda s: s.layer.backward(np.ones((2, 3))), RuntimeError,
         ("Dense.backward: no forward is waiting for this backward",), UNUSED),
    Case("layer-norm-dout-wrong-seq", sequence_layer(lambda: LayerNorm(8)),
         lambda s: s.layer.backward(f32(2, 4, 8)), ShapeError,
         ("LayerNorm.backward", "argument dout", "seq is 4", "seq = 3"), LAYER),
    Case("attention-dout-wrong-d_model",
         sequence_layer(lambda: MultiHeadAttention(8, 2, rng=rng())),
         lambda s: s.layer.backward(f32(2, 3, 4)), ShapeError,
         ("MultiHeadAttention.backward", "argument dout", "d_model is 4", "d_model = 8"), LAYER),
    Case("gpt-dlogits-wrong-vocab", gpt, lambda s: s.model.backward(f32(2, 4, 6)), ShapeError,
         ("GPT.backward", "argument dlogits", "vocab is 6", "vocab = 7"), LAYER),
    Case("sigmoid-dout-wrong-after-an-unchecked-forward", sigmoid_unchecked,
         lambda s: s.layer.backward(np.ones((1, 3))), ShapeError,
         ("Sigmoid.backward: argument dout float64 (1, 3) disagrees with the forward it "
          "differentiates", "that forward ran with checks off"), LAYER),
    Case("cost-backward-before-forward", fresh(SoftmaxCrossEntropy),
         lambda s: s.layer.backward(), RuntimeError,
         ("SoftmaxCrossEntropy.backward: no forward is waiting for this backward",),
         UNUSED),

    # -- the key/value cache -------------------------------------------------------------
    Case("kv-cache-given-to-a-second-layer", cached_attention, cached_forward, ValueError,
         ("KVCache: this cache holds the keys and values of a MultiHeadAttention, but another "
          "MultiHeadAttention was given it", "one cache serves one layer"), LAYER),
    Case("kv-cache-select-a-row-it-does-not-hold", cached_attention,
         lambda s: s.cache.select(np.array([0, 1])), ValueError,
         ("KVCache.select: rows[1] is 1, but the cache holds 1 sequence: each row must be "
          "in 0..0",), LAYER),
    Case("kv-cache-select-float-rows", cached_attention,
         lambda s: s.cache.select(np.array([0.0])), ValueError,
         ("KVCache.select: rows must be a 1-D array of integers (row numbers), not float64",),
         LAYER),

    # -- constructors: sizes and settings ---------------------------------------------
    Case("dense-size-zero", lambda f: SimpleNamespace(rng=rng()),
         lambda s: Dense(0, 3, rng=s.rng), InvalidArgument,
         ("Dense: d_in must be a positive integer, not 0",), ("state",)),
    Case("dense-size-negative", lambda f: SimpleNamespace(rng=rng()),
         lambda s: Dense(3, -2, rng=s.rng), InvalidArgument, ("Dense: d_out", "not -2"),
         ("state",)),
    Case("dense-size-numpy-float-scalar", lambda f: SimpleNamespace(rng=rng()),
         lambda s: Dense(np.float64(3.0), 2, rng=s.rng), InvalidArgument,
         ("Dense: d_in", "positive integer", "3.0"), ("state",)),
    Case("attention-d_model-not-divisible-by-n_heads", lambda f: SimpleNamespace(rng=rng()),
         lambda s: MultiHeadAttention(10, 3, rng=s.rng), InvalidArgument,
         ("MultiHeadAttention", "d_model 10", "n_heads 3"), ("state",)),
    Case("gpt-config-d_model-not-divisible-by-n_head", nothing,
         lambda s: GPTConfig(vocab_size=7, d_model=10, n_head=3), InvalidArgument,
         ("GPTConfig", "d_model 10", "n_head 3"), ()),
    Case("gpt-config-zero-layers", nothing, lambda s: GPTConfig(vocab_size=7, n_layer=0),
         InvalidArgument, ("GPTConfig: n_layer must be a positive integer, not 0",), ()),
    Case("gpt-config-dropout-one", nothing,
         lambda s: GPTConfig(vocab_size=7, dropout=1.0), InvalidArgument,
         ("GPTConfig", "dropout", "1.0"), ()),
    Case("dropout-probability-one", nothing, lambda s: Dropout(1.0), ValueError,
         ("Dropout: p must be a probability in [0, 1), not 1.0",), ()),
    Case("layer-norm-eps-zero", nothing, lambda s: LayerNorm(4, eps=0), ValueError,
         ("LayerNorm: eps must be positive, not 0",), ()),
    Case("network-single-size", nothing, lambda s: Network([784]), InvalidArgument,
         ("NetworkConfig: sizes needs an input and an output size", "[784]"), ()),
    Case("parameter-of-integers", nothing, lambda s: Parameter(np.ones((2, 2), int), "d_out d_in"),
         TypeError, ("Parameter must hold floats, not int64",), ()),

    # -- models ----------------------------------------------------------------------
    Case("gpt-seq-0", gpt, lambda s: s.model.forward(np.zeros((2, 0), int)), ShapeError,
         ("GPT.forward", "argument ids is empty", "seq is 0", "at least one token"), LAYER),
    Case("gpt-batch-0", gpt, lambda s: s.model.forward(np.zeros((0, 4), int)), ShapeError,
         ("GPT.forward", "argument ids is empty", "batch is 0"), LAYER),
    Case("gpt-id-equal-to-vocab", gpt, lambda s: s.model.forward(np.array([[1, 7]])),
         ValueError, ("Embedding.forward", "ids holds 7 at index (0, 1)", "outside [0, 7)"), LAYER),
    Case("gpt-id-negative", gpt, lambda s: s.model.forward(np.array([[-3, 1]])), ValueError,
         ("Embedding.forward", "ids holds -3 at index (0, 0)", "outside [0, 7)"), LAYER),
    Case("gpt-context-beyond-block_size", gpt, lambda s: s.model.forward(np.zeros((1, 5), int)),
         ValueError, ("GPT.forward", "seq = 5", "block_size is 4"), LAYER),
    Case("gpt-ids-float", gpt, lambda s: s.model.forward(s.ids.astype(float)), ShapeError,
         ("GPT.forward", "ids holds float64", "integer array"), LAYER),
    Case("gpt-ids-one-axis", gpt, lambda s: s.model.forward(s.ids[0]), ShapeError,
         ("GPT.forward", "ids has 1 axis", "(batch seq) needs 2"), LAYER),
    Case("network-x-wrong-d_in", network, lambda s: s.model.forward(np.ones((2, 5))),
         ShapeError, ("argument x", "d_in is 5", "d_in = 4"), LAYER),
    Case("network-evaluate-labels-of-another-length", network,
         lambda s: s.model.evaluate(s.x, s.labels[:4]), ShapeError,
         ("Network.evaluate", "argument labels", "batch is 4", "batch = 6"), LAYER),
    # generate
    Case("generate-temperature-zero", gpt,
         lambda s: s.model.generate(np.array([1]), 3, temperature=0), ValueError,
         ("GPT.generate: temperature must be positive, not 0",), LAYER),
    Case("generate-temperature-negative", gpt,
         lambda s: s.model.generate(np.array([1]), 3, temperature=-0.5), ValueError,
         ("GPT.generate: temperature", "-0.5"), LAYER),
    Case("generate-temperature-nan", gpt,
         lambda s: s.model.generate(np.array([1]), 3, temperature=float("nan")), ValueError,
         ("GPT.generate: temperature", "nan"), LAYER),
    Case("generate-top_k-zero", gpt, lambda s: s.model.generate(np.array([1]), 3, top_k=0),
         ValueError, ("GPT.generate: top_k must be in [1, 7], not 0",), LAYER),
    Case("generate-top_k-beyond-vocab", gpt,
         lambda s: s.model.generate(np.array([1]), 3, top_k=8), ValueError,
         ("GPT.generate: top_k", "[1, 7]", "not 8"), LAYER),
    Case("generate-top_k-not-an-integer", gpt,
         lambda s: s.model.generate(np.array([1]), 3, top_k=2.5), ValueError,
         ("GPT.generate: top_k", "2.5"), LAYER),
    Case("generate-max_new_tokens-negative", gpt,
         lambda s: s.model.generate(np.array([1]), -1), ValueError,
         ("GPT.generate: max_new_tokens must be 0 or more, not -1",), LAYER),
    Case("generate-max_new_tokens-not-an-integer", gpt,
         lambda s: s.model.generate(np.array([1]), 2.5), ValueError,
         ("GPT.generate: max_new_tokens", "2.5"), LAYER),
    Case("generate-empty-prompt", gpt, lambda s: s.model.generate(np.array([], int), 3),
         ValueError, ("GPT.generate: the prompt is empty",), LAYER),
    Case("generate-prompt-id-beyond-vocab", gpt, lambda s: s.model.generate(np.array([1, 9]), 3),
         ValueError, ("Embedding.forward", "ids holds 9", "outside [0, 7)"), LAYER),
    Case("generate-prompt-numpy-scalar", gpt, lambda s: s.model.generate(np.int64(3), 3),
         ValueError, ("GPT.generate: prompt must be a 1-D array of token ids", "()"), LAYER),

    # -- costs ------------------------------------------------------------------------
    Case("cross-entropy-label-equal-to-classes", costs,
         lambda s: s.cross_entropy.forward(s.logits, np.array([0, 3])), ValueError,
         ("SoftmaxCrossEntropy.forward", "labels holds 3 at index (1,)", "outside [0, 3)"),
         LAYER),
    Case("cross-entropy-label-negative", costs,
         lambda s: s.cross_entropy.forward(s.logits, np.array([-1, 0])), ValueError,
         ("SoftmaxCrossEntropy.forward", "labels holds -1", "outside [0, 3)"), LAYER),
    Case("cross-entropy-labels-float", costs,
         lambda s: s.cross_entropy.forward(s.logits, s.labels.astype(float)), ShapeError,
         ("SoftmaxCrossEntropy.forward", "labels holds float64", "integer array"), LAYER),
    Case("cross-entropy-labels-of-another-batch", costs,
         lambda s: s.cross_entropy.forward(s.logits, np.array([0, 1, 2])), ShapeError,
         ("SoftmaxCrossEntropy.forward", "argument labels", "(3,)", "(2,)"), LAYER),
    Case("cross-entropy-batch-0", costs,
         lambda s: s.cross_entropy.forward(np.zeros((0, 3)), np.zeros(0, int)), ShapeError,
         ("SoftmaxCrossEntropy.forward", "argument logits is empty", "axis 0 of logits"),
         LAYER),
    Case("quadratic-batch-0", costs,
         lambda s: s.quadratic.forward(np.zeros((0, 3)), np.zeros(0, int)), ShapeError,
         ("QuadraticCost.forward", "argument a is empty", "batch is 0"), LAYER),
    Case("quadratic-label-beyond-classes", costs,
         lambda s: s.quadratic.forward(s.logits, np.array([0, 7])), ValueError,
         ("QuadraticCost.forward", "labels holds 7", "outside [0, 3)"), LAYER),

    # -- optimizers and schedules -----------------------------------------------------
    Case("sgd-lr-zero", network, lambda s: SGD(s.model.parameters(), lr=0), InvalidArgument,
         ("SGD: lr must be a positive number, not 0",), ("params",)),
    Case("sgd-lr-negative", network, lambda s: SGD(s.model.parameters(), lr=-0.1), InvalidArgument,
         ("SGD: lr", "not -0.1"), ("params",)),
    Case("sgd-lr-nan", network, lambda s: SGD(s.model.parameters(), lr=float("nan")),
         InvalidArgument, ("SGD: lr", "not nan"), ("params",)),
    Case("sgd-lr-inf", network, lambda s: SGD(s.model.parameters(), lr=float("inf")),
         InvalidArgument, ("SGD: lr", "not inf"), ("params",)),
    Case("sgd-lr-string", network, lambda s: SGD(s.model.parameters(), lr="0.1"), InvalidArgument,
         ("SGD: lr must be a positive number, not '0.1'",), ("params",)),
    Case("optimizer-lr-set-to-negative", momentum, lambda s: setattr(s.optimizer, "lr", -1.0),
         InvalidArgument, ("Momentum: lr", "not -1.0"), ("params", "state")),
    Case("momentum-of-one", network, lambda s: Momentum(s.model.parameters(), 0.1, momentum=1),
         InvalidArgument, ("Momentum: momentum must be a probability in [0, 1), not 1",),
         ("params",)),
    Case("adamw-beta2-of-one", network,
         lambda s: AdamW(s.model.named_parameters(), lr=0.1, betas=(0.9, 1.0)), InvalidArgument,
         ("AdamW: betas[1]", "not 1.0"), ("params",)),
    Case("optimizer-state-of-another-shape", momentum,
         lambda s: s.optimizer.load_state_dict(
             s.optimizer.state_dict() | {"velocity.layers.0.W": np.zeros((4, 3))}),
         ValueError, ("Momentum.load_state_dict", "'velocity.layers.0.W'", "(4, 3)", "(3, 4)"),
         ("params", "state")),
    Case("clip-gradients-holding-nan", nan_gradient,
         lambda s: clip_grad_norm(s.model.named_parameters(), 1.0), ValueError,
         ("clip_grad_norm", "'layers.0.W'", "inf or NaN"), ("params", "state")),
    Case("schedule-total-not-beyond-warmup", nothing,
         lambda s: cosine_with_warmup(0, max_lr=1e-3, min_lr=1e-4, warmup=10, total=10),
         ValueError, ("cosine_with_warmup", "total = 10", "warmup = 10"), ()),

    # -- tokenizer and text -----------------------------------------------------------
    Case("encode-unknown-character", tokenizer, lambda s: s.tokenizer.encode("hellø"), ValueError,
         ("CharTokenizer.encode", "'ø' at position 4", "vocabulary of 9 characters"), ("state",)),
    Case("encode-bytes", tokenizer, lambda s: s.tokenizer.encode(b"hello"), TypeError,
         ("CharTokenizer.encode takes a str, not bytes",), ("state",)),
    Case("decode-id-beyond-vocab", tokenizer, lambda s: s.tokenizer.decode([0, 99]), ValueError,
         ("CharTokenizer.decode", "ids holds 99 at index (1,)", "outside [0, 9)"), ("state",)),
    Case("decode-id-negative", tokenizer, lambda s: s.tokenizer.decode(np.array([-1])),
         ValueError, ("CharTokenizer.decode", "ids holds -1", "outside [0, 9)"), ("state",)),
    Case("decode-float-ids", tokenizer, lambda s: s.tokenizer.decode([0.5]), TypeError,
         ("CharTokenizer.decode: ids must be integers, not float64",), ("state",)),
    Case("vocabulary-with-a-repeat", nothing, lambda s: CharTokenizer("abca"), ValueError,
         ("CharTokenizer", "['a'] more than once"), ()),
    Case("text-not-utf8", with_files({"latin1.txt": "naïve café".encode("latin-1")}),
         lambda s: load_text(s.folder / "latin1.txt"), TextDataError,
         ("latin1.txt is not UTF-8", "byte 0xef", "offset 2"), ("files",)),
    Case("text-empty", with_files({"empty.txt": b""}), lambda s: load_text(s.folder / "empty.txt"),
         TextDataError, ("empty.txt is empty",), ("files",)),
    Case("text-missing", with_files(), lambda s: load_text(s.folder / "nothing.txt"),
         TextDataError, ("nothing.txt: no such file",), ("files",)),
    Case("text-is-a-directory", with_files(), lambda s: load_text(s.folder), TextDataError,
         ("is a directory", "text file inside it"), ("files",)),
    Case("text-shorter-than-one-block", tokenizer,
         lambda s: get_batch(s.ids, 2, 12, rng()), ValueError,
         ("get_batch", "holds 12 tokens", "block_size + 1 = 13"), ("state",)),
    Case("batch-block-size-zero", tokenizer, lambda s: get_batch(s.ids, 2, 0, rng()),
         ValueError, ("get_batch: block_size must be a positive integer, not 0",), ("state",)),
    Case("batch-ids-python-list", tokenizer, lambda s: get_batch(s.ids.tolist(), 2, 3, rng()),
         TypeError, ("get_batch: ids must be a 1-D integer array", "not list"), ("state",)),
    Case("split-too-short", tokenizer, lambda s: split_train_val(s.ids[:1]), ValueError,
         ("split_train_val", "len(ids) = 1", "one part would be empty"), ("state",)),

    # -- MNIST files and arrays -------------------------------------------------------
    Case("npz-float-nan", with_files({"nan.npz": npz(x=np.full((2, 784), np.nan), y=[0, 1])}),
         lambda s: load_npz(s.folder / "nan.npz"), DataError,
         ("nan.npz", "x holds 1568 NaN or infinite values", "x[0, 0] = nan"), ("files",)),
    Case("npz-label-inf", with_files({"inf.npz": npz(x=np.zeros((2, 784)), y=[0.0, np.inf])}),
         lambda s: load_npz(s.folder / "inf.npz"), DataError,
         ("inf.npz", "y holds 1 NaN or infinite values", "y[1] = inf"), ("files",)),
    Case("npz-label-ten", with_files({"ten.npz": npz(x=np.zeros((2, 784), np.uint8), y=[0, 10])}),
         lambda s: load_npz(s.folder / "ten.npz"), DataError,
         ("ten.npz", "y[1] = 10 is outside 0..9"), ("files",)),
    Case("npz-label-negative",
         with_files({"neg.npz": npz(x=np.zeros((2, 784), np.uint8), y=[-1, 0])}),
         lambda s: load_npz(s.folder / "neg.npz"), DataError,
         ("neg.npz", "y[0] = -1 is outside 0..9"), ("files",)),
    Case("npz-no-images",
         with_files({"none.npz": npz(x=np.zeros((0, 784), np.uint8), y=np.zeros(0, int))}),
         lambda s: load_npz(s.folder / "none.npz"), DataError,
         ("none.npz", "holds no images", "(0, 784)"), ("files",)),
    Case("npz-object-array",
         with_files({"objects.npz": npz(x=np.array([None, 1], dtype=object), y=[0, 1])}),
         lambda s: load_npz(s.folder / "objects.npz"), DataError,
         ("objects.npz", "not a readable .npz data file", "Object arrays cannot be loaded"),
         ("files",)),
    Case("npz-truncated",
         with_files({"cut.npz": lambda path: (np.savez(path, x=np.zeros((4, 784), np.uint8),
                                                    y=[0, 1, 2, 3]),
                                           path.write_bytes(truncated(path.read_bytes())))}),
         lambda s: load_npz(s.folder / "cut.npz"), DataError,
         ("cut.npz", "not a readable .npz data file"), ("files",)),
    Case("npz-missing", with_files(), lambda s: load_npz(s.folder / "nothing.npz"), DataError,
         ("nothing.npz: no such data file",), ("files",)),
    Case("npz-is-a-directory", with_files(), lambda s: load_npz(s.folder), DataError,
         ("is a directory, not a data file",), ("files",)),
    Case("idx-truncated",
         with_files({"images": idx(np.zeros((3, 28, 28)), IMAGES_MAGIC)[:-100],
                     "labels": idx(np.zeros(3), LABELS_MAGIC)}),
         lambda s: load_idx(s.folder / "images", s.folder / "labels"), DataError,
         ("images: is truncated", "3 images (2352 bytes)", "only 2252 bytes"), ("files",)),
    Case("inputs-not-uint8", nothing, lambda s: to_inputs(np.zeros((2, 784))), ValueError,
         ("to_inputs: x must be a uint8 array", "not float64"), ()),
    Case("split-holdout-of-everything", lambda f: SimpleNamespace(y=np.array([0, 1, 2])),
         lambda s: stratified_split(np.zeros((3, 784), np.uint8), s.y, 3), ValueError,
         ("stratified_split: holdout must be an integer in 0..2", "not 3"), ("state",)),

    # -- checkpoints ------------------------------------------------------------------
    Case("checkpoint-missing", with_files(), lambda s: load_checkpoint(s.folder / "none.npz"),
         CheckpointError, ("none.npz: no such checkpoint file",), ("files",)),
    Case("checkpoint-is-a-directory", with_files(), lambda s: load_checkpoint(s.folder),
         CheckpointError, ("is a directory, not a checkpoint file",), ("files",)),
    Case("checkpoint-truncated",
         with_files({"ck.npz": truncated_checkpoint}),
         lambda s: load_checkpoint(s.folder / "ck.npz"), CheckpointError,
         ("ck.npz: not a readable .npz checkpoint",), ("files",)),
    Case("checkpoint-empty-file", with_files({"ck.npz": b""}),
         lambda s: load_checkpoint(s.folder / "ck.npz"), CheckpointError,
         ("ck.npz: not an .npz checkpoint",), ("files",)),
    Case("checkpoint-of-another-model-kind",
         loaded(saved_network, lambda: GPT(GPTConfig(**TINY))),
         lambda s: load_parameters(s.target, s.arrays, "ck.npz"), CheckpointError,
         ("ck.npz: parameters do not match", "token_embedding.W", "unexpected", "layers.0.W"),
         ("params", "files")),
    Case("checkpoint-of-another-config", loaded(saved_network, lambda: Network([4, 5, 2])),
         lambda s: load_parameters(s.target, s.arrays, "ck.npz"), CheckpointError,
         ("ck.npz: parameter layers.0.W", "(3, 4) in the file", "(5, 4) in the model"),
         ("params", "files")),
    Case("checkpoint-save-of-python-objects", saved_network,
         lambda s: save_checkpoint(s.folder / "ck.npz", {"param/x": np.array([None])}, {}),
         ValueError, ("ck.npz", "'param/x' holds Python objects"), ("files",)),
    Case("checkpoint-save-into-a-missing-folder", saved_network,
         lambda s: save_checkpoint(s.folder / "runs" / "ck.npz", parameter_arrays(s.model), {}),
         FileNotFoundError, ("runs/ck.npz", "the folder", "does not exist"), ("files",)),
    Case("checkpoint-save-onto-a-directory", saved_network,
         lambda s: save_checkpoint(s.folder, parameter_arrays(s.model), {}), IsADirectoryError,
         ("is a directory", "checkpoint.npz"), ("files",)),

    # -- training loops ---------------------------------------------------------------
    Case("train-labels-of-another-length", network,
         lambda s: train_classifier(s.model, SoftmaxCrossEntropy(), SGD(s.model.parameters(), 0.1),
                                    (s.x, s.labels[:4]), None, epochs=1, batch_size=2, seed=0,
                                    quiet=True, log=lambda line: None), ValueError,
         ("training set has 6 inputs but 4 labels",), LAYER),
    Case("train-inputs-holding-nan", network,
         lambda s: train_classifier(s.model, SoftmaxCrossEntropy(), SGD(s.model.parameters(), 0.1),
                                    (np.where(s.x > 1, np.nan, s.x), s.labels), None, epochs=1,
                                    batch_size=2, seed=0, quiet=True, log=lambda line: None),
         ValueError, ("training inputs hold NaN or inf", "first at index"), LAYER),
    Case("train-gpt-eval-interval-zero", gpt,
         lambda s: train_language_model(
             s.model, AdamW(s.model.named_parameters(), lr=1e-3), np.arange(50) % 7,
             np.arange(50) % 7, iters=3, batch_size=2, block_size=4, max_lr=1e-3, min_lr=1e-4,
             warmup=1, grad_clip=1.0, eval_interval=0, eval_iters=1, seed=0, quiet=True,
             log=lambda line: None), InvalidArgument,
         ("train_language_model: eval_interval must be a positive integer, not 0",), LAYER),

    # -- the command line -------------------------------------------------------------
    Case("cli-lr-zero", cli_data, lambda s: command(s, "train", "mlp", "--lr", "0"), UsageError,
         ("argument --lr", "not 0"), ("files", "stdout")),
    Case("cli-lr-nan", cli_data, lambda s: command(s, "train", "mlp", "--lr", "nan"),
         UsageError, ("argument --lr", "not nan"), ("files", "stdout")),
    Case("cli-lr-inf", cli_data,
         lambda s: command(s, "train", "mlp", "--lr", "inf", "--quiet"), UsageError,
         ("argument --lr", "inf"), ("files", "stdout")),
    Case("cli-batch-size-zero", cli_data,
         lambda s: command(s, "train", "mlp", "--batch-size", "0"), UsageError,
         ("argument --batch-size", "not 0"), ("files", "stdout")),
    Case("cli-epochs-negative", cli_data, lambda s: command(s, "train", "mlp", "--epochs", "-1"),
         UsageError, ("argument --epochs", "not -1"), ("files", "stdout")),
    Case("cli-sizes-with-a-zero", cli_data,
         lambda s: command(s, "train", "mlp", "--sizes", "784,0,10"), UsageError,
         ("argument --sizes: NetworkConfig: sizes[1] must be a positive integer, not 0",),
         ("files", "stdout")),
    Case("cli-unknown-check-mode", cli_data,
         lambda s: command(s, "train", "mlp", "--checks", "sometimes"), UsageError,
         ("argument --checks", "'sometimes'"), ("files", "stdout")),
    Case("cli-block-size-zero", cli_data,
         lambda s: command(s, "train", "gpt", "--block-size", "0"), UsageError,
         ("argument --block-size", "not 0"), ("files", "stdout")),
    Case("cli-dropout-one", cli_data, lambda s: command(s, "train", "gpt", "--dropout", "1"),
         UsageError, ("argument --dropout", "[0, 1)"), ("files", "stdout")),
    Case("cli-weight-decay-negative", cli_data,
         lambda s: command(s, "train", "gpt", "--preset", "tiny", "--weight-decay",
                           "-1", "--quiet"), UsageError,
         ("argument --weight-decay", "-1"), ("files", "stdout")),
    Case("cli-temperature-zero", cli_data,
         lambda s: command(s, "sample", "--checkpoint", s.gpt, "--temperature", "0"),
         UsageError, ("argument --temperature", "not 0"), ("files", "stdout")),
    Case("cli-top-k-zero", cli_data,
         lambda s: command(s, "sample", "--checkpoint", s.gpt, "--top-k", "0"), UsageError,
         ("argument --top-k", "not 0"), ("files", "stdout")),
    Case("cli-tokens-negative", cli_data,
         lambda s: command(s, "sample", "--checkpoint", s.gpt, "--tokens", "-1"), UsageError,
         ("argument --tokens", "not -1"), ("files", "stdout")),
    Case("cli-top-k-beyond-vocab", cli_data,
         lambda s: command(s, "sample", "--checkpoint", s.gpt, "--top-k", "1000"), UserError,
         ("top_k must be in [1, ", "not 1000"), ("files", "stdout")),
    Case("cli-prompt-with-unknown-character", cli_data,
         lambda s: command(s, "sample", "--checkpoint", s.gpt, "--prompt", "the owł"), UserError,
         ("'ł' at position 6", "not in the vocabulary"), ("files", "stdout")),
    Case("cli-gpt-checkpoint-to-eval-mlp", cli_data,
         lambda s: command(s, "eval", "mlp", "--checkpoint", s.gpt), UserError,
         ("gpt.npz", "'gpt' model, not an mlp"), ("files", "stdout")),
    Case("cli-mlp-checkpoint-to-sample", cli_data,
         lambda s: command(s, "sample", "--checkpoint", s.mlp), UserError,
         ("mlp.npz", "'mlp' model, not a gpt"), ("files", "stdout")),
    Case("cli-checkpoint-missing", cli_data,
         lambda s: command(s, "eval", "gpt", "--checkpoint", s.folder / "none.npz"), UserError,
         ("none.npz: no such checkpoint file",), ("files", "stdout")),
    Case("cli-checkpoint-truncated", cli_truncated,
         lambda s: command(s, "eval", "mlp", "--checkpoint", s.mlp), UserError,
         ("mlp.npz: not a readable .npz checkpoint",), ("files", "stdout")),
    Case("cli-nan-data-keeps-the-previous-checkpoint", cli_data,
         lambda s: command(s, "train", "mlp", "--data", s.folder / "nan.npz", "--holdout", 0,
                           "--save", s.folder / "ck.npz", "--json", s.folder / "m.json",
                           "--quiet"), UserError,
         ("nan.npz", "NaN or infinite", "x[0, 5] = nan"), ("files", "stdout")),
    Case("cli-text-not-utf8", cli_data,
         lambda s: command(s, "train", "gpt", "--data", s.folder / "latin1.txt", "--quiet",
                           "--save", s.folder / "g.npz"), UserError,
         ("latin1.txt is not UTF-8", "byte 0xef"), ("files", "stdout")),
    Case("cli-text-shorter-than-its-blocks", cli_data,
         lambda s: command(s, "train", "gpt", "--data", s.folder / "short.txt", "--preset",
                           "tiny", "--quiet", "--save", s.folder / "g.npz"), UserError,
         ("short.txt", "100 characters is too short for block size 32", "--block-size"),
         ("files", "stdout")),
    Case("cli-text-is-a-directory", cli_data,
         lambda s: command(s, "train", "gpt", "--data", s.folder, "--quiet"), UserError,
         ("is a directory",), ("files", "stdout")),
    Case("cli-save-into-a-missing-folder", cli_data,
         lambda s: command(s, "train", "mlp", "--data", s.folder / "digits.npz",
                           "--sizes", "784,10", "--epochs", 1, "--holdout", 0,
                           "--quiet", "--save", s.folder / "runs" / "ck.npz"),
         UserError, ("runs", "does not exist"), ("files", "stdout")),

    # -- outputs never destroy inputs or each other (checked before any work) -----------
    Case("cli-json-same-as-save", cli_data,
         lambda s: command(s, "train", "mlp", "--save", s.folder / "ck.npz", "--json",
                           s.folder / "ck.npz"), UserError,
         ("--json", "ck.npz is the same file as the output --save"), ("files", "stdout")),
    Case("cli-plot-same-as-json", cli_data,
         lambda s: command(s, "train", "gpt", "--json", s.folder / "m.out", "--plot",
                           s.folder / "m.out"), UserError,
         ("--plot", "m.out is the same file as the output --json"), ("files", "stdout")),
    Case("cli-json-through-a-symlink-to-save", cli_with({"link.npz": symlink("ck.npz")}),
         lambda s: command(s, "train", "mlp", "--save", s.folder / "ck.npz", "--json",
                           s.folder / "link.npz"), UserError,
         ("--json", "link.npz is the same file as the output --save", "ck.npz"),
         ("files", "stdout")),
    Case("cli-json-a-hard-link-of-save", cli_with({"hard.npz": hard_link("ck.npz")}),
         lambda s: command(s, "train", "mlp", "--save", s.folder / "ck.npz", "--json",
                           s.folder / "hard.npz"), UserError,
         ("--json", "hard.npz is the same file as the output --save"), ("files", "stdout")),
    Case("cli-save-onto-the-training-text", cli_data,
         lambda s: command(s, "train", "gpt", "--data", s.folder / "poem.txt", "--save",
                           s.folder / "poem.txt"), UserError,
         ("--save", "poem.txt is the same file as the input --data"), ("files", "stdout")),
    Case("cli-json-onto-the-training-digits", cli_data,
         lambda s: command(s, "train", "mlp", "--data", s.folder / "digits.npz", "--json",
                           s.folder / "digits.npz"), UserError,
         ("--json", "digits.npz is the same file as the input --data"), ("files", "stdout")),
    Case("cli-pairs-with-a-tab-inside-a-sentence",
         cli_with({"pairs.tsv": b"six\tsix\n" * 10 + b"seven eight\tsept\thuit\n"}),
         lambda s: command(s, "train", "translate", "--data", s.folder / "pairs.tsv",
                           "--save", s.folder / "t.npz"), UserError,
         ("pairs.tsv, line 11: 3 columns, where line 1 has 2: a tab inside a sentence?",),
         ("files", "stdout")),
    Case("cli-save-onto-the-held-out-pairs",
         cli_with({"pairs.tsv": b"one\tun\ntwo\tdeux\n" * 10, "val.tsv": b"three\ttrois\n"}),
         lambda s: command(s, "train", "translate", "--data", s.folder / "pairs.tsv", "--val",
                           s.folder / "val.tsv", "--save", s.folder / "val.tsv"), UserError,
         ("--save", "val.tsv is the same file as the input --val"), ("files", "stdout")),
    Case("cli-plot-onto-the-resumed-checkpoint", cli_data,
         lambda s: command(s, "train", "gpt", "--resume", s.folder / "gpt.npz", "--data",
                           s.folder / "poem.txt", "--plot", s.folder / "gpt.npz"), UserError,
         ("--plot", "gpt.npz is the same file as the input --resume"), ("files", "stdout")),
    Case("cli-save-onto-the-text-through-a-symlink", cli_with({"text.npz": symlink("poem.txt")}),
         lambda s: command(s, "train", "gpt", "--data", s.folder / "poem.txt", "--save",
                           s.folder / "text.npz"), UserError,
         ("--save", "text.npz is the same file as the input --data"), ("files", "stdout")),
    Case("cli-save-is-a-directory", cli_with({"runs": folder_named}),
         lambda s: command(s, "train", "mlp", "--save", s.folder / "runs"), UserError,
         ("--save", "runs: is a directory", "name a file inside it"), ("files", "stdout")),
    Case("cli-json-is-a-directory", cli_with({"runs": folder_named}),
         lambda s: command(s, "train", "gpt", "--json", s.folder / "runs"), UserError,
         ("--json", "runs: is a directory"), ("files", "stdout")),
    Case("cli-save-inside-a-file", cli_data,
         lambda s: command(s, "train", "mlp", "--save", s.folder / "poem.txt" / "ck.npz"),
         UserError, ("--save", "the folder", "poem.txt is not a folder"), ("files", "stdout")),
    Case("cli-plot-into-a-missing-folder", cli_data,
         lambda s: command(s, "train", "mlp", "--plot", s.folder / "figures" / "c.png"),
         UserError, ("--plot", "figures", "does not exist"), ("files", "stdout")),
    Case("cli-json-into-a-missing-folder", cli_data,
         lambda s: command(s, "train", "gpt", "--json", s.folder / "out" / "m.json"),
         UserError, ("--json", "out/m.json: the folder", "does not exist"), ("files", "stdout")),
    pytest.param(Case(
        "cli-save-into-a-folder-that-cannot-be-written",
        cli_with({"locked": lambda path: (path.mkdir(), path.chmod(0o500))}),
        lambda s: command(s, "train", "mlp", "--save", s.folder / "locked" / "ck.npz"),
        UserError, ("--save", "locked/ck.npz: cannot be written"), ("files", "stdout")),
        marks=pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")),
    Case("cli-weights-picture-onto-its-checkpoint", cli_data,
         lambda s: command(s, "plot", "mnist-weights", "--checkpoint", s.mlp, "--out", s.mlp),
         UserError, ("--out", "mlp.npz is the same file as the input --checkpoint"),
         ("files", "stdout")),
    Case("cli-errors-picture-onto-its-data", cli_data,
         lambda s: command(s, "plot", "mnist-errors", "--checkpoint", s.mlp, "--data",
                           s.folder / "digits.npz", "--out", s.folder / "digits.npz"), UserError,
         ("--out", "digits.npz is the same file as the input --data"), ("files", "stdout")),
    Case("cli-curves-picture-onto-its-json", cli_with({"m.json": b"{}"}),
         lambda s: command(s, "plot", "curves", "--json", s.folder / "m.json", "--out",
                           s.folder / "m.json"), UserError,
         ("--out", "m.json is the same file as the input --json"), ("files", "stdout")),
    Case("cli-attention-picture-is-a-directory", cli_with({"pictures": folder_named}),
         lambda s: command(s, "attention", "--checkpoint", s.gpt, "--out",
                           s.folder / "pictures"), UserError,
         ("--out", "pictures: is a directory"), ("files", "stdout")),
    Case("cli-mask-picture-into-a-missing-folder", cli_data,
         lambda s: command(s, "plot", "mask", "--out", s.folder / "no" / "mask.png"), UserError,
         ("--out", "does not exist"), ("files", "stdout")),

    # -- memory: estimated before anything is allocated ------------------------------
    Case("cli-hidden-layer-beyond-memory", cli_data,
         lambda s: command(s, "train", "mlp", "--sizes", "784,100000000,10", "--data",
                           s.folder / "digits.npz", "--holdout", 0), UserError,
         ("train mlp", "GB of memory", "comes from --sizes"), ("files", "stdout")),
    Case("cli-gpt-width-beyond-memory", cli_data,
         lambda s: command(s, "train", "gpt", "--data", s.folder / "poem.txt", "--d-model",
                           1000000, "--block-size", 8), UserError,
         ("train gpt", "GB of memory", "comes from --d-model"), ("files", "stdout")),
    Case("cli-gpt-batch-beyond-memory", cli_data,
         lambda s: command(s, "train", "gpt", "--data", s.folder / "poem.txt", "--batch-size",
                           1000000000, "--block-size", 8), UserError,
         ("train gpt", "comes from --batch-size"), ("files", "stdout")),
    Case("cli-gpt-context-beyond-memory", cli_data,
         lambda s: command(s, "train", "gpt", "--block-size", 100000, "--d-model", 8,
                           "--n-head", 2, "--n-layer", 1), UserError,
         ("train gpt", "comes from --block-size"), ("files", "stdout")),
    Case("cli-eval-batch-beyond-memory", cli_data,
         lambda s: command(s, "eval", "gpt", "--checkpoint", s.gpt, "--data",
                           s.folder / "poem.txt", "--batch-size", 1000000000), UserError,
         ("eval gpt", "GB of memory", "comes from --batch-size"), ("files", "stdout")),
    Case("cli-translate-beam-beyond-memory", translator_and_pipe,
         lambda s: command(s, "translate", "--checkpoint", s.translator, "--beam", 1000000000,
                           "one"), UserError,
         ("translate with --beam 1000000000 would need about", "GB of memory",
          "comes from --beam"), ("files", "stdout")),
    Case("cli-eval-translate-beam-beyond-memory", translator_and_pipe,
         lambda s: command(s, "eval", "translate", "--checkpoint", s.translator, "--beam",
                           1000000000), UserError,
         ("eval translate with --beam 1000000000 would need about", "comes from --beam"),
         ("files", "stdout")),
    Case("cli-trace-batch-beyond-memory", cli_data,
         lambda s: command(s, "trace", "gpt", "--batch", 100000000), UserError,
         ("trace gpt with these settings would need about", "GB of memory",
          "comes from --batch"), ("files", "stdout")),
    Case("cli-mask-picture-beyond-memory", cli_data,
         lambda s: command(s, "plot", "mask", "--seq", 10000000, "--out",
                           s.folder / "mask.png"), UserError,
         ("this plot", "GB of memory", "comes from --seq"), ("files", "stdout")),
    Case("cli-positions-picture-beyond-memory", cli_data,
         lambda s: command(s, "plot", "positions", "--max-len", 1000000000, "--out",
                           s.folder / "p.png"), UserError,
         ("this plot", "comes from --max-len or --d-model"), ("files", "stdout")),

    # -- damaged .npz files: every way a zip or .npy header can break -----------------
    Case("checkpoint-unknown-compression", with_files({"ck.npz": zip_flag("compression")}),
         lambda s: load_checkpoint(s.folder / "ck.npz"), CheckpointError,
         ("ck.npz: not a readable .npz checkpoint file", "compression method"), ("files",)),
    Case("checkpoint-encrypted", with_files({"ck.npz": zip_flag("encrypted")}),
         lambda s: load_checkpoint(s.folder / "ck.npz"), CheckpointError,
         ("ck.npz: not a readable .npz checkpoint file", "encrypted"), ("files",)),
    Case("checkpoint-npy-header-unterminated", with_files({"ck.npz": zip_of(x=UNTERMINATED)}),
         lambda s: load_checkpoint(s.folder / "ck.npz"), CheckpointError,
         ("ck.npz: not a readable .npz checkpoint file", "TokenError"), ("files",)),
    Case("checkpoint-npy-header-claims-terabytes", with_files({"ck.npz": zip_of(x=ENORMOUS)}),
         lambda s: load_checkpoint(s.folder / "ck.npz"), CheckpointError,
         ("ck.npz: not a readable .npz checkpoint file", "MemoryError"), ("files",)),
    Case("checkpoint-npy-data-shorter-than-its-shape",
         with_files({"ck.npz": zip_of(x=SHORT_DATA)}),
         lambda s: load_checkpoint(s.folder / "ck.npz"), CheckpointError,
         ("ck.npz: not a readable .npz checkpoint file", "expected 32 bytes got 8"), ("files",)),
    Case("checkpoint-member-without-npy-magic", with_files({"ck.npz": zip_of(x=b"hello")}),
         lambda s: load_checkpoint(s.folder / "ck.npz"), CheckpointError,
         ("ck.npz: not a readable .npz checkpoint file", "x is not a .npy array"), ("files",)),
    Case("checkpoint-a-lone-npy", with_files({"ck.npz": SHORT_DATA}),
         lambda s: load_checkpoint(s.folder / "ck.npz"), CheckpointError,
         ("ck.npz: not an .npz checkpoint file", "not a zip archive"), ("files",)),
    Case("npz-unknown-compression", with_files({"d.npz": zip_flag("compression")}),
         lambda s: load_npz(s.folder / "d.npz"), DataError,
         ("d.npz: not a readable .npz data file", "compression method"), ("files",)),
    Case("npz-encrypted", with_files({"d.npz": zip_flag("encrypted")}),
         lambda s: load_npz(s.folder / "d.npz"), DataError,
         ("d.npz: not a readable .npz data file", "encrypted"), ("files",)),
    Case("npz-npy-header-unterminated",
         with_files({"d.npz": zip_of(x=UNTERMINATED, y=UNTERMINATED)}),
         lambda s: load_npz(s.folder / "d.npz"), DataError,
         ("d.npz: not a readable .npz data file", "TokenError"), ("files",)),
    Case("npz-npy-header-not-a-dictionary",
         with_files({"d.npz": zip_of(x=npy("[1, 2]\n"))}),
         lambda s: load_npz(s.folder / "d.npz"), DataError,
         ("d.npz: not a readable .npz data file", "Header is not a dictionary"), ("files",)),
    Case("npz-npy-unknown-dtype",
         with_files({"d.npz": zip_of(x=npy("{'descr': 'zz', 'fortran_order': False, "
                                            "'shape': (2,), }\n"))}),
         lambda s: load_npz(s.folder / "d.npz"), DataError,
         ("d.npz: not a readable .npz data file", "not a valid dtype descriptor"), ("files",)),
    Case("npz-npy-format-version-9",
         with_files({"d.npz": zip_of(x=b"\x93NUMPY\x09\x00\x00\x00")}),
         lambda s: load_npz(s.folder / "d.npz"), DataError,
         ("d.npz: not a readable .npz data file", "format version"), ("files",)),
    Case("cli-eval-an-encrypted-checkpoint", cli_with({"enc.npz": zip_flag("encrypted")}),
         lambda s: command(s, "eval", "mlp", "--checkpoint", s.folder / "enc.npz"), UserError,
         ("enc.npz: not a readable .npz checkpoint file", "encrypted"), ("files", "stdout")),
    Case("cli-train-on-digits-with-an-unterminated-header",
         cli_with({"bad.npz": zip_of(x=UNTERMINATED, y=UNTERMINATED)}),
         lambda s: command(s, "train", "mlp", "--data", s.folder / "bad.npz"), UserError,
         ("bad.npz: not a readable .npz data file",), ("files", "stdout")),

    # -- edited checkpoints: refused naming the file and the field ---------------------
    Case("cli-edited-n_head", cli_with({"e.npz": edited("gpt", config_field("n_head", 1))}),
         lambda s: command(s, "sample", "--checkpoint", s.folder / "e.npz"), UserError,
         ("e.npz: the description's config.n_head was edited", "it is now 1"),
         ("files", "stdout")),
    Case("cli-edited-mask", cli_with({"e.npz": edited("gpt", config_field("mask", "none"))}),
         lambda s: command(s, "eval", "gpt", "--checkpoint", s.folder / "e.npz", "--data",
                           s.folder / "poem.txt"), UserError,
         ("e.npz: the description's config.mask was edited", "'none'"), ("files", "stdout")),
    Case("cli-edited-dtype", cli_with({"e.npz": edited("gpt", config_field("dtype",
                                                                            "float64"))}),
         lambda s: command(s, "sample", "--checkpoint", s.folder / "e.npz"), UserError,
         ("e.npz: the description's config.dtype was edited",), ("files", "stdout")),
    Case("cli-edited-extra-config-field",
         cli_with({"e.npz": edited("mlp", config_field("colour", "blue"))}),
         lambda s: command(s, "eval", "mlp", "--checkpoint", s.folder / "e.npz", "--data",
                           s.folder / "digits.npz"), UserError,
         ("e.npz: the description's config.colour was edited",), ("files", "stdout")),
    Case("cli-edited-missing-config-field",
         cli_with({"e.npz": edited("mlp", without("config", "activation"))}),
         lambda s: command(s, "eval", "mlp", "--checkpoint", s.folder / "e.npz", "--data",
                           s.folder / "digits.npz"), UserError,
         ("e.npz: the description's config.activation was edited", "'missing'"),
         ("files", "stdout")),
    Case("cli-edited-setting-resumed",
         cli_with({"e.npz": edited("gpt", lambda meta, arrays: meta["settings"].update(lr=1.0))}),
         lambda s: command(s, "train", "gpt", "--resume", s.folder / "e.npz", "--data",
                           s.folder / "poem.txt"), UserError,
         ("e.npz: the description's settings.lr was edited", "1.0"), ("files", "stdout")),
    Case("cli-edited-checksums-damaged",
         cli_with({"e.npz": edited("gpt", lambda meta, arrays: meta.update(sha256=[1]))}),
         lambda s: command(s, "sample", "--checkpoint", s.folder / "e.npz"), UserError,
         ("e.npz: the description's sha256 is damaged",), ("files", "stdout")),
    Case("cli-config-field-of-another-type",
         cli_with({"e.npz": edited("gpt", config_field("n_layer", "1"), checksums=False)}),
         lambda s: command(s, "sample", "--checkpoint", s.folder / "e.npz"), UserError,
         ("e.npz: the description's config is refused", "n_layer must be a positive integer",
          "'1'"), ("files", "stdout")),
    Case("cli-config-unknown-field",
         cli_with({"e.npz": edited("gpt", config_field("colour", "blue"), checksums=False)}),
         lambda s: command(s, "sample", "--checkpoint", s.folder / "e.npz"), UserError,
         ("e.npz: the description's config has an unknown field colour",), ("files", "stdout")),
    Case("cli-config-missing-field",
         cli_with({"e.npz": edited("gpt", without("config", "vocab_size"), checksums=False)}),
         lambda s: command(s, "sample", "--checkpoint", s.folder / "e.npz"), UserError,
         ("e.npz: the description's config lacks vocab_size",), ("files", "stdout")),
    Case("cli-config-not-a-mapping",
         cli_with({"e.npz": edited("mlp", lambda meta, arrays: meta.update(config=[784, 10]),
                                   checksums=False)}),
         lambda s: command(s, "eval", "mlp", "--checkpoint", s.folder / "e.npz"), UserError,
         ("e.npz: the description's config is damaged", "list"), ("files", "stdout")),
    Case("cli-config-sizes-that-disagree-with-the-parameters",
         cli_with({"e.npz": edited("mlp", config_field("sizes", [784, 30, 10]),
                                   checksums=False)}),
         lambda s: command(s, "eval", "mlp", "--checkpoint", s.folder / "e.npz", "--data",
                           s.folder / "digits.npz"), UserError,
         ("e.npz: parameters do not match the model", "layers.2.W"), ("files", "stdout")),
    # a file saved before the tokenizers were digested is still checked for what a model needs
    Case("cli-tokenizer-damaged",
         cli_with({"e.npz": edited("gpt", lambda meta, arrays: meta.update(tokenizer=7),
                                   checksums=False)}),
         lambda s: command(s, "sample", "--checkpoint", s.folder / "e.npz"), UserError,
         ("e.npz: the description's tokenizer is damaged",), ("files", "stdout")),
    Case("cli-tokenizer-of-another-size",
         cli_with({"e.npz": edited("gpt", lambda meta, arrays: meta.update(
             tokenizer=json.dumps({"chars": ["a", "b"]})), checksums=False)}),
         lambda s: command(s, "sample", "--checkpoint", s.folder / "e.npz"), UserError,
         ("e.npz: the description's tokenizer has 2 characters", "config.vocab_size"),
         ("files", "stdout")),
    Case("cli-tokenizer-two-characters-swapped",
         cli_with({"e.npz": edited("gpt", swap_two_characters)}),
         lambda s: command(s, "sample", "--checkpoint", s.folder / "e.npz"), UserError,
         ("e.npz: the description's tokenizer was edited after the checkpoint was saved",),
         ("files", "stdout")),
    Case("cli-translator-tokenizer-two-words-swapped",
         cli_with({"e.npz": edited("translate", swap_two_target_words)}),
         lambda s: command(s, "translate", "--checkpoint", s.folder / "e.npz", "one"),
         UserError, ("e.npz: the description's tgt_tokenizer was edited",), ("files", "stdout")),
    Case("cli-eval-a-checkpoint-holding-nan",
         cli_with({"e.npz": edited("mlp", first_parameter_nan)}),
         lambda s: command(s, "eval", "mlp", "--checkpoint", s.folder / "e.npz", "--data",
                           s.folder / "digits.npz"), UserError,
         ("e.npz: parameter layers.0.W holds NaN or inf",), ("files", "stdout")),
    Case("cli-resume-a-checkpoint-holding-nan",
         cli_with({"e.npz": edited("gpt", unfinished_with_a_nan)}),
         lambda s: command(s, "train", "gpt", "--resume", s.folder / "e.npz", "--data",
                           s.folder / "poem.txt", "--save", s.folder / "e.npz"), UserError,
         ("e.npz: parameter", "holds NaN or inf", "diverged model or damaged"),
         ("files", "stdout")),
    Case("checkpoint-parameter-of-another-dtype",
         loaded(saved_network, lambda: Network([4, 3, 2], dtype=np.float32)),
         lambda s: load_parameters(s.target, s.arrays, "ck.npz"), CheckpointError,
         ("ck.npz: parameter layers.0.W holds float64", "the model is float32"),
         ("params", "files")),
    Case("checkpoint-config-lacks-a-field", nothing,
         lambda s: config_from(NetworkConfig, {"config": {"activation": "relu", "init": "x",
                                                          "output": "sigmoid", "seed": 0,
                                                          "dtype": "float64",
                                                          "sizess": [4, 2]}}, "ck.npz"),
         CheckpointError, ("ck.npz: the description's config has an unknown field sizess",), ()),

    # -- the environment and the argument values ----------------------------------------
    Case("cli-invalid-check-mode-in-the-environment-even-for-help", cli_data,
         lambda s: with_environment("SHAPESAFE_CHECKS", "sometimes", s, "--help"), UsageError,
         ("SHAPESAFE_CHECKS must be one of always, first, off", "'sometimes'"),
         ("files", "stdout")),
    Case("cli-invalid-check-mode-in-the-environment", cli_data,
         lambda s: with_environment("SHAPESAFE_CHECKS", "Off", s, "train", "mlp", "--save",
                                    s.folder / "ck.npz"), UsageError,
         ("SHAPESAFE_CHECKS", "'Off'"), ("files", "stdout")),
    Case("cli-threads-zero", cli_data, lambda s: command(s, "train", "mlp", "--threads", "0"),
         UsageError, ("argument --threads", "at least 1, not 0"), ("files", "stdout")),
    Case("cli-threads-beyond-the-cores", cli_data,
         lambda s: command(s, "sample", "--checkpoint", s.gpt, "--threads", "9" * 310),
         UsageError, ("argument --threads", "must be at most", "the cores numpy's BLAS"),
         ("files", "stdout")),
    Case("cli-threads-not-a-number", cli_data,
         lambda s: command(s, "eval", "gpt", "--checkpoint", s.gpt, "--threads", "most"),
         UsageError, ("argument --threads", "auto, all or a number", "'most'"),
         ("files", "stdout")),
    Case("cli-invalid-threads-in-the-environment", cli_data,
         lambda s: with_environment("SHAPESAFE_THREADS", "Auto", s, "train", "mlp", "--save",
                                    s.folder / "ck.npz"), UsageError,
         ("SHAPESAFE_THREADS must be auto, all or a number", "'Auto'"), ("files", "stdout")),
    # a file without its fields' SHA-256s (an older version's) is checked all the same
    Case("cli-threads-damaged-in-a-resumed-checkpoint",
         cli_with({"e.npz": edited("gpt", lambda meta, arrays: meta.update(blas_threads="two"),
                                   checksums=False)}),
         lambda s: command(s, "train", "gpt", "--resume", s.folder / "e.npz", "--data",
                           s.folder / "poem.txt"), UserError,
         ("e.npz: its blas_threads is damaged", "'two'"), ("files", "stdout")),
    Case("cli-seed-negative", cli_data, lambda s: command(s, "train", "mlp", "--seed", "-1"),
         UsageError, ("argument --seed", "not -1"), ("files", "stdout")),
    Case("cli-gpt-seed-negative", cli_data,
         lambda s: command(s, "train", "gpt", "--seed", "-5"), UsageError,
         ("argument --seed", "not -5"), ("files", "stdout")),
    Case("cli-sample-seed-negative", cli_data,
         lambda s: command(s, "sample", "--checkpoint", s.gpt, "--seed", "-1"), UsageError,
         ("argument --seed", "not -1"), ("files", "stdout")),
    Case("cli-eval-seed-not-a-number", cli_data,
         lambda s: command(s, "eval", "gpt", "--checkpoint", s.gpt, "--seed", "zero"),
         UsageError, ("argument --seed", "'zero'"), ("files", "stdout")),
    Case("cli-sizes-not-mnist", cli_data,
         lambda s: command(s, "train", "mlp", "--sizes", "100,10"), UsageError,
         ("argument --sizes", "must start with 784"), ("files", "stdout")),
    Case("cli-sizes-not-integers", cli_data,
         lambda s: command(s, "train", "mlp", "--sizes", "784,3x,10"), UsageError,
         ("argument --sizes", "comma-separated integers"), ("files", "stdout")),
    Case("cli-min-lr-above-lr", cli_data,
         lambda s: command(s, "train", "gpt", "--lr", "1e-4", "--min-lr", "1e-3"), UsageError,
         ("--min-lr 0.001 is larger than --lr 0.0001",), ("files", "stdout")),
    Case("cli-translate-min-lr-above-lr", cli_data,
         lambda s: command(s, "train", "translate", "--lr", "1e-4", "--min-lr", "1e-3"),
         UsageError, ("--min-lr 0.001 is larger than --lr 0.0001",), ("files", "stdout")),
    Case("cli-steps-within-the-warmup", cli_data,
         lambda s: command(s, "train", "gpt", "--steps", 50, "--warmup", 50), UsageError,
         ("--steps 50 must be larger than --warmup 50",), ("files", "stdout")),
    Case("cli-save-every-without-save", cli_data,
         lambda s: command(s, "train", "gpt", "--save-every", 5), UsageError,
         ("--save-every needs --save",), ("files", "stdout")),
    Case("cli-weights-only-without-save", cli_data,
         lambda s: command(s, "train", "mlp", "--weights-only"), UsageError,
         ("--weights-only needs --save",), ("files", "stdout")),
    Case("cli-n-head-that-does-not-divide-d-model", cli_data,
         lambda s: command(s, "train", "gpt", "--data", s.folder / "poem.txt", "--block-size",
                           8, "--n-head", 3, "--save", s.folder / "g.npz"), UsageError,
         ("argument --n-head: GPTConfig: d_model 128 is not divisible by n_head 3",),
         ("files", "stdout")),
    Case("cli-holdout-of-every-digit", cli_data,
         lambda s: command(s, "train", "mlp", "--data", s.folder / "digits.npz", "--holdout",
                           20), UserError,
         ("stratified_split: holdout must be an integer in 0..19", "not 20"),
         ("files", "stdout")),
    Case("cli-trace-sizes-and-checkpoint", cli_data,
         lambda s: command(s, "trace", "mlp", "--sizes", "784,10", "--checkpoint", s.mlp),
         UsageError, ("--sizes and --checkpoint clash",), ("files", "stdout")),
    Case("cli-trace-preset-and-checkpoint", cli_data,
         lambda s: command(s, "trace", "gpt", "--preset", "tiny", "--checkpoint", s.gpt),
         UsageError, ("--preset and --checkpoint clash",), ("files", "stdout")),
    Case("cli-trace-batch-beyond-the-bundled-digits", cli_data,
         lambda s: command(s, "trace", "mlp", "--batch", 6000), UserError,
         ("--batch 6000 is more than the 5,000 bundled digits",), ("files", "stdout")),
    Case("cli-plot-without-matplotlib", cli_data,
         lambda s: without_matplotlib(s, "train", "mlp", "--plot", s.folder / "c.png",
                                      "--save", s.folder / "ck.npz"), UserError,
         ("plots need matplotlib, which is not installed",), ("files", "stdout")),
    Case("cli-picture-without-matplotlib", cli_data,
         lambda s: without_matplotlib(s, "plot", "mask", "--out", s.folder / "mask.png"),
         UserError, ("plots need matplotlib, which is not installed",), ("files", "stdout")),
    Case("cli-curves-of-a-missing-json", cli_data,
         lambda s: command(s, "plot", "curves", "--json", s.folder / "none.json", "--out",
                           s.folder / "c.png"), UserError,
         ("none.json",), ("files", "stdout")),

    # -- problems found before the work, not after ------------------------------------
    Case("cli-train-prompt-outside-the-vocabulary", cli_data,
         lambda s: command(s, "train", "gpt", "--data", s.folder / "poem.txt", "--preset", "tiny",
                           "--prompt", "the owł", "--save", s.folder / "g.npz", "--quiet"),
         UserError, ("--prompt 'the owł'", "'ł' at position 6", "not in the vocabulary"),
         ("files", "stdout")),
    Case("cli-sample-prompt-empty", cli_data,
         lambda s: command(s, "sample", "--checkpoint", s.gpt, "--prompt", ""), UsageError,
         ("argument --prompt", "at least one character"), ("files", "stdout")),
    Case("cli-train-prompt-empty", cli_data,
         lambda s: command(s, "train", "gpt", "--prompt", "", "--save", s.folder / "g.npz"),
         UsageError, ("argument --prompt", "at least one character"), ("files", "stdout")),
    Case("cli-attention-prompt-outside-the-vocabulary", cli_data,
         lambda s: command(s, "attention", "--checkpoint", s.gpt, "--prompt", "Ω",
                           "--out", s.folder / "a.png"), UserError,
         ("--prompt 'Ω'", "not in the vocabulary"), ("files", "stdout")),
    Case("cli-resume-on-other-text",
         cli_with({"other.txt": "".join(reversed(POEM.splitlines(keepends=True))).encode()}),
         lambda s: command(s, "train", "gpt", "--resume", s.gpt, "--data",
                           s.folder / "other.txt"), UserError,
         ("gpt.npz: that run trained on other data", "--data"), ("files", "stdout")),
    Case("cli-resume-a-finished-run", cli_data,
         lambda s: command(s, "train", "gpt", "--resume", s.gpt, "--data", s.folder / "poem.txt",
                           "--save", s.gpt), UserError,
         ("gpt.npz: that run is complete (3 of 3 iterations)",), ("files", "stdout")),
    Case("cli-resume-a-flag-that-changes-the-run", cli_data,
         lambda s: command(s, "train", "gpt", "--resume", s.gpt, "--lr", "0.5"), UsageError,
         ("continues that run with its saved settings", "leave out --lr"), ("files", "stdout")),
    Case("cli-resume-a-checkpoint-of-the-other-model", cli_data,
         lambda s: command(s, "train", "mlp", "--resume", s.gpt), UserError,
         ("gpt.npz: holds a 'gpt' model, not a mlp",), ("files", "stdout")),

    # -- train translate's held-out pairs: held out, and the same on resume ------------
    Case("cli-translate-val-is-the-data", with_files({"pairs.tsv": NUMBER_PAIRS.encode()}),
         lambda s: command(s, "train", "translate", "--data", s.folder / "pairs.tsv", "--val",
                           s.folder / "pairs.tsv", "--save", s.folder / "t.npz"), UserError,
         ("pairs.tsv holds the same pairs as --data", "scored on the pairs it trains on",
          "give --val pairs the run does not train on, or leave it out"), ("files", "stdout")),
    Case("cli-translate-val-a-symlink-to-the-data",
         with_files({"pairs.tsv": NUMBER_PAIRS.encode(), "held.tsv": symlink("pairs.tsv")}),
         lambda s: command(s, "train", "translate", "--data", s.folder / "pairs.tsv", "--val",
                           s.folder / "held.tsv", "--save", s.folder / "t.npz"), UserError,
         ("--val ", "pairs.tsv holds the same pairs as --data"), ("files", "stdout")),
    Case("cli-translate-val-the-data-gzipped",
         with_files({"pairs.tsv": NUMBER_PAIRS.encode(),
                     "val.tsv.gz": gzip.compress(NUMBER_PAIRS.encode())}),
         lambda s: command(s, "train", "translate", "--data", s.folder / "pairs.tsv", "--val",
                           s.folder / "val.tsv.gz", "--save", s.folder / "t.npz"), UserError,
         ("val.tsv.gz holds the same pairs as --data", "pairs.tsv"), ("files", "stdout")),
    Case("cli-translate-val-the-parallel-files",
         with_files({"pairs.tsv": NUMBER_PAIRS.encode(),
                     "train.en": "".join(f"{en}\n" for en, _ in NUMBERS).encode(),
                     "train.fr": "".join(f"{fr}\n" for _, fr in NUMBERS).encode()}),
         lambda s: command(s, "train", "translate", "--source-file", s.folder / "train.en",
                           "--target-file", s.folder / "train.fr", "--val",
                           s.folder / "pairs.tsv", "--save", s.folder / "t.npz"), UserError,
         ("pairs.tsv holds the same pairs as --source-file", "train.en and --target-file",
          "train.fr"), ("files", "stdout")),
    Case("cli-translate-held-out-word-the-training-pairs-lack",
         with_files({"pairs.tsv": NUMBER_PAIRS.encode(),
                     "val.tsv": b"one\tun\n\nAlice\tAlice\n"}),
         lambda s: command(s, "train", "translate", "--data", s.folder / "pairs.tsv", "--val",
                           s.folder / "val.tsv", "--save", s.folder / "t.npz"), UserError,
         ("the held-out pairs: ", "val.tsv, line 3: ", "not in the vocabulary: 'Alice'",
          "the training pairs never hold it", "(--val)", "(--tokens chars or --tokens bpe)"),
         ("files", "stdout")),
    Case("cli-translate-held-out-of-the-data-a-word-it-lacks",
         with_files({"spelled.tsv": SPELLED_PAIRS.encode()}),
         lambda s: command(s, "train", "translate", "--data", s.folder / "spelled.tsv", "--save",
                           s.folder / "t.npz"), UserError,
         ("the held-out pairs: ", f"spelled.tsv, {SPELLED_HELD_OUT}",
          "(--tokens chars or --tokens bpe)"), ("files", "stdout")),
    Case("cli-translate-resume-with-other-held-out-pairs", translator_on_held_out_pairs,
         lambda s: command(s, "train", "translate", "--resume", s.translator), UserError,
         ("run.npz: that run was scored on other held-out data than", "val.tsv holds now",
          "resume it with the held-out data as it was"), ("files", "stdout")),
    Case("cli-translate-resume-on-another-pairs-file",
         translator_with({"other.tsv": b"one\tun\n" * 20}),
         lambda s: command(s, "train", "translate", "--resume", s.translator, "--data",
                           s.folder / "other.tsv"), UserError,
         ("translator.npz: that run trained on other data: bundled number words, en-fr, "
          "where --data gives ", "other.tsv", "leave out --data, and it reads bundled number "
          "words, en-fr again"), ("files", "stdout")),
    Case("cli-translate-resume-on-pairs-of-unknown-words",
         translator_with({"other.tsv": b"one\tuno\n" * 20}),
         lambda s: command(s, "train", "translate", "--resume", s.translator, "--data",
                           s.folder / "other.tsv"), UserError,
         ("the training pairs (", "other.tsv), pair 1:", "not in the vocabulary: 'uno'",
          "the saved run's vocabulary lacks it"), ("files", "stdout")),

    # -- the data itself ----------------------------------------------------------------
    Case("cli-eval-after-the-digits-changed", trained_on_a_holdout,
         lambda s: command(s, "eval", "mlp", "--checkpoint", s.folder / "held.npz"), UserError,
         ("held.npz", "digits.npz is not the data this network trained on", "pass --data"),
         ("files", "stdout")),
    Case("cli-errors-picture-after-the-digits-changed", trained_on_a_holdout,
         lambda s: command(s, "plot", "mnist-errors", "--checkpoint", s.folder / "held.npz",
                           "--out", s.folder / "e.png"), UserError,
         ("digits.npz is not the data this network trained on",), ("files", "stdout")),
    Case("text-of-a-byte-order-mark-only", with_files({"bom.txt": b"\xef\xbb\xbf"}),
         lambda s: load_text(s.folder / "bom.txt"), TextDataError,
         ("bom.txt is empty",), ("files",)),
    Case("text-not-utf8-after-a-byte-order-mark",
         with_files({"bom.txt": b"\xef\xbb\xbfab\xff"}),
         lambda s: load_text(s.folder / "bom.txt"), TextDataError,
         ("bom.txt is not UTF-8", "byte 0xff at byte offset 5"), ("files",)),

    # -- numerics -----------------------------------------------------------------------
    Case("cli-a-diverging-run-says-so-in-one-line", cli_data,
         lambda s: command(s, "train", "gpt", "--data", s.folder / "poem.txt", "--preset", "tiny",
                           "--block-size", 8, "--lr", "1000", "--min-lr", "1", "--quiet",
                           "--save", s.folder / "ck.npz"), UserError,
         ("the loss became nan", "try a smaller --lr", "no checkpoint was written"), ("files",)),
    Case("network-config-seed-negative", nothing, lambda s: NetworkConfig(seed=-1), InvalidArgument,
         ("NetworkConfig: seed must be an integer >= 0, not -1",), ()),
    Case("network-config-dtype-float16", nothing, lambda s: NetworkConfig(dtype="float16"),
         InvalidArgument, ("NetworkConfig: dtype must be float32 or float64", "'float16'"), ()),
    Case("network-activation-unknown", nothing, lambda s: Network([4, 2], activation="tanh"),
         InvalidArgument, ("NetworkConfig: activation must be one of sigmoid, relu, not 'tanh'",),
         ()),
    Case("adamw-weight-decay-negative", network,
         lambda s: AdamW(s.model.named_parameters(), lr=0.1, weight_decay=-0.1), InvalidArgument,
         ("AdamW: weight_decay must be a number >= 0, not -0.1",), ("params",)),
    Case("adamw-eps-zero", network, lambda s: AdamW(s.model.named_parameters(), lr=0.1, eps=0),
         InvalidArgument, ("AdamW: eps must be a positive number, not 0",), ("params",)),
    Case("adamw-betas-not-a-pair", network,
         lambda s: AdamW(s.model.named_parameters(), lr=0.1, betas=0.9), ValueError,
         ("AdamW: betas must be two numbers", "0.9"), ("params",)),
    Case("schedule-step-negative", nothing,
         lambda s: cosine_with_warmup(-1, max_lr=1e-3, min_lr=1e-4, warmup=1, total=10),
         InvalidArgument, ("cosine_with_warmup: step must be an integer >= 0, not -1",), ()),
    Case("clip-max-norm-zero", momentum,
         lambda s: clip_grad_norm(s.model.named_parameters(), 0.0), InvalidArgument,
         ("clip_grad_norm: max_norm must be a positive number, not 0.0",), ("params", "state")),

    # -- values no command may end in a traceback on --------------------------------------
    Case("cli-whole-number-of-310-digits", cli_data,
         lambda s: command(s, "train", "mlp", "--epochs", HUGE), UsageError,
         ("argument --epochs", "must be at most 9223372036854775807", "(310 characters)"),
         ("files", "stdout")),
    Case("cli-seed-beyond-int64", cli_data,
         lambda s: command(s, "train", "gpt", "--seed", 2 ** 63, "--data",
                           s.folder / "none.txt"), UsageError,
         ("argument --seed", "must be at most 9223372036854775807", str(2 ** 63)),
         ("files", "stdout")),
    Case("cli-hidden-size-of-310-digits", cli_data,
         lambda s: command(s, "train", "mlp", "--sizes", f"784,{HUGE},10"), UsageError,
         ("argument --sizes", "must be at most 9223372036854775807"), ("files", "stdout")),
    Case("cli-beam-beyond-int64", cli_data,
         lambda s: command(s, "translate", "--checkpoint", s.gpt, "--beam",
                           10 ** 20, "one"), UsageError,
         ("argument --beam", "must be at most 9223372036854775807"), ("files", "stdout")),
    Case("nanogpt-model-a-list", nanogpt_files(
            lambda c: c.update(model=list(c["model"].values()))), nanogpt_import, UserError,
         ("nano/ckpt.pt: its model is a list, not the dict nanoGPT saves",), ("files", "stdout")),
    Case("nanogpt-config-a-list", nanogpt_files(lambda c: c.update(config=["shakespeare"])),
         nanogpt_import, UserError, ("ckpt.pt: its config is a list",), ("files", "stdout")),
    Case("nanogpt-model-args-a-list", nanogpt_files(lambda c: c.update(model_args=[1, 2])),
         nanogpt_import, UserError, ("ckpt.pt: its model_args is a list",), ("files", "stdout")),
    Case("nanogpt-dataset-a-number", nanogpt_files(lambda c: c["config"].update(dataset=7)),
         nanogpt_import, UserError,
         ("ckpt.pt: its config's dataset is 7, not the name of a data folder",),
         ("files", "stdout")),
    Case("nanogpt-tensor-name-not-a-string",
         nanogpt_files(lambda c: first_tensor_renamed(c, 3)), nanogpt_import, UserError,
         ("ckpt.pt: its model holds the key 3, which is not a name",), ("files", "stdout")),
    Case("nanogpt-value-not-a-tensor",
         nanogpt_files(lambda c: c["model"].update({"transformer.wte.weight": [0.5]})),
         nanogpt_import, UserError,
         ("ckpt.pt: model['transformer.wte.weight'] is a list, not a tensor",),
         ("files", "stdout")),
    Case("nanogpt-meta-ids-of-mixed-types",
         nanogpt_files(itos={0: "a", "1": "b", 2: "c"}), nanogpt_import, UserError,
         ("meta.pkl: its itos is not a table of ids 0, 1, 2",), ("files", "stdout")),
    Case("nanogpt-checkpoint-not-a-zip", with_files({"nano": folder_named, "nano/ckpt.pt": b"e"}),
         nanogpt_import, UserError,
         ("nano/ckpt.pt: not a nanoGPT checkpoint: torch.save writes a zip archive",),
         ("files", "stdout")),
    Case("nanogpt-checkpoint-empty", with_files({"nano": folder_named, "nano/ckpt.pt": b""}),
         nanogpt_import, UserError, ("nano/ckpt.pt: is empty",), ("files", "stdout")),
    Case("nanogpt-checkpoint-holding-a-module",
         nanogpt_files(lambda c: c.update(extra=pytest.importorskip("torch").nn.Identity())),
         nanogpt_import, UserError,
         ("nano/ckpt.pt: holds Python objects beyond tensors and plain data", "not read"),
         ("files", "stdout")),
    Case("nanogpt-import-of-a-billion-layers",
         nanogpt_files(lambda c: c["model_args"].update(n_layer=10 ** 9)), nanogpt_import,
         UserError, ("nano/ckpt.pt: model_args: its sizes (n_layer 1,000,000,000, n_embd 8",
                     "GB of memory"), ("files", "stdout")),
    Case("hf-import-of-a-million-wide-model", plus(exported_hf, {"hf/config.json": hf_config(
            n_embd=10 ** 6, n_head=1)}),
         lambda s: command(s, "import", s.folder / "hf", "--format", "hf", "--out",
                           s.folder / "back.npz"), UserError,
         ("hf/config.json: its sizes (n_layer 2, n_embd 1,000,000", "GB of memory"),
         ("files", "stdout")),
    Case("nanogpt-untied-head",
         nanogpt_files(lambda c: c["model"].update({"lm_head.weight": 2 * c["model"][
             "lm_head.weight"]})), nanogpt_import, UserError,
         ("ckpt.pt: lm_head.weight differs from transformer.wte.weight", "ties its head"),
         ("files", "stdout")),
    Case("nanogpt-import-of-fewer-characters-than-its-vocab",
         nanogpt_files(itos=dict(enumerate("abcde"))), nanogpt_import, UserError,
         ("back.npz: not saved", "tokenizer has 5 characters but its config.vocab_size is 7"),
         ("files", "stdout")),
    Case("nanogpt-import-of-a-nan-weight",
         nanogpt_files(lambda c: c["model"]["transformer.h.0.mlp.c_fc.weight"].__setitem__(
             (0, 0), float("nan"))), nanogpt_import, UserError,
         ("back.npz: not saved: parameter blocks.0.ff.fc.W holds NaN or inf",),
         ("files", "stdout")),
    Case("cli-curves-record-without-its-losses",
         cli_with({"m.json": curves_json(STEP, {"step": 2, "train_loss": 1.0})}),
         lambda s: command(s, "plot", "curves", "--json", s.folder / "m.json", "--out",
                           s.folder / "c.png"), UserError,
         ("m.json: history record 1 has no val_loss, lr",), ("files", "stdout")),
    Case("cli-curves-loss-not-a-number",
         cli_with({"m.json": curves_json({"epoch": 1, "train_loss": "low", "accuracy": None})}),
         lambda s: command(s, "plot", "curves", "--json", s.folder / "m.json", "--out",
                           s.folder / "c.png"), UserError,
         ("m.json: history record 0: train_loss is 'low', not a number",),
         ("files", "stdout")),

    # -- what a command reads and writes is an ordinary file -------------------------------
    Case("cli-save-onto-a-named-pipe", cli_with({"pipe": named_pipe}),
         lambda s: command(s, *QUICK_MLP, "--data", s.folder / "digits.npz", "--save",
                           s.folder / "pipe"), UserError,
         ("--save", "pipe: is a named pipe, not an ordinary file", "would replace it"),
         ("files", "stdout")),
    Case("cli-save-through-a-link-to-a-device", cli_with({"full.npz": symlink("/dev/full")}),
         lambda s: command(s, *QUICK_MLP, "--data", s.folder / "digits.npz", "--save",
                           s.folder / "full.npz"), UserError,
         ("--save", "full.npz: is a character device"), ("files", "stdout")),
    Case("cli-json-onto-dev-null", cli_data,
         lambda s: command(s, *QUICK_MLP, "--data", s.folder / "digits.npz", "--json",
                           "/dev/null"), UserError,
         ("--json /dev/null: is a character device, not an ordinary file",), ("files", "stdout")),
    Case("cli-picture-onto-a-named-pipe", cli_with({"pipe": named_pipe}),
         lambda s: command(s, "plot", "mask", "--out", s.folder / "pipe"), UserError,
         ("--out", "pipe: is a named pipe"), ("files", "stdout")),
    Case("cli-import-onto-a-named-pipe", plus(nanogpt_files(), {"pipe": named_pipe}),
         lambda s: command(s, "import", s.folder / "nano", "--format", "nanogpt", "--out",
                           s.folder / "pipe"), UserError,
         ("--out", "pipe: is a named pipe"), ("files", "stdout")),
    Case("cli-gpt-text-a-named-pipe", cli_with({"pipe": named_pipe}),
         lambda s: command(s, "train", "gpt", "--data", s.folder / "pipe", "--quiet",
                           "--save", s.folder / "g.npz"), UserError,
         ("--data", "pipe: is a named pipe", "reading it would not end"), ("files", "stdout")),
    Case("cli-translate-pairs-a-named-pipe", cli_with({"pipe": named_pipe}),
         lambda s: command(s, "train", "translate", "--data", s.folder / "pipe", "--quiet"),
         UserError, ("--data", "pipe: is a named pipe"), ("files", "stdout")),
    Case("cli-trace-text-a-named-pipe", cli_with({"pipe": named_pipe}),
         lambda s: command(s, "trace", "gpt", "--checkpoint", s.gpt, "--data",
                           s.folder / "pipe"), UserError,
         ("pipe is a named pipe, not an ordinary file",), ("files", "stdout")),
    Case("cli-eval-pairs-a-named-pipe", translator_and_pipe,
         lambda s: command(s, "eval", "translate", "--checkpoint", s.translator, "--data",
                           s.folder / "pipe"), UserError,
         ("pipe: is a named pipe, not an ordinary file",), ("files", "stdout")),
    Case("cli-length-penalty-that-overflows", translator_and_pipe,
         lambda s: command(s, "translate", "--checkpoint", s.translator, "--beam", 2,
                           "--length-penalty", "1e308", "one"), UsageError,
         ("argument --length-penalty: must be at most 100, not 1e308", "overflows"),
         ("files", "stdout")),
    Case("cli-translate-standard-input-not-utf-8", translator_and_pipe,
         lambda s: with_standard_input(b"one\ncaf\xe9\n", s, "translate", "--checkpoint",
                                       s.translator), UserError,
         ("translate: standard input is not UTF-8 text: line 2, byte 4 is 0xe9",
          "convert it to UTF-8"), ("files", "stdout")),
    Case("cli-length-penalty-without-beam-search", translator_and_pipe,
         lambda s: command(s, "eval", "translate", "--checkpoint", s.translator,
                           "--length-penalty", 1), UsageError,
         ("--length-penalty weighs beam search's hypotheses", "give --beam N"),
         ("files", "stdout")),
    # an English-French model scored on English-Japanese pairs: it would score 0
    Case("cli-eval-references-of-another-language",
         plus(translator_and_pipe, {"en-ja.tsv": "twenty-one\t二十一\nfive\t五\n".encode()}),
         lambda s: command(s, "eval", "translate", "--checkpoint", s.translator, "--data",
                           s.folder / "en-ja.tsv"), UserError,
         ("en-ja.tsv: 4 of the references' 4 tokens (100.0%) are not in the model's target "
          "vocabulary, such as '二', '十', '一', '五': the references are not in the language "
          "the model writes",), ("files", "stdout")),
    Case("text-a-named-pipe", with_files({"pipe": named_pipe}),
         lambda s: load_text(s.folder / "pipe"), TextDataError,
         ("pipe is a named pipe", "save the text to a file"), ("files",)),
    Case("pairs-a-named-pipe", with_files({"pipe": named_pipe}),
         lambda s: read_pairs(s.folder / "pipe"), PairsError,
         ("pipe: is a named pipe", "save the sentences to a file"), ("files",)),
    Case("checkpoint-a-named-pipe", with_files({"pipe": named_pipe}),
         lambda s: load_checkpoint(s.folder / "pipe"), CheckpointError,
         ("pipe: is a named pipe, not an ordinary file",), ("files",)),

    # -- export checks every output before any work -----------------------------------------
    Case("cli-export-nanogpt-over-its-own-checkpoint", gpt_inside("d", "ckpt.pt"),
         lambda s: command(s, "export", "--checkpoint", s.folder / "d" / "ckpt.pt", "--format",
                           "nanogpt", "--out", s.folder / "d"), UserError,
         ("--out", "d holds the input --checkpoint", "d/ckpt.pt", "replaced whole"),
         ("files", "stdout")),
    Case("cli-export-hf-over-its-own-checkpoint", gpt_inside("hf", "config.json"),
         lambda s: command(s, "export", "--checkpoint", s.folder / "hf" / "config.json",
                           "--format", "hf", "--out", s.folder / "hf"), UserError,
         ("--out", "hf holds the input --checkpoint", "hf/config.json"), ("files", "stdout")),
    Case("cli-export-out-an-existing-file", cli_data,
         lambda s: command(s, "export", "--checkpoint", s.gpt, "--format", "hf", "--out",
                           s.folder / "poem.txt"), UserError,
         ("--out", "poem.txt: is a file, and a folder is written there"), ("files", "stdout")),
    Case("cli-export-into-a-folder-of-other-files", cli_with({"notes": folder_of_notes}),
         lambda s: command(s, "export", "--checkpoint", s.gpt, "--format", "hf", "--out",
                           s.folder / "notes"), UserError,
         ("--out", "notes: holds notes.txt, which writing the folder would remove"),
         ("files", "stdout")),
    Case("cli-export-dataset-an-absolute-path", cli_data,
         lambda s: command(s, "export", "--checkpoint", s.gpt, "--format", "nanogpt", "--out",
                           s.folder / "n", "--dataset", s.folder / "elsewhere"), UsageError,
         ("argument --dataset", "must be a folder's name", "elsewhere'"), ("files", "stdout")),
    Case("cli-export-dataset-above-the-folder", cli_data,
         lambda s: command(s, "export", "--checkpoint", s.gpt, "--format", "nanogpt", "--out",
                           s.folder / "n", "--dataset", "../x"), UsageError,
         ("argument --dataset", "not '../x'"), ("files", "stdout")),

    # -- a full disk: one line naming the file, and the earlier file kept ----------------------
    Case("cli-json-on-a-full-disk", cli_with({"m.json": b'{"earlier": "metrics"}'}),
         lambda s: on_a_full_disk(s, "train", "gpt", "--data", s.folder / "poem.txt",
                                  "--preset", "tiny", "--iters", 1, "--warmup", 0,
                                  "--eval-interval", 1, "--eval-iters", 1, "--block-size", 8,
                                  "--quiet", "--json", s.folder / "m.json"), UserError,
         ("m.json: no space left on the device", "an earlier one is unchanged"), ("files",)),
    Case("cli-checkpoint-on-a-full-disk", cli_data,
         lambda s: on_a_full_disk(s, *QUICK_MLP, "--data", s.folder / "digits.npz", "--save",
                                  s.folder / "ck.npz"), UserError,
         ("ck.npz: no space left on the device",), ("files",)),
    Case("cli-export-on-a-full-disk", exported_hf,
         lambda s: on_a_full_disk(s, "export", "--checkpoint", s.gpt,
                                  "--format", "hf", "--out", s.folder / "hf"), UserError,
         ("hf: no space left on the device",), ("files", "stdout")),
    Case("cli-picture-on-a-full-disk", cli_with({"mask.png": b"an earlier picture"}),
         lambda s: on_a_full_disk(s, "plot", "mask", "--out", s.folder / "mask.png"),
         UserError, ("mask.png: no space left on the device",), ("files", "stdout")),
    Case("cli-drawing-on-a-full-disk", cli_with({"dense.svg": b"<svg/>"}),
         lambda s: on_a_full_disk(s, "draw", "dense", "--out", s.folder / "dense.svg"),
         UserError, ("dense.svg: no space left on the device",), ("files", "stdout")),
]

PARAMS = [pytest.param(case, id=case.id) if isinstance(case, Case)
          else pytest.param(*case.values, marks=case.marks, id=case.values[0].id)
          for case in CASES]
GENERIC = {"error", "invalid", "wrong", "bad", "not", "must"}


@pytest.fixture(scope="module", autouse=True)
def _announce():
    print(f"\nbad-input catalogue: {len(CASES)} classes")


# ---------------------------------------------------------------------------
# What the scene holds, before and after
# ---------------------------------------------------------------------------
class Same:
    """Equal only to a ``Same`` of the very same object: a forward makes a new record."""

    def __init__(self, thing):
        self.thing = thing

    def __eq__(self, other) -> bool:
        return isinstance(other, Same) and other.thing is self.thing


def _modules(scene):
    return [(key, value) for key, value in vars(scene).items() if isinstance(value, Module)]


def snapshot(invariant: str, scene: SimpleNamespace, folder: Path):
    """Everything ``invariant`` promises to keep, copied; ``None`` if the scene has none of it."""
    if invariant == "params":
        found = {}
        for key, top in _modules(scene):
            for path, module in top.named_modules():
                found[f"{key}.{path}:training"] = module.training
            for name, p in top.named_parameters():
                found[f"{key}.{name}"] = (p.value.dtype, p.value.shape, p.value.tobytes(),
                                          p.grad.tobytes())
        return found or None
    if invariant == "cache":
        found = {f"{key}.{path}": tuple(Same(record) for record in module._records)
                 for key, top in _modules(scene) for path, module in top.named_modules()}
        return found or None
    if invariant == "state":
        found = {}
        for key, value in vars(scene).items():
            if isinstance(value, np.ndarray):
                found[key] = (value.dtype, value.shape, value.tobytes())
            elif isinstance(value, Optimizer):
                found[key] = (value.lr, {k: a.tobytes() for k, a in value.state_dict().items()})
            elif isinstance(value, np.random.Generator):
                found[key] = value.bit_generator.state
            elif isinstance(value, CharTokenizer):
                found[key] = value.chars
        return found or None
    if invariant == "files":
        return {str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
                for path in sorted(folder.rglob("*"))}
    if invariant == "stdout":
        return getattr(scene, "stdout", None)
    raise AssertionError(f"unknown invariant {invariant!r}")


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", PARAMS)
def test_a_bad_input_is_refused_by_name_and_changes_nothing(case: Case, tmp_path):
    scene = case.setup(tmp_path)
    before = {invariant: snapshot(invariant, scene, tmp_path)
              for invariant in case.keeps if invariant != "stdout"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(case.raises) as error:
            case.act(scene)
    assert type(error.value) is case.raises, repr(error.value)
    message = str(error.value)
    for word in case.words:
        assert word in message, f"{word!r} is not in the message:\n{message}"
    assert not caught, [str(warning.message) for warning in caught]
    for invariant, kept in before.items():
        assert kept is not None, f"{invariant!r}: the scene holds nothing of the kind to keep"
        assert kept == snapshot(invariant, scene, tmp_path), f"{invariant} changed"
    if "stdout" in case.keeps:
        assert getattr(scene, "stdout", None) == "", scene.stdout


def test_the_catalogue_has_at_least_200_classes():
    assert len(CASES) >= 200


def test_every_case_is_distinct_and_specific():
    cases = [case if isinstance(case, Case) else case.values[0] for case in CASES]
    assert len({case.id for case in cases}) == len(cases)
    for case in cases:
        assert case.words, case.id
        assert set(case.keeps) <= set(INVARIANTS), case.id
        # at least one word that only this mistake's message would hold
        assert any(word.lower() not in GENERIC and len(word) > 3 for word in case.words), case.id
