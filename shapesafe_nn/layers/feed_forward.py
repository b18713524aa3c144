"""The position-wise feed-forward network: after attention mixes positions, each
position thinks on its own through a wider hidden layer."""

import numpy as np

from ..core import Module
from ..core import Array, Float, checked
from ..core.validate import option
from .activations import GELU, GELU_FORMS, ReLU
from ..core.validate import positive_int
from .dense import Dense
from .dropout import Dropout


# the activation between the two Dense layers: GELU (GPT-2) or ReLU (Vaswani et al.)
ACTIVATIONS = ("gelu", "relu")


class FeedForward(Module):
    r"""FFN(x) = dropout(GELU(x W_1ᵀ + b_1) W_2ᵀ + b_2), applied to each position alike.

    Vaswani et al. 2017, *Attention Is All You Need*, eq. 2 (with ReLU,
    ``activation="relu"``); GPT-2 uses GELU and ``d_ff = 4 · d_model``
    (nanoGPT's ``MLP``, the ``FeedForward`` of Karpathy's *Let's build GPT*)::

        x (batch, seq, d_model) -> fc -> (batch, seq, d_ff) -> GELU
                                -> proj -> (batch, seq, d_model) -> dropout

    ``fc`` and ``proj`` are :class:`~shapesafe_nn.layers.dense.Dense` layers,
    which store ``W`` as (d_out, d_in) and compute ``x Wᵀ + b``: ``fc.W`` is
    (d_ff, d_model), ``proj.W`` is (d_model, d_ff), the layout of torch's
    ``nn.Linear``.  Dense takes one row per example, (batch, d_in); every
    position is an independent example here, so ``x`` is flattened to
    (batch·seq, d_model) rows on the way in and unflattened on the way out.

    Backward: the same steps in reverse, each sub-layer differentiating its own.

    Args:
        d_model: width of each position, in and out.
        d_ff: width of the hidden layer.
        dropout: probability for the dropout on the output.
        gelu: ``"tanh"`` (GPT-2's approximation) or ``"erf"`` (the exact form,
            nanoGPT's); see :class:`~shapesafe_nn.layers.activations.GELU`.
        activation: ``"gelu"`` (GPT-2, the default; the layer is ``self.gelu``)
            or ``"relu"`` (the paper's eq. 2; the layer is ``self.relu``).
        rng: random generator for the initial weights (N(0, 0.02²), biases 0,
            as in GPT-2) and the dropout seed.
        dtype: float32 (default) or float64.
    """

    # the weights belong to the Dense sub-layers: bind d_model and d_ff from
    # them before x, so a wrong x is reported here, in this layer's names
    shape_anchors = (("fc.W", "d_ff d_model"), ("proj.W", "d_model d_ff"))

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, *, gelu: str = "tanh",
                 activation: str = "gelu", rng: np.random.Generator | None = None,
                 dtype=np.float32):
        super().__init__()
        self.d_model = positive_int(self, "d_model", d_model)
        self.d_ff = positive_int(self, "d_ff", d_ff)
        option(self, "gelu", gelu, GELU_FORMS)  # before the weights draw from rng
        option(self, "activation", activation, ACTIVATIONS)
        rng = rng if rng is not None else np.random.default_rng()
        self.fc = Dense(d_model, d_ff, rng=rng, weight_std=0.02, dtype=dtype)
        if activation == "gelu":
            self.gelu = GELU(gelu)
        else:
            self.relu = ReLU()
        self.proj = Dense(d_ff, d_model, rng=rng, weight_std=0.02, dtype=dtype)
        self.dropout = Dropout(dropout, seed=int(rng.integers(2**63)))  # seeded from rng too

    @property
    def activation(self) -> Module:
        """The layer between ``fc`` and ``proj``: ``self.gelu`` or ``self.relu``."""
        return self._modules["gelu" if "gelu" in self._modules else "relu"]

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, d_ff={self.d_ff}"

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        batch, seq, _ = x.shape
        rows = x.reshape(batch * seq, self.d_model)  # one Dense "example" per position
        hidden = self.activation.forward(self.fc.forward(rows))
        projected = self.proj.forward(hidden)
        return self.dropout.forward(projected.reshape(batch, seq, self.d_model))

    @checked
    def backward(self,
                 dout: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        batch, seq, _ = dout.shape
        # out = dropout(projected.reshape(batch, seq, d_model))
        dprojected = self.dropout.backward(dout).reshape(batch * seq, self.d_model)
        # projected = proj(hidden)
        dhidden = self.proj.backward(dprojected)
        # hidden = activation(fc(rows))
        drows = self.fc.backward(self.activation.backward(dhidden))
        # rows = x.reshape(batch * seq, d_model)
        return drows.reshape(batch, seq, self.d_model)
