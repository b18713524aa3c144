"""llama.cpp's GGUF file: a GPT as llama.cpp's GPT-2 architecture, and back.

A GGUF file is one file: a header of typed keys and values, then the
tensors.  It is written and read here with ``gguf``, llama.cpp's own Python
package (the ``interop`` extra).  What llama.cpp reads for its ``gpt2``
architecture:

- ``general.architecture`` = ``"gpt2"``, and the sizes under that name
  (:data:`SIZES`): ``gpt2.context_length`` is the block size, the rows of the
  position table (llama.cpp stops with an error past it),
  ``gpt2.embedding_length`` d_model, ``gpt2.feed_forward_length`` d_ff,
  ``gpt2.block_count`` n_layer, ``gpt2.attention.head_count`` n_head, and
  ``gpt2.attention.layer_norm_epsilon`` the LayerNorms' ε.
- the tensors under llama.cpp's names (:func:`.names.gguf_name`), each
  weight (d_out, d_in) as ours.  There is no ``output.weight``: without one,
  llama.cpp ties the head to ``token_embd``, as ours is.  Biases and norms
  stay float32 in a float16 file, as llama.cpp's own converter keeps them.
- the tokenizer as GPT-2's byte-level BPE: ``tokenizer.ggml.model`` =
  ``"gpt2"`` and ``tokenizer.ggml.pre`` = ``"gpt-2"`` (GPT-2's regex splits
  the text into words first), the tokens by id, each written in GPT-2's
  byte alphabet (:data:`~shapesafe_nn.tokenizers.bpe.BYTE_ALPHABET`), each
  token's type, and the merges, lowest rank first.

A character vocabulary is a byte-level BPE too.  llama.cpp cuts a word into
its UTF-8 characters (in the byte alphabet: one per byte), merges the pairs
the merges list names, best rank first, and looks each piece up.  So each
character's token is the byte-level string of its UTF-8 bytes (a space is
"Ġ", a line break "Ċ"), and the merges are exactly those that rebuild a
character of two or more bytes from its bytes ("Ã ©" for "é"): no merge
ever joins two characters, so every character is one token, as ours.
llama.cpp refuses a BPE without merges, and ``gguf`` leaves an empty list
out of the file, so a vocabulary of one-byte characters gets
:data:`NO_MERGE`, a merge that can never apply.

Two things llama.cpp adds that a character model lacks:

- an end of text.  Without ``tokenizer.ggml.eos_token_id``, llama.cpp takes
  token 11 as GPT-2's end of text, and stops generating when it is drawn:
  pass ``--ignore-eos`` to ``llama-completion`` (a GPT-2 BPE's
  ``<|endoftext|>`` is written as its end of text).
- arithmetic of its own.  It computes in float32, but by default keeps the
  attention's keys and values in float16, and its GELU (the tanh form) reads
  a table of float16 values: gelu(x) = f16(gelu(f16(x))) for |x| < 10.  In a
  float16 file, the activations are rounded to float16 before each product
  with a weight, too.  So its logits differ from ours by more than float32
  rounding (``tests/interop/test_gguf_llama_cpp.py`` measures it).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.text import CharTokenizer
from ..models.gpt import GPT, GPTConfig
from ..saving.files import writing_atomically
from ..tokenizers import BPETokenizer
from ..tokenizers.bpe import BYTE_ALPHABET, byte_level, hugging_face_tokenizers
from .limits import FormatError, refuse_beyond_memory, refuse_unless_gpt2_attention
from .names import GGUF_NAMES, OUT_IN, gguf_name, gpt2_tensors

ARCHITECTURE = "gpt2"
# our config's field -> the key llama.cpp reads it from, each an unsigned 32-bit int
SIZES = {"block_size": "gpt2.context_length", "d_model": "gpt2.embedding_length",
         "d_ff": "gpt2.feed_forward_length", "n_layer": "gpt2.block_count",
         "n_head": "gpt2.attention.head_count", "vocab_size": "gpt2.vocab_size"}
HEAD_COUNT_KV = "gpt2.attention.head_count_kv"  # others' files: n_head unless grouped
LAYER_NORM_EPS = "gpt2.attention.layer_norm_epsilon"
EPS = 1e-5  # our LayerNorms' ε, GPT-2's
TOKENIZER_MODEL, PRE_TOKENIZER = "gpt2", "gpt-2"
# token types (gguf.TokenType): a piece of text, a control token such as
# <|endoftext|>, an added token that is not special, and a padding row of the table
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5
END_OF_TEXT = "<|endoftext|>"  # GPT-2's
# byte 0xFF never occurs in UTF-8 text, so llama.cpp's words never hold its
# character, and a merge of two of them never applies
NO_MERGE = f"{BYTE_ALPHABET[0xFF]} {BYTE_ALPHABET[0xFF]}"
F32, F16 = 0, 1  # general.file_type: all float32; float16 weights (gguf.LlamaFileType)
FLOAT16_MAX = float(np.finfo(np.float16).max)  # 65504


def _gguf():
    try:
        import gguf
    except ImportError:
        raise FormatError("llama.cpp's GGUF format needs the gguf package: "
                          "pip install 'shapesafe_nn[interop]'") from None
    return gguf


def refuse_unless_gguf(config: GPTConfig, gelu_change_ok: bool) -> None:
    """llama.cpp's GPT-2 is GPT-2's attention and LayerNorms (:mod:`.limits`) and
    the tanh GELU.  Its position table is a tensor, so a sinusoidal model goes
    over as the table it computes; d_ff is a size of its own."""
    refuse_unless_gpt2_attention(config, "GGUF")
    if config.gelu != "tanh" and not gelu_change_ok:
        raise FormatError(f"llama.cpp's GPT-2 computes the tanh GELU, and this model has "
                          f"gelu={config.gelu!r}: the two differ by up to 4.7e-4 per "
                          f"activation. Accept the change (--gelu-change-ok), or train with "
                          f"gelu='tanh'")


@dataclass(frozen=True)
class Vocabulary:
    """A tokenizer as GGUF's GPT-2 BPE holds it: index i describes token id i."""

    tokens: list[str]  # each in GPT-2's byte alphabet; control tokens as they are
    types: list[int]  # NORMAL, CONTROL, USER_DEFINED or UNUSED (a padding row)
    merges: list[str]  # "left right", lowest rank first; never empty
    end_of_text: int | None  # the id of <|endoftext|>, if there is one


