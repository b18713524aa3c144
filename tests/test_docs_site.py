"""The documentation site builds with MkDocs in strict mode, and its API reference reads well.

Strict: a link to a missing page, heading anchor or image, or a docstring
the API reference cannot render, fails the build, and so this test.  Needs
the ``docs`` extra (MkDocs, the Material theme, mkdocstrings).

The reference parses Google's sections (``Args:``, ``Returns:``) and turns
the docstrings' reST (``text::`` before a literal block, ``:func:`` roles,
``w^{l+1}``) into Markdown with ``docs/reference/rest_markup.py``; the tests
below check both on the built pages and on the extension's functions.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_PAGES = ("shapes", "layers", "models", "training", "data", "tools")
# each object's source listing quotes its docstring as written: leave those out
SOURCE_LISTING = re.compile(r'<details class="mkdocstrings-source".*?</details>', re.DOTALL)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("material")
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True,
        # Material's end-of-life notice (see mkdocs.yml) would fill the log of a failure
        env=os.environ | {"NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr
    return site


def reference(site: Path, page: str) -> str:
    """A reference page's HTML without the source listings."""
    html = (site / "reference" / page / "index.html").read_text(encoding="utf-8")
    return SOURCE_LISTING.sub("", html)


def test_the_site_builds_strictly_with_an_api_reference(site):
    layers = reference(site, "layers")
    # generated from the docstring of Dense, with its source
    assert 'id="shapesafe_nn.layers.dense.Dense"' in layers
    assert "z = x Wᵀ + b" in layers
    for page in sorted((ROOT / "docs").glob("*.md")):
        name = "" if page.stem == "index" else page.stem
        assert (site / name / "index.html").is_file(), f"{page.name} was not built"
    assert not list(site.rglob("*.py")), "a script beside the pages was published"


def test_each_page_links_its_notebook_published_beside_it(site):
    """docs/notebooks.py, the site's hook: tests/test_notebooks.py checks the notebooks."""
    for page in sorted((ROOT / "docs").glob("*.md")):
        name = "" if page.stem == "index" else page.stem
        html = (site / name / "index.html").read_text(encoding="utf-8")
        link = f"notebooks/{page.stem}.ipynb"
        assert f'href="{"" if page.stem == "index" else "../"}{link}"' in html, page.name
        notebook = json.loads((site / link).read_text(encoding="utf-8"))
        assert notebook["nbformat"] == 4 and notebook["cells"], page.name
    assert not (site / "reference" / "layers" / "index.html").read_text(
        encoding="utf-8").count(".ipynb")  # the API reference has no notebook


def test_args_sections_render_as_a_table_of_parameters(site):
    dense = reference(site, "layers").split('id="shapesafe_nn.layers.dense.Dense"')[1]
    parameters = dense.split('<span class="doc-section-title">Parameters:</span>')[1]
    table = parameters.split("</table>")[0]
    assert "<code>d_in</code>" in table and "features per input example." in table
    assert "Args:" not in dense.split('<span class="doc-section-title">')[0]


def test_literal_blocks_roles_and_exponents_render(site):
    training = reference(site, "training")
    # the trainer's loop, from a "runs::" literal block: code, and no "::" left
    assert re.search(r'<pre><span></span><code><span id="[^"]*__span-0-1">optimizer\.zero_grad\(\)',
                     training)
    assert "runs:</p>" in training
    # a :func: role became a link to the function's entry
    assert re.search(r'<a class="autorefs autorefs-internal"[^>]*'
                     r'href="#shapesafe_nn\.training\.trainer\.train_classifier"><code>train_classifier'
                     r"</code></a>", training)
    assert "(w<sup>l+1</sup>)ᵀ δ<sup>l+1</sup>" in reference(site, "layers")
    for page in REFERENCE_PAGES:
        html = reference(site, page)
        assert not re.search(r"::</p>|:(class|func|meth|mod|data):`", html), page
        assert not re.search(r"[\^_]\{", re.sub(r"<pre.*?</pre>|<code>.*?</code>", "", html,
                                                flags=re.DOTALL)), page


def test_code_blocks_wrap_long_lines_with_an_indented_rest(site):
    """docs/stylesheets/wrap.css: at 1280 px an 80-column block held less than
    page 7's key lines and page 6's trace; now a long line wraps instead."""
    page = (site / "07-shape-errors" / "index.html").read_text(encoding="utf-8")
    assert 'href="../stylesheets/wrap.css"' in page
    # one element per line, which the stylesheet gives a hanging indent
    assert '<code><span id="__span-0-1">' in page
    css = (site / "stylesheets" / "wrap.css").read_text(encoding="utf-8")
    assert "white-space: pre-wrap" in css and "text-indent: -4ch" in css
    assert 'span[id*="__span-"]' in css  # the reference prefixes the ids with the object's


def test_every_layer_shows_its_forward_and_backward_with_their_shapes(site):
    """The methods that carry the shape annotations have no docstrings of
    their own: the reference lists them anyway, each with its signature."""
    from shapesafe_nn import layers

    html = reference(site, "layers")
    shown = 0
    for name in layers.__all__:
        layer = getattr(layers, name)
        for method in ("forward", "backward"):
            if method in vars(layer):  # written in this class, not inherited
                assert f'id="{layer.__module__}.{name}.{method}"' in html, \
                    f"{name}.{method} is missing from the API reference"
                shown += 1
    assert shown >= 20
    forward = html.split('id="shapesafe_nn.layers.dense.Dense.forward"')[1].split("</h")[1]
    signature = " ".join(unescape(re.sub(r"<[^>]+>", "", forward)).split())
    assert "forward(x: Float[Array, 'batch d_in']) -> Float[Array, 'batch d_out']" in signature


def test_the_home_pages_numbered_lists_keep_their_numbers(site):
    """sane_lists: "3. From text to numbers" starts an ordered list at 3."""
    home = (site / "index.html").read_text(encoding="utf-8")
    assert '<ol start="3">' in home and '<ol start="11">' in home


# ---------------------------------------------------------------------------
# The extension's rules, one by one
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rest_markup():
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location(
        "rest_markup", ROOT / "docs" / "reference" / "rest_markup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_literal_block_becomes_a_fenced_block(rest_markup):
    lines = ["Each step::", "", "    x = 1", "      y = 2", "", "    z = 3", "", "then more."]
    assert rest_markup.fence_literal_blocks(lines) == [
        "Each step:", "", "```", "x = 1", "  y = 2", "", "z = 3", "```", "", "then more."]


@pytest.mark.parametrize("marker, shown", [("Shapes ::", ["Shapes", ""]), ("::", [])])
def test_a_marker_after_a_space_or_alone_goes(rest_markup, marker, shown):
    assert rest_markup.fence_literal_blocks([marker, "", "    a"]) == shown + ["```", "a", "```"]


def test_a_double_colon_without_an_indented_block_stays(rest_markup):
    lines = ["Ends here::", "not a block.", "", "Nor this::", "", "at the same indent."]
    assert rest_markup.fence_literal_blocks(lines) == lines


def test_exponents_and_subscripts_nest_and_skip_inline_code(rest_markup):
    assert rest_markup.scripts_as_html("x^{a_{i}} and Σ_{b, t}") == \
        "x<sup>a<sub>i</sub></sup> and Σ<sub>b, t</sub>"
    assert rest_markup.outside_inline_code("``a^{2}`` b^{2} `c_{1}`",
                                           rest_markup.scripts_as_html) == \
        "``a^{2}`` b<sup>2</sup> `c_{1}`"
