"""Hugging Face's GPT-2 files: ``config.json``, ``model.safetensors``, ``tokenizer.json``.

A folder of these is what ``GPT2LMHeadModel.save_pretrained`` writes and
``from_pretrained`` reads, and what the Hub serves for ``gpt2``.  Facts of
the format used here:

- ``config.json``: ``model_type`` ``"gpt2"``, ``vocab_size``, ``n_positions``
  (the block size), ``n_embd`` (d_model), ``n_layer``, ``n_head``,
  ``n_inner`` (d_ff; ``null`` means 4 · n_embd), ``activation_function``
  (``"gelu_new"``: the tanh form; ``"gelu"``: the exact erf form),
  ``layer_norm_epsilon`` and three dropout probabilities.
- ``model.safetensors``: named arrays, with a JSON header; each projection's
  weight is stored (d_in, d_out) (GPT-2's ``Conv1D``).  The head is tied to
  ``wte``, so ``lm_head.weight`` is usually absent.  A file saved from the
  bare ``GPT2Model`` (as the Hub's ``gpt2``) names its tensors without the
  ``transformer.`` prefix, and older ones keep each attention's causal mask
  (``attn.bias``, ``attn.masked_bias``), which is not a weight.

Importing holds the model and one tensor of the file at a time: each
tensor is copied into its parameter, then dropped.
"""

import contextlib
import json
from pathlib import Path

import numpy as np

from ..models.gpt import GPT, GPTConfig
from ..saving.files import check_replaceable_folder, writing_folder_atomically
from ..tokenizers import CharTokenizer, char_tokenizer_json, read_tokenizer_json
from .limits import FormatError, refuse_beyond_memory, refuse_unless_gpt2_attention
from .names import IN_OUT, gpt2_tensors

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TOKENIZER = "tokenizer.json"
EXPORT_NAMES = (CONFIG, WEIGHTS, TOKENIZER)  # what an export writes in its folder
# activation_function -> GPTConfig.gelu, and the name we write for each
GELUS = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu": "erf"}
GELU_NAMES = {"tanh": "gelu_new", "erf": "gelu"}
LAYER_NORM_EPS = 1e-5  # GPT-2's, and the default of our LayerNorm, which GPT uses
DROPOUTS = ("resid_pdrop", "embd_pdrop", "attn_pdrop")
# fields that change what GPT-2 computes, with the only value our GPT matches
FIXED = {"scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False,
         "add_cross_attention": False, "tie_word_embeddings": True}
DTYPES = ("F16", "F32", "F64")  # safetensors' names of the dtypes numpy has
# the attention's causal mask, kept as a buffer by older files: not a weight
BUFFERS = ("attn.bias", "attn.masked_bias")
# which config.json fields fix each tensor's shape, to name them in an error
SIZES = {"wte": ("vocab_size", "n_embd"), "wpe": ("n_positions", "n_embd"),
         "mlp": ("n_embd", "n_inner")}


def _safetensors():
    try:
        import safetensors.numpy
    except ImportError:
        raise FormatError("the Hugging Face format needs the safetensors package: "
                          "pip install 'shapesafe_nn[interop]'") from None
    return safetensors