def char_merges(chars) -> list[str]:
    """The merges that rebuild each character of two or more UTF-8 bytes from
    its bytes, in the byte alphabet: "Ã ©" for "é", "â ĺ" then "âĺ ĥ" for "☃";
    :data:`NO_MERGE` alone if every character is one byte."""
    merges = {}  # a dict keeps the first of each, in order
    for char in chars:
        pieces = [BYTE_ALPHABET[byte] for byte in char.encode("utf-8")]
        for k in range(1, len(pieces)):
            merges[f"{''.join(pieces[:k])} {pieces[k]}"] = None
    return list(merges) or [NO_MERGE]


def gguf_vocabulary(tokenizer, vocab_size: int) -> Vocabulary:
    """``tokenizer`` (characters or a byte-level BPE) as GGUF's GPT-2 BPE, padded
    with unused tokens ``[PAD<id>]`` up to the model's ``vocab_size`` rows."""
    if isinstance(tokenizer, CharTokenizer):
        tokens = [byte_level(char) for char in tokenizer.chars]
        types, merges, end_of_text = [NORMAL] * len(tokens), char_merges(tokenizer.chars), None
    elif isinstance(tokenizer, BPETokenizer):
        tokens, types, merges = _bpe_tables(tokenizer)
        end_of_text = tokens.index(END_OF_TEXT) if END_OF_TEXT in tokens else None
    else:
        raise FormatError(f"the GGUF format holds a character or a byte-level BPE tokenizer, "
                          f"not a {type(tokenizer).__name__}")
    if len(tokens) > vocab_size:
        raise FormatError(f"the tokenizer has {len(tokens):,} tokens, more than the model's "
                          f"vocab_size {vocab_size:,}")
    padding = range(len(tokens), vocab_size)
    return Vocabulary(tokens + [f"[PAD{i}]" for i in padding], types + [UNUSED] * len(padding),
                      merges, end_of_text)


