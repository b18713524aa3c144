"""Every code block in ``docs/`` runs, and every output shown is what it prints now.

The pages follow four rules, so that none can go stale silently:

- A ```` ```python ```` block runs; the blocks of one page run in order in
  one namespace, as a reader pasting them into one Python session would.
- An ```` ```output ```` block right after a python block is what that block
  prints (stdout); the test compares them.
- A ```` ```console ```` block holds ``$ shapesafe-nn ...`` lines, each
  followed by what the command prints (stdout, then stderr); the test runs
  each command and compares.
- ```` ```text ```` blocks are diagrams and formulas: nothing to run.  Any
  other kind of block fails the test, so a page cannot hold code that is not
  run.

In an expected output a line ``...`` stands for any number of lines, and
``...`` inside a line for any characters: for the few things that change
from run to run (durations), from machine to machine (text sampled from a
float32 model) or that a page shortens on purpose.

A number with a decimal point matches a printed one within
:data:`RELATIVE_TOLERANCE` of it, or one unit in the last digit the page
shows, whichever is larger.  float32 matrix products round differently with
each BLAS kernel (OpenBLAS picks one for the CPU: AVX2, AVX-512, ...), and a
training run carries those differences on: after the 100 iterations of page
9's tiny GPT, the losses of three kernels on one machine spread over 0.5%.
Whole numbers (counts, sizes, shapes) must match exactly.

Blocks run in a fresh temporary folder (files they write land there) in
which ``docs`` points at the real ``docs/``, so paths such as
``docs/assets/...`` work as they do from the repository's root.
"""

import contextlib
import io
import linecache
import math
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from shapesafe_nn.cli import main
from shapesafe_nn.shapes import DIMENSIONS

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))
# a fenced block, also one indented inside a list; its indent is taken off
FENCE = re.compile(r"^([ \t]*)```(\w*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)
FENCE_LINE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)
KINDS = {"python", "output", "console", "text"}
# how far a printed float may be from the page's: twice the spread measured
# across BLAS kernels (OPENBLAS_CORETYPE Haswell, SkylakeX, Prescott), 0.5%
RELATIVE_TOLERANCE = 0.01
DECIMAL = r"[-+]?\d+\.\d+(?:[eE][-+]?\d+)?"  # 0.7510, 3.0, -2.73e-04; not 784 or 1,000


@dataclass
class Block:
    kind: str
    source: str
    line: int  # where the block starts on the page, for failure messages


