"""A character-level GPT: Karpathy's "Let's build GPT", on the checked layers.

The whole model, with the shape after each line::

    ids                                   (batch, seq)          integers in [0, vocab)
    x = token_embedding(ids)              (batch, seq, d_model)
    x = positions(x)                      (batch, seq, d_model) + where each token is
    x = dropout(x)
    x = blocks(x)                         (batch, seq, d_model) n_layer TransformerBlocks
    h = ln_f(x)                           (batch, seq, d_model)
    logits = h Eᵀ                         (batch, seq, vocab)   E: the token embedding

The last line is the *tied* language-model head (Press & Wolf 2017; GPT-2):
the matrix that turns a token into a vector also scores every token
against the final vector, so its gradient gets a share from both ends.

Writing text, :meth:`GPT.generate` keeps each block's keys and values in a
:class:`~shapesafe_nn.layers.kv_cache.KVCache` (one per block, from
:meth:`GPT.new_cache`), so each new token costs one position's work::

    ids                                   (batch, seq)          the new tokens only
    x = token_embedding(ids) + P[start:start+seq]               their positions: after
                                                                the start cached ones
    x = block(x, cache)                   (batch, seq, d_model) each block appends the new
                                                                keys and values, (batch,
                                                                n_heads, seq_so_far, d_head)

and asks for the next token's logits alone (:meth:`GPT.next_token_logits`),
so the last block answers for the newest position only.

The build-up ladder of Karpathy's lecture, the models on the way to this
one (a bigram table, an average of the past, one head, ...), lives beside
it in :mod:`shapesafe_nn.models.ladder`; this file holds the last step alone.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from ..core import Array, Float, Integer, Module, checked, expect, no_grad
from ..core.validate import (FLOAT_DTYPES, float_dtype, head_width, is_integer, option,
                             positive_int, probability)
from ..layers import (Dropout, Embedding, LearnedPositionalEmbedding, Sequential,
                      SinusoidalPositionalEncoding, TransformerBlock)
from ..layers.activations import GELU_FORMS
from ..layers.attention import MASKS, SCORES
from ..layers.kv_cache import KVCache
from ..layers.norms import NORM_TYPES
from .settings import setting

POSITIONS = ("learned", "sinusoidal")


@dataclass(frozen=True)
class GPTConfig:
    """Everything that fixes a GPT's shapes.  Defaults: nanoGPT's "baby" CPU model.

    Each field says what it means (:func:`~shapesafe_nn.models.settings.setting`):
    ``train gpt`` makes a flag of each, with that help."""

    vocab_size: int = setting(help="distinct tokens (characters), taken from the tokenizer")
    block_size: int = setting(64, "the longest context the model reads: the position "
                                  "table's rows")
    n_layer: int = setting(4, "transformer blocks")
    n_head: int = setting(4, "attention heads per block; d_model must be divisible by it")
    d_model: int = setting(128, "width of the residual stream (nanoGPT's n_embd)")
    d_ff: int | None = setting(None, "the feed-forward's hidden width (default: 4 * d_model)")
    dropout: float = setting(0.0, "the probability of every dropout layer; 0 on a small CPU "
                                  "run")
    positions: str = setting("learned", "where each token is: learned (GPT-2, nanoGPT) or "
                                        "sinusoidal (Vaswani et al.)", POSITIONS)
    score: str = setting("scaled_dot", "how attention scores a key (all but scaled_dot are "
                                       "experiments: see benchmarks/experiments.py)",
                         tuple(SCORES))
    mask: str = setting("causal", "which positions attention may see (causal: the past only)",
                        tuple(MASKS))
    gelu: str = setting("tanh", "the feed-forward's GELU: tanh (GPT-2's approximation; "
                                "llama.cpp's) or erf (the exact form, nanoGPT's)",
                        tuple(GELU_FORMS))
    norm_type: str = setting("layer", "every norm's kind: layer (LayerNorm, GPT-2's) or rms "
                                      "(RMSNorm)", tuple(NORM_TYPES))
    dtype: str = setting("float32", "the float type of weights and activations (float64 for "
                                    "gradient checks)", FLOAT_DTYPES)
    seed: int = setting(0, "seeds the initial weights and every dropout generator")

    def __post_init__(self):
        owner = GPTConfig  # errors name the class of these fields, in a subclass's too
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model"):
            positive_int(owner, name, getattr(self, name))
        if self.d_ff is not None:
            positive_int(owner, "d_ff", self.d_ff)
        head_width(owner, self.d_model, self.n_head, "n_head")
        probability(owner, "dropout", self.dropout)
        option(owner, "positions", self.positions, POSITIONS)
        option(owner, "score", self.score, SCORES)
        option(owner, "mask", self.mask, MASKS)
        option(owner, "gelu", self.gelu, GELU_FORMS)
        option(owner, "norm_type", self.norm_type, NORM_TYPES)
        float_dtype(owner, "dtype", self.dtype)

    def to_json(self) -> dict:
        return asdict(self)


class GPT(Module):
    """Token and position embeddings, ``n_layer`` pre-LN transformer blocks, a
    final norm, and a language-model head tied to the token embedding."""

    # the token table fixes vocab and d_model: bind them before the ids
    shape_anchors = (("token_embedding.W", "vocab d_model"),)

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = c = config
        dtype = np.dtype(c.dtype)
        rng = np.random.default_rng(c.seed)
        self.token_embedding = Embedding(c.vocab_size, c.d_model, rng=rng, dtype=dtype)
        self.positions = position_layer(c, rng, dtype)
        self.dropout = Dropout(c.dropout, seed=int(rng.integers(2**63)))
        self.blocks = Sequential(*[
            TransformerBlock(c.d_model, c.n_head, c.d_ff, c.dropout, c.mask, norm_type=c.norm_type,
                             score=c.score, gelu=c.gelu, rng=rng, dtype=dtype)
            for _ in range(c.n_layer)])
        self.ln_f = NORM_TYPES[c.norm_type](c.d_model, dtype=dtype)

    def extra_repr(self) -> str:
        c = self.config
        return (f"vocab_size={c.vocab_size}, block_size={c.block_size}, n_layer={c.n_layer}, "
                f"n_head={c.n_head}, d_model={c.d_model}"
                + ("" if c.norm_type == "layer" else f", norm_type={c.norm_type}"))

    def new_cache(self) -> list[KVCache]:
        """An empty key/value cache for each block, each up to block_size positions:
        pass it to :meth:`forward` to feed a sequence a few tokens at a time."""
        return [KVCache(self.config.block_size) for _ in self.blocks]

    @checked
    def forward(self, ids: Integer[Array, "batch seq"],
                cache: list[KVCache] | None = None) -> Float[Array, "batch seq vocab"]:
        """The logits at every position of ``ids``.

        With ``cache`` (from :meth:`new_cache`, inside ``no_grad()``), ``ids``
        holds the tokens that come after the ones the cache has seen: they
        take the next positions, and their queries read the cached keys too.
        The logits are those of the plain forward of the whole sequence at
        the new positions (``tests/test_kv_cache.py``).
        """
        seq = ids.shape[1]
        start = self._first_position("forward", ids, cache)
        E = self.token_embedding.W.value  # (vocab, d_model), checked as a shape anchor
        x = self.token_embedding.forward(ids)
        if cache is None:
            x = self.dropout.forward(self.positions.forward(x))
            x = self.blocks.forward(x)
        else:
            # the new tokens sit at positions start, start+1, ...: add those rows
            x = self.dropout.forward(x + self.position_rows(start, start + seq))
            for block, block_cache in zip(self.blocks, cache, strict=True):
                x = block.forward(x, cache=block_cache)
        h = self.ln_f.forward(x)
        # logits = h Eᵀ, as one matrix product over all batch*seq rows: numpy's
        # 3-D @ 2-D product is a slow loop of small ones (see MultiHead)
        batch = ids.shape[0]
        h_rows = h.reshape(batch * seq, self.config.d_model)
        self.save_for_backward(h_rows=h_rows)
        return (h_rows @ E.T).reshape(batch, seq, self.config.vocab_size)

    def _first_position(self, where: str, ids: Array, cache: list[KVCache] | None) -> int:
        """Where ``ids`` start: after the positions ``cache`` holds (0 without one).
        Refused if they would run past block_size, the last row of the position table."""
        seq = ids.shape[1]
        start = 0 if cache is None else cache[0].seq_so_far
        if start + seq > self.config.block_size:
            seen = f"{start} cached and {seq} new" if cache is not None else f"seq = {seq}"
            raise ValueError(f"GPT.{where}: ids hold {seen} positions, but the model's "
                             f"block_size is {self.config.block_size}; crop the context to "
                             f"the last {self.config.block_size} tokens"
                             f"{' and start a new cache' if cache is not None else ''}")
        return start

    @checked
    def next_token_logits(self, ids: Integer[Array, "batch seq"],
                          cache: list[KVCache]) -> Float[Array, "batch vocab"]:
        """``forward(ids, cache=cache)[:, -1]``: the logits of the token after ``ids``,
        without the work nothing reads.

        Every block still appends every position's keys and values to its
        cache, so the next call goes on from here.  What is left out is the
        last block's output at every position but the newest: its queries,
        attention, projection and feed-forward network, and the head, for
        seq - 1 positions.  No block comes after it, and only the newest
        position's logits are asked for::

            x = blocks[:-1](E[ids] + P[start:start+seq], cache)   (batch, seq, d_model)
            blocks[-1].remember(x[:, :-1], cache)                 keys and values only
            x = blocks[-1](x[:, -1:], cache)                      (batch, 1, d_model)
            logits = ln_f(x) Eᵀ                                   (batch, vocab)

        :meth:`generate` asks this at every step.  Once the text is longer than
        block_size, each step reads the whole window again, and the last
        block's outputs are a fifth of the baby GPT's work on it.
        """
        start = self._first_position("next_token_logits", ids, cache)
        seq = ids.shape[1]
        x = self.token_embedding.forward(ids)
        x = self.dropout.forward(x + self.position_rows(start, start + seq))
        *earlier, last = self.blocks
        for block, block_cache in zip(earlier, cache[:-1], strict=True):
            x = block.forward(x, cache=block_cache)
        if seq > 1:  # the positions the newest one attends over, in the last block
            last.remember(x[:, :-1], cache[-1])
        x = last.forward(x[:, -1:], cache=cache[-1])
        h = expect("h", self.ln_f.forward(x)[:, 0], "batch d_model")
        return h @ self.token_embedding.W.value.T

    def position_rows(self, start: int, stop: int) -> Float[Array, "seq d_model"]:
        """Rows start..stop-1 of the position table, learned or sinusoidal: what
        ``positions.forward`` adds to a sequence whose first token is at ``start``."""
        table = self.positions.P.value if self.config.positions == "learned" \
            else self.positions.table
        return table[start:stop]

    @checked
    def backward(self, dlogits: Float[Array, "batch seq vocab"]) -> None:
        """Gradients of every parameter; token ids have none, so nothing is returned."""
        h_rows = self.saved["h_rows"]
        E = self.token_embedding.W
        batch, seq, vocab = dlogits.shape
        dlogits_rows = dlogits.reshape(batch * seq, vocab)
        # logits = h Eᵀ: the head's share of E's gradient, summed over all rows ...
        E.grad += dlogits_rows.T @ h_rows
        dx = (dlogits_rows @ E.value).reshape(batch, seq, self.config.d_model)
        dx = self.blocks.backward(self.ln_f.backward(dx))
        dx = self.positions.backward(self.dropout.backward(dx))
        # ... and the embedding's share, added by Embedding.backward
        self.token_embedding.backward(dx)

    def generate(self, prompt: Integer[Array, "seq"], max_new_tokens: int, *,
                 temperature: float = 1.0, top_k: int | None = None,
                 seed: int | None = None, use_cache: bool = True,
                 on_token: Callable[[int], object] | None = None) -> Integer[Array, "seq"]:
        """Extend ``prompt`` by ``max_new_tokens`` sampled tokens.

        Each step reads the last ``block_size`` tokens, takes the logits of the
        last position, divides them by ``temperature`` (below 1: safer, above
        1: wilder), keeps the ``top_k`` largest if given, and samples from the
        softmax.  Runs in eval mode (no dropout) and restores the mode after.

        With ``use_cache`` (the default; a causal model only), each block keeps
        its keys and values (:meth:`new_cache`), and a step feeds the model the
        newest token alone, (1, 1), instead of the whole context, (1, seq).
        Once the text is longer than ``block_size``, the window slides: every
        token moves one position down, so every key changes, and each step
        rebuilds the cache from the whole window, as the plain path does.
        With the cache, every step asks :meth:`next_token_logits`, which leaves
        out the last block's outputs at the earlier positions.  The tokens are
        the same with or without it; ``use_cache=False`` gives the plain path.

        ``on_token``, if given, is called with each new token's id as soon as it
        is drawn: ``shapesafe-nn sample`` prints the text as it is written.
        """
        prompt = np.asarray(prompt)
        if prompt.ndim != 1 or not np.issubdtype(prompt.dtype, np.integer):
            raise ValueError(f"GPT.generate: prompt must be a 1-D array of token ids, "
                             f"got {prompt.dtype} {prompt.shape}")
        if len(prompt) == 0:
            raise ValueError("GPT.generate: the prompt is empty; give at least one token")
        if not temperature > 0:
            raise ValueError(f"GPT.generate: temperature must be positive, not {temperature}")
        vocab = self.config.vocab_size
        if top_k is not None and (not is_integer(top_k) or not 1 <= top_k <= vocab):
            raise ValueError(f"GPT.generate: top_k must be in [1, {vocab}], not {top_k!r}")
        if not is_integer(max_new_tokens) or max_new_tokens < 0:
            raise ValueError(f"GPT.generate: max_new_tokens must be 0 or more, "
                             f"not {max_new_tokens!r}")
        rng = np.random.default_rng(seed)
        # only under the causal mask do a position's keys stay fixed as text grows
        use_cache = use_cache and self.config.mask == "causal"
        block_size = self.config.block_size
        was_training = self.training
        self.eval()
        try:
            ids = prompt.astype(np.int64)
            cache = None
            with no_grad():  # nothing here is differentiated: keep no records
                for _ in range(max_new_tokens):
                    window = ids[-block_size:][None, :]  # (1, seq): what the model reads
                    slid = len(ids) > block_size  # the window no longer starts at token 0
                    if not use_cache:
                        logits = self.forward(window)[0, -1]
                    elif cache is None or slid:  # the first step, or every position moved
                        cache = self.new_cache()
                        logits = self.next_token_logits(window, cache)[0]
                    else:  # the cache holds every token but the newest, where they still are
                        logits = self.next_token_logits(window[:, -1:], cache)[0]
                    logits = logits.astype(np.float64)
                    # in log space: subtract the largest first, so dividing by a
                    # temperature near 0 sends the others to -inf (probability 0),
                    # never to inf - inf
                    logits -= logits.max()
                    with np.errstate(over="ignore"):
                        logits /= temperature
                    if top_k is not None:
                        logits[logits < np.sort(logits)[-top_k]] = -np.inf
                    p = np.exp(logits)
                    ids = np.append(ids, rng.choice(vocab, p=p / p.sum()))
                    if on_token is not None:
                        on_token(int(ids[-1]))
        finally:
            self.train(was_training)
        return ids


def position_layer(config: GPTConfig, rng: np.random.Generator, dtype) -> Module:
    """What adds each token's position: a learned table (GPT-2, nanoGPT), drawn
    from ``rng``, or Vaswani et al.'s fixed sinusoids, block_size rows of d_model."""
    if config.positions == "learned":
        return LearnedPositionalEmbedding(config.block_size, config.d_model, rng=rng, dtype=dtype)
    return SinusoidalPositionalEncoding(config.block_size, config.d_model, dtype=dtype)