def _bpe_tables(tokenizer: BPETokenizer) -> tuple[list[str], list[int], list[str]]:
    """Tokens by id, their types and the merges of a byte-level BPE, read from its
    ``tokenizer.json``; refused, naming the field, if llama.cpp's "gpt-2"
    pre-tokenizer would not split text as it does."""
    document = json.loads(tokenizer.to_json())
    model, split = document.get("model") or {}, document.get("pre_tokenizer") or {}
    if model.get("type") != "BPE":
        raise FormatError(f"the GGUF format holds GPT-2's BPE; this tokenizer's model is "
                          f"{model.get('type')!r}")
    if (split.get("type") != "ByteLevel" or split.get("add_prefix_space")
            or not split.get("use_regex", True) or document.get("normalizer")):
        raise FormatError(f"llama.cpp's GPT-2 tokenizer splits text with GPT-2's regex into "
                          f"bytes, with no space in front and nothing normalised; this "
                          f"tokenizer has the pre_tokenizer {split} and the normalizer "
                          f"{document.get('normalizer')}")
    if model.get("ignore_merges"):
        raise FormatError("this BPE looks whole words up before merging (ignore_merges); "
                          "llama.cpp's GPT-2 tokenizer always merges")
    ids = dict(model.get("vocab") or {})
    control = set()
    for added in document.get("added_tokens") or []:
        ids[added["content"]] = added["id"]
        if added.get("special"):
            control.add(added["id"])
    if sorted(ids.values()) != list(range(len(ids))):
        raise FormatError("the tokenizer's ids are not 0, 1, 2, ...: GGUF lists tokens by id")
    added = {token["id"] for token in document.get("added_tokens") or []}
    tokens = sorted(ids, key=ids.get)
    types = [CONTROL if i in control else USER_DEFINED if i in added else NORMAL
             for i in range(len(tokens))]
    # tokenizers writes a merge as "left right", or since 0.20 as ["left", "right"]
    merges = [merge if isinstance(merge, str) else " ".join(merge)
              for merge in model.get("merges") or []]
    return tokens, types, merges or [NO_MERGE]


def export_gguf(model: GPT, tokenizer, out, *, f16: bool = False,
                gelu_change_ok: bool = False) -> Path:
    """Write ``model`` and ``tokenizer`` to the file ``out`` for llama.cpp; returns it.

    float32 weights, or with ``f16`` the matrices in float16 (the biases and
    norms stay float32).  A float64 model is rounded to float32: llama.cpp
    computes in float32.  The file is written beside ``out`` and renamed
    over it at the end, so a failure never leaves half a file there.
    """
    out = Path(out)
    _check_output(out)
    gguf = _gguf()
    config = model.config
    refuse_unless_gguf(config, gelu_change_ok)
    vocabulary = gguf_vocabulary(tokenizer, config.vocab_size)
    tensors = _gguf_tensors(model, f16)

    def write(path: Path) -> None:
        writer = gguf.GGUFWriter(path, ARCHITECTURE)
        try:
            _fill(writer, model, vocabulary, tensors, f16)
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
        finally:
            writer.close()

    with writing_atomically(out) as file:  # see saving/files.py
        write(Path(file.name))  # llama.cpp's writer opens the file by its name
    return out


def _check_output(out: Path) -> None:
    """Refuse, before any work, an ``out`` that cannot become the file."""
    if out.is_dir():
        raise IsADirectoryError(f"{out}: is a directory; name the .gguf file to write")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"{out}: the folder {out.parent} does not exist")


def _gguf_tensors(model: GPT, f16: bool) -> dict[str, np.ndarray]:
    """Every tensor of the file, by llama.cpp's name, in GPT-2's order."""
    values = dict(model.named_parameters())
    tensors = {}
    for tensor in gpt2_tensors(model, OUT_IN):  # (d_out, d_in): never transposed here
        tensors[gguf_name(tensor.theirs)] = values[tensor.ours].value
    if model.config.positions == "sinusoidal":  # GPT-2's positions are a table: write ours
        token_table = tensors.pop(GGUF_NAMES["transformer.wte.weight"])
        tensors = {GGUF_NAMES["transformer.wte.weight"]: token_table,
                   GGUF_NAMES["transformer.wpe.weight"]: model.positions.table, **tensors}
    written = {}
    for name, value in tensors.items():
        if f16 and value.ndim == 2:
            largest = float(np.abs(value).max())
            if largest > FLOAT16_MAX:
                raise FormatError(f"{name} holds {largest:.4g}, beyond float16's largest "
                                  f"number, {FLOAT16_MAX:.0f}: write it as float32 (no --f16)")
            written[name] = value.astype(np.float16)
        else:
            written[name] = np.ascontiguousarray(value, dtype=np.float32)
    return written


def _fill(writer, model: GPT, vocabulary: Vocabulary, tensors: dict, f16: bool) -> None:
    """Every key and tensor of the file, into the open ``writer``."""
    config = model.config
    sizes = {"block_size": config.block_size, "d_model": config.d_model,
             "d_ff": config.d_ff or 4 * config.d_model, "n_layer": config.n_layer,
             "n_head": config.n_head, "vocab_size": config.vocab_size}
    for field, key in SIZES.items():
        writer.add_uint32(key, sizes[field])
    writer.add_float32(LAYER_NORM_EPS, model.ln_f.eps)
    writer.add_file_type(F16 if f16 else F32)
    writer.add_tokenizer_model(TOKENIZER_MODEL)
    writer.add_tokenizer_pre(PRE_TOKENIZER)
    writer.add_token_list(vocabulary.tokens)
    writer.add_token_types(vocabulary.types)
    writer.add_token_merges(vocabulary.merges)
    if vocabulary.end_of_text is not None:
        writer.add_bos_token_id(vocabulary.end_of_text)
        writer.add_eos_token_id(vocabulary.end_of_text)
    writer.add_add_bos_token(False)  # the model never saw a token before the text
    for name, value in tensors.items():
        writer.add_tensor(name, value)


