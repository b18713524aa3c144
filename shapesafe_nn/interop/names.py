"""Where each parameter of our GPT lives in the GPT-2 formats, and in which layout.

nanoGPT and Hugging Face's ``GPT2LMHeadModel`` name GPT-2's tensors alike
(``transformer.h.0.attn.c_attn.weight``, ...), inherited from OpenAI's
release.  They differ in one thing, how a projection's weight is stored:

- nanoGPT uses ``nn.Linear``: weight (d_out, d_in), out = x weightᵀ + b;
- Hugging Face uses GPT-2's ``Conv1D``: weight (d_in, d_out), out = x weight + b.

Every projection of ours is a ``Dense``, whose weight is declared
``(d_out d_in)``: the layout of ``nn.Linear``.  :func:`gpt2_tensors` reads
the names and those declarations from the model itself, so it is the one
place that knows both sides: every export and import goes through it.

The language-model head (``lm_head.weight``) is tied to the token embedding
in all three models, so it has no entry of its own here.

llama.cpp's GGUF files name the same tensors its own way
(``blk.0.attn_qkv.weight``): :func:`gguf_name` turns a GPT-2 name into
llama.cpp's.  GGUF keeps each weight as ``nn.Linear`` does, (d_out, d_in).
"""

from dataclasses import dataclass

from ..models.gpt import GPT

# Our parameter names -> GPT-2's, in GPT-2's order (nanoGPT's optimizer
# numbers its parameters in this order).  Inside block i:
BLOCK_NAMES = {
    "ln1.gamma": "ln_1.weight",
    "ln1.beta": "ln_1.bias",
    "attn.qkv.W": "attn.c_attn.weight",  # q, k and v side by side
    "attn.qkv.b": "attn.c_attn.bias",
    "attn.proj.W": "attn.c_proj.weight",
    "attn.proj.b": "attn.c_proj.bias",
    "ln2.gamma": "ln_2.weight",
    "ln2.beta": "ln_2.bias",
    "ff.fc.W": "mlp.c_fc.weight",
    "ff.fc.b": "mlp.c_fc.bias",
    "ff.proj.W": "mlp.c_proj.weight",
    "ff.proj.b": "mlp.c_proj.bias",
}
EMBEDDING_NAMES = {"token_embedding.W": "transformer.wte.weight",
                   "positions.P": "transformer.wpe.weight"}
FINAL_NAMES = {"ln_f.gamma": "transformer.ln_f.weight", "ln_f.beta": "transformer.ln_f.bias"}
PROJECTIONS = {"attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight",
               "mlp.c_proj.weight"}
# the two ways a format may store a projection's weight
OUT_IN = "(d_out, d_in)"  # nn.Linear: nanoGPT
IN_OUT = "(d_in, d_out)"  # Conv1D: Hugging Face
DENSE_DIMS = "d_out d_in"  # how a parameter stored (d_out, d_in) declares itself

# GPT-2's names -> llama.cpp's, for its "gpt2" architecture in GGUF (the gguf
# package's MODEL_TENSORS[MODEL_ARCH.GPT2]).  Inside block i, "blk.{i}." in front:
GGUF_BLOCK_NAMES = {
    "ln_1.weight": "attn_norm.weight",
    "ln_1.bias": "attn_norm.bias",
    "attn.c_attn.weight": "attn_qkv.weight",
    "attn.c_attn.bias": "attn_qkv.bias",
    "attn.c_proj.weight": "attn_output.weight",
    "attn.c_proj.bias": "attn_output.bias",
    "ln_2.weight": "ffn_norm.weight",
    "ln_2.bias": "ffn_norm.bias",
    "mlp.c_fc.weight": "ffn_up.weight",
    "mlp.c_fc.bias": "ffn_up.bias",
    "mlp.c_proj.weight": "ffn_down.weight",
    "mlp.c_proj.bias": "ffn_down.bias",
}
# outside the blocks; llama.cpp's "output.weight" (the head) is left out, and
# llama.cpp then ties the head to token_embd, as ours is
GGUF_NAMES = {
    "transformer.wte.weight": "token_embd.weight",
    "transformer.wpe.weight": "position_embd.weight",
    "transformer.ln_f.weight": "output_norm.weight",
    "transformer.ln_f.bias": "output_norm.bias",
}


@dataclass(frozen=True)
class Tensor:
    """One of our parameters as a format stores it."""

    ours: str  # our name: "blocks.0.attn.qkv.W"
    theirs: str  # the format's name: "transformer.h.0.attn.c_attn.weight"
    shape: tuple[int, ...]  # our shape
    transposed: bool  # the format stores our array transposed

    @property
    def their_shape(self) -> tuple[int, ...]:
        return self.shape[::-1] if self.transposed else self.shape


def gpt2_tensors(model: GPT, projection_layout: str) -> list[Tensor]:
    """Every parameter of ``model`` under its GPT-2 name, in GPT-2's order.

    ``projection_layout`` is how the format stores a projection's weight:
    :data:`OUT_IN` (nanoGPT) or :data:`IN_OUT` (Hugging Face).  A sinusoidal
    model has no position parameter, so no ``transformer.wpe.weight`` here.
    """
    ours = {name: parameter for name, parameter in model.named_parameters()}
    order = dict(EMBEDDING_NAMES)
    for i in range(model.config.n_layer):
        order.update({f"blocks.{i}.{mine}": f"transformer.h.{i}.{theirs}"
                      for mine, theirs in BLOCK_NAMES.items()})
    order.update(FINAL_NAMES)
    unnamed = sorted(set(ours) - set(order))
    if unnamed:  # a parameter GPT-2 has no place for: say so rather than drop it
        raise ValueError(f"gpt2_tensors: no GPT-2 name for {', '.join(unnamed)}")
    tensors = []
    for mine, theirs in order.items():
        if mine not in ours:
            if mine != "positions.P":  # only a sinusoidal model lacks one: it has no table
                raise ValueError(f"gpt2_tensors: GPT-2's {theirs} has no parameter here; the "
                                 f"model has no {mine}")
            continue
        parameter = ours[mine]
        transposed = False
        if theirs.split(".", 3)[-1] in PROJECTIONS:
            if parameter.dims != DENSE_DIMS:  # a layout this table does not know: never guess
                raise ValueError(f"gpt2_tensors: {mine} is declared ({parameter.dims}), not "
                                 f"({DENSE_DIMS}) as a Dense weight")
            transposed = projection_layout != OUT_IN
        tensors.append(Tensor(mine, theirs, parameter.value.shape, transposed))
    return tensors


def gguf_name(gpt2_name: str) -> str:
    """llama.cpp's name for GPT-2's tensor ``gpt2_name``:
    ``"transformer.h.3.attn.c_attn.weight"`` -> ``"blk.3.attn_qkv.weight"``."""
    if gpt2_name in GGUF_NAMES:
        return GGUF_NAMES[gpt2_name]
    _, _, block, inside = gpt2_name.split(".", 3)  # transformer . h . 3 . attn.c_attn.weight
    return f"blk.{block}.{GGUF_BLOCK_NAMES[inside]}"
