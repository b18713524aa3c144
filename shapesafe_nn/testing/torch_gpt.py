"""A PyTorch twin of :class:`~shapesafe_nn.models.gpt.GPT`, kept only as a reference.

Nothing in shapesafe_nn runs on PyTorch.  This module exists so that the
tests and benchmarks can hold our numpy GPT against an independent
implementation whose gradients come from autograd instead of hand-written
``backward`` methods: same weights in, same logits, loss, gradients and
AdamW steps out (``tests/models/test_gpt.py``), and a speed and
final-loss yardstick (``benchmarks/gpt_step.py``, ``benchmarks/gpt_reference.py``).

It needs the ``reference`` extra (``pip install shapesafe_nn[reference]``):
``torch`` is imported at the top, so import this module only where torch
is installed (tests do so after ``pytest.importorskip("torch")``).

The architecture is the same line by line (nanoGPT's ``GPT`` with biases)::

    x = wte(ids) + positions[:seq]        learned table (wpe) or fixed sinusoids
    x = dropout(x)
    x = x + attn(ln1(x)); x = x + ff(ln2(x))      for each block (pre-LN)
    logits = ln_f(x) @ wte.weightᵀ         the head is tied to the token embedding

Its norms are ``nn.LayerNorm`` or, for ``norm_type="rms"``, ``nn.RMSNorm``:
torch's own layers, as the reference for ours.

GPT's own attention (``score="scaled_dot"``, ``mask="causal"``) goes
through ``F.scaled_dot_product_attention`` (nanoGPT's choice where PyTorch
has it): the same softmax(q kᵀ / √d_head) v with the causal mask, in one
fused kernel, so the speed comparison is with PyTorch at its ordinary best
rather than with a transcription of our code.  The other scores and masks
of ``GPTConfig`` take nanoGPT's written-out path, with each score and mask
computed here again from its formula (not imported from ours), so the
reference comparisons cover them too.

The layouts are the same: our ``Dense`` stores W as (d_out, d_in), as
``torch.nn.Linear`` stores ``weight``, in every projection, so each
parameter is copied as it is.  :func:`parameter_map` is the one place that
pairs the names; everything else goes through it.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.gpt import GPT, GPTConfig


def attention_scores(q: torch.Tensor, k: torch.Tensor, score: str) -> torch.Tensor:
    """(..., seq, seq) scores of ``GPTConfig.score``, each from its formula: the
    reference for ``attention.SCORES`` (tests/layers/test_attention_variants.py)."""
    d_head = q.shape[-1]
    if score == "scaled_dot":
        return q @ k.transpose(-2, -1) / math.sqrt(d_head)
    if score == "dot":
        return q @ k.transpose(-2, -1)
    if score == "squared_dot":
        return (q @ k.transpose(-2, -1) / math.sqrt(d_head)) ** 2
    if score == "cosine":
        return F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1) * math.sqrt(d_head)
    if score == "dot_of_squares":
        return (q ** 2) @ (k ** 2).transpose(-2, -1) / math.sqrt(d_head)
    if score == "negative_dot":
        return -(q @ k.transpose(-2, -1)) / math.sqrt(d_head)
    if score == "negative_squared_distance":  # every pair's difference, written out
        return -((q[..., :, None, :] - k[..., None, :, :]) ** 2).sum(-1) / math.sqrt(d_head)
    raise ValueError(f"TorchGPT: no score {score!r}")


def hidden_positions(mask: str, seq: int) -> torch.Tensor:
    """(seq, seq) booleans of ``GPTConfig.mask``: True where query t may not see key s;
    the reference for ``attention.MASKS``."""
    every = torch.ones(seq, seq, dtype=torch.bool)
    if mask == "causal":
        return every.triu(1)  # the future
    if mask == "none":
        return ~every
    if mask == "anti_causal":
        return every.tril(-1)  # the past
    raise ValueError(f"TorchGPT: no mask {mask!r}")


class _Attention(nn.Module):
    """Multi-head self-attention with a fused q, k, v projection (nanoGPT's)."""

    def __init__(self, config: GPTConfig, dtype: torch.dtype):
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.score, self.mask = config.score, config.mask
        self.c_attn = nn.Linear(config.d_model, 3 * config.d_model, dtype=dtype)
        self.c_proj = nn.Linear(config.d_model, config.d_model, dtype=dtype)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, d_model = x.shape
        # (batch, seq, d_model) each -> (batch, n_heads, seq, d_head)
        q, k, v = (part.view(batch, seq, self.n_head, d_model // self.n_head).transpose(1, 2)
                   for part in self.c_attn(x).split(d_model, dim=-1))
        dropout = self.dropout if self.training else 0.0
        if self.score == "scaled_dot" and self.mask == "causal":
            # softmax(q kᵀ / √d_head, causal) v, with dropout on the weights while training
            heads = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
        else:  # nanoGPT's written-out attention, with the configured score and mask
            scores = attention_scores(q, k, self.score)
            scores = scores.masked_fill(hidden_positions(self.mask, seq), float("-inf"))
            heads = F.dropout(scores.softmax(dim=-1), dropout) @ v
        merged = heads.transpose(1, 2).reshape(batch, seq, d_model)
        return self.resid_dropout(self.c_proj(merged))


class _FeedForward(nn.Module):
    def __init__(self, config: GPTConfig, dtype: torch.dtype):
        super().__init__()
        d_ff = config.d_ff or 4 * config.d_model
        self.fc = nn.Linear(config.d_model, d_ff, dtype=dtype)
        self.proj = nn.Linear(d_ff, config.d_model, dtype=dtype)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x), approximate="tanh")))


