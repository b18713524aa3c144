"""nanoGPT's files: ``ckpt.pt``, and ``meta.pkl`` beside its data.

What nanoGPT's ``train.py`` saves and, with ``--init_from=resume``, reads
back from ``out_dir/ckpt.pt`` (``sample.py`` reads the same file), a dict
written by ``torch.save``:

- ``model``: the state dict of its ``GPT``: the names of :mod:`.names`,
  each projection's weight stored (d_out, d_in) (``nn.Linear``), and
  ``lm_head.weight``, the same tensor as ``transformer.wte.weight`` (tied).
  It is loaded with ``strict=True``: every name must be there, no other.
- ``optimizer``: ``torch.optim.AdamW``'s state dict, two parameter groups:
  parameters with 2 or more axes, decayed, then the others, not decayed; in
  each, the order of ``named_parameters``.  Each parameter's state is its
  ``step``, ``exp_avg`` (our m) and ``exp_avg_sq`` (our v).  Loading it
  also restores each group's ``betas``, ``eps`` and ``weight_decay``.
- ``model_args``: ``n_layer``, ``n_head``, ``n_embd``, ``block_size``,
  ``bias``, ``vocab_size``, ``dropout``.  Its MLP is 4 · n_embd wide and
  applies the exact GELU, ``nn.GELU()``.
- ``iter_num``, ``best_val_loss``, and ``config`` (the run's settings).
  ``sample.py`` looks for the vocabulary in ``data/<config["dataset"]>/meta.pkl``
  (``stoi``, ``itos``, ``vocab_size``), relative to where it runs; without
  one it assumes GPT-2's BPE.  ``train.py`` reads ``train.bin`` and
  ``val.bin`` from the same folder: token ids as uint16.

Writing and reading ``ckpt.pt`` needs PyTorch.  Reading uses
``torch.load(weights_only=True)``, and ``meta.pkl`` is read by an unpickler
that accepts only plain data, so opening files cannot run code.
"""

import io
import pickle
from pathlib import Path

import numpy as np

from ..data.text import CharTokenizer, split_train_val
from ..models.gpt import GPT, GPTConfig
from ..saving.files import check_replaceable_folder, special_kind, writing_folder_atomically
from ..saving.npz import ZIP_MAGIC
from ..tokenizers import read_tokenizer_json
from .limits import FormatError, refuse_beyond_memory, refuse_unless_gpt2_attention
from .names import OUT_IN, gpt2_tensors

CHECKPOINT = "ckpt.pt"
META = "meta.pkl"
DATASET = "shapesafe_char"  # the data folder's name we write, beside nanoGPT's own
TIED_HEAD = "lm_head.weight"
COMPILED_PREFIX = "_orig_mod."  # what torch.compile puts before every name
NO_BEST_LOSS = 1e9  # nanoGPT's best_val_loss before its first evaluation
EPS = 1e-8  # our AdamW's and torch's default
BIN_IDS = 2 ** 16  # train.bin and val.bin hold uint16 ids


def _torch():
    try:
        import torch
    except ImportError:
        raise FormatError("nanoGPT's ckpt.pt is a PyTorch file: reading or writing it needs "
                          "torch (pip install torch)") from None
    return torch


def refuse_unless_nanogpt(config: GPTConfig, gelu_change_ok: bool) -> None:
    """nanoGPT's GPT has learned positions (a sinusoidal table is written as the
    learned one), an MLP 4 · n_embd wide, and the exact GELU."""
    refuse_unless_gpt2_attention(config, "nanoGPT")
    if config.d_ff is not None and config.d_ff != 4 * config.d_model:
        raise FormatError(f"the nanoGPT format cannot hold d_ff={config.d_ff}: its MLP is "
                          f"4 * n_embd = {4 * config.d_model} wide")
    if config.gelu != "erf" and not gelu_change_ok:
        raise FormatError(f"the nanoGPT format computes the exact GELU (nn.GELU()), and this "
                          f"model has gelu={config.gelu!r}: the two differ by up to 4.7e-4 per "
                          f"activation. Train with gelu='erf' for an exact export, or accept "
                          f"the change (--gelu-change-ok)")


