"""Activation functions: a nonlinearity applied to each number on its own.

Each keeps the shape of its input (``*shape`` means any shape) and has no
parameters.  Backward multiplies ``dout`` by the derivative, elementwise: the
``⊙ σ'(z)`` of Nielsen's BP1 and BP2.
"""

import math

import numpy as np

from ..core import Module
from ..core import Array, Float, checked
from ..core.validate import option


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
# erf below: the series serves |t| <= ERF_SPLIT, the continued fraction beyond it.
# How many terms of each reach the dtype's rounding (tests/layers/test_gelu.py):
ERF_SPLIT = 2.0
ERF_TERMS = {np.dtype(np.float64): (30, 40), np.dtype(np.float32): (18, 18)}


def _series_coefficients(terms: int) -> list[float]:
    """c_n = 2ⁿ / (1·3·…·(2n+1)), n = 0 … terms - 1: each from the one before."""
    coefficients = [1.0]
    for n in range(1, terms):
        coefficients.append(coefficients[-1] * 2.0 / (2 * n + 1))
    return coefficients


def normal_cdf(z: np.ndarray) -> np.ndarray:
    r"""Φ(z) = ½ (1 + erf(z/√2)), the standard normal distribution function.

    numpy has no erf, so it is computed here, in z's dtype, to that dtype's
    rounding: within 1e-15 of ``math.erf`` in float64, 3e-7 in float32.  It
    comes from two classical expansions of erf(t), t = z/√2 (Abramowitz &
    Stegun 7.1.6 and 7.1.14):

    - |t| ≤ 2: erf t = (2/√π) e^(-t²) t Σₙ cₙ t²ⁿ, cₙ = 2ⁿ / (1·3·…·(2n+1)),
      summed by Horner's rule in u = t².  Every term has the sign of t, so
      nothing cancels.
    - |t| > 2: erfc |t| = 1 - erf |t| = e^(-t²) / (√π K), with the continued
      fraction K = |t| + (1/2) / (|t| + (2/2) / (|t| + (3/2) / (…))), summed from
      its tail.  Φ of a very negative z is then ½ erfc |t| itself, never the
      difference of two numbers close to 1.
    """
    dtype = z.dtype
    if dtype not in ERF_TERMS:  # float16: computed in float64, rounded once
        return normal_cdf(z.astype(np.float64)).astype(dtype)
    series_terms, fraction_terms = ERF_TERMS[dtype]
    t = z * dtype.type(1.0 / math.sqrt(2.0))
    phi = np.empty_like(t)
    near = np.abs(t) <= ERF_SPLIT
    t_near = t[near]
    u = t_near * t_near
    coefficients = _series_coefficients(series_terms)
    total = np.full_like(u, coefficients[-1])
    for c in reversed(coefficients[:-1]):  # Horner: ((c_N u + c_N-1) u + …) u + c_0
        total *= u
        total += dtype.type(c)
    total *= t_near
    np.negative(u, out=u)
    np.exp(u, out=u)  # e^(-t²)
    total *= u
    total *= dtype.type(1.0 / math.sqrt(math.pi))  # ½ erf t
    phi[near] = total + dtype.type(0.5)
    t_far = t[~near]
    a = np.abs(t_far)
    fraction = a.copy()
    for k in range(fraction_terms, 0, -1):
        fraction = a + dtype.type(k / 2) / fraction
    with np.errstate(under="ignore"):  # e^(-t²) reaches 0 for |t| above 27: the limit
        half_erfc = np.exp(-a * a) / (dtype.type(2.0 * math.sqrt(math.pi)) * fraction)
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
    nanoGPT's ``nn.GELU()`` computes; Φ comes from :func:`normal_cdf`, to
    the rounding of z's dtype.  a'(z) = Φ(z) + z φ(z), with the normal
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
            phi = normal_cdf(z)
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
