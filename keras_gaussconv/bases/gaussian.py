"""Gaussian derivatives and the anisotropic, shifted, oriented Gaussian-derivative basis."""

import math

import numpy as np
from keras import ops

from keras_gaussconv.bases.grid import as_tensors, rotate_and_shift, sampling_grid
from keras_gaussconv.bases.hermite import hermite_polynomials


def num_gaussian_derivatives(order):
    """N = (K + 1)(K + 2) / 2 kernels in a basis of maximal total order K."""
    return (order + 1) * (order + 2) // 2


def derivative_orders(order):
    """The (p, q) of the N basis kernels, total order i = 0..K then p = 0..i.

    For K = 2: [(0, 0), (0, 1), (1, 0), (0, 2), (1, 1), (2, 0)].
    """
    return [(p, i - p) for i in range(order + 1) for p in range(i + 1)]


def gaussian_derivatives(x, sigma, max_order):
    """G_0(x, σ), ..., G_K(x, σ).

    G(x, σ) = exp(-x²/2σ²) / (σ√(2π)) and
    G_p(x, σ) = (-1/(σ√2))^p · H_p(x/(σ√2)) · G(x, σ).

    Args:
        x: tensor of any shape.
        sigma: tensor broadcastable to `x`, positive.
        max_order: K >= 0.

    Returns:
        List of K + 1 tensors of the broadcast shape.
    """
    x = x if ops.is_tensor(x) else ops.convert_to_tensor(x)
    (sigma,) = as_tensors(x, sigma)
    scaled = sigma * math.sqrt(2.0)
    z = x / scaled
    gauss = ops.exp(-ops.square(z)) / (sigma * math.sqrt(2.0 * math.pi))
    factor = -1.0 / scaled
    derivatives = []
    scale = 1.0
    for h in hermite_polynomials(z, max_order):
        # H_p · G first: the Gaussian underflows to 0 far from the centre before
        # the polynomial could overflow.
        derivatives.append(h * gauss * scale)
        scale = scale * factor
    return derivatives


def gaussian_derivative(x, sigma, order):
    """G_p(x, σ), the p-th derivative of the 1-D Gaussian (see `gaussian_derivatives`)."""
    return gaussian_derivatives(x, sigma, order)[order]


def _select_orders(derivatives, orders):
    """Pick derivative `orders[n]` for kernel n: (K+1) × (B, kh, kw, N) → (B, kh, kw, N)."""
    one_hot = np.eye(len(derivatives), dtype="float32")[orders]  # (N, K + 1)
    stacked = ops.stack(derivatives, axis=0)
    return ops.einsum("kbhwn,nk->bhwn", stacked, ops.cast(one_hot, stacked.dtype))


def gaussian_derivative_basis(grid, sigma, offset, theta, order):
    """All B·N basis kernels φ[b, n] = G_p(y₁, σ₁) · G_q(y₂, σ₂) at once.

    y₁, y₂ are the grid rotated by θ and shifted by μ (see `rotate_and_shift`);
    (p, q) runs over `derivative_orders(order)`.

    Args:
        grid: `(x, y)` from `sampling_grid`, each `(kh, kw)`.
        sigma: `(B, N, 2)` scales (σ₁, σ₂), positive.
        offset: `(B, N, 2)` shifts (μ₁, μ₂).
        theta: `(B, N)` orientations in radians.
        order: maximal total order K; N must equal `num_gaussian_derivatives(K)`.

    Returns:
        Tensor of shape `(B, kh, kw, N)`.
    """
    x, y = grid
    sigma, offset, theta = as_tensors(x, sigma, offset, theta)
    y1, y2 = rotate_and_shift(x, y, offset, theta)
    orders = np.array(derivative_orders(order))
    g1 = gaussian_derivatives(y1, sigma[:, None, None, :, 0], int(orders[:, 0].max()))
    g2 = gaussian_derivatives(y2, sigma[:, None, None, :, 1], int(orders[:, 1].max()))
    return _select_orders(g1, orders[:, 0]) * _select_orders(g2, orders[:, 1])


def displaced_gaussian_basis(grid, sigma, offset):
    """Isotropic Gaussians centred at their offsets: φ[b, n] = G(x - μ₁, σ) · G(y - μ₂, σ).

    Args:
        grid: `(x, y)` from `sampling_grid`, each `(kh, kw)`.
        sigma: `(B, N)` isotropic scales, positive.
        offset: `(B, N, 2)` centres (μ₁ along x, μ₂ along y).

    Returns:
        Tensor of shape `(B, kh, kw, N)`.
    """
    x, y = grid
    sigma, offset = as_tensors(x, sigma, offset)
    sigma = sigma[:, None, None, :]
    g1 = gaussian_derivative(x[None, :, :, None] - offset[:, None, None, :, 0], sigma, 0)
    g2 = gaussian_derivative(y[None, :, :, None] - offset[:, None, None, :, 1], sigma, 0)
    return g1 * g2


__all__ = [
    "derivative_orders",
    "displaced_gaussian_basis",
    "gaussian_derivative",
    "gaussian_derivative_basis",
    "gaussian_derivatives",
    "num_gaussian_derivatives",
]