def _read(path: Path):
    """``gguf.GGUFReader(path)``; a file it cannot read is a FormatError naming it."""
    gguf = _gguf()
    if not path.is_file():
        raise FormatError(f"{path}: no such file; give the .gguf file to read")
    try:
        return gguf.GGUFReader(path)
    except Exception as error:  # not GGUF, truncated, or damaged: in gguf's words
        raise FormatError(f"{path}: not a readable GGUF file ({error})") from None


def _value(reader, key: str, path: Path, default=None):
    """The value of ``key`` in the file's header (a list for an array)."""
    field = reader.get_field(key)
    if field is None:
        if default is None:
            raise FormatError(f"{path}: has no {key}")
        return default
    try:
        return field.contents()
    except Exception as error:  # a string that is not UTF-8, a type gguf cannot read
        raise FormatError(f"{path}: its {key} cannot be read ({error})") from None


def _whole(reader, key: str, path: Path, default=None) -> int:
    value = _value(reader, key, path, default)
    if type(value) is not int:  # bool is a subclass of int: not a size
        raise FormatError(f"{path}: {key} is {value!r}, not a whole number")
    return value


def _config(reader, path: Path) -> GPTConfig:
    """The GPTConfig a GPT-2-architecture GGUF file describes, from its header
    and the token table's shape; a FormatError naming the key we cannot follow."""
    architecture = _value(reader, "general.architecture", path)
    if architecture != ARCHITECTURE:
        raise FormatError(f"{path}: general.architecture is {architecture!r}; only GPT-2's, "
                          f"{ARCHITECTURE!r}, is read")
    sizes = {field: _whole(reader, key, path, default=-1) for field, key in SIZES.items()
             if field not in ("d_ff", "vocab_size")}
    missing = [SIZES[field] for field, size in sizes.items() if size == -1]
    if missing:
        raise FormatError(f"{path}: has no {', '.join(missing)}")
    d_ff = _whole(reader, SIZES["d_ff"], path, default=4 * sizes["d_model"])
    if _whole(reader, HEAD_COUNT_KV, path, default=sizes["n_head"]) != sizes["n_head"]:
        raise FormatError(f"{path}: {HEAD_COUNT_KV} differs from its head count: grouped "
                          f"keys and values, which GPT-2's attention does not have")
    epsilon = _value(reader, LAYER_NORM_EPS, path)
    if not isinstance(epsilon, float) or np.float32(epsilon) != np.float32(EPS):
        raise FormatError(f"{path}: {LAYER_NORM_EPS} is {epsilon!r}; our GPT's LayerNorms "
                          f"use {EPS}")
    token_table = next((tensor for tensor in reader.tensors
                        if tensor.name == GGUF_NAMES["transformer.wte.weight"]), None)
    if token_table is None:
        raise FormatError(f"{path}: has no {GGUF_NAMES['transformer.wte.weight']}")
    try:
        return GPTConfig(vocab_size=int(token_table.data.shape[0]),
                         d_ff=None if d_ff == 4 * sizes["d_model"] else d_ff, gelu="tanh",
                         **sizes)
    except (TypeError, ValueError) as error:  # GPTConfig names the field, in our words
        raise FormatError(f"{path}: {error}") from None


def import_gguf(path) -> tuple[GPT, object]:
    """``(model, tokenizer)`` from a GPT-2-architecture GGUF file of float32 or
    float16 tensors (read into a float32 model), ours or llama.cpp's converter's."""
    path = Path(path)
    reader = _read(path)
    config = _config(reader, path)
    refuse_beyond_memory(config, path, SIZES)
    tokenizer = _tokenizer(reader, path, config.vocab_size)
    model = GPT(config)
    _copy_tensors(reader, model, path)
    return model, tokenizer