def export_hf(model: GPT, tokenizer, out) -> Path:
    """Write ``model`` (and ``tokenizer``) to the folder ``out`` for
    ``GPT2LMHeadModel.from_pretrained(out)``; returns ``out``."""
    config = model.config
    refuse_unless_gpt2_attention(config, "Hugging Face GPT-2")
    safetensors = _safetensors()
    out = Path(out)
    check_replaceable_folder(out, EXPORT_NAMES)
    values = dict(model.named_parameters())
    tensors = {}
    for tensor in gpt2_tensors(model, IN_OUT):
        value = values[tensor.ours].value
        tensors[tensor.theirs] = np.ascontiguousarray(value.T if tensor.transposed else value)
    if config.positions == "sinusoidal":  # GPT-2's positions are a table: write ours as one
        tensors["transformer.wpe.weight"] = np.ascontiguousarray(model.positions.table)
    end_of_text = None if tokenizer is None else tokenizer.specials.eos
    document = {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": config.vocab_size, "n_positions": config.block_size,
        "n_embd": config.d_model, "n_layer": config.n_layer, "n_head": config.n_head,
        "n_inner": config.d_ff, "activation_function": GELU_NAMES[config.gelu],
        "layer_norm_epsilon": model.ln_f.eps,
        **{name: config.dropout for name in DROPOUTS}, **FIXED,
        "initializer_range": 0.02, "dtype": config.dtype,
        # GPT2Config's defaults are GPT-2's 50256, outside a character vocabulary:
        # write the tokenizer's <|endoftext|> id, or null where it has none
        "bos_token_id": end_of_text, "eos_token_id": end_of_text}
    files = {WEIGHTS: safetensors.numpy.save(tensors, metadata={"format": "pt"}),
             CONFIG: (json.dumps(document, indent=2) + "\n").encode("utf-8")}
    if tokenizer is not None:
        files[TOKENIZER] = (char_tokenizer_json(tokenizer) if isinstance(tokenizer, CharTokenizer)
                            else tokenizer.to_json()).encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    # built whole beside out and swapped in: a stopped or failed export leaves the
    # earlier one as it was, never new weights beside an old config.json (files.py)
    with writing_folder_atomically(out, EXPORT_NAMES) as folder:
        for name, content in files.items():
            with open(folder / name, "wb") as file:  # a full disk says so, naming no library
                file.write(content)
    return out


def read_config(folder: Path) -> GPTConfig:
    """The GPTConfig that ``folder/config.json`` describes, or a FormatError
    naming the file and the field we cannot follow."""
    path = folder / CONFIG
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FormatError(f"{path}: cannot read a config ({error})") from None
    if not isinstance(document, dict):
        raise FormatError(f"{path}: not a config: a JSON object was expected")
    architectures = document.get("architectures") or []
    if document.get("model_type") != "gpt2":
        raise FormatError(f"{path}: model_type is {document.get('model_type')!r} "
                          f"(architectures {architectures}); only GPT-2's, 'gpt2', is read")
    for field, ours in FIXED.items():
        if document.get(field, ours) != ours:
            raise FormatError(f"{path}: {field} is {document[field]!r}; our GPT computes "
                              f"{field}={ours!r}")
    activation = document.get("activation_function", "gelu_new")
    if activation not in GELUS:
        raise FormatError(f"{path}: activation_function {activation!r} is not one of "
                          f"{', '.join(GELUS)}")
    epsilon = document.get("layer_norm_epsilon", LAYER_NORM_EPS)
    if epsilon != LAYER_NORM_EPS:
        raise FormatError(f"{path}: layer_norm_epsilon is {epsilon!r}; our GPT's LayerNorms "
                          f"use {LAYER_NORM_EPS}")
    dropouts = {document.get(name, 0.1) for name in DROPOUTS}
    if len(dropouts) != 1:
        raise FormatError(f"{path}: {', '.join(DROPOUTS)} differ "
                          f"({[document.get(name, 0.1) for name in DROPOUTS]}); our GPT has "
                          f"one dropout probability")
    try:
        return GPTConfig(vocab_size=document.get("vocab_size"),
                         block_size=document.get("n_positions"),
                         n_layer=document.get("n_layer"), n_head=document.get("n_head"),
                         d_model=document.get("n_embd"), d_ff=document.get("n_inner"),
                         dropout=dropouts.pop(), gelu=GELUS[activation])
    except (TypeError, ValueError) as error:  # GPTConfig names the field, in our words
        raise FormatError(f"{path}: {error}") from None


