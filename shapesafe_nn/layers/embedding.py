"""Token embedding: each token id picks one learned row of a table."""

import numpy as np

from ..core import Module, Parameter
from ..core import Array, Float, Integer, check_ids, checked
from ..core.validate import positive_int


class Embedding(Module):
    r"""out[b, t] = W[ids[b, t]].

    The token embedding of Vaswani et al. 2017, *Attention Is All You Need*,
    §3.4, and GPT-2's ``wte`` (nanoGPT ``model.py``; ``token_embedding_table``
    in Karpathy's *Let's build GPT*).  Looking up row ``i`` is the same as
    multiplying a one-hot vector of ``i`` by ``W``, so the gradient of row
    ``i`` is the sum of ``dout`` over every position that holds ``i``::

        ids (batch, seq) integers in [0, vocab)  ->  out (batch, seq, d_model)
        dW[i] = Σ_{(b, t) : ids[b, t] = i} dout[b, t]

    The ids themselves get no gradient: they are not numbers one can nudge.

    Weight tying (GPT-2): the language-model head can reuse ``W`` to turn the
    final hidden states ``h`` (batch, seq, d_model) into scores per token,
    ``logits = h @ W.value.T`` (batch, seq, vocab); its backward then adds
    ``dlogitsᵀ h`` summed over batch and seq into the same ``W.grad``.

    Args:
        vocab: distinct token ids; every id must lie in ``[0, vocab)``.
        d_model: numbers per token (the residual-stream width).
        rng: random generator for the initial table, N(0, 0.02²) as in GPT-2.
        dtype: float32 (default) or float64.
    """

    def __init__(self, vocab: int, d_model: int, *, rng: np.random.Generator | None = None,
                 dtype=np.float32):
        super().__init__()
        self.vocab = positive_int(self, "vocab", vocab)
        self.d_model = positive_int(self, "d_model", d_model)
        rng = rng if rng is not None else np.random.default_rng()
        self.W = Parameter((rng.standard_normal((vocab, d_model)) * 0.02).astype(dtype),
                           "vocab d_model")

    def extra_repr(self) -> str:
        return f"vocab={self.vocab}, d_model={self.d_model}"

    @checked
    def forward(self, ids: Integer[Array, "batch seq"]) -> Float[Array, "batch seq d_model"]:
        # numpy would read W[-1] as the last row: refuse such ids instead
        check_ids("Embedding.forward", "ids", ids, self.vocab)
        self.save_for_backward(ids=ids)
        return self.W.value[ids]

    @checked
    def backward(self, dout: Float[Array, "batch seq d_model"]) -> None:
        # out = W[ids]: row ids[b, t] receives dout[b, t].  np.add.at adds once
        # per occurrence; `W.grad[ids] += dout` would keep only the last one
        # when an id repeats.
        np.add.at(self.W.grad, self.saved["ids"], dout)