def _tokenizer(reader, path: Path, vocab_size: int):
    """The file's GPT-2 BPE as our tokenizer: a CharTokenizer if it is a character
    vocabulary as :func:`gguf_vocabulary` writes one, else a BPETokenizer."""
    model = _value(reader, "tokenizer.ggml.model", path)
    split = _value(reader, "tokenizer.ggml.pre", path, default=PRE_TOKENIZER)
    if (model, split) != (TOKENIZER_MODEL, PRE_TOKENIZER):
        raise FormatError(f"{path}: its tokenizer is {model!r} with the pre-tokenizer "
                          f"{split!r}; only GPT-2's, {TOKENIZER_MODEL!r} with "
                          f"{PRE_TOKENIZER!r}, is read")
    tokens = _value(reader, "tokenizer.ggml.tokens", path)
    types = _value(reader, "tokenizer.ggml.token_type", path, default=[NORMAL] * len(tokens))
    merges = _value(reader, "tokenizer.ggml.merges", path)
    if len(tokens) != vocab_size or len(types) != len(tokens):
        raise FormatError(f"{path}: {len(tokens):,} tokens and {len(types):,} token types, "
                          f"for a token table of {vocab_size:,} rows")
    used = len(types)
    while used and types[used - 1] == UNUSED:  # padding rows at the end: no text
        used -= 1
    tokens, types = tokens[:used], types[:used]
    chars = _characters(tokens)
    if chars is not None and merges == char_merges(chars):
        return CharTokenizer(chars)
    return _bpe(tokens, types, merges, path)


def _characters(tokens: list[str]) -> list[str] | None:
    """The characters the tokens spell in GPT-2's byte alphabet, if each spells one."""
    byte_of = {char: byte for byte, char in enumerate(BYTE_ALPHABET)}
    chars = []
    for token in tokens:
        try:
            char = bytes(byte_of[piece] for piece in token).decode("utf-8")
        except (KeyError, UnicodeDecodeError):
            return None
        if len(char) != 1:
            return None
        chars.append(char)
    return chars if len(set(chars)) == len(chars) else None


def _bpe(tokens: list[str], types: list[int], merges: list[str], path: Path) -> BPETokenizer:
    """A BPETokenizer that splits and merges as llama.cpp's "gpt-2" tokenizer:
    GPT-2's regex and byte alphabet, then the merges by rank."""
    tokenizers = hugging_face_tokenizers()
    vocab = {token: i for i, token in enumerate(tokens)}
    pairs = []
    for merge in merges:
        if merge == NO_MERGE:  # a merge that never applies: one our export writes
            continue
        left, space, right = merge.partition(" ")
        if not space or left + right not in vocab or left not in vocab or right not in vocab:
            raise FormatError(f"{path}: the merge {merge!r} does not join two tokens into a "
                              f"third; llama.cpp would fall back to bytes there, and our "
                              f"BPE would not")
        pairs.append((left, right))
    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE(vocab=vocab, merges=pairs))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tokenizers.decoders.ByteLevel()
    tokenizer.add_special_tokens([tokenizers.AddedToken(token, special=True)
                                  for token, kind in zip(tokens, types) if kind == CONTROL])
    return BPETokenizer(tokenizer)


def _copy_tensors(reader, model: GPT, path: Path) -> None:
    """Check every tensor's name, type and shape, then copy each into ``model``."""
    gguf = _gguf()
    stored = {tensor.name: tensor for tensor in reader.tensors}
    expected = {gguf_name(tensor.theirs): tensor for tensor in gpt2_tensors(model, OUT_IN)}
    head = "output.weight"  # a head of its own: allowed if it is the token table
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected) - {head})
    if missing or unexpected:
        raise FormatError(f"{path}: the tensors are not GPT-2's (missing: "
                          f"{', '.join(missing) or 'none'}; unexpected: "
                          f"{', '.join(unexpected) or 'none'})")
    floats = (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16)
    for name, tensor in stored.items():
        if tensor.tensor_type not in floats:
            raise FormatError(f"{path}: {name} is {tensor.tensor_type.name}; only F32 and F16 "
                              f"tensors are read (quantized ones are not)")
        want = expected[name].their_shape if name in expected else expected[
            GGUF_NAMES["transformer.wte.weight"]].their_shape
        if tuple(tensor.data.shape) != want:
            raise FormatError(f"{path}: {name} has shape {tuple(tensor.data.shape)}, but the "
                              f"header's sizes and the token table make it {want}")
    parameters = dict(model.named_parameters())
    for name, tensor in expected.items():
        parameters[tensor.ours].value[...] = stored[name].data  # float16 -> float32 exactly
    if head in stored and not np.array_equal(stored[head].data,
                                             model.token_embedding.W.value):
        raise FormatError(f"{path}: {head} differs from token_embd.weight; our GPT ties its "
                          f"head to the token embedding")