def blocks_of(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    blocks = [Block(match.group(2), textwrap.dedent(match.group(3)),
                    text.count("\n", 0, match.start()) + 1)
              for match in FENCE.finditer(text)]
    # every fence line opens or closes one of those blocks: a ~~~ fence or an
    # unclosed ``` would hide code from the test
    assert len(FENCE_LINE.findall(text)) == 2 * len(blocks), (
        f"{page.name}: a fence that is not a closed ``` block")
    return blocks


def pattern_of(expected: str) -> tuple[re.Pattern, list[str]]:
    """``...`` alone on a line: any lines; ``...`` within a line: any characters;
    each decimal number: a group that :func:`assert_same_output` compares with
    tolerance.  Returns the pattern and the page's decimal numbers, in order."""
    parts, numbers = [], []
    for line in expected.strip("\n").splitlines():
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
            continue
        pieces = []
        for piece in line.rstrip().split("..."):
            texts = re.split(DECIMAL, piece)
            numbers += re.findall(DECIMAL, piece)
            pieces.append(f"({DECIMAL})".join(re.escape(text) for text in texts))
        parts.append("[^\n]*".join(pieces) + r"[ \t]*\n")
    return re.compile("".join(parts)), numbers


def last_place(number: str) -> float:
    """One unit in the last digit written: 0.0001 for "0.7510", 1e-06 for "2.73e-04"."""
    mantissa, _, exponent = number.lower().partition("e")
    return 10.0 ** (int(exponent or 0) - len(mantissa.partition(".")[2]))


def close_enough(printed: str, shown: str) -> bool:
    return math.isclose(float(printed), float(shown), rel_tol=RELATIVE_TOLERANCE,
                        abs_tol=last_place(shown) * (1 + 1e-9))


def assert_same_output(expected: str, actual: str, where: str) -> None:
    lines = [line.rstrip() for line in actual.strip("\n").splitlines()]
    actual = "".join(line + "\n" for line in lines)  # nothing printed: ""
    pattern, numbers = pattern_of(expected)
    match = pattern.fullmatch(actual)
    assert match and all(close_enough(printed, shown)
                         for printed, shown in zip(match.groups(), numbers)), (
        f"{where}: the page shows\n{expected.strip()}\n\nbut the code printed\n{actual}")


def run_command(command: str) -> str:
    """``shapesafe-nn ...`` in this process: what it prints, stdout then stderr."""
    words = command.split()
    assert words[0] == "shapesafe-nn", f"only shapesafe-nn commands run on a page: {command!r}"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(words[1:])
        except SystemExit:  # argparse's usage errors: their message is the output
            pass
    return out.getvalue() + err.getvalue()


def run_console(block: Block, where: str) -> None:
    commands = re.split(r"^\$ ", block.source, flags=re.MULTILINE)
    assert commands[0].strip() == "", f"{where}: a console block starts with '$ '"
    for entry in commands[1:]:
        command, _, expected = entry.partition("\n")
        assert_same_output(expected, run_command(command), f"{where}: $ {command}")


def run_page(page: Path) -> None:
    namespace: dict = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    blocks = blocks_of(page)
    for index, block in enumerate(blocks):
        where = f"{page.name}:{block.line}"
        assert block.kind in KINDS, f"{where}: a ```{block.kind} block cannot be run"
        if block.kind == "python":
            out = io.StringIO()
            # the block's text is kept where `inspect` looks for source, as Jupyter
            # and IPython keep each cell's: a layer defined on a page can then have
            # a failing line of its own explained (shapesafe_nn/core/explain.py)
            linecache.cache[where] = (len(block.source), None,
                                      block.source.splitlines(keepends=True), where)
            with contextlib.redirect_stdout(out):
                exec(compile(block.source, where, "exec"), namespace)
            following = blocks[index + 1] if index + 1 < len(blocks) else None
            if following is not None and following.kind == "output":
                assert_same_output(following.source, out.getvalue(), where)
        elif block.kind == "output":
            assert index and blocks[index - 1].kind == "python", (
                f"{where}: an output block must follow a python block")
        elif block.kind == "console":
            run_console(block, where)


@pytest.fixture
def in_scratch_folder(tmp_path, monkeypatch):
    (tmp_path / "docs").symlink_to(DOCS)
    monkeypatch.chdir(tmp_path)
    # Pages plot with matplotlib's file-only backend, as the package does
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # a page may set numpy's print options or register a dim of its own, as a
    # reader would; the next page starts from the package's, as a new reader's
    # session does (page 1 and the symbol sheet print the dim table)
    print_options = np.get_printoptions()
    dimensions = dict(DIMENSIONS)
    yield tmp_path
    np.set_printoptions(**print_options)
    DIMENSIONS.clear()
    DIMENSIONS.update(dimensions)


@pytest.mark.parametrize("page", PAGES, ids=[page.stem for page in PAGES])
def test_every_block_on_the_page_runs_and_prints_what_the_page_shows(page, in_scratch_folder):
    run_page(page)


def test_the_output_matcher_fails_on_a_changed_number():
    """The check itself can fail: a page showing 0.8950 where the code prints 0.9050."""
    assert_same_output("accuracy 0.8950\n", "accuracy 0.8950\n", "same")
    with pytest.raises(AssertionError, match="the page shows"):
        assert_same_output("accuracy 0.8950\n", "accuracy 0.9050\n", "changed")
    with pytest.raises(AssertionError, match="the page shows"):  # whole numbers: exactly
        assert_same_output("Epoch 0: 751 / 1000\n", "Epoch 0: 752 / 1000\n", "a count")


def test_printed_floats_match_within_the_stated_tolerance():
    """Page 9's loss as two BLAS kernels print it (AMD AVX2, Intel AVX-512)."""
    assert_same_output("train loss 3.1527, lr 2.73e-04\n", "train loss 3.1504, lr 2.73e-04\n",
                       "another kernel")
    # the last digit shown may flip however small the difference: one unit is allowed
    assert_same_output("cost 0.0012\n", "cost 0.0013\n", "the last digit")
    with pytest.raises(AssertionError, match="the page shows"):  # beyond 1%
        assert_same_output("train loss 3.1527\n", "train loss 3.2000\n", "too far")
    with pytest.raises(AssertionError, match="the page shows"):
        assert_same_output("lr 2.73e-04\n", "lr 2.93e-04\n", "an exponent's mantissa")
    assert_same_output("took ... s\n...\ndone\n", "took 3.2 s\nline\nline\ndone\n", "wildcards")
    with pytest.raises(AssertionError):
        assert_same_output("took ... s\ndone\n", "took 3.2 s\nextra\ndone\n", "one line only")


def test_a_page_with_a_block_of_unknown_kind_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\nrm -rf /\n```\n")
    with pytest.raises(AssertionError, match="cannot be run"):
        run_page(page)


def test_an_indented_block_runs_and_a_tilde_fence_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("1. A step:\n\n    ```python\n    print(1)\n    ```\n\n"
                    "    ```output\n    2\n    ```\n")
    with pytest.raises(AssertionError, match="the page shows"):
        run_page(page)
    page.write_text("~~~python\nprint(1)\n~~~\n")
    with pytest.raises(AssertionError, match="not a closed"):
        run_page(page)


def test_an_empty_output_block_means_nothing_printed(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 1\n```\n\n```output\n```\n")
    run_page(page)


def test_a_python_block_printing_something_else_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\nprint(2 + 2)\n```\n\n```output\n5\n```\n")
    with pytest.raises(AssertionError, match="the page shows"):
        run_page(page)


def test_every_page_is_in_the_site_and_linked_from_the_readme():
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    site = (DOCS.parent / "mkdocs.yml").read_text(encoding="utf-8")
    for page in PAGES:
        assert page.name in site, f"{page.name} is missing from mkdocs.yml's nav"
        if page.name != "index.md":
            assert f"docs/{page.name}" in readme, f"README does not link docs/{page.name}"


def test_images_on_the_pages_exist():
    for page in PAGES:
        for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text(encoding="utf-8")):
            assert (DOCS / image).is_file(), f"{page.name} shows {image}, which is missing"

