"""A translator: Vaswani et al.'s encoder-decoder Transformer, on the checked layers.

The encoder reads the whole source sentence; the decoder writes the target
one token at a time, reading what it has written (causally) and the
encoder's output (cross-attention).  Two sequences of different lengths,
with the shape after each line::

    src_ids                                 (batch, src_seq)   integers in [0, src_vocab)
    x = E_src[src_ids] · √d_model + PE      (batch, src_seq, d_model)
    memory = encoder blocks(x)              (batch, src_seq, d_model)   N TransformerBlocks, no mask
    tgt_ids                                 (batch, tgt_seq)   BOS, then the target so far
    y = E_tgt[tgt_ids] · √d_model + PE      (batch, tgt_seq, d_model)
    h = decoder blocks(y, memory)           (batch, tgt_seq, d_model)   N DecoderBlocks;
                                            cross scores (batch, n_heads, tgt_seq, src_seq)
    logits = h E_tgtᵀ                       (batch, tgt_seq, vocab)     vocab = the target's

Training uses *teacher forcing*: the decoder reads the true target shifted
right (BOS, t₁, ..., t_{n-1}) and predicts every next token (t₁, ..., EOS)
at once; the causal mask keeps each position from reading the answer.

From §3.4 of the paper: the target embedding and the output projection
share one matrix (Press & Wolf 2017), the source embedding too when both
languages share a vocabulary, and the embeddings are multiplied by √d_model.
"""

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..layers import (DecoderBlock, Dropout, Embedding, Sequential, SinusoidalPositionalEncoding,
                      TransformerBlock)
from ..layers.activations import GELU_FORMS
from ..layers.decoder_block import DecoderCache
from ..layers.feed_forward import ACTIVATIONS
from ..layers.kv_cache import KVCache
from ..layers.norms import NORM_TYPES
from ..layers.transformer_block import NORM_PLACEMENTS
from ..core import Module
from ..core import Array, Bool, Float, Integer, checked, expect
from ..core.validate import (FLOAT_DTYPES, float_dtype, head_width, option, positive_int,
                             probability)
from .settings import setting


@dataclass(frozen=True)
class TranslatorConfig:
    """Everything that fixes a translator's shapes.  Defaults: the sizes of
    the number-words task (d_model 128, 2 + 2 layers, 4 heads, d_ff 512)."""

    src_vocab_size: int = setting(help="distinct source tokens, from the source tokenizer")
    tgt_vocab_size: int = setting(help="distinct target tokens: the logits' vocab")
    share_embeddings: bool = setting(False, "one table for both sides (the vocab sizes must "
                                            "agree)")
    max_len: int = setting(64, "the longest sentence, in tokens: the position table's rows")
    n_layer: int = setting(2, "encoder blocks, and as many decoder blocks (the paper's N)")
    n_head: int = setting(4, "attention heads; d_model must be divisible by it")
    d_model: int = setting(128, "width of the residual stream")
    d_ff: int = setting(512, "the feed-forward's hidden width (4 * d_model, as the paper's "
                             "2048 for 512)")
    dropout: float = setting(0.1, "the paper's P_drop, for every dropout layer")
    norm: str = setting("post", "where the norms sit: post (the paper) or pre (GPT-2)",
                        NORM_PLACEMENTS)
    norm_type: str = setting("layer", "which norm: layer (LayerNorm, the paper's) or rms "
                                      "(RMSNorm)", tuple(NORM_TYPES))
    activation: str = setting("relu", "the feed-forward's: relu (the paper) or gelu",
                              tuple(ACTIVATIONS))
    gelu: str = setting("tanh", "GELU's form, when the activation is gelu: tanh (GPT-2's "
                                "approximation) or erf (the exact form)", tuple(GELU_FORMS))
    dtype: str = setting("float32", "the float type of weights and activations (float64 for "
                                    "gradient checks)", FLOAT_DTYPES)
    seed: int = setting(0, "seeds the initial weights and every dropout generator")

    def __post_init__(self):
        for name in ("src_vocab_size", "tgt_vocab_size", "max_len", "n_layer", "n_head",
                     "d_model", "d_ff"):
            positive_int(self, name, getattr(self, name))
        head_width(self, self.d_model, self.n_head, "n_head")
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(f"TranslatorConfig: share_embeddings needs one vocabulary, but "
                             f"src_vocab_size is {self.src_vocab_size} and tgt_vocab_size "
                             f"{self.tgt_vocab_size}")
        probability(self, "dropout", self.dropout)
        option(self, "norm", self.norm, NORM_PLACEMENTS)
        option(self, "norm_type", self.norm_type, NORM_TYPES)
        option(self, "activation", self.activation, ACTIVATIONS)
        option(self, "gelu", self.gelu, GELU_FORMS)
        float_dtype(self, "dtype", self.dtype)

    def to_json(self) -> dict:
        return asdict(self)


