"""What the shape core reads of jaxtyping's private modules, and nothing else does.

jaxtyping keeps the dims bound so far in one check (its "shape memo") and the
kinds of dim a hint is made of in private modules.  The quick check
(``quick_check.py``) reads the kinds, and a checked call (``call.py``) hands
its bindings to jaxtyping through the memo.  Both layouts are stable within
jaxtyping 0.3, which ``pyproject.toml`` pins (``<0.4``); this file is the one
place to look at when that pin moves.
"""

from jaxtyping._array_types import (  # noqa: F401 (re-exported for the quick check)
    _anonymous_dim, _NamedDim, _NamedVariadicDim, _SymbolicDim)
from jaxtyping._storage import get_shape_memo  # noqa: F401 (re-exported for call.py)
