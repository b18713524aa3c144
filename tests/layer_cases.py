"""One table of layer cases: how to build each exported layer, cost and model,
and what it computes, written again in PyTorch.

The table drives the contract every layer must keep (tests/test_contracts.py:
finite differences, reuse, PyTorch) and the strategies drawn from its
annotations (tests/test_strategies.py).  A test of behaviour particular to one
layer stays in that layer's own file.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shapesafe_nn import QuadraticCost, SoftmaxCrossEntropy
from shapesafe_nn.layers import (GELU, Attention, AttentionHead, CrossAttention, DecoderBlock,
                                 Dense, Dropout, Embedding, FeedForward, LayerNorm,
                                 LearnedPositionalEmbedding, MultiHeadAttention, ReLU, RMSNorm,
                                 Sigmoid, SinusoidalPositionalEncoding, Softmax, Tanh,
                                 TransformerBlock)
from shapesafe_nn.losses import LabelSmoothedCrossEntropy
from shapesafe_nn.models import GPT, GPTConfig, Network, Translator, TranslatorConfig


def seeded() -> np.random.Generator:
    return np.random.default_rng(0)


def spread(layer, std: float = 0.5):
    """``layer`` with every parameter redrawn from N(0, std²).  A post-LN block
    normalizes x + sublayer(x): with GPT-2's N(0, 0.02²) weights and a drawn x
    that is constant along d_model (all -1), that sum is nearly constant, its
    variance is close to LayerNorm's eps, and finite differences lose their
    accuracy (measured: error 2.4e-5).  A GPT reading one token over and over
    does the same to its final LayerNorm (measured: 3.3e-6, ids all 3 and 0).
    Wider weights keep every input to a LayerNorm well spread."""
    rng = seeded()
    for _, parameter in layer.named_parameters():
        parameter.value[...] = rng.standard_normal(parameter.value.shape) * std
    return layer


# block_size 4 < max_side 8: seq must be capped by the position table's max_len
def tiny_gpt_config(dtype: str = "float32") -> GPTConfig:
    return GPTConfig(vocab_size=7, block_size=4, n_layer=1, n_head=2, d_model=4, d_ff=8,
                     dtype=dtype)


# ---------------------------------------------------------------------------
# The references: each layer's forward written with torch's own operations, over
# our parameters (torch tensors under our names).  Autograd gives the gradients.
# Masks and position tables are built here from their formulas, never from ours.
# ---------------------------------------------------------------------------
def torch_causal(torch, q_seq: int, kv_seq: int):
    """True where key s lies after query t (queries are the last q_seq positions)."""
    return torch.ones(q_seq, kv_seq, dtype=torch.bool).triu(1 + kv_seq - q_seq)


def torch_attention(torch, q, k, v, hidden=None):
    """softmax(q kᵀ / √d_head, -∞ where hidden) v, over any leading axes."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if hidden is not None:
        scores = scores.masked_fill(hidden, float("-inf"))
    return scores.softmax(-1) @ v


def torch_multi_head(torch, x, memory, n_heads, p, prefix_qkv, hidden=None):
    """PyTorch's own multi-head attention, F.multi_head_attention_forward, with
    our projections: in_proj_weight is [W_q; W_k; W_v] stacked, as ours are."""
    F = torch.nn.functional
    if prefix_qkv == "qkv":  # MultiHeadAttention: one Dense makes q, k and v
        in_w, in_b = p["qkv.W"], p["qkv.b"]
    else:  # CrossAttention: q from x, k and v from memory
        in_w = torch.cat([p["query.W"], p["kv.W"]])
        in_b = torch.cat([p["query.b"], p["kv.b"]])
    d_model = x.shape[-1]
    out, _ = F.multi_head_attention_forward(
        x.transpose(0, 1), memory.transpose(0, 1), memory.transpose(0, 1), d_model, n_heads,
        in_w, in_b, None, None, False, 0.0, p["proj.W"], p["proj.b"], training=False,
        need_weights=False, attn_mask=hidden)
    return out.transpose(0, 1)


