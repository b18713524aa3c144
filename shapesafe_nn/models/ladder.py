"""The build-up ladder of Karpathy's "Let's build GPT": the GPT, one idea at a time.

Each rung is the one before plus one idea, built from the same checked
layers, in the order of the lecture; the last two are the GPT itself
(:class:`~shapesafe_nn.models.gpt.GPT`)::

    bigram        logits = T[ids]                  T (vocab, vocab): row i holds the
                                                   logits of the token after token i
    average       x = E[ids] + P                   (batch, seq, d_model)
                  x_t = (x_0 + ... + x_t) / (t+1)  the past averaged: attention whose
                                                   every score is 0, so the causal
                                                   softmax weighs each position alike
                  logits = x Eᵀ                    (batch, seq, vocab)
    head          x = head(x), n_layer times       one learned head d_model wide: the
                                                   weights now depend on the tokens
    heads         x = MHA(x), n_layer times        n_head heads of d_model / n_head
                                                   side by side, then a projection
    feed_forward  x = FFN(MHA(x)), n_layer times   each position thinks on its own
    residual      x = x + MHA(LN₁(x))              the TransformerBlock: each sub-block
                  x = x + FFN(LN₂(x))              adds to the residual stream, and a
                  logits = LN_f(x) Eᵀ              final layer norm before the head
    full          + dropout                        after the embeddings and in every
                                                   block: the GPT

Every rung from ``average`` up ties its head to the token embedding E, as
the GPT does, so that the rungs differ only by the line each adds.  Each
rung below ``residual`` is a small model here, with the GPT's parameter
names, drawing its weights from the seed in the GPT's order.

:func:`build_gpt` builds the model a config names: a :class:`LadderConfig`
(a :class:`~shapesafe_nn.models.gpt.GPTConfig` and its ``rung``) gives that
rung's model, a plain GPTConfig the GPT.  ``train gpt --rung`` and loading
a checkpoint go through it.
"""

from dataclasses import dataclass

import numpy as np

from ..core import Array, Float, Integer, Module, checked
from ..core.validate import InvalidArgument, option
from ..layers import (Attention, AttentionHead, Embedding, FeedForward, MultiHeadAttention,
                      Sequential)
from .gpt import GPT, GPTConfig, position_layer
from .settings import setting

# The rungs, in the lecture's order: each adds one idea to the one before
RUNGS = ("bigram", "average", "head", "heads", "feed_forward", "residual", "full")
# the rungs made of TransformerBlocks, the GPT itself: they alone have the embedding
# dropout, the final layer norm, and attention that keeps a KVCache
TRANSFORMER_RUNGS = ("residual", "full")


@dataclass(frozen=True)
class LadderConfig(GPTConfig):
    """A :class:`~shapesafe_nn.models.gpt.GPTConfig` and the rung of the ladder
    it builds: one of RUNGS, ``"full"`` (the default) being the whole GPT."""

    rung: str = setting("full", "a step of the build-up ladder of Let's build GPT, each the "
                                "one before plus one idea: bigram, average (of the past), head, "
                                "heads, feed_forward, residual (+ layer norm), full (+ dropout: "
                                "the GPT); see benchmarks/ladder.py", RUNGS)

    def __post_init__(self):
        super().__post_init__()
        option(self, "rung", self.rung, RUNGS)
        if self.dropout > 0 and self.rung != "full":
            # dropout is the last rung's one addition: below it, the rung names the model
            raise InvalidArgument(f"{type(self).__name__}: dropout {self.dropout} is what rung "
                                  f"'full' adds; rung {self.rung!r} has none, so its dropout "
                                  f"must be 0", "dropout")
        if self.norm_type != "layer" and self.rung not in TRANSFORMER_RUNGS:
            # the norms come with the residual stream: below it, there is none to choose
            raise InvalidArgument(f"{type(self).__name__}: norm_type {self.norm_type!r} is the "
                                  f"norm of rungs {' and '.join(TRANSFORMER_RUNGS)}; rung "
                                  f"{self.rung!r} has no norm, so its norm_type must be 'layer'",
                                  "norm_type")