def import_hf(folder, tokenizer_path=None) -> tuple[GPT, object]:
    """``(model, tokenizer)`` from a Hugging Face GPT-2 folder (the real GPT-2's
    included); the tokenizer is ``folder/tokenizer.json`` unless ``tokenizer_path``
    says otherwise."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FormatError(f"{folder}: not a folder; give the folder that holds {CONFIG} "
                          f"and {WEIGHTS}")
    config = read_config(folder)
    refuse_beyond_memory(config, folder / CONFIG, {"d_model": "n_embd",
                                                   "block_size": "n_positions"})
    tokenizer_path = Path(tokenizer_path) if tokenizer_path else folder / TOKENIZER
    if not tokenizer_path.is_file():
        raise FormatError(f"{tokenizer_path}: no such tokenizer; the model's ids mean "
                          f"nothing without it (give the tokenizer.json it was trained with)")
    tokenizer = read_tokenizer_json(tokenizer_path)
    if tokenizer.vocab_size > config.vocab_size:
        raise FormatError(f"{tokenizer_path}: {tokenizer.vocab_size:,} tokens, more than "
                          f"{CONFIG}'s vocab_size {config.vocab_size:,}")
    path = folder / WEIGHTS
    with _open_weights(path) as file:
        dtypes = {file.get_slice(key).get_dtype() for key in file.keys()}
        if not dtypes <= set(DTYPES):
            raise FormatError(f"{path}: tensors of dtype {', '.join(sorted(dtypes))}; "
                              f"numpy reads {', '.join(DTYPES)}")
        # float16 weights are read into float32: numpy's float16 arithmetic is slow
        dtype = "float64" if dtypes == {"F64"} else "float32"
        model = GPT(GPTConfig(**{**config.to_json(), "dtype": dtype}))
        _copy_tensors(file, model, path)
    return model, tokenizer


@contextlib.contextmanager
def _open_weights(path: Path):
    """``safe_open(path)``, any failure to read it a FormatError naming the file."""
    safetensors = _safetensors()
    try:
        with safetensors.safe_open(path, framework="numpy") as file:
            yield file
    except (FormatError, ValueError):  # ours, and GPTConfig's and gpt2_tensors' own words
        raise
    except Exception as error:  # missing, truncated or damaged: in safetensors' words
        raise FormatError(f"{path}: not a readable safetensors file ({error})") from None


def _copy_tensors(file, model: GPT, path: Path) -> None:
    """Copy every tensor of the open ``file`` into ``model``, one at a time."""
    names = {key.removeprefix("transformer."): key for key in file.keys()}
    # "h.0.attn.bias" is a buffer; "h.0.attn.c_attn.bias" is a weight
    names = {name: key for name, key in names.items() if name.split(".", 2)[-1] not in BUFFERS}
    parameters = dict(model.named_parameters())
    expected = {tensor.theirs.removeprefix("transformer."): tensor
                for tensor in gpt2_tensors(model, IN_OUT)}
    missing = sorted(set(expected) - set(names))
    unexpected = sorted(set(names) - set(expected) - {"lm_head.weight"})
    if missing or unexpected:
        raise FormatError(f"{path}: the tensors do not match {CONFIG} (missing: "
                          f"{', '.join(missing) or 'none'}; unexpected: "
                          f"{', '.join(unexpected) or 'none'})")
    for name, tensor in expected.items():
        shape = tuple(file.get_slice(names[name]).get_shape())
        if shape != tensor.their_shape:
            parts = name.split(".")  # "wte.weight", "h.0.mlp.c_fc.weight"
            part = parts[2] if parts[0] == "h" else parts[0]
            fields = SIZES.get(part, ("n_embd",))
            raise FormatError(f"{path}: {names[name]} has shape {shape}, but {CONFIG}'s "
                              f"{' and '.join(fields)} make it {tensor.their_shape}")
    for name, tensor in expected.items():
        value = file.get_tensor(names[name])
        parameters[tensor.ours].value[...] = value.T if tensor.transposed else value
        del value  # one tensor of the file at a time
    if "lm_head.weight" in names:  # the head must be the tied embedding, as ours is
        head = file.get_tensor(names["lm_head.weight"])
        if not np.array_equal(head, model.token_embedding.W.value):
            raise FormatError(f"{path}: lm_head.weight differs from transformer.wte.weight; "
                              f"our GPT ties its head to the token embedding")
