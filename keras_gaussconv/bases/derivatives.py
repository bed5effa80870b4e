"""The 1-D Gaussian derivatives G_p(x, σ), sampled or integrated over each tap (docs/math.md)."""

import math

from keras import ops

from keras_gaussconv.bases.grid import as_tensors


class GaussianRecurrence:
    """G_0(x, σ), G_1, … on demand, by G_{m+1} = q (x G_m + m G_{m−1}) with q = −1/σ².

    (From H_{m+1} = 2z H_m − 2m H_{m−1} with z = x/(σ√2).) Far from the centre G_0
    underflows to 0 and every G_m with it: nothing can overflow. x: any shape; sigma:
    positive, broadcastable to it. `signed=True` gives (−1)^m √(2π) G_m instead (by
    q = +1/σ² and a subtraction), for a caller whose constants carry sign and factor.
    """

    def __init__(self, x, sigma, signed=False):
        inverse = ops.reciprocal(sigma)
        self.signed = signed
        self.q = inverse * inverse if signed else -(inverse * inverse)
        self.qx = self.q * x
        # G_0 = exp(−x²/2σ²) / (σ√(2π)) = exp(q x² / 2) / σ · 1/√(2π)
        exponent = (-0.5 if signed else 0.5) * self.qx * x
        self.terms = [ops.exp(exponent) * (inverse if signed else inverse * (1.0 / math.sqrt(2.0 * math.pi)))]

    def upto(self, order):
        """[G_0, …, G_order]."""
        while len(self.terms) <= order:
            m = len(self.terms) - 1
            nxt = self.qx * self.terms[m]
            if m:  # m q as (m − 1) q + q: no constant to multiply by
                self.mq = self.q if m == 1 else self.mq + self.q
                nxt = nxt - self.mq * self.terms[m - 1] if self.signed else nxt + self.mq * self.terms[m - 1]
            self.terms.append(nxt)
        return self.terms[: order + 1]


def gaussian_derivatives(x, sigma, max_order):
    """G_0(x, σ), ..., G_K(x, σ).

    G(x, σ) = exp(-x²/2σ²) / (σ√(2π)) and
    G_p(x, σ) = (-1/(σ√2))^p · H_p(x/(σ√2)) · G(x, σ), computed by the recurrence
    G_{p+1} = −(x G_p + p G_{p−1}) / σ² (fewer operations than the Hermite form, and
    every gradient finite at x = 0).

    Args:
        x: tensor of any shape.
        sigma: tensor broadcastable to `x`, positive.
        max_order: K >= 0.

    Returns:
        List of K + 1 tensors of the broadcast shape.
    """
    x = x if ops.is_tensor(x) else ops.convert_to_tensor(x)
    (sigma,) = as_tensors(x, sigma)
    return GaussianRecurrence(x, sigma).upto(max_order)


def gaussian_derivative(x, sigma, order):
    """G_p(x, σ), the p-th derivative of the 1-D Gaussian (see `gaussian_derivatives`)."""
    return gaussian_derivatives(x, sigma, order)[order]


def integrated_gaussian_derivatives(x, sigma, max_order):
    """∫ G_p(s, σ) ds over [x − ½, x + ½], p = 0..K (shapes as `gaussian_derivatives`).

    p = 0: ½ (erf((x + ½)/σ√2) − erf((x − ½)/σ√2)); p >= 1: G_{p−1}(x + ½) − G_{p−1}(x − ½).
    """
    x = x if ops.is_tensor(x) else ops.convert_to_tensor(x)
    (sigma,) = as_tensors(x, sigma)
    edges = ops.stack([x + 0.5, x - 0.5], axis=0)  # both edges through one evaluation
    scaled = sigma * math.sqrt(2.0)
    erf = ops.erf(edges / scaled)
    integrals = [0.5 * (erf[0] - erf[1])]
    if max_order >= 1:
        for g in gaussian_derivatives(edges, sigma, max_order - 1):
            integrals.append(g[0] - g[1])
    return integrals
