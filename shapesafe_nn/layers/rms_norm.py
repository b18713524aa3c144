"""RMS normalization: rescale each position's vector to root mean square 1, then let
the network choose its own scale; no mean is subtracted and no shift is added."""

import numpy as np

from ..core import Array, Float, Module, Parameter, checked, expect
from ..core.validate import positive_int, positive_number


class RMSNorm(Module):
    r"""y = γ ⊙ x / √(mean(x²) + ε), the mean over d_model.

    Zhang & Sennrich 2019, *Root Mean Square Layer Normalization*: layer
    norm without its re-centring.  Dividing by the root mean square keeps
    LayerNorm's invariance to rescaling x, which the paper finds is what
    matters, and skips the mean and the shift β: one statistic a position
    instead of two.  Llama and most later language models use it; torch
    has it as ``nn.RMSNorm`` (its ``weight`` is γ).  Each position is
    normalized on its own, so the batch size does not matter.

    Backward.  With ``rrms = 1/√(mean(x²) + ε)`` and ``x̂ = x · rrms``::

        dγ = Σ_{batch, seq} dout ⊙ x̂
        dx̂ = dout ⊙ γ
        dx  = rrms · (dx̂ - x̂ ⊙ mean(dx̂ ⊙ x̂))   mean over d_model

    The subtracted term is the path through rrms, which every x_j changes:
    ∂rrms/∂x_j = -rrms³ x_j / d_model.  It is LayerNorm's backward without
    the path through the mean, which RMSNorm does not subtract.

    Args:
        d_model: width of the last axis, the one normalized.
        eps: added to the mean square so a zero vector does not divide by 0.
        dtype: float32 (default) or float64.

    ``x``: (batch, seq, d_model).  γ starts at 1: the identity after
    normalizing.
    """

    def __init__(self, d_model: int, eps: float = 1e-5, *, dtype=np.float32):
        super().__init__()
        self.d_model = positive_int(self, "d_model", d_model)
        self.eps = positive_number(self, "eps", eps)
        self.gamma = Parameter(np.ones(d_model, dtype=dtype), "d_model")

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, eps={self.eps}"

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        mean_square = np.square(x).mean(axis=-1, keepdims=True)  # (batch, seq, 1)
        rrms = 1.0 / np.sqrt(mean_square + self.eps)
        normalized = expect("normalized", x * rrms, "batch seq d_model")
        self.save_for_backward(normalized=normalized, rrms=rrms)
        return normalized * self.gamma.value

    @checked
    def backward(self,
                 dout: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        normalized, rrms = self.saved["normalized"], self.saved["rrms"]
        # y = normalized * gamma
        self.gamma.grad += (dout * normalized).sum(axis=(0, 1))
        dnormalized = dout * self.gamma.value
        # normalized = x * rrms, with rrms a function of every x_j:
        # dx = rrms (dn - normalized mean(dn * normalized))
        projection = (dnormalized * normalized).mean(axis=-1, keepdims=True)
        return rrms * (dnormalized - normalized * projection)
