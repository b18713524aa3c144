"""``shapesafe-nn export`` and ``shapesafe-nn import``: a GPT to nanoGPT's,
Hugging Face's or llama.cpp's GPT-2 files, and any GPT-2-architecture model back.

The work is done by :mod:`shapesafe_nn.interop`; this file only reads the
flags and says what was written, and where the other side looks for it.
"""

import argparse
from pathlib import Path

from ..data.text import CharTokenizer, load_text
from ..interop import (export_gguf, export_hf, export_nanogpt, import_gguf, import_hf,
                       import_nanogpt)
from ..interop import FormatError
from ..interop.hf import EXPORT_NAMES as HF_NAMES
from ..interop.nanogpt import DATASET, check_dataset_name
from ..interop.nanogpt import export_names as nanogpt_names
from ..saving.checkpoint import load_checkpoint
from ..saving.load import gpt_from, save_gpt
from .arguments import check_output_folder, check_outputs
from .gpt import BETAS  # train gpt's AdamW's, which nanoGPT's optimizer restores

FORMATS = ("nanogpt", "hf", "gguf")


def add_commands(commands) -> None:
    export = commands.add_parser(
        "export", help="write a GPT as nanoGPT's, Hugging Face's or llama.cpp's files",
        description="Write a GPT checkpoint as nanoGPT's ckpt.pt (with its optimizer state "
                    "and vocabulary), as Hugging Face's GPT-2 folder (config.json, "
                    "model.safetensors, tokenizer.json) or as llama.cpp's GGUF file.")
    export.add_argument("--checkpoint", type=Path, required=True,
                        help="a saved GPT, from train gpt --save or import (required)")
    export.add_argument("--format", choices=FORMATS, required=True,
                        help="nanogpt, hf (Hugging Face) or gguf (llama.cpp) (required)")
    export.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="a folder; gguf: the .gguf file")
    export.add_argument("--dataset", type=dataset_name, default=DATASET,
                        help=f"nanogpt: the name of the data folder to write (default {DATASET})")
    export.add_argument("--gelu-change-ok", action="store_true",
                        help="nanogpt: export a model trained with the tanh GELU although "
                             "nanoGPT computes the exact one (they differ by up to 4.7e-4); "
                             "gguf: the erf GELU, although llama.cpp computes the tanh one")
    export.add_argument("--f16", action="store_true",
                        help="gguf: write the weight matrices in float16 (half the file)")
    export.set_defaults(run=run_export)

    importing = commands.add_parser(
        "import", help="read nanoGPT's, Hugging Face's or llama.cpp's GPT-2 files into a "
                       "checkpoint",
        description="Read a GPT-2-architecture model (GPT-2 itself included, from a folder "
                    "you downloaded) into a checkpoint that sample, eval gpt and trace gpt "
                    "open.")
    importing.add_argument("folder", type=Path, metavar="DIR",
                           help="the folder of the files; gguf: the .gguf file")
    importing.add_argument("--format", choices=FORMATS, required=True,
                           help="nanogpt, hf (Hugging Face) or gguf (llama.cpp) (required)")
    importing.add_argument("--out", type=Path, required=True, metavar="CKPT.npz",
                           help="the checkpoint to write (required)")
    importing.add_argument("--tokenizer", type=Path, default=None,
                           help="a tokenizer.json, or nanoGPT's meta.pkl (default: the one in "
                                "DIR)")
    importing.set_defaults(run=run_import)


