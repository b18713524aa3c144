"""Open a saved GPT (or translator) in one line, from Python as from the command line::

    from shapesafe_nn.saving import load_gpt
    model, tokenizer = load_gpt("baby.npz")
    print(tokenizer.decode(model.generate(tokenizer.encode("ROMEO:"), 100)))

Any GPT checkpoint opens this way: one ``train gpt --save`` wrote, or one
``shapesafe-nn import`` made from nanoGPT's or Hugging Face's files (GPT-2
itself included).  The tokenizer is the one the model was trained with:
characters, or GPT-2's byte-level BPE (:mod:`shapesafe_nn.tokenizers`).
"""

from pathlib import Path

import numpy as np

from ..data.text import CharTokenizer
from ..models.gpt import GPT
from ..models.ladder import LadderConfig, build_gpt
from ..models.translator import Translator, TranslatorConfig
from ..tokenizers import tokenizer_from_json
from .checkpoint import (CheckpointError, config_from, load_checkpoint, load_parameters,
                         parameter_arrays, save_checkpoint)


def load_gpt(path):
    """``(model, tokenizer)`` from a GPT checkpoint; a CheckpointError naming the
    file if it is not one."""
    model, tokenizer, _ = load_gpt_checkpoint(path)
    return model, tokenizer


def load_gpt_checkpoint(path) -> tuple[GPT, object, dict]:
    """``(model, tokenizer, meta)``: :func:`load_gpt` and the checkpoint's
    description (its settings, the run's progress, where it came from)."""
    arrays, meta = load_checkpoint(path)
    model, tokenizer = gpt_from(arrays, meta, path)
    return model, tokenizer, meta


def gpt_from(arrays: dict, meta: dict, source) -> tuple[GPT, object]:
    """The model and tokenizer that a checkpoint's ``arrays`` and ``meta`` hold;
    errors name ``source``."""
    if meta.get("model") != "gpt":
        raise CheckpointError(f"{source}: holds a {meta.get('model')!r} model, not a gpt")
    # a rung of the build-up ladder, or the GPT (checkpoints from before the ladder
    # have no rung: they are all the GPT)
    config = config_from(LadderConfig, meta, source)
    try:
        tokenizer = tokenizer_from_json(meta.get("tokenizer"), source=str(source))
    except ValueError as error:
        raise CheckpointError(f"{source}: the description's tokenizer is damaged ({error})") \
            from error
    refuse_tokenizer_of_another_size(tokenizer, config.vocab_size, source)
    model = build_gpt(config)
    load_parameters(model, arrays, source=str(source))
    return model, tokenizer


def refuse_tokenizer_of_another_size(tokenizer, vocab_size: int, source) -> None:
    """A character vocabulary is the model's; a BPE may have fewer tokens than the
    model's vocab (nanoGPT pads GPT-2's 50,257 to 50,304), never more."""
    characters = isinstance(tokenizer, CharTokenizer)
    if (tokenizer.vocab_size != vocab_size if characters
            else tokenizer.vocab_size > vocab_size):
        raise CheckpointError(f"{source}: the description's tokenizer has "
                              f"{tokenizer.vocab_size} {'characters' if characters else 'tokens'}"
                              f" but its config.vocab_size is {vocab_size}")


def save_gpt(path, model: GPT, tokenizer, **meta) -> Path:
    """Write ``model`` and ``tokenizer`` as a checkpoint that :func:`load_gpt` opens
    (weights only: no optimizer state); ``meta`` adds to its description.

    What :func:`load_gpt` would refuse is refused first, with nothing written:
    a tokenizer that does not read back or does not fit the model's vocab, a
    weight holding NaN or inf.  So a file ``import`` says it saved opens.
    """
    document = tokenizer.to_json()
    try:
        tokenizer_from_json(document, source=str(path))  # read back, as load_gpt will
    except ValueError as error:
        raise CheckpointError(f"{path}: not saved: its tokenizer would not load back "
                              f"({error})") from error
    refuse_tokenizer_of_another_size(tokenizer, model.config.vocab_size, f"{path}: not saved")
    for name, parameter in model.named_parameters():
        if not np.isfinite(parameter.value).all():
            raise CheckpointError(f"{path}: not saved: parameter {name} holds NaN or inf, "
                                  f"which no command could use")
    return save_checkpoint(path, parameter_arrays(model),
                           {"model": "gpt", "config": model.config.to_json(),
                            "tokenizer": document, **meta})


def load_translator(path):
    """``(model, source_tokenizer, target_tokenizer)`` from a checkpoint that
    ``train translate --save`` wrote; a CheckpointError naming the file if it
    is not one::

        model, source, target = load_translator("en-fr.npz")
        translate(model, source, target, ["twenty-one"])   # ['vingt et un']
    """
    model, source, target, _ = load_translator_checkpoint(path)
    return model, source, target


def load_translator_checkpoint(path) -> tuple[Translator, object, object, dict]:
    """:func:`load_translator`, and the checkpoint's description.

    The tokenizers are whatever kind the run trained with: words or
    characters (:class:`~shapesafe_nn.tokenizers.words.WordTokenizer`, every
    checkpoint saved before BPE), or one joint BPE
    (:class:`~shapesafe_nn.tokenizers.subwords.SubwordTokenizer`).
    """
    arrays, meta = load_checkpoint(path)
    if meta.get("model") != "translator":
        raise CheckpointError(f"{path}: holds a {meta.get('model')!r} model, not a translator")
    config = config_from(TranslatorConfig, meta, path)
    tokenizers = []
    for side, size in (("src_tokenizer", config.src_vocab_size),
                       ("tgt_tokenizer", config.tgt_vocab_size)):
        try:
            tokenizer = tokenizer_from_json(meta.get(side), source=f"{path}: {side}")
        except ValueError as error:
            raise CheckpointError(str(error)) from error
        missing = tokenizer.specials.missing_for_translation()
        if missing:  # a GPT's characters, pasted into a translator's description
            raise CheckpointError(f"{path}: its {side} has no {', '.join(missing)} token, "
                                  f"which a translator needs")
        if tokenizer.vocab_size != size:
            raise CheckpointError(f"{path}: its {side} has {tokenizer.vocab_size} tokens but "
                                  f"the config says {size}")
        tokenizers.append(tokenizer)
    if config.share_embeddings and tokenizers[0].to_json() != tokenizers[1].to_json():
        raise CheckpointError(f"{path}: its config shares one embedding between the two "
                              f"languages, but src_tokenizer and tgt_tokenizer differ")
    model = Translator(config)
    load_parameters(model, arrays, source=str(path))
    return model, *tokenizers, meta
