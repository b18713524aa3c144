"""What the package declares about itself: its licences, its version, its extras.

The wheel carries the MNIST subset as well as the code, so its licence is an
SPDX expression of both, and every licence text ships with it
(``license-files``).  Every bundled data file is accounted for in
``LICENSES/README.md``; the version ``shapesafe-nn --version`` prints is the
one the package metadata gives.
"""

import glob
import tomllib
from pathlib import Path

import shapesafe_nn

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
    "setuptools"]


def test_the_licence_is_an_spdx_expression_and_its_texts_ship():
    assert PROJECT["license"] == "MIT AND CC-BY-SA-3.0"  # a string: the table form is deprecated
    shipped = {Path(path).relative_to(ROOT).as_posix()
               for pattern in PROJECT["license-files"] for path in glob.glob(str(ROOT / pattern))}
    assert {"LICENSE", "LICENSES/CC-BY-SA-3.0.txt", "LICENSES/README.md"} <= shipped
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert "Attribution-ShareAlike 3.0 Unported" in (
        ROOT / "LICENSES" / "CC-BY-SA-3.0.txt").read_text(encoding="utf-8")
    # an expression and a licence classifier together are refused by setuptools
    assert not [name for name in PROJECT["classifiers"] if name.startswith("License ::")]


def test_every_bundled_data_file_has_its_provenance_and_licence():
    notes = (ROOT / "LICENSES" / "README.md").read_text(encoding="utf-8")
    bundled = [path.name for path in (ROOT / "shapesafe_nn" / "data").iterdir()
               if path.suffix in (".npz", ".txt", ".tsv")]
    assert bundled and [name for name in bundled if name not in notes] == []
    for asset in (ROOT / "docs" / "assets").glob("*.npz"):
        assert f"docs/assets/{asset.name}" in notes


def test_the_version_has_one_source():
    assert "version" in PROJECT["dynamic"] and "version" not in PROJECT
    assert SETUPTOOLS["dynamic"]["version"] == {"attr": "shapesafe_nn.__version__"}
    assert shapesafe_nn.__version__.count(".") == 2


def test_the_reference_extra_is_not_pinned_to_one_release():
    """A pin to one build would pull PyTorch's CUDA wheel even over a CPU one
    already installed; a floor is what the tests need."""
    [torch] = PROJECT["optional-dependencies"]["reference"]
    assert torch.startswith("torch>=") and "==" not in torch