def dataset_name(text: str) -> str:
    """An argparse type: a folder's name for nanoGPT's data/<dataset>/ (not a path)."""
    try:
        check_dataset_name(text)
    except FormatError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def run_export(args) -> int:
    # refused before the work: an --out that cannot be written, or that holds an input
    inputs = {"--checkpoint": args.checkpoint}
    if args.format == "gguf":  # one file
        check_outputs({"--out": args.out}, inputs)
    else:  # a folder, replaced whole (saving/files.py)
        holds = HF_NAMES if args.format == "hf" else nanogpt_names(args.dataset)
        check_output_folder("--out", args.out, holds, inputs)
    arrays, meta = load_checkpoint(args.checkpoint)
    model, tokenizer = gpt_from(arrays, meta, args.checkpoint)
    if args.format == "gguf":
        out = export_gguf(model, tokenizer, args.out, f16=args.f16,
                          gelu_change_ok=args.gelu_change_ok)
        print(f"wrote {out} ({'float16' if args.f16 else 'float32'}, "
              f"{tokenizer.vocab_size:,} tokens)")
        print(f"in llama.cpp: llama-completion -m {out} -p <prompt> -c "
              f"{model.config.block_size} -n <tokens> --ignore-eos (prompt + tokens at most "
              f"{model.config.block_size})")
        return 0
    if args.format == "hf":
        out = export_hf(model, tokenizer, args.out)
        print(f"wrote {out}/config.json, model.safetensors and tokenizer.json")
        print(f"in Python: transformers.GPT2LMHeadModel.from_pretrained({str(out)!r})")
        return 0
    optimizer = {key.removeprefix("optimizer/"): value for key, value in arrays.items()
                 if key.startswith("optimizer/")}
    text = None
    if "data" in meta:
        # a training run's text (None: the bundled corpus), for nanoGPT's train.bin and val.bin
        data = None if meta["data"] is None else Path(meta["data"])
        check_output_folder("--out", args.out, nanogpt_names(args.dataset),
                            {"the checkpoint's training text": data})
        text = load_text(data)
    path = export_nanogpt(model, tokenizer, args.out, optimizer_state=optimizer or None,
                          betas=BETAS, settings=meta.get("settings"),
                          progress=meta.get("progress"), text=text, dataset=args.dataset,
                          gelu_change_ok=args.gelu_change_ok)
    print(f"wrote {path} ({'with' if optimizer else 'without'} the optimizer state)")
    if text is not None:
        meta_pkl = "meta.pkl, " if isinstance(tokenizer, CharTokenizer) else ""
        print(f"wrote {args.out / args.dataset}/{meta_pkl}train.bin and val.bin: nanoGPT "
              f"reads them from data/{args.dataset}/, so copy the folder there: "
              f"cp -r {args.out / args.dataset} nanoGPT/data/")
    print(f"in nanoGPT's folder: python sample.py --init_from=resume "
          f"--out_dir={args.out.resolve()}")
    return 0


def run_import(args) -> int:
    # before the import's work: an --out that cannot be written, or that is an input
    read_files = {"hf": ("config.json", "model.safetensors", "tokenizer.json"),
                  "nanogpt": ("ckpt.pt",), "gguf": ()}[args.format]
    inputs = ({f"DIR's {name}": args.folder / name for name in read_files} if read_files
              else {"the GGUF file": args.folder})
    check_outputs({"--out": args.out}, {"--tokenizer": args.tokenizer} | inputs)
    if args.format == "gguf":
        if args.tokenizer is not None:
            raise ValueError("--tokenizer: a GGUF file holds its own tokenizer; leave it out")
        model, tokenizer = import_gguf(args.folder)
    else:
        read = import_hf if args.format == "hf" else import_nanogpt
        model, tokenizer = read(args.folder, args.tokenizer)
    save_gpt(args.out, model, tokenizer, imported={"format": args.format,
                                                   "from": str(args.folder.resolve())})
    c = model.config
    print(f"GPT: {model.num_parameters():,} parameters, vocab {c.vocab_size:,}, d_model "
          f"{c.d_model}, n_head {c.n_head}, n_layer {c.n_layer}, block {c.block_size}, "
          f"gelu {c.gelu}; tokenizer: {type(tokenizer).__name__} of "
          f"{tokenizer.vocab_size:,} tokens")
    print(f"saved {args.out}")
    return 0