def torch_sinusoids(torch, max_len, d_model):
    position = torch.arange(max_len, dtype=torch.float64)[:, None]
    frequency = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    table = torch.empty(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)[:, : d_model // 2]
    return table


def torch_block(torch, layer, x, p, prefix=""):
    """GPT-2's pre-LN block: x + MHA(LN₁ x), then + FFN(LN₂ ·)."""
    F = torch.nn.functional
    d_model = x.shape[-1]
    attn = {name[len("attn."):]: value for name, value in p.items() if name.startswith("attn.")}
    h = F.layer_norm(x, (d_model,), p["ln1.gamma"], p["ln1.beta"], eps=1e-5)
    seq = x.shape[1]
    x = x + torch_multi_head(torch, h, h, layer.attn.n_heads, attn, "qkv",
                             torch_causal(torch, seq, seq))
    h = F.layer_norm(x, (d_model,), p["ln2.gamma"], p["ln2.beta"], eps=1e-5)
    hidden = F.gelu(F.linear(h, p["ff.fc.W"], p["ff.fc.b"]), approximate="tanh")
    return x + F.linear(hidden, p["ff.proj.W"], p["ff.proj.b"])


def reference_decoder_block(torch, layer, inputs, p):
    """PyTorch's own nn.TransformerDecoderLayer, on our parameters, causal."""
    from shapesafe_nn.testing import torch_translator as twin

    x, memory = inputs
    return torch.func.functional_call(
        twin.decoder_layer(torch, layer), twin.torch_parameters(torch, p, encoder=False),
        (x, memory), {"tgt_mask": twin.causal(torch, x.shape[1])})


def reference_gpt(torch, layer, inputs, p):
    """The nanoGPT-architecture twin, run on our parameters (mapped by name)."""
    from shapesafe_nn.testing.torch_gpt import TorchGPT, parameter_map

    twin = TorchGPT(layer.config)
    twin_names = {id(tensor): name for name, tensor in twin.named_parameters()}
    ours_to_twin = {ours: twin_names[id(tensor)] for ours, tensor in parameter_map(twin).items()}
    return torch.func.functional_call(
        twin, {ours_to_twin[name]: value for name, value in p.items()}, (inputs[0],))


# one vocabulary (shared embeddings): the drawn ids of both sides lie in [0, vocab);
# max_len 8 covers every side drawn (src_seq and tgt_seq are not capped by max_len)
def tiny_translator_config(dtype: str = "float32", norm: str = "post") -> TranslatorConfig:
    return TranslatorConfig(src_vocab_size=7, tgt_vocab_size=7, share_embeddings=True,
                            max_len=8, n_layer=1, n_head=2, d_model=4, d_ff=8, dropout=0.0,
                            norm=norm, dtype=dtype)


def reference_translator(torch, layer, inputs, p):
    """torch.nn.Transformer, on our parameters, with our embeddings around it."""
    from shapesafe_nn.testing import torch_translator as twin

    return twin.translator_logits(torch, layer.config, p, *inputs)


def reference_network(torch, layer, inputs, p):
    F = torch.nn.functional
    x = inputs[0]
    dense = sorted({name.rsplit(".", 1)[0] for name in p})
    for index, prefix in enumerate(dense):
        x = F.linear(x, p[f"{prefix}.W"], p[f"{prefix}.b"])
        x = torch.sigmoid(x)  # sigmoid hidden layers and a sigmoid output: the book's
    return x


@dataclass
class Case:
    build: Callable[..., object]  # build(dtype): the layer, its floats in that dtype
    #                               (every constant parameter drawn apart: see below)
    dims: dict | None = None  # sizes the layer cannot tell from its parameters
    backward_returns_none: bool = False  # documented: no gradient for the input
    no_gradient_for: tuple = ()  # float inputs declared to get no gradient
    # reference(torch, layer, torch inputs, torch params by our names) -> output;
    # None where no reference can be independent (say why next to the case)
    reference: Callable | None = None
    # float arguments drawn away from 0 break nothing, but a few layers need more:
    # the dims given to the gradient check's draws (sizes kept small: it is slow)
    gradcheck_dims: dict | None = None

    def __post_init__(self):
        make = self.build
        self.build = lambda *args: without_constant_parameters(make(*args))


def without_constant_parameters(layer):
    """``layer`` with every parameter that starts as one constant (a LayerNorm's
    γ = 1 and β = 0, a zero bias) drawn around that constant instead.  With
    γ = 1 a backward that forgets γ computes the right numbers, and with β = 0
    one that adds β twice does: every table test would pass such a bug."""
    rng = np.random.default_rng(1)
    for _, parameter in layer.named_parameters():
        value = parameter.value
        if value.size > 1 and np.all(value == value.flat[0]):
            value[...] = value.flat[0] + rng.uniform(0.2, 0.6, value.shape) * rng.choice(
                [-1, 1], value.shape)
    return layer


def _F(torch):
    return torch.nn.functional


CASES: dict[str, Case] = {
    "Dense": Case(lambda dtype: Dense(4, 3, rng=seeded(), bias_std=0.5, dtype=dtype),
                  reference=lambda t, layer, i, p: _F(t).linear(i[0], p["W"], p["b"])),
    "Sigmoid": Case(lambda dtype: Sigmoid(), reference=lambda t, layer, i, p: t.sigmoid(i[0])),
    "ReLU": Case(lambda dtype: ReLU(), reference=lambda t, layer, i, p: t.relu(i[0])),
    "Tanh": Case(lambda dtype: Tanh(), reference=lambda t, layer, i, p: t.tanh(i[0])),
    "Softmax": Case(lambda dtype: Softmax(),
                    reference=lambda t, layer, i, p: t.softmax(i[0], dim=-1)),
    "GELU": Case(lambda dtype: GELU(),
                 reference=lambda t, layer, i, p: _F(t).gelu(i[0], approximate="tanh")),
    "Embedding": Case(lambda dtype: Embedding(7, 4, rng=seeded(), dtype=dtype),
                      backward_returns_none=True,
                      reference=lambda t, layer, i, p: _F(t).embedding(i[0], p["W"])),
    "SinusoidalPositionalEncoding": Case(
        lambda dtype: SinusoidalPositionalEncoding(5, 6, dtype=dtype),
        reference=lambda t, layer, i, p: i[0] + torch_sinusoids(t, 5, 6)[: i[0].shape[1]]),
    "LearnedPositionalEmbedding": Case(
        lambda dtype: LearnedPositionalEmbedding(5, 6, rng=seeded(), dtype=dtype),
        reference=lambda t, layer, i, p: i[0] + p["P"][: i[0].shape[1]]),
    # mask "none": q_seq and kv_seq are drawn apart, and a causal query after the
    # last key would see no key at all (an error, tested in test_attention.py)
    "Attention": Case(
        lambda dtype: Attention("scaled_dot", "none"),
        reference=lambda t, layer, i, p: torch_attention(t, *i)),
    "AttentionHead": Case(
        lambda dtype: AttentionHead(6, 3, rng=seeded(), dtype=dtype),
        reference=lambda t, layer, i, p: torch_attention(
            t, *(i[0] @ p[f"{name}.W"].T for name in ("query", "key", "value")),
            torch_causal(t, i[0].shape[1], i[0].shape[1]))),
    "MultiHeadAttention": Case(
        lambda dtype: MultiHeadAttention(8, 2, rng=seeded(), dtype=dtype),
        reference=lambda t, layer, i, p: torch_multi_head(
            t, i[0], i[0], 2, p, "qkv", torch_causal(t, i[0].shape[1], i[0].shape[1]))),
    "CrossAttention": Case(
        lambda dtype: CrossAttention(8, 2, rng=seeded(), dtype=dtype),
        reference=lambda t, layer, i, p: torch_multi_head(t, i[0], i[1], 2, p, "cross")),
    "LayerNorm": Case(
        lambda dtype: LayerNorm(5, dtype=dtype),
        reference=lambda t, layer, i, p: _F(t).layer_norm(i[0], (5,), p["gamma"], p["beta"],
                                                          eps=layer.eps)),
    # γ drawn apart from 1: a backward that forgot γ would pass with ones
    "RMSNorm": Case(
        lambda dtype: spread(RMSNorm(5, dtype=dtype)),
        reference=lambda t, layer, i, p: _F(t).rms_norm(i[0], (5,), p["gamma"], eps=layer.eps)),
    # Dropout draws its mask from its own generator: no torch reference can draw
    # the same one, and one built from our mask would only repeat our arithmetic.
    # Its rate and scale are tested in tests/layers/test_dropout.py.
    "Dropout": Case(lambda dtype: Dropout(0.2, seed=0)),
    "FeedForward": Case(
        lambda dtype: FeedForward(4, 16, rng=seeded(), dtype=dtype),
        reference=lambda t, layer, i, p: _F(t).linear(
            _F(t).gelu(_F(t).linear(i[0], p["fc.W"], p["fc.b"]), approximate="tanh"),
            p["proj.W"], p["proj.b"])),
    "TransformerBlock": Case(
        lambda dtype: spread(TransformerBlock(4, 2, d_ff=8, rng=seeded(), dtype=dtype)),
        reference=lambda t, layer, i, p: torch_block(t, layer, i[0], p)),
    # post-LN (the paper's) and ReLU, as torch's layers; pre-LN in the blocks' own files,
    # and the TransformerBlock post-LN with no mask, as an encoder, in its own
    "DecoderBlock": Case(
        lambda dtype: spread(DecoderBlock(4, 2, d_ff=8, rng=seeded(), dtype=dtype)),
        reference=reference_decoder_block),
    "QuadraticCost": Case(
        lambda dtype: QuadraticCost(),
        reference=lambda t, layer, i, p: 0.5 * ((i[0] - _F(t).one_hot(i[1], i[0].shape[1]))
                                                ** 2).sum() / len(i[0])),
    "SoftmaxCrossEntropy": Case(
        lambda dtype: SoftmaxCrossEntropy(),
        reference=lambda t, layer, i, p: _F(t).cross_entropy(
            i[0].reshape(-1, i[0].shape[-1]), i[1].reshape(-1))),
    # no ignore_index here: drawn labels could all be the ignored one, which is
    # refused; ignoring PAD is checked in tests/test_label_smoothing.py
    "LabelSmoothedCrossEntropy": Case(
        lambda dtype: LabelSmoothedCrossEntropy(smoothing=0.1),
        reference=lambda t, layer, i, p: _F(t).cross_entropy(
            i[0].reshape(-1, i[0].shape[-1]), i[1].reshape(-1), label_smoothing=0.1)),
    # its first Dense skips dx by default (input_grad=False)
    "Network": Case(lambda dtype: Network([4, 3, 2], dtype=dtype), backward_returns_none=True,
                    no_gradient_for=(0,), reference=reference_network),
    "Translator": Case(
        lambda dtype: spread(Translator(tiny_translator_config(np.dtype(dtype).name))),
        backward_returns_none=True,  # token ids get no gradient
        reference=reference_translator),
    "GPT": Case(lambda dtype: spread(GPT(tiny_gpt_config(np.dtype(dtype).name))),
                backward_returns_none=True,  # token ids get no gradient
                reference=reference_gpt),
}
