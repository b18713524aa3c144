"""Where each of our translator's parameters lives in ``torch.nn.Transformer``.

The reference tests run PyTorch's own encoder and decoder layers on our
weights: every projection here is a ``Dense`` with W stored (d_out, d_in),
the layout of ``nn.Linear``, so each weight maps over unchanged.  Attention's
``in_proj_weight`` is the stacked ``[W_q; W_k; W_v]``: our self-attention's
``qkv.W`` as it is, and our cross-attention's ``query.W`` above ``kv.W``.
Needs the ``reference`` extra (torch).
"""

# our name inside an EncoderBlock -> the name in nn.TransformerEncoderLayer
ENCODER_LAYER = {
    "attn.qkv.W": "self_attn.in_proj_weight", "attn.qkv.b": "self_attn.in_proj_bias",
    "attn.proj.W": "self_attn.out_proj.weight", "attn.proj.b": "self_attn.out_proj.bias",
    "ln1.gamma": "norm1.weight", "ln1.beta": "norm1.bias",
    "ff.fc.W": "linear1.weight", "ff.fc.b": "linear1.bias",
    "ff.proj.W": "linear2.weight", "ff.proj.b": "linear2.bias",
    "ln2.gamma": "norm2.weight", "ln2.beta": "norm2.bias",
}

# our name inside a DecoderBlock -> the name in nn.TransformerDecoderLayer; the
# cross-attention's query and kv weights are stacked into one (see below)
DECODER_LAYER = {
    "self_attn.qkv.W": "self_attn.in_proj_weight", "self_attn.qkv.b": "self_attn.in_proj_bias",
    "self_attn.proj.W": "self_attn.out_proj.weight", "self_attn.proj.b": "self_attn.out_proj.bias",
    "ln1.gamma": "norm1.weight", "ln1.beta": "norm1.bias",
    "cross_attn.proj.W": "multihead_attn.out_proj.weight",
    "cross_attn.proj.b": "multihead_attn.out_proj.bias",
    "ln2.gamma": "norm2.weight", "ln2.beta": "norm2.bias",
    "ff.fc.W": "linear1.weight", "ff.fc.b": "linear1.bias",
    "ff.proj.W": "linear2.weight", "ff.proj.b": "linear2.bias",
    "ln3.gamma": "norm3.weight", "ln3.beta": "norm3.bias",
}


def torch_parameters(torch, ours: dict, prefix: str = "", encoder: bool = True) -> dict:
    """torch name -> tensor, for one block's parameters given by our names.

    ``ours`` maps our names (``"attn.qkv.W"``, or ``prefix + "attn.qkv.W"``)
    to tensors; what comes back can be given to ``torch.func.functional_call``
    on the matching ``nn.TransformerEncoderLayer`` (``encoder=True``) or
    ``nn.TransformerDecoderLayer``.  ``torch.cat`` keeps the autograd graph,
    so gradients reach our cross-attention's query and kv tensors.
    """
    table = ENCODER_LAYER if encoder else DECODER_LAYER
    mapped = {theirs: ours[prefix + name] for name, theirs in table.items()}
    if not encoder:
        for kind in ("W", "b"):
            theirs = "multihead_attn.in_proj_" + ("weight" if kind == "W" else "bias")
            mapped[theirs] = torch.cat([ours[f"{prefix}cross_attn.query.{kind}"],
                                        ours[f"{prefix}cross_attn.kv.{kind}"]])
    return mapped


def encoder_layer(torch, block):
    """A ``nn.TransformerEncoderLayer`` (float64, eval) shaped like ``block``: ReLU,
    no dropout, batch first, norm first if ``block.norm == "pre"``."""
    return torch.nn.TransformerEncoderLayer(
        block.d_model, block.attn.n_heads, block.d_ff, dropout=0.0, activation="relu",
        batch_first=True, norm_first=block.norm == "pre", dtype=torch.float64).eval()


def decoder_layer(torch, block):
    """A ``nn.TransformerDecoderLayer`` shaped like ``block``, as :func:`encoder_layer`."""
    return torch.nn.TransformerDecoderLayer(
        block.d_model, block.self_attn.n_heads, block.d_ff, dropout=0.0, activation="relu",
        batch_first=True, norm_first=block.norm == "pre", dtype=torch.float64).eval()


def causal(torch, seq: int):
    """(seq, seq): True where key s lies after query t, torch's boolean attn_mask."""
    return torch.ones(seq, seq, dtype=torch.bool).triu(1)
