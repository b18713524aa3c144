"""The documentation site builds with MkDocs in strict mode.

Strict: a link to a missing page, heading anchor or image, or a docstring
the API reference cannot render, fails the build, and so this test.  Needs
the ``docs`` extra (MkDocs, the Material theme, mkdocstrings).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_site_builds_strictly_with_an_api_reference(tmp_path):
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("material")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True,
        env=os.environ | {"NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr
    reference = (site / "reference" / "layers" / "index.html").read_text(encoding="utf-8")
    # generated from the docstring of Dense, with its source
    assert 'id="shapesafe_nn.layers.dense.Dense"' in reference
    assert "z = x Wᵀ + b" in reference
    for page in sorted((ROOT / "docs").glob("*.md")):
        name = "" if page.stem == "index" else page.stem
        assert (site / name / "index.html").is_file(), f"{page.name} was not built"
