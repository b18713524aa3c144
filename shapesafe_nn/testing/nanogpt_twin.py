"""A PyTorch model with nanoGPT's architecture and parameter names, for tests.

nanoGPT's own ``model.py`` is not a dependency, so the tests check our
nanoGPT export against this twin, written here from the facts of that
format: the module tree that gives its state-dict names
(``transformer.wte``, ``transformer.wpe``, ``transformer.h.<i>.ln_1``,
``.attn.c_attn``, ``.attn.c_proj``, ``.ln_2``, ``.mlp.c_fc``,
``.mlp.c_proj``, ``transformer.ln_f``, ``lm_head`` tied to ``wte``),
``nn.Linear`` layers ((d_out, d_in) weights), an MLP 4 · n_embd wide with
the exact GELU, LayerNorm ε = 1e-5, and the two AdamW groups of its
``configure_optimizers``.  A checkpoint that loads here with ``strict=True``
and gives the same logits has the names, shapes and layouts nanoGPT reads.

Needs torch (the ``reference`` extra); import it after
``pytest.importorskip("torch")``.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class _SelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, bias: bool):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)  # q, k, v side by side
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, n_embd = x.shape
        d_head = n_embd // self.n_head
        # (batch, seq, n_embd) each -> (batch, n_head, seq, d_head)
        q, k, v = (part.view(batch, seq, self.n_head, d_head).transpose(1, 2)
                   for part in self.c_attn(x).split(n_embd, dim=-1))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d_head)  # (batch, n_head, seq, seq)
        future = torch.ones(seq, seq, dtype=torch.bool).triu(1)
        heads = scores.masked_fill(future, float("-inf")).softmax(dim=-1) @ v
        return self.c_proj(heads.transpose(1, 2).reshape(batch, seq, n_embd))


class _MLP(nn.Module):
    def __init__(self, n_embd: int, bias: bool):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))  # the exact (erf) GELU


class _Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, bias: bool):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, eps=1e-5, bias=bias)
        self.attn = _SelfAttention(n_embd, n_head, bias)
        self.ln_2 = nn.LayerNorm(n_embd, eps=1e-5, bias=bias)
        self.mlp = _MLP(n_embd, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGPTTwin(nn.Module):
    """Built from a nanoGPT checkpoint's ``model_args``; ``forward(ids)`` gives
    the logits (batch, seq, vocab) of every position."""

    def __init__(self, n_layer: int, n_head: int, n_embd: int, block_size: int,
                 vocab_size: int, bias: bool = True, dropout: float = 0.0):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, n_embd),
            wpe=nn.Embedding(block_size, n_embd),
            h=nn.ModuleList(_Block(n_embd, n_head, bias) for _ in range(n_layer)),
            ln_f=nn.LayerNorm(n_embd, eps=1e-5, bias=bias)))
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # tied, so one tensor in the optimizer

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        seq = ids.shape[1]
        x = self.transformer.wte(ids) + self.transformer.wpe.weight[:seq]
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))

    def adamw(self, lr: float, weight_decay: float, betas) -> torch.optim.AdamW:
        """AdamW over two groups, as nanoGPT's: decay the parameters with 2 or
        more axes, not the others, each group in ``named_parameters`` order."""
        parameters = [p for _, p in self.named_parameters()]
        return torch.optim.AdamW(
            [{"params": [p for p in parameters if p.dim() >= 2], "weight_decay": weight_decay},
             {"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0}],
            lr=lr, betas=betas)
