"""Where each of our translator's parameters lives in ``torch.nn.Transformer``.

The reference tests run PyTorch's own encoder and decoder layers on our
weights: every projection here is a ``Dense`` with W stored (d_out, d_in),
the layout of ``nn.Linear``, so each weight maps over unchanged.  Attention's
``in_proj_weight`` is the stacked ``[W_q; W_k; W_v]``: our self-attention's
``qkv.W`` as it is, and our cross-attention's ``query.W`` above ``kv.W``.
Needs the ``reference`` extra (torch).
"""

import warnings

# our name inside an encoder's TransformerBlock -> the name in nn.TransformerEncoderLayer
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


def sinusoids(torch, seq: int, d_model: int):
    """(seq, d_model): PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), PE[pos, 2i+1] = cos(...)."""
    position = torch.arange(seq, dtype=torch.float64)[:, None]
    frequency = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    table = torch.empty(seq, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)[:, : d_model // 2]
    return table


def transformer(torch, config):
    """``torch.nn.Transformer`` shaped like a translator of ``config`` (float64,
    eval, ReLU, no dropout, batch first).  It always ends each stack with a
    LayerNorm; a post-LN translator (the paper's) has none there, so for
    "post" those two are replaced by the identity."""
    with warnings.catch_warnings():
        # pre-LN turns off an inference fast path (nested tensors) that is never taken here
        warnings.filterwarnings("ignore", "enable_nested_tensor is True")
        twin = torch.nn.Transformer(
            config.d_model, config.n_head, config.n_layer, config.n_layer, config.d_ff,
            dropout=0.0, activation="relu", batch_first=True, norm_first=config.norm == "pre",
            dtype=torch.float64).eval()
    if config.norm == "post":
        twin.encoder.norm = torch.nn.Identity()
        twin.decoder.norm = torch.nn.Identity()
    return twin


def transformer_parameters(torch, config, ours: dict) -> dict:
    """``nn.Transformer``'s names -> our tensors (given by our names, as
    ``Translator.named_parameters`` gives them)."""
    mapped = {}
    for i in range(config.n_layer):
        mapped.update({f"encoder.layers.{i}.{name}": tensor for name, tensor in
                       torch_parameters(torch, ours, f"encoder.{i}.").items()})
        mapped.update({f"decoder.layers.{i}.{name}": tensor for name, tensor in
                       torch_parameters(torch, ours, f"decoder.{i}.", encoder=False).items()})
    if config.norm == "pre":
        for stack in ("encoder", "decoder"):
            mapped[f"{stack}.norm.weight"] = ours[f"{stack}_norm.gamma"]
            mapped[f"{stack}.norm.bias"] = ours[f"{stack}_norm.beta"]
    return mapped


def translator_logits(torch, config, ours: dict, src_ids, tgt_ids, src_padding_mask=None,
                      tgt_padding_mask=None):
    """The translator's logits computed by ``torch.nn.Transformer`` on our weights:
    embeddings times √d_model plus sinusoids, the Transformer with a causal
    target mask and both padding masks, and logits = h E_tgtᵀ (tied)."""
    F = torch.nn.functional
    E_tgt = ours["tgt_embedding.W"]
    E_src = E_tgt if config.share_embeddings else ours["src_embedding.W"]
    src_seq, tgt_seq = src_ids.shape[1], tgt_ids.shape[1]
    x = F.embedding(src_ids, E_src) * config.d_model ** 0.5 + sinusoids(torch, src_seq,
                                                                         config.d_model)
    y = F.embedding(tgt_ids, E_tgt) * config.d_model ** 0.5 + sinusoids(torch, tgt_seq,
                                                                         config.d_model)
    h = torch.func.functional_call(
        transformer(torch, config), transformer_parameters(torch, config, ours), (x, y),
        {"tgt_mask": causal(torch, tgt_seq), "src_key_padding_mask": src_padding_mask,
         "tgt_key_padding_mask": tgt_padding_mask,
         "memory_key_padding_mask": src_padding_mask})
    return h @ E_tgt.T
