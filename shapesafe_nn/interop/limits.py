"""What the GPT-2 formats cannot hold, and the error that says so."""

import os

from ..layers.norms import NORM_TYPES
from ..models.ladder import TRANSFORMER_RUNGS, LadderConfig


class FormatError(ValueError):
    """Files of another format that cannot be read, or a model a format cannot hold.

    The message names the file (or the setting) and the field at fault.
    """


def refuse_beyond_memory(config, source, names: dict[str, str]) -> None:
    """Refuse, from the sizes in a file alone, a model whose parameters would not
    fit in this machine's memory, before a single one is made: a config.json of
    ``n_layer`` 1000000 grew by 200 MB a second until the system killed it, and
    ``n_embd`` 10^6 failed on an array of 21.8 TiB blamed on the weights file.

    ``names`` gives the file's name of each size (``d_model`` -> ``n_embd``),
    so that the message names them as the file does.  A GPT-2 block holds
    4·d² + 2·d·d_ff weights (attention and MLP) and 9·d + d_ff biases and norms.
    """
    d = config.d_model
    d_ff = config.d_ff or 4 * d
    parameters = ((config.vocab_size + config.block_size) * d + 2 * d
                  + config.n_layer * (4 * d * d + 2 * d * d_ff + 9 * d + d_ff))
    need = parameters * (8 if config.dtype == "float64" else 4)
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # a system that does not say
        return
    if need > memory:
        sizes = ", ".join(f"{names.get(field, field)} {getattr(config, field):,}"
                          for field in ("n_layer", "d_model", "vocab_size", "block_size"))
        raise FormatError(f"{source}: its sizes ({sizes}) make {parameters:,} parameters, "
                          f"{need / 1e9:,.0f} GB, more than this machine's "
                          f"{memory / 1e9:,.0f} GB of memory; the file is damaged or the "
                          f"model is too large here")


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
