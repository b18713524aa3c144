"""Dense (fully connected) layer: every output is a weighted sum of every input."""

import numpy as np

from ..module import Module, Parameter
from ..shapes import Array, Float, checked


def positive_int(where: str, name: str, value) -> int:
    """``value`` as an int, or a ValueError naming it if it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{where}: {name} must be a positive integer, not {value!r}")
    return int(value)


class Dense(Module):
    r"""z = x Wᵀ + b.

    Nielsen, *Neural Networks and Deep Learning*, ch. 1-2: ``z = w a + b``
    with ``a`` a column vector.  Here a mini-batch is a matrix with **a row
    per example**, so the same ``W`` (``d_out`` rows, ``d_in`` columns, as in
    the book) multiplies from the right, transposed::

        x (batch, d_in) @ W.T (d_in, d_out) + b (d_out,)  ->  z (batch, d_out)

    Backward, given ``dout = ∂C/∂z`` (the book's δ, one row per example):

    - ``dW = doutᵀ x``  (d_out, d_in): BP4, ∂C/∂w_jk = a_k δ_j, summed over the batch;
    - ``db = Σ_batch dout``  (d_out,): BP3, ∂C/∂b_j = δ_j, summed over the batch;
    - ``dx = dout W``  (batch, d_in): the (w^{l+1})ᵀ δ^{l+1} half of BP2.

    Args:
        d_in: features per input example.
        d_out: features per output example.
        rng: random generator for the initial weights.
        weight_std: standard deviation of the initial weights; default
            ``1/sqrt(d_in)`` keeps ``z`` of order 1.
        bias_std: standard deviation of the initial biases (0: zeros).
        input_grad: whether ``backward`` returns ``dx``.  The first layer of a
            network reads data, which nothing upstream learns from, so it can
            skip ``dx`` (a third of its backward work) and return ``None``.
        dtype: float32 or float64.
    """

    def __init__(self, d_in: int, d_out: int, *, rng: np.random.Generator | None = None,
                 weight_std: float | None = None, bias_std: float = 0.0,
                 input_grad: bool = True, dtype=np.float64):
        super().__init__()
        self.d_in = positive_int("Dense", "d_in", d_in)
        self.d_out = positive_int("Dense", "d_out", d_out)
        rng = rng if rng is not None else np.random.default_rng()
        weight_std = 1.0 / np.sqrt(d_in) if weight_std is None else weight_std
        self.W = Parameter((rng.standard_normal((d_out, d_in)) * weight_std).astype(dtype),
                           "d_out d_in")
        self.b = Parameter((rng.standard_normal(d_out) * bias_std).astype(dtype), "d_out")
        self.input_grad = input_grad

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_out={self.d_out}"

    @checked
    def forward(self, x: Float[Array, "batch d_in"]) -> Float[Array, "batch d_out"]:
        self.save_for_backward(x=x)
        return x @ self.W.value.T + self.b.value

    @checked
    def backward(self, dout: Float[Array, "batch d_out"]) -> Float[Array, "batch d_in"] | None:
        x = self.saved["x"]
        self.W.grad += dout.T @ x
        self.b.grad += dout.sum(axis=0)
        return dout @ self.W.value if self.input_grad else None
