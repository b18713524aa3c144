"""Every page as a notebook (docs/notebooks.py), and a ShapeError as Jupyter shows it.

A notebook is made from its page when the site is built, so it cannot go
stale; these tests check what the making must keep: a valid notebook whose
code cells are exactly the page's python blocks, in order, with each page's
printed output beside its code.  Needs the ``docs`` extra (nbformat, IPython).
"""

import base64
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_docs import PAGES, blocks_of

from shapesafe_nn import Dense, ShapeError

ROOT = Path(__file__).resolve().parent.parent
nbformat = pytest.importorskip("nbformat")


@pytest.fixture(scope="module")
def notebooks():
    spec = importlib.util.spec_from_file_location("notebooks", ROOT / "docs" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", PAGES, ids=[page.stem for page in PAGES])
def test_each_page_is_a_valid_notebook_whose_code_is_the_page_s(page, notebooks):
    notebook = notebooks.notebook_of(page)
    nbformat.validate(notebook)
    # what a notebook file holds reads back as the same notebook
    assert nbformat.reads(nbformat.writes(notebook), as_version=4) == notebook
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if code and code[0].source == notebooks.TO_THE_ROOT:  # pages that read docs/ files
        code = code[1:]
    blocks = blocks_of(page)
    assert [cell.source for cell in code] == [
        block.source.rstrip("\n") for block in blocks if block.kind == "python"]
    # each output block is the output of the code cell before it
    shown = [next(block for block in blocks[index + 1:index + 2] if block.kind == "output")
             if index + 1 < len(blocks) and blocks[index + 1].kind == "output" else None
             for index, block in enumerate(blocks) if block.kind == "python"]
    for cell, output in zip(code, shown):
        assert [o.text for o in cell.outputs] == ([] if output is None else [output.source])
    assert not any(re.search(r"^[ \t]*```python", cell.source, re.MULTILINE)
                   for cell in notebook.cells if cell.cell_type == "markdown"), (
        "a python block left in the prose")


def test_links_open_notebooks_and_pictures_travel_inside(notebooks):
    notebook = notebooks.notebook_of(ROOT / "docs" / "04-attention.md")
    prose = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "](09-training.ipynb)" in prose and ".md)" not in prose
    assert "](reference/" not in prose  # the API reference has no notebook: its text stays
    pictured = [cell for cell in notebook.cells if "attachments" in cell]
    name = "attention_head.svg"
    cell = next(cell for cell in pictured if name in cell.attachments)
    assert f"](attachment:{name})" in cell.source
    svg = base64.b64decode(cell.attachments[name]["image/svg+xml"])
    assert svg == (ROOT / "docs" / "images" / name).read_bytes()


def test_a_page_reading_docs_files_starts_at_the_repository_root(notebooks, tmp_path,
                                                                 monkeypatch):
    notebook = notebooks.notebook_of(ROOT / "docs" / "09-training.md")
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert first.source == notebooks.TO_THE_ROOT
    inside = ROOT / "docs" / "images"  # any folder inside the repository
    monkeypatch.chdir(inside)
    exec(first.source, {})
    assert Path.cwd() == ROOT
    monkeypatch.chdir(tmp_path)  # outside it: stays where it is
    exec(first.source, {})
    assert Path.cwd() == tmp_path
    other = notebooks.notebook_of(ROOT / "docs" / "02-backprop.md")
    assert all(cell.source != notebooks.TO_THE_ROOT for cell in other.cells)


def test_the_script_writes_every_notebook(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "docs" / "notebooks.py"), "--out",
                             str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = sorted(path.name for path in tmp_path.glob("*.ipynb"))
    assert written == [f"{page.stem}.ipynb" for page in PAGES]
    for path in tmp_path.glob("*.ipynb"):
        nbformat.validate(nbformat.read(path, as_version=4))


# ---------------------------------------------------------------------------
# A ShapeError in IPython and Jupyter: the message, without the checking frames
# ---------------------------------------------------------------------------
def wrong_x():
    Dense(784, 30).forward(np.zeros((32, 785)))


def test_render_traceback_is_the_short_message():
    with pytest.raises(ShapeError) as error:
        wrong_x()
    assert error.value._render_traceback_() == [f"ShapeError: {error.value}"]


def test_ipython_prints_a_shape_error_without_the_frames_of_the_checks():
    pytest.importorskip("IPython")
    cell = ("import numpy as np\n"
            "from shapesafe_nn import Dense\n"
            "Dense(784, 30).forward(np.zeros((32, 785)))\n")
    result = subprocess.run([sys.executable, "-m", "IPython", "--colors=nocolor", "--quick",
                             "-c", cell], capture_output=True, text=True, cwd=ROOT)
    printed = result.stdout + result.stderr
    with pytest.raises(ShapeError) as error:
        wrong_x()
    assert printed.strip() == f"ShapeError: {error.value}", printed
    assert "Traceback" not in printed and "decorator.py" not in printed
