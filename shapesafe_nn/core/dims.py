"""The one table of dimension names, and the array hints built from it.

*Know the dimension of every symbol and variable.*  Every annotation in the
package writes its shapes with the names below (``Float[Array, "batch
d_in"]``), and ``@checked`` refuses an annotation that uses a name missing
here, so a typo in a hint is an error at import, not a dim that silently
binds anything.  A layer of your own adds its names with :func:`register_dim`.
"""

import functools

import numpy as np
from jaxtyping import Bool, Float, Integer  # noqa: F401 (re-exported: the hints' building blocks)

Array = np.ndarray
"""The array type in every annotation: ``Float[Array, "batch d_in"]``."""

DIMENSIONS: dict[str, str] = {
    "batch": "examples in one mini-batch (a row per example)",
    "seq": "positions in one sequence of tokens",
    "q_seq": "positions that ask, the queries' sequence (the target's in cross-attention)",
    "kv_seq": "positions that answer, the keys' and values' sequence (the source's in "
              "cross-attention)",
    "src_seq": "positions of the source sentence, which a translator's encoder reads",
    "tgt_seq": "positions of the target sentence, which a translator's decoder writes",
    "max_len": "longest sequence a position table covers (the GPT's block size)",
    "d_in": "features entering a Dense layer",
    "d_out": "features leaving a Dense layer",
    "d_model": "width of the transformer's residual stream",
    "n_heads": "attention heads in one multi-head attention layer",
    "heads": "the head axes of attention's core: (n_heads,) in multi-head attention, "
             "none in a single head",
    "d_head": "width of one attention head; d_model = n_heads * d_head",
    "d_ff": "width of the feed-forward hidden layer (4 * d_model in GPT)",
    "vocab": "distinct tokens the model reads and predicts",
    "classes": "categories a softmax chooses between (10 MNIST digits)",
    "shape": "any shape at all: the operation acts on each number alone",
}


def register_dim(name: str, meaning: str) -> None:
    """Add a dimension name of your own (for a layer you write) to the table.

    Registering a name again with the same meaning does nothing, so a cell
    or module run twice is fine.  A name that already means something else
    is refused: two layers using ``d_k`` for two different widths would bind
    each other's sizes in one check.
    """
    if not name.isidentifier():
        raise ValueError(f"register_dim: dimension name {name!r} is not a Python identifier")
    known = DIMENSIONS.get(name)
    if known is not None and known != meaning:
        raise ValueError(f"register_dim: {name!r} already means {known!r}; choose another "
                         f"name for {meaning!r}, or register it with the same meaning")
    DIMENSIONS[name] = meaning


@functools.cache
def floats(dims: str) -> type:
    """``Float[Array, dims]``, built once per ``dims`` (building one costs ~8 µs)."""
    return Float[Array, dims]


@functools.cache
def integers(dims: str) -> type:
    """``Integer[Array, dims]`` (signed or unsigned), built once per ``dims``."""
    return Integer[Array, dims]


@functools.cache
def booleans(dims: str) -> type:
    """``Bool[Array, dims]``: a mask, True or False at each place."""
    return Bool[Array, dims]
