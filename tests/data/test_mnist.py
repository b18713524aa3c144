"""MNIST loaders: the bundled digits, IDX and .npz files, the split, the scaling.

Every malformed file must raise DataError (a ValueError) whose message names
the file and the problem, never a traceback from inside gzip or zipfile.
"""

import gzip
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shapesafe_nn
from shapesafe_nn.data import (
    DataError,
    load_bundled,
    load_idx,
    load_idx_dir,
    load_mnist,
    load_npz,
    stratified_split,
    to_inputs,
)
from shapesafe_nn.data.mnist import IMAGES_MAGIC, LABELS_MAGIC


@pytest.fixture(scope="module")
def bundled():
    return load_bundled()


@pytest.fixture(scope="module")
def sample(bundled):
    """30 real digits, three of each class (every 167th row of the sorted set)."""
    x, y = bundled
    return x[::167][:30], y[::167][:30]


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An IDX file: big-endian int32 magic, one int32 per dim, then the uint8 values."""
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_file(path: Path, content: bytes) -> Path:
    """Write ``content``, gzip-compressed when the name ends in ``.gz``."""
    path.write_bytes(gzip.compress(content) if path.suffix == ".gz" else content)
    return path


def write_idx_pair(directory: Path, x: np.ndarray, y: np.ndarray, *, prefix="train",
                   separator="-", suffix="") -> tuple[Path, Path]:
    """MNIST's two files for ``x`` (N, 784) and ``y`` (N,), named as distributed."""
    images = write_file(directory / f"{prefix}-images{separator}idx3-ubyte{suffix}",
                        idx_bytes(x.reshape(len(x), 28, 28), IMAGES_MAGIC))
    labels = write_file(directory / f"{prefix}-labels{separator}idx1-ubyte{suffix}",
                        idx_bytes(y, LABELS_MAGIC))
    return images, labels


