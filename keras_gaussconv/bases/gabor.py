"""Gabor basis kernels."""

import math

from keras import ops

from keras_gaussconv.bases.autodiff import cos
from keras_gaussconv.bases.grid import as_tensors, rotate_and_shift


def gabor_basis(grid, sigma, offset, theta, frequency, phase, normalize=False):
    """All B·N Gabor kernels at once.

    φ = exp(-y₁²/2σ₁² - y₂²/2σ₂²) · cos(2π f y₁ + ψ), times 1/(2π σ₁ σ₂) when
    `normalize` (then φ is the real part of `skimage.filters.gabor_kernel`),
    with y₁, y₂ the grid rotated by θ and shifted by μ (`rotate_and_shift`).

    Args:
        grid: `(x, y)` from `sampling_grid`, each `(kh, kw)`.
        sigma: `(B, N, 2)` envelope scales (σ₁ along the carrier, σ₂ across), positive.
        offset: `(B, N, 2)` shifts (μ₁, μ₂).
        theta: `(B, N)` orientations in radians.
        frequency: `(B, N)` carrier frequencies f in cycles per pixel.
        phase: `(B, N)` carrier phases ψ in radians.
        normalize: multiply by 1/(2π σ₁ σ₂).

    Returns:
        Tensor of shape `(B, kh, kw, N)`.
    """
    x, y = grid
    sigma, offset, theta, frequency, phase = as_tensors(x, sigma, offset, theta, frequency, phase)
    y1, y2 = rotate_and_shift(x, y, offset, theta)
    s1 = sigma[:, None, None, :, 0]
    s2 = sigma[:, None, None, :, 1]
    envelope = ops.exp(-0.5 * (ops.square(y1 / s1) + ops.square(y2 / s2)))
    carrier = cos(2.0 * math.pi * frequency[:, None, None, :] * y1 + phase[:, None, None, :])
    kernels = envelope * carrier
    if normalize:
        kernels = kernels / (2.0 * math.pi * s1 * s2)
    return kernels


def gabor_basis_1d(grid, sigma, offset, frequency, phase, normalize=False):
    """All B·N 1-D Gabor kernels φ = exp(-y²/2σ²) · cos(2π f y + ψ), y = x - μ.

    Times 1/(σ√(2π)) when `normalize` (a unit-area envelope).

    Args:
        grid: `(x,)` from `sampling_grid((k,))`.
        sigma: `(B, N)` envelope scales, positive.
        offset: `(B, N)` centres μ.
        frequency: `(B, N)` carrier frequencies f in cycles per sample.
        phase: `(B, N)` carrier phases ψ in radians.
        normalize: multiply by 1/(σ√(2π)).

    Returns:
        Tensor of shape `(B, k, N)`.
    """
    (x,) = grid
    sigma, offset, frequency, phase = as_tensors(x, sigma, offset, frequency, phase)
    y = x[None, :, None] - offset[:, None, :]
    s = sigma[:, None, :]
    kernels = ops.exp(-0.5 * ops.square(y / s)) * cos(
        2.0 * math.pi * frequency[:, None, :] * y + phase[:, None, :]
    )
    if normalize:
        kernels = kernels / (math.sqrt(2.0 * math.pi) * s)
    return kernels
