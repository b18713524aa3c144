"""Dropout: while training, zero each number at random, so no unit can rely on another."""

import numpy as np

from ..core import Module
from ..core import Array, Float, checked


class Dropout(Module):
    r"""out = x ⊙ m / (1 - p),  m_i ~ Bernoulli(1 - p), drawn anew each forward.

    Srivastava et al. 2014, *Dropout: A Simple Way to Prevent Neural Networks
    from Overfitting*, in the "inverted" form that GPT-2, nanoGPT and
    Karpathy's *Let's build GPT* use (through ``torch.nn.Dropout``): each
    number is kept with probability ``1 - p`` and the kept ones are scaled by
    ``1 / (1 - p)``, so the expected output equals ``x`` and evaluation needs
    no rescaling.  Nielsen ch. 3 describes the same idea, halving the weights
    at test time instead.

    In evaluation mode (``module.eval()``) and when ``p == 0`` it is the
    identity.  Backward multiplies ``dout`` by the *same* mask the forward
    drew: ``dx = dout ⊙ m / (1 - p)``.

    The layer owns its random generator.  ``get_state()`` / ``set_state()``
    read and restore it (the generator's ``bit_generator.state`` dict), so a
    checkpoint can resume with exactly the masks training would have drawn.

    Args:
        p: probability of zeroing each number, in [0, 1).
        seed: seeds the layer's generator (``None``: fresh entropy).

    ``x``: any shape; the output has the same shape.
    """

    def __init__(self, p: float, seed: int | None = None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1), not {p!r}")
        self.p = float(p)
        self.rng = np.random.default_rng(seed)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def get_state(self) -> dict:
        """The generator's state, a plain dict of ints and strings."""
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        """Restore a state returned by :meth:`get_state`."""
        self.rng.bit_generator.state = state

    @checked
    def forward(self, x: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        if not self.training or self.p == 0:
            self.save_for_backward(scaled_mask=None)
            return x
        keep = self.rng.random(x.shape) >= self.p  # True with probability 1 - p
        scaled_mask = keep.astype(x.dtype) / x.dtype.type(1.0 - self.p)
        self.save_for_backward(scaled_mask=scaled_mask)
        return x * scaled_mask

    @checked
    def backward(self, dout: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        scaled_mask = self.saved["scaled_mask"]
        # out = x (identity)  or  out = x * scaled_mask
        return dout if scaled_mask is None else dout * scaled_mask