def build_gpt(config: GPTConfig) -> Module:
    """The model ``config`` describes: for a LadderConfig, its rung's (the GPT for
    ``residual`` and ``full``); for a plain GPTConfig, the GPT."""
    if not isinstance(config, LadderConfig):
        return GPT(config)
    return RUNG_MODELS[config.rung](config)


class Rung(Module):
    """What every rung below the transformer blocks shares: its config, sampling
    as the GPT does, and no key/value cache to keep."""

    def __init__(self, config: LadderConfig):
        super().__init__()
        self.config = config

    def extra_repr(self) -> str:
        c = self.config
        return (f"rung={c.rung}, vocab_size={c.vocab_size}, block_size={c.block_size}, "
                f"n_layer={c.n_layer}, n_head={c.n_head}, d_model={c.d_model}")

    def generate(self, prompt: Integer[Array, "seq"], max_new_tokens: int, *,
                 use_cache: bool = False, **sampling) -> Integer[Array, "seq"]:
        """:meth:`GPT.generate <shapesafe_nn.models.gpt.GPT.generate>`, reading the
        whole window at every step: a rung keeps no keys and values, so
        ``use_cache`` changes nothing."""
        return GPT.generate(self, prompt, max_new_tokens, use_cache=False, **sampling)

    def new_cache(self):
        raise ValueError(f"{type(self).__name__}.new_cache: rung {self.config.rung!r} has no "
                         f"TransformerBlocks to keep keys and values for; only "
                         f"{' and '.join(TRANSFORMER_RUNGS)} do")

    def next_token_logits(self, ids: Array, cache) -> Array:
        raise ValueError(f"{type(self).__name__}.next_token_logits: rung {self.config.rung!r} "
                         f"keeps no keys and values; call forward(ids)[:, -1] instead")

    def refuse_past_block_size(self, ids: Array) -> None:
        """The position table has block_size rows: a longer ``ids`` is refused, as
        the GPT refuses it (the bigram table has none, but its rung keeps the limit)."""
        seq, block_size = ids.shape[1], self.config.block_size
        if seq > block_size:
            raise ValueError(f"{type(self).__name__}.forward: ids hold seq = {seq} positions, "
                             f"but the model's block_size is {block_size}; crop the context "
                             f"to the last {block_size} tokens")


class Bigram(Rung):
    """logits = T[ids]: one table, whose row i is read as the logits of the token
    after token i; nothing else is learned."""

    # the table is vocab wide, not d_model: bind vocab from it before the ids
    shape_anchors = (("token_embedding.W", "vocab vocab"),)

    def __init__(self, config: LadderConfig):
        super().__init__(config)
        rng = np.random.default_rng(config.seed)
        self.token_embedding = Embedding(config.vocab_size, config.vocab_size, rng=rng,
                                         dtype=np.dtype(config.dtype))

    @checked
    def forward(self, ids: Integer[Array, "batch seq"]) -> Float[Array, "batch seq vocab"]:
        self.refuse_past_block_size(ids)
        return self.token_embedding.forward(ids)

    @checked
    def backward(self, dlogits: Float[Array, "batch seq vocab"]) -> None:
        # logits = T[ids]: each logit's gradient lands in its row
        self.token_embedding.backward(dlogits)


