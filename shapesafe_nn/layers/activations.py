"""Activation functions: a nonlinearity applied to each number on its own.

Each keeps the shape of its input (``*shape`` means any shape) and has no
parameters.  Backward multiplies ``dout`` by the derivative, elementwise: the
``⊙ σ'(z)`` of Nielsen's BP1 and BP2.
"""

import math

import numpy as np

from ..module import Module
from ..shapes import Array, Float, checked
from ..validate import option


class Sigmoid(Module):
    r"""a = σ(z) = 1 / (1 + e^{-z});  σ'(z) = σ(z) (1 - σ(z)).

    Nielsen ch. 1, eq. 3-4.  Computed as ``(1 + tanh(z/2)) / 2``, the same
    function, because ``exp(-z)`` overflows (and warns) for z below about -710.
    Backward reuses the saved output ``a``: ``dz = dout · a (1 - a)``.
    """

    @checked
    def forward(self, z: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        a = 0.5 * (1.0 + np.tanh(0.5 * z))
        self.save_for_backward(a=a)
        return a

    @checked
    def backward(self, dout: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        a = self.saved["a"]
        return dout * a * (1.0 - a)


class ReLU(Module):
    r"""a = max(0, z);  its derivative is 1 where z > 0 and 0 elsewhere."""

    @checked
    def forward(self, z: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        positive = z > 0
        self.save_for_backward(positive=positive)
        return z * positive

    @checked
    def backward(self, dout: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        return dout * self.saved["positive"]


class Tanh(Module):
    r"""a = tanh(z);  tanh'(z) = 1 - tanh(z)²."""

    @checked
    def forward(self, z: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        a = np.tanh(z)
        self.save_for_backward(a=a)
        return a

    @checked
    def backward(self, dout: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        a = self.saved["a"]
        return dout * (1.0 - a * a)


def softmax(z: Array, out: Array | None = None) -> Array:
    """p = e^z / Σ e^z over the last axis; ``out=z`` computes it in place.

    Subtracting each row's max first changes nothing mathematically (it
    cancels) but keeps ``exp`` from overflowing.  A row entry of -∞ gets
    p = 0 exactly (e^-∞ = 0): that is how attention hides a key.
    """
    p = np.subtract(z, z.max(axis=-1, keepdims=True), out=out)
    np.exp(p, out=p)
    p /= p.sum(axis=-1, keepdims=True)
    return p


def softmax_backward(dp: Array, p: Array, out: Array | None = None) -> Array:
    """dz = p ⊙ (dp - Σ_k dp_k p_k), over the last axis; ``out=dp`` reuses dp's memory.

    The Jacobian is ∂p_i/∂z_k = p_i (δ_ik - p_k); multiplied by ``dp`` it
    collapses to the line above, without ever building the Jacobian.  Where
    p = 0 (a masked key) dz = 0: the mask needs no backward of its own.
    """
    dz = np.subtract(dp, (dp * p).sum(axis=-1, keepdims=True), out=out)
    dz *= p
    return dz


class Softmax(Module):
    r"""p_i = e^{z_i} / Σ_j e^{z_j}, over the last axis (the classes).

    Nielsen ch. 3, eq. 78.  Forward and backward are :func:`softmax` and
    :func:`softmax_backward`, the pair attention uses too: the Jacobian is
    ∂p_i/∂z_k = p_i (δ_ik - p_k), so ``dz = p ⊙ (dout - Σ_k dout_k p_k)``.
    """

    @checked
    def forward(self, z: Float[Array, "*shape classes"]) -> Float[Array, "*shape classes"]:
        p = softmax(z)
        self.save_for_backward(p=p)
        return p

    @checked
    def backward(self, dout: Float[Array, "*shape classes"]) -> Float[Array, "*shape classes"]:
        return softmax_backward(dout, self.saved["p"])


# A Python float, not np.float64: numpy would promote float32 arrays to float64
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
GELU_FORMS = ("tanh", "erf")
# erf below: the series serves |t| <= ERF_SPLIT, the continued fraction beyond it;
# these term counts reach float64 rounding on each side (tests/layers/test_gelu.py)
ERF_SPLIT = 2.0
ERF_SERIES_TERMS = 30
ERFC_FRACTION_TERMS = 40


def normal_cdf(z: np.ndarray) -> np.ndarray:
    r"""Φ(z) = ½ (1 + erf(z/√2)), the standard normal distribution function, in float64.

    numpy has no erf, so it is computed here to float64 rounding (within
    2e-15 of ``math.erf``), from two classical expansions of erf(t), t = z/√2
    (Abramowitz & Stegun 7.1.6 and 7.1.14):

    - |t| ≤ 2: erf t = (2/√π) e^(-t²) Σₙ 2ⁿ t^(2n+1) / (1·3·…·(2n+1)).  Every
      term has the sign of t, so nothing cancels.
    - |t| > 2: erfc |t| = 1 - erf |t| = e^(-t²) / (√π K), with the continued
      fraction K = |t| + (1/2) / (|t| + (2/2) / (|t| + (3/2) / (…))), summed from
      its tail.  Φ of a very negative z is then ½ erfc |t| itself, never the
      difference of two numbers close to 1.
    """
    t = np.asarray(z, dtype=np.float64) / math.sqrt(2.0)
    phi = np.empty_like(t)
    near = np.abs(t) <= ERF_SPLIT
    t_near = t[near]
    t2 = t_near * t_near
    term = t_near.copy()
    total = t_near.copy()
    for n in range(1, ERF_SERIES_TERMS):
        term *= t2 * (2.0 / (2 * n + 1))
        total += term
    phi[near] = 0.5 + np.exp(-t2) * total / math.sqrt(math.pi)
    t_far = t[~near]
    a = np.abs(t_far)
    fraction = a.copy()
    for k in range(ERFC_FRACTION_TERMS, 0, -1):
        fraction = a + (k / 2) / fraction
    half_erfc = np.exp(-a * a) / (2.0 * math.sqrt(math.pi) * fraction)
    phi[~near] = np.where(t_far > 0, 1.0 - half_erfc, half_erfc)
    return phi


class GELU(Module):
    r"""a = z Φ(z), Φ the standard normal distribution function.

    The Gaussian Error Linear Unit, Hendrycks & Gimpel 2016: a smooth ReLU
    that lets a little negative signal through.  Two forms:

    ``approximate="tanh"`` (default): the paper's tanh approximation, which
    GPT-2 uses (Hugging Face's ``gelu_new``, torch's ``nn.GELU(approximate=
    "tanh")``, ``gelu`` in llm.c)::

        a = ½ z (1 + tanh(u)),  u = √(2/π) (z + 0.044715 z³)

    computed as a = z σ(2u), the same function: ½ (1 + tanh u) = σ(2u) =
    1 / (1 + e^(-2u)).  The two forms give the same numbers to float
    rounding, but numpy's float32 exp is about 1.8x faster than its tanh
    here, and this is the GPT's largest elementwise array.  By the product
    and chain rules, with s = σ(2u) and σ' = σ (1 - σ)::

        a'(z) = s + 2 z s (1 - s) u'(z),   u'(z) = √(2/π) (1 + 3 · 0.044715 z²)

    ``approximate="erf"``: the exact form, a = ½ z (1 + erf(z/√2)), which
    nanoGPT's ``nn.GELU()`` computes; Φ comes from :func:`normal_cdf`, in
    float64, then rounded to z's dtype.  a'(z) = Φ(z) + z φ(z), with the normal
    density φ(z) = e^(-z²/2) / √(2π).  The two forms differ by at most
    4.7e-4, near z = ±2.7 (docs/10-outgrow-one-cpu.md).
    """

    def __init__(self, approximate: str = "tanh"):
        super().__init__()
        self.approximate = option(self, "approximate", approximate, GELU_FORMS)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"

    @checked
    def forward(self, z: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        if self.approximate == "erf":
            phi = normal_cdf(z).astype(z.dtype, copy=False)
            self.save_for_backward(z=z, phi=phi)
            return z * phi
        # -2u = -2 √(2/π) (z + 0.044715 z³), written as z (1 + 0.044715 z²) in place:
        # z ** 3 would call the slow general power function
        s = z * z
        s *= 0.044715
        s += 1.0
        s *= z
        s *= -2.0 * SQRT_2_OVER_PI
        # s = σ(2u) = 1 / (1 + e^(-2u)); for z below about -10, e^(-2u) overflows
        # to inf and s to 0, the right limit (and for large z underflows to 0,
        # s to 1): both warnings would be noise
        with np.errstate(over="ignore", under="ignore"):
            np.exp(s, out=s)
        s += 1.0
        np.reciprocal(s, out=s)
        self.save_for_backward(z=z, s=s)
        return z * s

    @checked
    def backward(self, dout: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        if self.approximate == "erf":
            z, phi = self.saved["z"], self.saved["phi"]
            # a'(z) = Φ(z) + z φ(z); e^(-z²/2) underflows to 0 for large |z|, the limit
            with np.errstate(under="ignore"):
                density = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
            return dout * (phi + z * density)
        z, s = self.saved["z"], self.saved["s"]
        # a'(z) = s + 2 z s (1 - s) u'(z), built in two buffers in place: these
        # arrays are the GPT's largest
        du_dz = z * z
        du_dz *= 3 * 0.044715
        du_dz += 1.0
        du_dz *= 2.0 * SQRT_2_OVER_PI  # 2 u'(z)
        da_dz = 1.0 - s
        da_dz *= s
        da_dz *= z
        da_dz *= du_dz  # 2 z s (1 - s) u'(z)
        da_dz += s
        da_dz *= dout
        return da_dz
