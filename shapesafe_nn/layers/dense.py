"""Dense (fully connected) layer: every output is a weighted sum of every input."""

import numpy as np

from ..core import Module, Parameter
from ..core import Array, Float, checked
from ..core.validate import positive_int


class Dense(Module):
    r"""z = x Wᵀ + b.

    Nielsen, *Neural Networks and Deep Learning*, ch. 1-2: ``z = w a + b``
    with ``a`` a column vector.  Here a mini-batch is a matrix with **a row
    per example**, so the same ``W`` (``d_out`` rows, ``d_in`` columns, as in
    the book) multiplies from the right, transposed::

        x (batch, d_in) @ W.T (d_in, d_out) + b (d_out,)  ->  z (batch, d_out)

    This is the package's one weight layout: every projection, in the
    attention layers and the feed-forward network too, is a ``Dense`` with W
    stored (d_out, d_in), as in the book and in PyTorch's ``nn.Linear``.

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
        bias: whether there is a ``b`` at all; attention's query, key and
            value projections in *Let's build GPT* have none.
        dtype: float32 or float64.
    """

    def __init__(self, d_in: int, d_out: int, *, rng: np.random.Generator | None = None,
                 weight_std: float | None = None, bias_std: float = 0.0,
                 input_grad: bool = True, bias: bool = True, dtype=np.float64):
        super().__init__()
        self.d_in = positive_int(self, "d_in", d_in)
        self.d_out = positive_int(self, "d_out", d_out)
        rng = rng if rng is not None else np.random.default_rng()
        weight_std = 1.0 / np.sqrt(d_in) if weight_std is None else weight_std
        self.W = Parameter((rng.standard_normal((d_out, d_in)) * weight_std).astype(dtype),
                           "d_out d_in")
        self.b = (Parameter((rng.standard_normal(d_out) * bias_std).astype(dtype), "d_out")
                  if bias else None)
        self.input_grad = input_grad

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_out={self.d_out}" + ("" if self.b is not None else ", bias=False")

    @checked
    def forward(self, x: Float[Array, "batch d_in"]) -> Float[Array, "batch d_out"]:
        self.save_for_backward(x=x)
        z = x @ self.W.value.T
        if self.b is not None:
            z += self.b.value
        return z

    @checked
    def backward(self, dout: Float[Array, "batch d_out"]) -> Float[Array, "batch d_in"] | None:
        x = self.saved["x"]
        self.W.grad += dout.T @ x
        if self.b is not None:
            self.b.grad += dout.sum(axis=0)
        return dout @ self.W.value if self.input_grad else None
