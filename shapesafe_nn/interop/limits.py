"""What the GPT-2 formats cannot hold, and the error that says so."""

from ..layers.norms import NORM_TYPES
from ..models.ladder import TRANSFORMER_RUNGS, LadderConfig


class FormatError(ValueError):
    """Files of another format that cannot be read, or a model a format cannot hold.

    The message names the file (or the setting) and the field at fault.
    """


def refuse_unless_gpt2_attention(config, fmt: str) -> None:
    """GPT-2's attention is softmax(q kᵀ / √d_head) with a causal mask, in
    blocks with residuals and LayerNorms; a format built on it has no field
    for another score, mask or norm, nor a place for a lower rung of the ladder."""
    if isinstance(config, LadderConfig) and config.rung not in TRANSFORMER_RUNGS:
        raise FormatError(f"the {fmt} format cannot hold rung={config.rung!r}: it holds "
                          f"GPT-2's blocks, with residuals and layer norms (rung "
                          f"{' or '.join(map(repr, TRANSFORMER_RUNGS))})")
    for setting, gpt2 in (("score", "scaled_dot"), ("mask", "causal")):
        value = getattr(config, setting)
        if value != gpt2:
            raise FormatError(f"the {fmt} format cannot hold {setting}={value!r}: its "
                              f"attention is GPT-2's, {setting}={gpt2!r}")
    if config.norm_type != "layer":
        raise FormatError(f"the {fmt} format cannot hold norm_type={config.norm_type!r} "
                          f"({NORM_TYPES[config.norm_type].__name__}): GPT-2's norms are "
                          f"LayerNorms, a weight and a bias each")
