"""Positions: attention alone ignores token order, so add where each token is.

Two ways, both added to the token embeddings ``x`` (batch, seq, d_model):

- :class:`SinusoidalPositionalEncoding`: a fixed table of sines and cosines
  (Vaswani et al. 2017), nothing to learn;
- :class:`LearnedPositionalEmbedding`: a learned row per position (GPT-2's
  ``wpe``, nanoGPT, Karpathy's *Let's build GPT*).

A table has ``max_len`` rows, so a sequence longer than ``max_len`` has
positions with no row: both refuse it with a ValueError.
"""

import numpy as np

from ..core import Module, Parameter
from ..core import Array, Float, checked
from ..core.validate import positive_int


def _check_length(where: str, seq: int, max_len: int) -> None:
    if seq > max_len:
        raise ValueError(f"{where}: the sequence has seq = {seq} positions, but the table "
                         f"covers only max_len = {max_len}; feed at most {max_len} tokens "
                         f"or build the layer with max_len >= {seq}")


def sinusoid_table(max_len: int, d_model: int, dtype=np.float32) -> Array:
    r"""PE (max_len, d_model): PE[pos, 2i] = sin(pos / 10000^{2i/d_model}),
    PE[pos, 2i+1] = cos(pos / 10000^{2i/d_model}).

    Column pairs (2i, 2i+1) share one frequency, so an odd ``d_model`` ends
    with a sine column whose cosine partner does not exist.
    """
    positions = np.arange(max_len)[:, None]  # (max_len, 1)
    two_i = np.arange(0, d_model, 2)  # 2i for each sine column: ceil(d_model / 2) of them
    angles = positions / 10000.0 ** (two_i / d_model)  # (max_len, ceil(d_model / 2))
    table = np.empty((max_len, d_model))
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, : d_model // 2])
    return table.astype(dtype)


class SinusoidalPositionalEncoding(Module):
    r"""out = x + PE[:seq], with PE from :func:`sinusoid_table`.

    Vaswani et al. 2017, *Attention Is All You Need*, §3.5.  Each pair of
    columns is a clock turning at its own speed: pair i turns once every
    2π·10000^{2i/d_model} positions, from 2π (about 6.3) for pair 0 down to
    2π·10000^{(d_model-2)/d_model} for the slowest, the last pair of an even
    d_model, i = d_model/2 - 1 (54,410 positions for d_model 128;
    10000·2π ≈ 62,832 is only the limit as d_model grows).  For any offset
    k, PE[pos + k] is a fixed rotation of PE[pos], which lets attention find
    relative positions.
    The table is computed once, here, and has no parameters, so backward
    passes ``dout`` through unchanged (∂out/∂x = I).

    Args:
        max_len: longest sequence the table covers.
        d_model: width of ``x``'s last axis.
        dtype: float32 (default) or float64.

    ``x``: (batch, seq, d_model) token embeddings, seq <= max_len.
    """

    # the table is not a Parameter: name it so its d_model binds before x's
    shape_anchors = (("table", "max_len d_model"),)

    def __init__(self, max_len: int, d_model: int, *, dtype=np.float32):
        super().__init__()
        self.max_len = positive_int(self, "max_len", max_len)
        self.d_model = positive_int(self, "d_model", d_model)
        self.table = sinusoid_table(max_len, d_model, dtype)

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}"

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        _check_length("SinusoidalPositionalEncoding.forward", x.shape[1], self.max_len)
        return x + self.table[: x.shape[1]]

    @checked
    def backward(self,
                 dout: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        # out = x + pe: pe is a constant, so dx = dout
        return dout


class LearnedPositionalEmbedding(Module):
    r"""out = x + P[:seq], with a learned table P (max_len, d_model).

    GPT-2's ``wpe`` (Radford et al. 2019; nanoGPT ``model.py``), the
    ``position_embedding_table`` of Karpathy's *Let's build GPT*.  Every
    example in the batch adds the same rows, so each row's gradient sums
    ``dout`` over the batch::

        dP[t] = Σ_b dout[b, t]   for t < seq;   rows t >= seq get nothing.

    Args:
        max_len: longest sequence the table covers (nanoGPT's ``block_size``).
        d_model: width of ``x``'s last axis.
        rng: random generator for the initial table, N(0, 0.02²) as in GPT-2.
        dtype: float32 (default) or float64.

    ``x``: (batch, seq, d_model) token embeddings, seq <= max_len.
    """

    def __init__(self, max_len: int, d_model: int, *, rng: np.random.Generator | None = None,
                 dtype=np.float32):
        super().__init__()
        self.max_len = positive_int(self, "max_len", max_len)
        self.d_model = positive_int(self, "d_model", d_model)
        rng = rng if rng is not None else np.random.default_rng()
        self.P = Parameter((rng.standard_normal((max_len, d_model)) * 0.02).astype(dtype),
                           "max_len d_model")

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}"

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        seq = x.shape[1]
        _check_length("LearnedPositionalEmbedding.forward", seq, self.max_len)
        self.save_for_backward(seq=seq)
        return x + self.P.value[:seq]

    @checked
    def backward(self,
                 dout: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        # out = x + P[:seq]: P[:seq] is broadcast over the batch, so sum it back
        self.P.grad[: self.saved["seq"]] += dout.sum(axis=0)
        return dout
