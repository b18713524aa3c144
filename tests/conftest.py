"""Shared test setup: every test starts and ends in the default check mode.

Reference tests compare against PyTorch (the ``reference`` extra), plot
tests draw with matplotlib (the ``plot`` extra) and the site test builds
the docs with MkDocs (the ``docs`` extra); each skips where its extra is not
installed.  CI sets ``SHAPESAFE_REQUIRE_EXTRAS=1`` so that a missing extra
fails the run instead of silently skipping those tests.
"""

import os

import pytest

# Every test computes on the same number of BLAS threads, whatever else the
# machine runs: in float32 the count changes a product's last bits, and the
# default, auto, lowers it on a busy machine (cli/threads.py).  "all" is what
# numpy does on its own; the tests of auto set their own.
os.environ.setdefault("SHAPESAFE_THREADS", "all")

from shapesafe_nn import set_checks

if os.environ.get("SHAPESAFE_REQUIRE_EXTRAS") == "1":
    import matplotlib  # noqa: F401  (fails loudly: the plot tests must run)
    import torch  # noqa: F401  (fails loudly: the reference tests must run)
    import material  # noqa: F401  (fails loudly: the docs site must build)
    import mkdocstrings  # noqa: F401
    import nbformat  # noqa: F401  (fails loudly: every page's notebook is checked)
    import IPython  # noqa: F401  (fails loudly: a ShapeError in IPython is checked)
    import safetensors  # noqa: F401  (fails loudly: the interop tests must run)
    import tokenizers  # noqa: F401
    import transformers  # noqa: F401
    import gguf  # noqa: F401  (llama.cpp's files)
    import sacrebleu  # noqa: F401  (fails loudly: eval translate's chrF and BLEU must run)


@pytest.fixture(autouse=True)
def _checks_always():
    """A test that switches checks to "first" or "off" must not leak it into the next."""
    set_checks("always")
    yield
    set_checks("always")