def export_nanogpt(model: GPT, tokenizer, out, *, optimizer_state: dict | None = None,
                   betas: tuple[float, float] = (0.9, 0.99), settings: dict | None = None,
                   progress: dict | None = None, text: str | None = None,
                   dataset: str = DATASET, gelu_change_ok: bool = False) -> Path:
    """Write ``out/ckpt.pt`` for nanoGPT's ``--init_from=resume --out_dir=out``.

    ``optimizer_state`` is our AdamW's ``state_dict()`` (``m.<name>``,
    ``v.<name>``, ``step``), ``betas`` its betas; ``settings`` and ``progress``
    come from our checkpoint's description.  With a character tokenizer,
    ``out/<dataset>/meta.pkl`` is written, and with ``text``, its
    ``train.bin`` and ``val.bin`` (the first 90% and the last 10%, as ours):
    for a BPE too, whose pieces a meta.pkl cannot hold (``sample.py``, finding
    none, would decode with GPT-2's own BPE: sample a BPE model here).
    Returns the path of ``ckpt.pt``.
    """
    torch = _torch()
    config = model.config
    refuse_unless_nanogpt(config, gelu_change_ok)
    check_dataset_name(dataset)
    out = Path(out)
    check_replaceable_folder(out, export_names(dataset))
    settings, progress = settings or {}, progress or {}
    # encoded before anything is written: a character outside the vocabulary
    # is refused with nothing changed on disk
    ids = tokenizer.encode(text) if text is not None else None
    if ids is not None and tokenizer.vocab_size > BIN_IDS:
        raise FormatError(f"nanoGPT's train.bin holds each id in 16 bits, {BIN_IDS:,} ids; "
                          f"this tokenizer has {tokenizer.vocab_size:,}")
    values = dict(model.named_parameters())
    state, ours_by_tensor = {}, {}
    for tensor in gpt2_tensors(model, OUT_IN):
        value = values[tensor.ours].value
        state[tensor.theirs] = torch.from_numpy(
            np.ascontiguousarray(value.T if tensor.transposed else value))
        ours_by_tensor[tensor.theirs] = tensor
    if config.positions == "sinusoidal":  # nanoGPT learns its positions: start from ours
        state["transformer.wpe.weight"] = torch.from_numpy(model.positions.table.copy())
        # in nanoGPT's order: after the token table
        state = {"transformer.wte.weight": state.pop("transformer.wte.weight"),
                 "transformer.wpe.weight": state.pop("transformer.wpe.weight"), **state}
    state[TIED_HEAD] = state["transformer.wte.weight"]
    checkpoint = {
        "model": state,
        "model_args": dict(n_layer=config.n_layer, n_head=config.n_head,
                           n_embd=config.d_model, block_size=config.block_size, bias=True,
                           vocab_size=config.vocab_size, dropout=config.dropout),
        "iter_num": int(progress.get("step", 0)),
        "best_val_loss": min((record["val_loss"] for record in progress.get("history", [])),
                             default=NO_BEST_LOSS),
        "config": _nanogpt_config(config, settings, betas, dataset),
    }
    if optimizer_state is not None:
        checkpoint["optimizer"] = _adamw_state(torch, state, ours_by_tensor, optimizer_state,
                                               settings, betas)
    out.parent.mkdir(parents=True, exist_ok=True)
    # built whole beside out and swapped in: a stopped or failed export leaves the
    # earlier one as it was, never a new ckpt.pt beside an old meta.pkl (files.py)
    with writing_folder_atomically(out, export_names(dataset)) as folder:
        with open(folder / CHECKPOINT, "wb") as file:  # a file object: a full disk says so
            torch.save(checkpoint, file)
        if isinstance(tokenizer, CharTokenizer) or ids is not None:
            data = folder / dataset
            data.mkdir()
        if isinstance(tokenizer, CharTokenizer):
            with open(data / META, "wb") as file:
                pickle.dump({"vocab_size": tokenizer.vocab_size,
                             "itos": dict(enumerate(tokenizer.chars)),
                             "stoi": {char: i for i, char in enumerate(tokenizer.chars)}}, file)
        if ids is not None:
            for name, part in zip(("train.bin", "val.bin"), split_train_val(ids)):
                with open(data / name, "wb") as file:
                    file.write(part.astype(np.uint16).tobytes())
    return out / CHECKPOINT


