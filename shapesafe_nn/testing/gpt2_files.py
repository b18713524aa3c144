"""A Hugging Face GPT-2 folder with random weights, at GPT-2's sizes or any others.

The real GPT-2 is half a gigabyte that the user downloads; tests and the
docs must not.  :func:`random_gpt2_folder` writes what the Hub serves for
``gpt2`` (``config.json``, ``model.safetensors``, ``tokenizer.json``) with
the same config fields and tensor names and shapes, but random weights and a
small byte-level BPE trained on the bundled Shakespeare (GPT-2's own has
50,257 tokens).  The tensors are listed here from the format itself, not
from :mod:`shapesafe_nn.interop.names`, so a test that imports the folder
checks that table against an independent statement.

Needs the ``interop`` extra (safetensors, tokenizers).
"""

import json
from pathlib import Path

import numpy as np

from ..data import load_text
from ..tokenizers import BPETokenizer

# GPT-2 124M ("gpt2" on the Hub): its config.json's sizes
GPT2_SIZES = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12)
TOKENIZER_TEXT = 100_000  # characters of the bundled corpus to train the stand-in BPE on


def gpt2_tensor_shapes(vocab_size: int, n_positions: int, n_embd: int, n_layer: int,
                       n_inner: int | None = None) -> dict[str, tuple[int, ...]]:
    """Every tensor of a GPT2LMHeadModel file, name -> shape; Conv1D weights (d_in, d_out)."""
    n_inner = n_inner or 4 * n_embd
    shapes = {"transformer.wte.weight": (vocab_size, n_embd),
              "transformer.wpe.weight": (n_positions, n_embd)}
    for i in range(n_layer):
        shapes.update({f"transformer.h.{i}.{name}": shape for name, shape in {
            "ln_1.weight": (n_embd,), "ln_1.bias": (n_embd,),
            "attn.c_attn.weight": (n_embd, 3 * n_embd), "attn.c_attn.bias": (3 * n_embd,),
            "attn.c_proj.weight": (n_embd, n_embd), "attn.c_proj.bias": (n_embd,),
            "ln_2.weight": (n_embd,), "ln_2.bias": (n_embd,),
            "mlp.c_fc.weight": (n_embd, n_inner), "mlp.c_fc.bias": (n_inner,),
            "mlp.c_proj.weight": (n_inner, n_embd), "mlp.c_proj.bias": (n_embd,)}.items()})
    shapes.update({"transformer.ln_f.weight": (n_embd,), "transformer.ln_f.bias": (n_embd,)})
    return shapes


def random_gpt2_folder(folder, *, seed: int = 0, tokenizer_vocab: int = 512,
                       **sizes) -> Path:
    """Write a GPT-2 folder with random weights of GPT-2's spread (standard
    deviation 0.02, LayerNorm gains near 1) to ``folder``; ``sizes`` replace GPT-2
    124M's (``n_layer=2``, ...).  The weights are uniform, not normal: drawing
    124 million uniform numbers takes a third of the time."""
    from safetensors.numpy import save_file
    sizes = GPT2_SIZES | sizes
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape in gpt2_tensor_shapes(sizes["vocab_size"], sizes["n_positions"],
                                          sizes["n_embd"], sizes["n_layer"],
                                          sizes.get("n_inner")).items():
        values = rng.random(shape, dtype=np.float32)  # U(0, 1) -> U(-a, a), a = 0.02 √3
        values -= 0.5
        values *= 2 * 0.02 * np.sqrt(3.0)
        if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            values += 1.0
        tensors[name] = values
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
              "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
              "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1, "n_inner": None,
              "initializer_range": 0.02, **sizes}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tokenizer = BPETokenizer.train(load_text(None)[:TOKENIZER_TEXT], tokenizer_vocab)
    (folder / "tokenizer.json").write_text(tokenizer.to_json(), encoding="utf-8")
    return folder