def _norm(config: GPTConfig, dtype: torch.dtype) -> nn.Module:
    """torch's own layer for ``GPTConfig.norm_type``: LayerNorm (weight and bias) or
    RMSNorm (weight only), with our eps."""
    norms = {"layer": nn.LayerNorm, "rms": nn.RMSNorm}
    return norms[config.norm_type](config.d_model, eps=1e-5, dtype=dtype)


class _Block(nn.Module):
    def __init__(self, config: GPTConfig, dtype: torch.dtype):
        super().__init__()
        self.ln1 = _norm(config, dtype)
        self.attn = _Attention(config, dtype)
        self.ln2 = _norm(config, dtype)
        self.ff = _FeedForward(config, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.ff(self.ln2(x))


def _sinusoids(max_len: int, d_model: int) -> torch.Tensor:
    """Vaswani et al.'s table, computed here again rather than copied from ours."""
    position = torch.arange(max_len, dtype=torch.float64)[:, None]
    frequency = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    angles = position * frequency  # (max_len, ceil(d_model / 2))
    table = torch.empty(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return table


class TorchGPT(nn.Module):
    """The same model as ``GPT(config)``, in PyTorch, with autograd's gradients.

    Built with GPT-2's initialization (weights N(0, 0.02²), biases 0, norms' γ 1
    and β 0) from ``torch.manual_seed(config.seed)``; to compare with a GPT,
    call :meth:`copy_weights_from`.  ``forward(ids)`` takes int64 ids (batch,
    seq) and returns the logits (batch, seq, vocab).
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        dtype = getattr(torch, np.dtype(config.dtype).name)  # "float32" -> torch.float32
        torch.manual_seed(config.seed)
        self.wte = nn.Embedding(config.vocab_size, config.d_model, dtype=dtype)
        if config.positions == "learned":
            self.wpe = nn.Embedding(config.block_size, config.d_model, dtype=dtype)
        else:
            self.register_buffer("sinusoids",
                                 _sinusoids(config.block_size, config.d_model).to(dtype),
                                 persistent=False)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(_Block(config, dtype) for _ in range(config.n_layer))
        self.ln_f = _norm(config, dtype)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        seq = ids.shape[1]
        if seq > self.config.block_size:
            raise ValueError(f"TorchGPT: seq = {seq} exceeds block_size = "
                             f"{self.config.block_size}")
        x = self.wte(ids)
        if self.config.positions == "learned":
            x = x + self.wpe.weight[:seq]
        else:
            x = x + self.sinusoids[:seq]
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T  # the tied head

    @torch.no_grad()
    def copy_weights_from(self, gpt: GPT) -> "TorchGPT":
        """Make this twin compute exactly what ``gpt`` computes; returns ``self``."""
        ours = dict(gpt.named_parameters())
        mapping = parameter_map(self)
        if set(ours) != set(mapping):
            raise ValueError(f"TorchGPT.copy_weights_from: the models differ; only in the GPT: "
                             f"{sorted(set(ours) - set(mapping))}, only in the twin: "
                             f"{sorted(set(mapping) - set(ours))}")
        for name, tensor in mapping.items():
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(ours[name].value)))
        return self


def parameter_map(twin: TorchGPT) -> dict[str, torch.Tensor]:
    """Our parameter name -> the twin's tensor, of the same shape and layout."""
    mapping = {"token_embedding.W": twin.wte.weight}
    if twin.config.positions == "learned":
        mapping["positions.P"] = twin.wpe.weight
    for i, block in enumerate(twin.blocks):
        mapping.update(_norm_map(f"blocks.{i}.ln1", block.ln1))
        mapping.update({
            f"blocks.{i}.attn.qkv.W": block.attn.c_attn.weight,
            f"blocks.{i}.attn.qkv.b": block.attn.c_attn.bias,
            f"blocks.{i}.attn.proj.W": block.attn.c_proj.weight,
            f"blocks.{i}.attn.proj.b": block.attn.c_proj.bias,
        })
        mapping.update(_norm_map(f"blocks.{i}.ln2", block.ln2))
        mapping.update({
            f"blocks.{i}.ff.fc.W": block.ff.fc.weight,
            f"blocks.{i}.ff.fc.b": block.ff.fc.bias,
            f"blocks.{i}.ff.proj.W": block.ff.proj.weight,
            f"blocks.{i}.ff.proj.b": block.ff.proj.bias,
        })
    mapping.update(_norm_map("ln_f", twin.ln_f))
    return mapping


def _norm_map(ours: str, norm: nn.Module) -> dict[str, torch.Tensor]:
    """A norm's parameters under our names: γ is torch's weight, β its bias (an
    RMSNorm has none)."""
    bias = getattr(norm, "bias", None)
    if bias is None:
        return {f"{ours}.gamma": norm.weight}
    return {f"{ours}.gamma": norm.weight, f"{ours}.beta": bias}


def parameters_as_numpy(twin: TorchGPT) -> dict[str, np.ndarray]:
    """The twin's parameters under our names: ``{"blocks.0.attn.qkv.W": ...}``."""
    return {name: tensor.detach().numpy().copy() for name, tensor in parameter_map(twin).items()}


def gradients_as_numpy(twin: TorchGPT) -> dict[str, np.ndarray]:
    """The gradients autograd left in ``.grad``, under our names."""
    gradients = {}
    for name, tensor in parameter_map(twin).items():
        if tensor.grad is None:
            raise ValueError(f"gradients_as_numpy: {name} has no gradient; run backward first")
        gradients[name] = tensor.grad.detach().numpy().copy()
    return gradients


def make_adamw(twin: TorchGPT, lr: float, betas: tuple[float, float] = (0.9, 0.999),
               weight_decay: float = 0.01, eps: float = 1e-8) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` that decays exactly the parameters our AdamW decays.

    Ours decays parameters with 2 or more axes (weight matrices, embedding
    tables) and not the 1-axis ones (biases, LayerNorm gains and shifts),
    as nanoGPT's ``configure_optimizers``; here that is two parameter groups.
    """
    parameters = list(parameter_map(twin).values())
    groups = [{"params": [p for p in parameters if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)