def export_names(dataset: str = DATASET) -> tuple[str, ...]:
    """What an export writes in its folder: ``ckpt.pt`` and the data folder."""
    return (CHECKPOINT, dataset)


def check_dataset_name(dataset: str) -> None:
    """The data folder's name: one folder inside the export's, as nanoGPT's
    ``data/<dataset>``; a path (``/abs``, ``../x``) would write outside it."""
    if (not isinstance(dataset, str) or dataset in ("", ".", "..") or "/" in dataset
            or "\\" in dataset or "\0" in dataset):
        raise FormatError(f"the dataset must be a folder's name, such as {DATASET!r}, not "
                          f"{dataset!r}: nanoGPT reads data/<dataset>/, and the export "
                          f"writes it inside its own folder")


def _nanogpt_config(config: GPTConfig, settings: dict, betas, dataset: str) -> dict:
    """The run's settings under nanoGPT's names (``train.py`` keeps them as ``config``)."""
    # "iters": the run's length in a checkpoint saved before it was called "steps"
    known = {"batch_size": "batch_size", "lr": "learning_rate", "min_lr": "min_lr",
             "warmup": "warmup_iters", "steps": "max_iters", "iters": "max_iters",
             "weight_decay": "weight_decay", "grad_clip": "grad_clip",
             "eval_interval": "eval_interval", "eval_iters": "eval_iters"}
    document = {theirs: settings[ours] for ours, theirs in known.items() if ours in settings}
    if "max_iters" in document:  # ours decays to min_lr at the last step
        document["lr_decay_iters"] = document["max_iters"]
    return {"dataset": dataset, "n_layer": config.n_layer, "n_head": config.n_head,
            "n_embd": config.d_model, "block_size": config.block_size, "bias": True,
            "dropout": config.dropout, "beta1": betas[0], "beta2": betas[1], **document}


def _adamw_state(torch, state: dict, ours_by_tensor: dict, optimizer_state: dict,
                 settings: dict, betas) -> dict:
    """Our AdamW's m, v and step as ``torch.optim.AdamW.state_dict()`` of nanoGPT's
    two groups; built by torch itself, so every field is the one it reads."""
    parameters = {name: tensor for name, tensor in state.items() if name != TIED_HEAD}
    decayed = [tensor for tensor in parameters.values() if tensor.dim() >= 2]
    kept = [tensor for tensor in parameters.values() if tensor.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decayed, "weight_decay": settings.get("weight_decay", 0.0)},
         {"params": kept, "weight_decay": 0.0}],
        lr=settings.get("lr", 1e-3), betas=tuple(betas), eps=EPS)
    step = int(optimizer_state["step"])
    for name, tensor in parameters.items():
        ours = ours_by_tensor.get(name)
        if ours is None:  # a sinusoidal table, learned from here on: no history yet
            m = v = np.zeros(tuple(tensor.shape), dtype=tensor.numpy().dtype)
        else:
            m, v = optimizer_state[f"m.{ours.ours}"], optimizer_state[f"v.{ours.ours}"]
            m, v = (m.T, v.T) if ours.transposed else (m, v)
        optimizer.state[tensor] = {
            "step": torch.tensor(float(step)),
            "exp_avg": torch.from_numpy(np.ascontiguousarray(m)),
            "exp_avg_sq": torch.from_numpy(np.ascontiguousarray(v))}
    return optimizer.state_dict()