class Stack(Rung):
    """x = E[ids] + P;  x = blocks(x);  logits = x Eᵀ: the rungs from ``average``
    to ``feed_forward``, each a stack of its own blocks (:meth:`make_blocks`)
    between the GPT's embeddings and its tied head, with no residual stream,
    no final norm and no dropout yet."""

    # the token table fixes vocab and d_model: bind them before the ids
    shape_anchors = (("token_embedding.W", "vocab d_model"),)

    def __init__(self, config: LadderConfig):
        super().__init__(config)
        dtype = np.dtype(config.dtype)
        rng = np.random.default_rng(config.seed)
        self.token_embedding = Embedding(config.vocab_size, config.d_model, rng=rng, dtype=dtype)
        self.positions = position_layer(config, rng, dtype)
        self.blocks = Sequential(*self.make_blocks(config, rng, dtype))

    @staticmethod
    def make_blocks(config: LadderConfig, rng: np.random.Generator, dtype) -> list[Module]:
        raise NotImplementedError  # each rung says what it stacks

    @checked
    def forward(self, ids: Integer[Array, "batch seq"]) -> Float[Array, "batch seq vocab"]:
        self.refuse_past_block_size(ids)
        E = self.token_embedding.W.value  # (vocab, d_model), checked as a shape anchor
        x = self.positions.forward(self.token_embedding.forward(ids))
        h = self.blocks.forward(x)
        # logits = h Eᵀ, one matrix product over all batch*seq rows, as the GPT's head
        batch, seq = ids.shape
        h_rows = h.reshape(batch * seq, self.config.d_model)
        self.save_for_backward(h_rows=h_rows)
        return (h_rows @ E.T).reshape(batch, seq, self.config.vocab_size)

    @checked
    def backward(self, dlogits: Float[Array, "batch seq vocab"]) -> None:
        E = self.token_embedding.W
        batch, seq, vocab = dlogits.shape
        dlogits_rows = dlogits.reshape(batch * seq, vocab)
        # logits = h Eᵀ: the head's share of E's gradient, and h's gradient
        E.grad += dlogits_rows.T @ self.saved["h_rows"]
        dh = (dlogits_rows @ E.value).reshape(batch, seq, self.config.d_model)
        dx = self.positions.backward(self.blocks.backward(dh))
        # ... and the embedding's share, added by Embedding.backward
        self.token_embedding.backward(dx)


class AverageOfThePast(Module):
    """x_t = (x_0 + ... + x_t) / (t+1): the attention core fed zero queries and keys.

    scaled_dot scores every pair 0, so the masked softmax gives each of the
    t+1 visible positions 1/(t+1): Karpathy's softmax of a zero matrix under
    the lower triangle, times the values, x itself.  Nothing is learned.
    """

    def __init__(self, mask: str):
        super().__init__()
        self.attend = Attention("scaled_dot", mask)

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        zeros = np.zeros_like(x)
        return self.attend.forward(zeros, zeros, x)

    @checked
    def backward(self,
                 dout: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        # the zero queries and keys are constants: only the values', x's, gradient counts
        _, _, dx = self.attend.backward(dout)
        return dx


class Average(Stack):
    """x_t = (x_0 + ... + x_t) / (t+1), once: the past averaged, the weights fixed."""

    @staticmethod
    def make_blocks(config, rng, dtype):
        return [AverageOfThePast(config.mask)]


class Head(Stack):
    """x = head(x), n_layer times: one head as wide as the stream, so that blocks
    stack (Karpathy's ``Head(n_embd)``); the weights now depend on the tokens."""

    @staticmethod
    def make_blocks(config, rng, dtype):
        return [AttentionHead(config.d_model, config.d_model, config.mask, score=config.score,
                              rng=rng, dtype=dtype) for _ in range(config.n_layer)]


class Heads(Stack):
    """x = MHA(x), n_layer times: n_head heads of d_model / n_head side by side."""

    @staticmethod
    def make_blocks(config, rng, dtype):
        return [MultiHeadAttention(config.d_model, config.n_head, config.mask,
                                   score=config.score, rng=rng, dtype=dtype)
                for _ in range(config.n_layer)]


class HeadsThenFeedForward(Stack):
    """x = FFN(MHA(x)), n_layer times: after attention mixes the positions, each
    thinks on its own."""

    @staticmethod
    def make_blocks(config, rng, dtype):
        return [Sequential(MultiHeadAttention(config.d_model, config.n_head, config.mask,
                                              score=config.score, rng=rng, dtype=dtype),
                           FeedForward(config.d_model, config.d_ff or 4 * config.d_model,
                                       gelu=config.gelu, rng=rng, dtype=dtype))
                for _ in range(config.n_layer)]


# each rung's model; residual is the GPT at dropout 0, and full the GPT
RUNG_MODELS = {"bigram": Bigram, "average": Average, "head": Head, "heads": Heads,
               "feed_forward": HeadsThenFeedForward, "residual": GPT, "full": GPT}
