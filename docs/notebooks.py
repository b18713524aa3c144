"""Every page as a Jupyter notebook, made from the page itself.

A page's ```` ```python ```` blocks become the notebook's code cells, in
order and as written; the ```` ```output ```` block after one becomes that
cell's output, so the notebook shows what the page shows before it runs;
everything else (prose, formulas, ```` ```console ```` and ```` ```text ````
blocks) becomes markdown cells between them.  Links to other pages point
to their notebooks, pictures travel inside the notebook as attachments,
and links into the API reference, which has no notebook, keep their text.
A page whose code reads files under ``docs/`` gets one first code cell
that moves to the repository's root, where those paths start.

The notebooks are built, never committed, so none can go stale: the site
build makes them (this file is the MkDocs hook named in ``mkdocs.yml``:
each page gets a link to its notebook under its title, and the notebooks
are published beside the pages in ``notebooks/``), and so does::

    python docs/notebooks.py            # writes notebooks/*.ipynb

``tests/test_notebooks.py`` checks each one against its page.  Needs the
``docs`` extra (nbformat).
"""

import argparse
import base64
import mimetypes
import re
import textwrap
from pathlib import Path

import nbformat
from nbformat import v4

DOCS = Path(__file__).resolve().parent
FOLDER = "notebooks"  # where the notebooks go: in the site, and in a clone by the script
# a fenced block, also one indented inside a list (the rule of tests/test_docs.py)
FENCE = re.compile(r"^([ \t]*)```(\w*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)
# a link or a picture whose target is on this site: [text](target) or ![alt](target)
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
PAGE = re.compile(r"^([\w-]+)\.md(#.*)?$")  # another page, maybe with an anchor
# the first cell of a notebook whose code reads docs/...: such paths start at the root
TO_THE_ROOT = """\
# This page's code reads files such as docs/assets/baby_gpt.npz, from the
# repository's root: go there if the notebook runs inside the repository
import os
from pathlib import Path

root = next((folder for folder in [Path.cwd(), *Path.cwd().parents]
             if (folder / "docs" / "assets").is_dir()), None)
if root is not None:
    os.chdir(root)"""


def pages() -> list[Path]:
    """The pages that get a notebook: every page of the site but the API reference's."""
    return sorted(DOCS.glob("*.md"))


def notebook_name(page: Path) -> str:
    return f"{page.stem}.ipynb"


def _attachment(target: str) -> tuple[str, dict] | None:
    """A picture under docs/ as a notebook attachment: (name, {mime type: base64})."""
    path = DOCS / target
    if not path.is_file():
        return None
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return path.name, {mime: base64.b64encode(path.read_bytes()).decode("ascii")}


def _markdown_cell(text: str) -> nbformat.NotebookNode:
    """Prose as a markdown cell, its links made to work inside a notebook."""
    attachments = {}

    def relink(match: re.Match) -> str:
        bang, text, target = match.groups()
        if "://" in target or target.startswith("#"):
            return match.group(0)
        if bang:
            attached = _attachment(target)
            if attached is None:
                return match.group(0)
            name, data = attached
            attachments[name] = data
            return f"![{text}](attachment:{name})"
        page = PAGE.match(target)
        if page:
            return f"[{text}]({page[1]}.ipynb{page[2] or ''})"
        return text  # the API reference and other files: no notebook to open

    cell = v4.new_markdown_cell(LINK.sub(relink, text).strip("\n"))
    if attachments:
        cell["attachments"] = attachments
    return cell


def notebook_of(page: Path) -> nbformat.NotebookNode:
    """The notebook of ``page``: its python blocks as code cells (and their output
    blocks as their outputs), the rest as markdown."""
    text = page.read_text(encoding="utf-8")
    cells, prose_from, last_code = [], 0, None
    for match in FENCE.finditer(text):
        kind = match.group(2)
        if kind not in ("python", "output"):
            continue  # a diagram or a console session: part of the prose
        between = text[prose_from:match.start()]
        if kind == "output" and last_code is not None and not between.strip():
            last_code.outputs.append(v4.new_output(
                "stream", name="stdout", text=textwrap.dedent(match.group(3))))
        else:
            if between.strip():
                cells.append(_markdown_cell(between))
            if kind == "output":  # not after code: the tests refuse such a page
                cells.append(_markdown_cell(match.group(0)))
                last_code = None
            else:
                last_code = v4.new_code_cell(textwrap.dedent(match.group(3)).rstrip("\n"))
                cells.append(last_code)
        prose_from = match.end()
    if text[prose_from:].strip():
        cells.append(_markdown_cell(text[prose_from:]))
    code = [cell for cell in cells if cell.cell_type == "code"]
    if any("docs/" in cell.source for cell in code):
        cells.insert(1 if cells and cells[0].cell_type == "markdown" else 0,
                     v4.new_code_cell(TO_THE_ROOT))
    notebook = v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    nbformat.validate(notebook)
    return notebook


# ---------------------------------------------------------------------------
# The MkDocs hook: a notebook beside each page, and a link to it under its title
# ---------------------------------------------------------------------------
def on_files(files, config):
    from mkdocs.structure.files import File

    for page in pages():
        files.append(File.generated(config, f"{FOLDER}/{notebook_name(page)}",
                                    content=nbformat.writes(notebook_of(page))))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    source = Path(page.file.src_uri)
    if source.parent != Path(".") or not (DOCS / source).is_file():
        return markdown  # a page of the API reference
    link = (f"[This page as a Jupyter notebook]({FOLDER}/{notebook_name(source)}): "
            f"the same code, ready to run.")
    title, newline, rest = markdown.partition("\n")
    if not title.startswith("# "):
        return f"{link}\n\n{markdown}"
    return f"{title}{newline}\n{link}\n{rest}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS.parent / FOLDER,
                        help=f"the folder to write them into (default {FOLDER}/)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for page in pages():
        nbformat.write(notebook_of(page), args.out / notebook_name(page))
        print(f"wrote {args.out / notebook_name(page)}")


if __name__ == "__main__":
    main()