class _PlainData(pickle.Unpickler):
    """An unpickler of dicts, lists, strings and numbers only: a meta.pkl holds
    nothing else, and a pickle that names any class or function could run code."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"it names {module}.{name}; a meta.pkl holds only "
                                     f"plain data")


def read_meta(path) -> CharTokenizer:
    """The character vocabulary of a nanoGPT ``meta.pkl`` (its ``itos``)."""
    path = Path(path)
    try:
        meta = _PlainData(io.BytesIO(path.read_bytes())).load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as error:
        raise FormatError(f"{path}: not a readable meta.pkl ({error})") from None
    itos = meta.get("itos") if isinstance(meta, dict) else None
    # the keys' types first: sorting ids mixed with strings would raise TypeError
    if (not isinstance(itos, dict) or not all(type(i) is int for i in itos)
            or sorted(itos) != list(range(len(itos)))):
        raise FormatError(f"{path}: its itos is not a table of ids 0, 1, 2, ... -> characters")
    try:
        return CharTokenizer([itos[i] for i in range(len(itos))])
    except ValueError as error:
        raise FormatError(f"{path}: {error}") from None


def import_nanogpt(folder, tokenizer_path=None) -> tuple[GPT, object]:
    """``(model, tokenizer)`` from nanoGPT's ``folder/ckpt.pt``.

    The tokenizer is ``tokenizer_path`` (a ``meta.pkl`` or a ``tokenizer.json``),
    else ``folder/meta.pkl`` or ``folder/<dataset>/meta.pkl``.  A model trained
    with ``bias=False`` gets zero biases: the same function.
    """
    torch = _torch()
    folder = Path(folder)
    path = folder / CHECKPOINT if folder.is_dir() else folder
    _refuse_unless_a_torch_zip(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's paragraph on weights_only=False, in one line
        raise FormatError(f"{path}: holds Python objects beyond tensors and plain data, which "
                          f"could run code when loaded; not read (nanoGPT saves none)") from None
    except Exception as error:  # truncated, or damaged inside its archive
        reason = " ".join(str(error).split()) or type(error).__name__
        raise FormatError(f"{path}: not a readable nanoGPT checkpoint: cut short or damaged "
                          f"({reason})") from None
    _refuse_unless_nanogpt_layout(torch, checkpoint, path)
    args = checkpoint["model_args"]
    state = {name.removeprefix(COMPILED_PREFIX): tensor
             for name, tensor in checkpoint["model"].items()}
    token_table = state.get("transformer.wte.weight")
    # float64 stays float64; float32 and torch's half floats are read as float32
    float64 = token_table is not None and token_table.dtype == torch.float64
    try:
        config = GPTConfig(vocab_size=args["vocab_size"], block_size=args["block_size"],
                           n_layer=args["n_layer"], n_head=args["n_head"],
                           d_model=args["n_embd"], dropout=args.get("dropout", 0.0),
                           gelu="erf", dtype="float64" if float64 else "float32")
    except (KeyError, TypeError, ValueError) as error:
        raise FormatError(f"{path}: model_args refused: {error!r}") from None
    refuse_beyond_memory(config, f"{path}: model_args", {"d_model": "n_embd"})
    tokenizer = _nanogpt_tokenizer(folder, tokenizer_path, checkpoint, config)
    checkpoint = None  # only the weights are needed from here on
    model = GPT(config)
    tensors = {tensor.theirs: tensor for tensor in gpt2_tensors(model, OUT_IN)}
    biases = args.get("bias", True)
    optional = set() if biases else {name for name in tensors
                                     if name.endswith(".bias")}
    missing = sorted(set(tensors) - set(state) - optional)
    unexpected = sorted(set(state) - set(tensors) - {TIED_HEAD})
    if missing or unexpected:
        raise FormatError(f"{path}: the model's tensors do not match its model_args (missing: "
                          f"{', '.join(missing) or 'none'}; unexpected: "
                          f"{', '.join(unexpected) or 'none'})")
    for name, tensor in tensors.items():
        if name in state and tuple(state[name].shape) != tensor.their_shape:
            raise FormatError(f"{path}: {name} has shape {tuple(state[name].shape)}, but "
                              f"model_args (n_embd {config.d_model}, vocab_size "
                              f"{config.vocab_size}, block_size {config.block_size}) make it "
                              f"{tensor.their_shape}")
    head = state.get(TIED_HEAD)
    if head is not None and not torch.equal(head, state["transformer.wte.weight"]):
        raise FormatError(f"{path}: {TIED_HEAD} differs from transformer.wte.weight; our GPT "
                          f"ties its head to the token embedding, as nanoGPT does, so an untied "
                          f"head cannot be read")
    parameters = dict(model.named_parameters())
    for name, tensor in tensors.items():
        parameter = parameters[tensor.ours].value
        if name not in state:  # bias=False: no bias is a bias of zeros
            parameter[...] = 0
            continue
        value = state.pop(name).detach().to(torch.float64 if float64 else torch.float32).numpy()
        parameter[...] = value.T if tensor.transposed else value
    return model, tokenizer


def _refuse_unless_a_torch_zip(path: Path) -> None:
    """``torch.save`` writes a zip archive: a missing or empty file, or another
    kind, is named as such (torch's own words would be ``()`` or ``(101)``)."""
    kind = special_kind(path)
    if kind is not None:
        raise FormatError(f"{path}: is {kind}, not a nanoGPT checkpoint file")
    if not path.is_file():
        raise FormatError(f"{path}: no such file; nanoGPT saves out_dir/{CHECKPOINT}")
    with open(path, "rb") as file:
        start = file.read(len(ZIP_MAGIC))
    if not start:
        raise FormatError(f"{path}: is empty, not a nanoGPT checkpoint")
    if start != ZIP_MAGIC:
        raise FormatError(f"{path}: not a nanoGPT checkpoint: torch.save writes a zip "
                          f"archive, and this file is not one")


def _refuse_unless_nanogpt_layout(torch, checkpoint, path: Path) -> None:
    """The types nanoGPT's ``train.py`` saves, checked before any is used: a file
    loads with ``weights_only`` whatever plain data it holds (lists, numbers)."""
    if not isinstance(checkpoint, dict) or not {"model", "model_args"} <= set(checkpoint):
        raise FormatError(f"{path}: not a nanoGPT checkpoint (no model and model_args)")
    for key in ("model", "model_args", "config"):
        value = checkpoint.get(key, {})
        if not isinstance(value, dict):
            raise FormatError(f"{path}: its {key} is a {type(value).__name__}, not the dict "
                              f"nanoGPT saves")
        odd = next((name for name in value if not isinstance(name, str)), None)
        if odd is not None:
            raise FormatError(f"{path}: its {key} holds the key {odd!r}, which is not a name "
                              f"(a string)")
    for name, value in checkpoint["model"].items():
        if not isinstance(value, torch.Tensor):
            raise FormatError(f"{path}: model[{name!r}] is a {type(value).__name__}, not a "
                              f"tensor")
    dataset = checkpoint.get("config", {}).get("dataset")
    if dataset is not None and not isinstance(dataset, str):
        raise FormatError(f"{path}: its config's dataset is {dataset!r}, not the name of a "
                          f"data folder")


def _nanogpt_tokenizer(folder: Path, tokenizer_path, checkpoint: dict, config: GPTConfig):
    if tokenizer_path is not None:
        tokenizer_path = Path(tokenizer_path)
        tokenizer = (read_meta(tokenizer_path) if tokenizer_path.suffix == ".pkl"
                     else read_tokenizer_json(tokenizer_path))
    else:
        dataset = (checkpoint.get("config") or {}).get("dataset")
        places = [folder / META] + ([folder / dataset / META] if dataset else [])
        found = [place for place in places if place.is_file()]
        if not found:
            raise FormatError(f"{folder}: no {META} at {' or '.join(map(str, places))}; give "
                              f"the tokenizer the model was trained with: nanoGPT's "
                              f"data/<dataset>/meta.pkl, or a tokenizer.json (GPT-2's BPE)")
        tokenizer = read_meta(found[0])
    if tokenizer.vocab_size > config.vocab_size:
        raise FormatError(f"the tokenizer has {tokenizer.vocab_size:,} tokens, more than the "
                          f"checkpoint's vocab_size {config.vocab_size:,}")
    return tokenizer
