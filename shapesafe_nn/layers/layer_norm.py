"""Layer normalization: rescale each position's vector to mean 0 and variance 1, then
let the network choose its own scale and shift."""

import numpy as np

from ..core import Module, Parameter
from ..core import Array, Float, checked, expect
from ..core.validate import positive_int


class LayerNorm(Module):
    r"""y = γ ⊙ (x - μ) / √(σ² + ε) + β, with μ, σ² the mean and variance over d_model.

    Ba, Kiros & Hinton 2016, *Layer Normalization*; placed before each
    sub-layer in GPT-2 (nanoGPT ``LayerNorm``, the ``ln1`` / ``ln2`` of
    Karpathy's *Let's build GPT*).  Each position is normalized on its own,
    so the batch size does not matter.  σ² is the biased variance (divide by
    d_model), as in torch.

    Backward is the compact form of llm.c's ``layernorm_backward``
    (Karpathy, ``train_gpt2.c`` and ``doc/layernorm``).  With
    ``x̂ = (x - μ) · rstd`` and ``rstd = 1/√(σ² + ε)``::

        dγ = Σ_{batch, seq} dout ⊙ x̂          dβ = Σ_{batch, seq} dout
        dx̂ = dout ⊙ γ
        dx  = rstd · (dx̂ - mean(dx̂) - x̂ ⊙ mean(dx̂ ⊙ x̂))   means over d_model

    The two subtracted means are the paths through μ and through σ².

    Args:
        d_model: width of the last axis, the one normalized.
        eps: added to the variance so a constant vector does not divide by 0.
        dtype: float32 (default) or float64.

    ``x``: (batch, seq, d_model).  γ starts at 1 and β at 0: the identity
    after normalizing, as in GPT-2.
    """

    def __init__(self, d_model: int, eps: float = 1e-5, *, dtype=np.float32):
        super().__init__()
        self.d_model = positive_int(self, "d_model", d_model)
        if not eps > 0:
            raise ValueError(f"LayerNorm: eps must be positive, not {eps!r}")
        self.eps = float(eps)
        self.gamma = Parameter(np.ones(d_model, dtype=dtype), "d_model")
        self.beta = Parameter(np.zeros(d_model, dtype=dtype), "d_model")

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, eps={self.eps}"

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        mean = x.mean(axis=-1, keepdims=True)  # (batch, seq, 1)
        centred = x - mean
        variance = np.square(centred).mean(axis=-1, keepdims=True)  # (batch, seq, 1)
        rstd = 1.0 / np.sqrt(variance + self.eps)
        # normalized = centred * rstd, computed in centred's memory: centred is
        # not needed again, and every pass over (batch, seq, d_model) counts here
        normalized = expect("normalized", np.multiply(centred, rstd, out=centred),
                            "batch seq d_model")
        self.save_for_backward(normalized=normalized, rstd=rstd)
        out = normalized * self.gamma.value
        out += self.beta.value
        return out

    @checked
    def backward(self,
                 dout: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        normalized, rstd = self.saved["normalized"], self.saved["rstd"]
        # y = normalized * gamma + beta
        self.gamma.grad += (dout * normalized).sum(axis=(0, 1))
        self.beta.grad += dout.sum(axis=(0, 1))
        dnormalized = dout * self.gamma.value
        # normalized = (x - mean) * rstd, with mean and rstd both functions of x:
        # dx = rstd (dn - mean(dn) - normalized mean(dn * normalized)), built in
        # dnormalized's memory, one pass at a time
        projection = (dnormalized * normalized).mean(axis=-1, keepdims=True)
        dx = dnormalized
        dx -= dnormalized.mean(axis=-1, keepdims=True)
        dx -= normalized * projection
        dx *= rstd
        return dx