def assert_names(error: pytest.ExceptionInfo, path: Path, *fragments: str) -> None:
    """The message names the file and says each fragment of the problem."""
    message = str(error.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message


# ---------------------------------------------------------------------------
# The bundled digits
# ---------------------------------------------------------------------------
def test_bundled_shapes_dtypes_and_label_counts(bundled):
    x, y = bundled
    assert x.shape == (5000, 784) and x.dtype == np.uint8
    assert y.shape == (5000,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [500] * 10
    assert x.min() == 0 and x.max() == 255
    assert np.all(np.diff(y) >= 0)  # sorted by label, as its README says


def test_bundled_loads_when_the_package_is_imported_from_a_zip(tmp_path):
    # An installed package need not be a directory on disk; importlib.resources
    # must find the digits wherever the package lives.
    root = Path(shapesafe_nn.__file__).parent
    archive = tmp_path / "package.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for file in root.rglob("*"):
            if file.is_file() and "__pycache__" not in file.parts:
                zipped.write(file, Path("shapesafe_nn") / file.relative_to(root))
    code = ("import shapesafe_nn.data as d; x, y = d.load_mnist(); "
            "assert '.zip' in d.__file__; print(x.shape, y.shape)")
    environment = {**os.environ, "PYTHONPATH": str(archive)}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(5000, 784) (5000,)"


def test_load_mnist_without_a_path_is_the_bundled_set(bundled):
    x, y = load_mnist()
    np.testing.assert_array_equal(x, bundled[0])
    np.testing.assert_array_equal(y, bundled[1])


# ---------------------------------------------------------------------------
# to_inputs
# ---------------------------------------------------------------------------
def test_to_inputs_scales_to_unit_interval(sample):
    x, _ = sample
    inputs = to_inputs(x)
    assert inputs.shape == (30, 784) and inputs.dtype == np.float64
    np.testing.assert_array_equal(inputs, x / 255.0)  # the same division: exact
    assert inputs.min() == 0.0 and inputs.max() == 1.0


def test_to_inputs_flattens_images_and_takes_a_dtype(sample):
    x, _ = sample
    inputs = to_inputs(x.reshape(30, 28, 28), dtype=np.float32)
    assert inputs.shape == (30, 784) and inputs.dtype == np.float32
    np.testing.assert_allclose(inputs, x / 255.0, rtol=1e-7)  # float32 rounding


@pytest.mark.parametrize("bad, fragment", [
    (np.zeros((2, 784)), "float64"),
    (np.zeros((2, 785), np.uint8), "(2, 785)"),
    ([[0] * 784], "list"),
])
def test_to_inputs_refuses_what_is_not_uint8_images(bad, fragment):
    with pytest.raises(ValueError, match="to_inputs") as error:
        to_inputs(bad)
    assert fragment in str(error.value)


def test_to_inputs_refuses_an_integer_dtype(sample):
    with pytest.raises(ValueError, match="dtype must be a float type, not int32"):
        to_inputs(sample[0], dtype=np.int32)


# ---------------------------------------------------------------------------
# stratified_split
# ---------------------------------------------------------------------------
def test_default_split_sizes_and_class_balance(bundled):
    x, y = bundled
    x_train, y_train, x_test, y_test = stratified_split(x, y, 1000)
    assert x_train.shape == (4000, 784) and y_train.shape == (4000,)
    assert x_test.shape == (1000, 784) and y_test.shape == (1000,)
    assert np.bincount(y_test).tolist() == [100] * 10
    assert np.bincount(y_train).tolist() == [400] * 10
    # the source is sorted by label; both parts must be shuffled
    assert np.any(np.diff(y_train) < 0) and np.any(np.diff(y_test) < 0)


def test_split_is_disjoint_covers_everything_and_keeps_pairs(bundled):
    _, y = bundled
    ids = np.arange(len(y))  # split row numbers to see where each row went
    ids_train, y_train, ids_test, y_test = stratified_split(ids, y, 1000, seed=3)
    assert not set(ids_train) & set(ids_test)
    assert sorted(np.concatenate([ids_train, ids_test]).tolist()) == ids.tolist()
    np.testing.assert_array_equal(y_train, y[ids_train])
    np.testing.assert_array_equal(y_test, y[ids_test])


def test_split_is_deterministic_for_a_seed(bundled):
    x, y = bundled
    first, again = stratified_split(x, y, 1000, seed=7), stratified_split(x, y, 1000, seed=7)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    other = stratified_split(x, y, 1000, seed=8)
    assert not np.array_equal(first[3], other[3])


def test_holdout_zero_trains_on_everything(bundled):
    x, y = bundled
    x_train, y_train, x_test, y_test = stratified_split(x, y, 0)
    assert x_train.shape == (5000, 784) and np.bincount(y_train).tolist() == [500] * 10
    assert x_test.shape == (0, 784) and y_test.shape == (0,)


@pytest.mark.parametrize("holdout", [5000, 5001, -1, 2.5, True])
def test_split_refuses_a_holdout_outside_0_to_n_minus_1(bundled, holdout):
    x, y = bundled
    with pytest.raises(ValueError, match=r"holdout must be an integer in 0\.\.4999"):
        stratified_split(x, y, holdout)


def test_split_refuses_rows_without_labels(bundled):
    x, y = bundled
    with pytest.raises(ValueError, match="x has 5000 rows but y has 4999 labels"):
        stratified_split(x, y[:-1], 10)


def test_unbalanced_classes_keep_their_proportions():
    y = np.repeat([0, 1, 2], [60, 30, 10])
    _, y_train, _, y_test = stratified_split(np.arange(100), y, 10)
    assert np.bincount(y_test).tolist() == [6, 3, 1]
    assert np.bincount(y_train).tolist() == [54, 27, 9]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_holdout_is_split_in_proportion_to_class_sizes(data):
    counts = np.array(data.draw(st.lists(st.integers(1, 50), min_size=1, max_size=10)))
    holdout = data.draw(st.integers(0, counts.sum() - 1))
    y = np.repeat(np.arange(len(counts)), counts)
    _, y_train, _, y_test = stratified_split(np.arange(len(y)), y, holdout)
    held = np.bincount(y_test, minlength=len(counts))
    assert held.sum() == holdout and len(y_train) == len(y) - holdout
    # largest remainder: each class within one of its exact proportional share
    assert np.all(np.abs(held - holdout * counts / counts.sum()) < 1)


# ---------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_files_round_trip(tmp_path, sample, suffix):
    x, y = sample
    images, labels = write_idx_pair(tmp_path, x, y, suffix=suffix)
    x_read, y_read = load_idx(images, labels)
    assert x_read.dtype == np.uint8 and y_read.dtype == np.int64
    np.testing.assert_array_equal(x_read, x)
    np.testing.assert_array_equal(y_read, y)
    x_read[0, 0] = 1  # the caller owns the arrays


@pytest.mark.parametrize("separator", ["-", "."])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_directory_finds_both_splits_by_their_usual_names(tmp_path, sample, separator,
                                                              suffix):
    x, y = sample
    write_idx_pair(tmp_path, x[:20], y[:20], separator=separator, suffix=suffix)
    write_idx_pair(tmp_path, x[20:], y[20:], prefix="t10k", separator=separator, suffix=suffix)
    x_train, y_train = load_idx_dir(tmp_path)
    x_test, y_test = load_mnist(tmp_path, split="test")
    np.testing.assert_array_equal(x_train, x[:20])
    np.testing.assert_array_equal(y_train, y[:20])
    np.testing.assert_array_equal(x_test, x[20:])
    np.testing.assert_array_equal(y_test, y[20:])
    np.testing.assert_array_equal(load_mnist(str(tmp_path))[1], y[:20])


def test_idx_bad_magic_number(tmp_path, sample):
    x, y = sample
    images, labels = write_idx_pair(tmp_path, x, y)
    images.write_bytes(struct.pack(">I", 1234) + images.read_bytes()[4:])
    with pytest.raises(DataError) as error:
        load_idx(images, labels)
    assert_names(error, images, "magic number 1234", "2051")


def test_idx_images_and_labels_swapped(tmp_path, sample):
    images, labels = write_idx_pair(tmp_path, *sample)
    with pytest.raises(DataError) as error:
        load_idx(labels, images)
    assert_names(error, labels, "2049", "swapped")


def test_idx_gzip_data_without_gz_in_the_name(tmp_path, sample):
    images, labels = write_idx_pair(tmp_path, *sample, suffix=".gz")
    renamed = images.rename(tmp_path / "images")
    with pytest.raises(DataError) as error:
        load_idx(renamed, labels)
    assert_names(error, renamed, "gzip-compressed")


def test_idx_counts_of_images_and_labels_differ(tmp_path, sample):
    x, y = sample
    images, labels = write_idx_pair(tmp_path, x, y)
    write_file(labels, idx_bytes(y[:-1], LABELS_MAGIC))
    with pytest.raises(DataError) as error:
        load_idx(images, labels)
    assert_names(error, images, "30 images but 29 labels")
    assert str(labels) in str(error.value)


def test_idx_header_dims_not_28_by_28(tmp_path, sample):
    images, labels = write_idx_pair(tmp_path, *sample)
    write_file(images, idx_bytes(np.zeros((30, 27, 29), np.uint8), IMAGES_MAGIC))
    with pytest.raises(DataError) as error:
        load_idx(images, labels)
    assert_names(error, images, "27x29", "28x28")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_truncated_data(tmp_path, sample, suffix):
    x, y = sample
    images, labels = write_idx_pair(tmp_path, x, y, suffix=suffix)
    write_file(images, idx_bytes(x.reshape(30, 28, 28), IMAGES_MAGIC)[:-100])
    with pytest.raises(DataError) as error:
        load_idx(images, labels)
    assert_names(error, images, "truncated", "30 images", f"{30 * 784} bytes",
                 f"{30 * 784 - 100} bytes")


def test_idx_shorter_than_its_header(tmp_path, sample):
    images, labels = write_idx_pair(tmp_path, *sample)
    labels.write_bytes(labels.read_bytes()[:6])
    with pytest.raises(DataError) as error:
        load_idx(images, labels)
    assert_names(error, labels, "6 bytes long", "8-byte header")


def test_idx_extra_bytes_after_the_data(tmp_path, sample):
    images, labels = write_idx_pair(tmp_path, *sample)
    labels.write_bytes(labels.read_bytes() + b"\x00\x00")
    with pytest.raises(DataError) as error:
        load_idx(images, labels)
    assert_names(error, labels, "2 bytes more than the 30 labels")


def test_idx_label_outside_0_to_9(tmp_path, sample):
    x, y = sample
    bad = y.copy()
    bad[4] = 10
    images, labels = write_idx_pair(tmp_path, x, bad)
    with pytest.raises(DataError) as error:
        load_idx(images, labels)
    assert_names(error, labels, "y[4] = 10", "outside 0..9")


def test_idx_missing_file(tmp_path, sample):
    images, _ = write_idx_pair(tmp_path, *sample)
    missing = tmp_path / "nothing-here-idx1-ubyte"
    with pytest.raises(DataError) as error:
        load_idx(images, missing)
    assert_names(error, missing, "no such file")


def test_idx_directory_names_the_files_it_looked_for(tmp_path):
    with pytest.raises(DataError) as error:
        load_idx_dir(tmp_path, split="test")
    assert_names(error, tmp_path, "test images", "t10k-images-idx3-ubyte",
                 "t10k-images-idx3-ubyte.gz", "t10k-images.idx3-ubyte")


def test_idx_directory_missing_labels(tmp_path, sample):
    images, labels = write_idx_pair(tmp_path, *sample)
    labels.unlink()
    with pytest.raises(DataError) as error:
        load_idx_dir(tmp_path)
    assert_names(error, tmp_path, "train labels", "train-labels-idx1-ubyte")


def test_idx_directory_refuses_an_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="split must be one of train, test, not 'valid'"):
        load_idx_dir(tmp_path, split="valid")


@pytest.mark.parametrize("damage", ["not gzip", "cut short"])
def test_idx_corrupt_gzip_is_a_data_error(tmp_path, sample, damage):
    images, labels = write_idx_pair(tmp_path, *sample, suffix=".gz")
    compressed = images.read_bytes()
    images.write_bytes(b"this is not gzip" if damage == "not gzip"
                       else compressed[:len(compressed) // 2])
    with pytest.raises(DataError) as error:
        load_idx(images, labels)
    assert_names(error, images, "not a valid gzip file")
    assert error.value.__cause__ is not None  # the gzip error stays reachable


# ---------------------------------------------------------------------------
# .npz files
# ---------------------------------------------------------------------------
def save(tmp_path: Path, name="digits.npz", **arrays) -> Path:
    path = tmp_path / name
    with path.open("wb") as stream:  # np.savez would append .npz to other names
        np.savez(stream, **arrays)
    return path


def test_npz_round_trip_flat_and_square_images(tmp_path, sample):
    x, y = sample
    for images in (x, x.reshape(30, 28, 28)):
        x_read, y_read = load_mnist(save(tmp_path, x=images, y=y.astype(np.uint8)))
        assert x_read.shape == (30, 784) and x_read.dtype == np.uint8
        assert y_read.dtype == np.int64
        np.testing.assert_array_equal(x_read, x)
        np.testing.assert_array_equal(y_read, y)


def test_npz_whole_number_floats_are_accepted(tmp_path, sample):
    x, y = sample
    x_read, y_read = load_npz(save(tmp_path, x=x.astype(np.float32), y=y.astype(float)))
    np.testing.assert_array_equal(x_read, x)
    np.testing.assert_array_equal(y_read, y)


def test_npz_missing_array(tmp_path, sample):
    path = save(tmp_path, images=sample[0], y=sample[1])
    with pytest.raises(DataError) as error:
        load_npz(path)
    assert_names(error, path, "no array named x", "it holds images, y")


@pytest.mark.parametrize("x_shape, y_shape, fragment", [
    ((30, 100), (30,), "x has shape (30, 100)"),
    ((30, 28, 27), (30,), "x has shape (30, 28, 27)"),
    ((30, 784), (30, 1), "y has shape (30, 1)"),
    ((30, 784), (29,), "30 images but 29 labels"),
])
def test_npz_wrong_shapes(tmp_path, x_shape, y_shape, fragment):
    path = save(tmp_path, x=np.zeros(x_shape, np.uint8), y=np.zeros(y_shape, np.int64))
    with pytest.raises(DataError) as error:
        load_npz(path)
    assert_names(error, path, fragment)


@pytest.mark.parametrize("x, y, fragment", [
    (np.full((2, 784), "a"), np.zeros(2, int), "x holds <U1"),
    (np.ones((2, 784), bool), np.zeros(2, int), "x holds bool"),
    (np.zeros((2, 784), np.uint8), np.zeros(2, complex), "y holds complex128"),
    (np.full((2, 784), 0.5), np.zeros(2, int), "multiply by 255"),
    (np.full((2, 784), 300, np.int16), np.zeros(2, int), "x[0, 0] = 300 is outside 0..255"),
    (np.zeros((2, 784), np.uint8), np.array([3, 12]), "y[1] = 12 is outside 0..9"),
    (np.zeros((2, 784), np.uint8), np.array([3, -1]), "y[1] = -1 is outside 0..9"),
    (np.zeros((2, 784), np.uint8), np.array([3, 2.5]), "y[1] = 2.5 is not a whole number"),
])
def test_npz_wrong_dtypes_and_values(tmp_path, x, y, fragment):
    path = save(tmp_path, x=x, y=y)
    with pytest.raises(DataError) as error:
        load_npz(path)
    assert_names(error, path, fragment)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_npz_nan_or_inf(tmp_path, value):
    x = np.zeros((3, 784))
    x[2, 5] = value
    path = save(tmp_path, x=x, y=np.zeros(3, int))
    with pytest.raises(DataError) as error:
        load_npz(path)
    assert_names(error, path, "1 NaN or infinite values", f"x[2, 5] = {value}")


def test_npz_that_is_not_a_zip(tmp_path, sample):
    path = tmp_path / "digits.npz"
    with path.open("wb") as stream:
        np.save(stream, sample[0])  # a single .npy array, named .npz
    with pytest.raises(DataError) as error:
        load_npz(path)
    assert_names(error, path, "not an .npz data file", "not a zip archive")


def test_npz_damaged(tmp_path, sample):
    path = save(tmp_path, x=sample[0], y=sample[1])
    content = bytearray(path.read_bytes())
    content[300:400] = b"\xff" * 100  # inside x's data: the zip's checksum fails
    path.write_bytes(bytes(content))
    with pytest.raises(DataError) as error:
        load_npz(path)
    assert_names(error, path, "not a readable .npz data file", "CRC")
    assert isinstance(error.value.__cause__.__cause__, zipfile.BadZipFile)  # via npz.NpzError


def test_npz_with_python_objects_is_never_unpickled(tmp_path):
    path = save(tmp_path, x=np.array([None, None], dtype=object), y=np.zeros(2, int))
    with pytest.raises(DataError) as error:
        load_npz(path)
    assert_names(error, path, "allow_pickle=False")


def test_npz_missing_file(tmp_path):
    with pytest.raises(DataError) as error:
        load_npz(tmp_path / "absent.npz")
    assert_names(error, tmp_path / "absent.npz", "no such data file")


# ---------------------------------------------------------------------------
# load_mnist: the dispatch
# ---------------------------------------------------------------------------
def test_load_mnist_refuses_a_file_it_cannot_read(tmp_path):
    path = tmp_path / "digits.csv"
    path.write_text("0,0,0\n")
    with pytest.raises(DataError) as error:
        load_mnist(path)
    assert_names(error, path, "cannot tell how to read", "directory", ".npz")


def test_load_mnist_missing_path(tmp_path):
    with pytest.raises(DataError) as error:
        load_mnist(tmp_path / "mnist")
    assert_names(error, tmp_path / "mnist", "no such file or directory")


def test_load_mnist_has_no_test_split_for_the_bundled_digits():
    with pytest.raises(ValueError, match="stratified_split"):
        load_mnist(split="test")


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)
