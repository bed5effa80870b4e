"""Lindeberg's discrete analogue of the Gaussian and its central-difference derivatives, differentiable in σ."""


import numpy as np
from keras import ops


def spectrum_length(size):
    """L, the number of frequencies the discrete analogue is summed over (`discrete_gaussian_derivatives`).

    The sum gives Σ_m T(n + mL; t): the kernel plus its aliases a period L away.
    L = max(8·size, 64) puts the nearest alias of the outermost tap 7 kernel widths
    away (at least 60 taps), below float32's resolution for σ up to the kernel's width.
    """
    return max(8 * size, 64)


def difference_spectra(size, order, length):
    """Constant matrices C_p, p = 0..K, `(L, size)`: S @ C_p = δ^p T at the centred taps for a spectrum S.

    δx e^{iωn} = i sin ω · e^{iωn} and δxx e^{iωn} = (2 cos ω − 2) e^{iωn}, so
    δx^r δxx^m T(n) = (1/L) Σ_j S_j (i sin ω_j)^r (2 cos ω_j − 2)^m e^{iω_j n}, whose
    real part (S is even in ω) is a cosine sum for r = 0 and minus a sine sum for r = 1.
    Differencing the spectrum instead of the taps loses nothing to cancellation.
    """
    omega = 2.0 * np.pi * np.arange(length)[:, None] / length
    n = np.arange(size)[None, :] - (size - 1) // 2
    spectra = []
    for p in range(order + 1):
        m, r = divmod(p, 2)
        factor = (2.0 * np.cos(omega) - 2.0) ** m / length
        spectra.append(factor * (-np.sin(omega) * np.sin(omega * n) if r else np.cos(omega * n)))
    return np.stack(spectra)  # (K + 1, L, size)


def discrete_gaussian_derivatives(sigma, size, order):
    """δ^p T(n; σ²), p = 0..K, at the `size` centred integer taps n = −(size−1)/2 .. (size−1)/2.

    T(n; t) = e^{−t} I_n(t) is Lindeberg's discrete analogue of the Gaussian (variance t =
    σ²); order p is δx^{p mod 2} δxx^{⌊p/2⌋} of it, with δx f(n) = (f(n+1) − f(n−1))/2 and
    δxx f(n) = f(n+1) − 2 f(n) + f(n−1), which keeps the scale-space properties at every σ.
    Computed from T's spectrum exp(−t (1 − cos ω)) (Lindeberg 1990) as sums over `L =
    spectrum_length(size)` frequencies with constant coefficients (`difference_spectra`):
    smooth in σ on every backend, no Bessel function, one matrix product.

    Args:
        sigma: tensor `(...)` of scales, positive.
        size: odd number of taps.
        order: K >= 0.

    Returns:
        Tensor `(..., K + 1, size)`.
    """
    if size % 2 == 0:
        raise ValueError(f"The discrete analogue is sampled at integer offsets: the size must be odd. Received: size={size}")
    length = spectrum_length(size)
    omega = 2.0 * np.pi * np.arange(length) / length
    spectrum = ops.exp(-ops.square(sigma)[..., None] * ops.cast(1.0 - np.cos(omega), sigma.dtype))  # (..., L)
    return ops.einsum("...l,plk->...pk", spectrum, ops.cast(difference_spectra(size, order, length), sigma.dtype))


__all__ = ["difference_spectra", "discrete_gaussian_derivatives", "spectrum_length"]