class Translator(Module):
    """Source and target embeddings, sinusoidal positions, ``n_layer`` encoder
    and ``n_layer`` decoder blocks, and an output projection tied to the
    target embedding.  Pre-LN stacks end with one more norm each
    (``encoder_norm``, ``decoder_norm``), as GPT-2's ``ln_f``: their
    residual streams are never normalized otherwise.  Post-LN stacks end
    with a norm already.

    ``forward(src_ids, tgt_ids, src_padding_mask, tgt_padding_mask)`` returns
    the logits; each mask (batch, src_seq) or (batch, tgt_seq) is True at
    the padding (:func:`~shapesafe_nn.tokenizers.words.pad_batch` makes both).
    ``backward(dlogits)`` fills every parameter's gradient and returns
    nothing: token ids have no gradient.
    """

    # the target table fixes vocab and d_model: bind them before the ids
    shape_anchors = (("tgt_embedding.W", "vocab d_model"),)

    def __init__(self, config: TranslatorConfig):
        super().__init__()
        self.config = c = config
        dtype = np.dtype(c.dtype)
        rng = np.random.default_rng(c.seed)
        self.tgt_embedding = Embedding(c.tgt_vocab_size, c.d_model, rng=rng, dtype=dtype)
        self.src_embedding = (self.tgt_embedding if c.share_embeddings
                              else Embedding(c.src_vocab_size, c.d_model, rng=rng, dtype=dtype))
        self.scale = math.sqrt(c.d_model)  # a Python float: keeps float32 float32
        # one fixed table, read by both sides (a layer called twice keeps a record per call)
        self.positions = SinusoidalPositionalEncoding(c.max_len, c.d_model, dtype=dtype)
        self.src_dropout = Dropout(c.dropout, seed=int(rng.integers(2**63)))
        self.tgt_dropout = Dropout(c.dropout, seed=int(rng.integers(2**63)))
        options = dict(norm=c.norm, norm_type=c.norm_type, activation=c.activation, gelu=c.gelu,
                       rng=rng, dtype=dtype)
        # the encoder's blocks: no mask, the whole source is known
        self.encoder = Sequential(*[TransformerBlock(c.d_model, c.n_head, c.d_ff, c.dropout,
                                                     "none", **options)
                                    for _ in range(c.n_layer)])
        self.decoder = Sequential(*[DecoderBlock(c.d_model, c.n_head, c.d_ff, c.dropout,
                                                 **options) for _ in range(c.n_layer)])
        if c.norm == "pre":
            self.encoder_norm = NORM_TYPES[c.norm_type](c.d_model, dtype=dtype)
            self.decoder_norm = NORM_TYPES[c.norm_type](c.d_model, dtype=dtype)

    def extra_repr(self) -> str:
        c = self.config
        return (f"src_vocab_size={c.src_vocab_size}, tgt_vocab_size={c.tgt_vocab_size}, "
                f"n_layer={c.n_layer}, n_head={c.n_head}, d_model={c.d_model}, norm={c.norm}"
                + ("" if c.norm_type == "layer" else f", norm_type={c.norm_type}"))

    def _check_length(self, name: str, ids: Array) -> None:
        if ids.shape[1] > self.config.max_len:
            raise ValueError(f"Translator.forward: {name} holds {ids.shape[1]} tokens, but the "
                             f"model reads at most max_len = {self.config.max_len}; shorten "
                             f"the sentence or build the model with a larger max_len")

    def encode(self, src_ids: Array, src_padding_mask: Array | None = None) -> Array:
        """memory (batch, src_seq, d_model): the encoder's reading of the source."""
        x = self.src_embedding.forward(src_ids) * self.scale
        x = self.src_dropout.forward(self.positions.forward(x))
        for block in self.encoder:
            x = block.forward(x, src_padding_mask)
        return self.encoder_norm.forward(x) if self.config.norm == "pre" else x

    def new_cache(self) -> list[DecoderCache]:
        """An empty cache for each decoder block, each up to max_len positions:
        pass it to :meth:`decode` to write a target one token at a time (inside
        ``no_grad()``).  Each block keeps its self-attention's keys and values
        and the source's keys and values of its cross-attention."""
        return [DecoderCache(KVCache(self.config.max_len), KVCache(self.config.max_len))
                for _ in self.decoder]

    def decode(self, tgt_ids: Array, memory: Array, src_padding_mask: Array | None = None,
               tgt_padding_mask: Array | None = None,
               cache: list[DecoderCache] | None = None) -> Array:
        """h (batch, tgt_seq, d_model): the decoder's last hidden states.

        With ``cache`` (from :meth:`new_cache`), ``tgt_ids`` holds the tokens
        after those the cache has seen: they take the next positions, and h
        is the plain decode's at those positions (``tests/models/test_decoding.py``)::

            y = E[new ids]·√d_model + PE[seen : seen + new]   (batch, new, d_model)
            each block's self-attention: keys, values         (batch, n_heads, seen + new, d_head)
            each block's cross-attention: memory's keys, values (batch, n_heads, src_seq, d_head),
                                                              computed at the first call only
        """
        y = self.tgt_embedding.forward(tgt_ids) * self.scale
        if cache is None:
            y = self.positions.forward(y)
        else:
            seen, new = cache[0].seq_so_far, tgt_ids.shape[1]
            if seen + new > self.config.max_len:
                raise ValueError(f"Translator.decode: {seen} cached and {new} new positions "
                                 f"exceed max_len {self.config.max_len}")
            y = y + self.positions.table[seen:seen + new]
        y = self.tgt_dropout.forward(y)
        for block, block_cache in zip(self.decoder, cache or [None] * len(self.decoder)):
            y = block.forward(y, memory, src_padding_mask, tgt_padding_mask, cache=block_cache)
        return self.decoder_norm.forward(y) if self.config.norm == "pre" else y

    @checked
    def forward(self, src_ids: Integer[Array, "batch src_seq"],
                tgt_ids: Integer[Array, "batch tgt_seq"],
                src_padding_mask: Bool[Array, "batch src_seq"] | None = None,
                tgt_padding_mask: Bool[Array, "batch tgt_seq"] | None = None,
                ) -> Float[Array, "batch tgt_seq vocab"]:
        self._check_length("src_ids", src_ids)
        self._check_length("tgt_ids", tgt_ids)
        E = self.tgt_embedding.W.value  # (vocab, d_model), checked as a shape anchor
        memory = expect("memory", self.encode(src_ids, src_padding_mask),
                        "batch src_seq d_model")
        h = expect("h", self.decode(tgt_ids, memory, src_padding_mask, tgt_padding_mask),
                   "batch tgt_seq d_model")
        # logits = h Eᵀ as one matrix product over all batch*tgt_seq rows
        batch, tgt_seq = tgt_ids.shape
        h_rows = h.reshape(batch * tgt_seq, self.config.d_model)
        self.save_for_backward(h_rows=h_rows)
        return (h_rows @ E.T).reshape(batch, tgt_seq, self.config.tgt_vocab_size)

    @checked
    def backward(self, dlogits: Float[Array, "batch tgt_seq vocab"]) -> None:
        """Gradients of every parameter; token ids have none, so nothing is returned."""
        E = self.tgt_embedding.W
        batch, tgt_seq, vocab = dlogits.shape
        dlogits_rows = dlogits.reshape(batch * tgt_seq, vocab)
        # logits = h Eᵀ: the output projection's share of E's gradient ...
        E.grad += dlogits_rows.T @ self.saved["h_rows"]
        dy = (dlogits_rows @ E.value).reshape(batch, tgt_seq, self.config.d_model)
        # the decoder, last block first; every block read memory: add their dmemory
        if self.config.norm == "pre":
            dy = self.decoder_norm.backward(dy)
        dmemory = 0.0
        for block in reversed(list(self.decoder)):
            dy, dmemory_block = block.backward(dy)
            dmemory = dmemory + dmemory_block
        dy = self.positions.backward(self.tgt_dropout.backward(dy))
        # ... and the embedding's share: y = E[tgt_ids] · √d_model
        self.tgt_embedding.backward(dy * self.scale)
        # the encoder, from the gradient of its output, memory
        dx = self.encoder_norm.backward(dmemory) if self.config.norm == "pre" else dmemory
        for block in reversed(list(self.encoder)):
            dx = block.backward(dx)
        dx = self.positions.backward(self.src_dropout.backward(dx))
        self.src_embedding.backward(dx * self.scale)
