"""Where the norms are named.

A block, the GPT and the translator take their norm by name (``norm_type``),
so trying another is a setting, not an edit of every model.  Adding a norm
is one file (a layer ``Norm(d_model, *, dtype)`` whose scale is ``gamma``)
plus one line here.
"""

from .layer_norm import LayerNorm
from .rms_norm import RMSNorm

NORM_TYPES = {
    "layer": LayerNorm,  # Ba et al. 2016: mean 0, variance 1, then γ and β (GPT-2, the paper)
    "rms": RMSNorm,  # Zhang & Sennrich 2019: root mean square 1, then γ (Llama)
}
