"""Gaussian derivatives and the anisotropic, shifted, oriented Gaussian-derivative basis."""

import math

import numpy as np
from keras import ops

from keras_gaussconv.bases.grid import as_tensors, rotate_and_shift, rotate_and_shift_3d
from keras_gaussconv.bases.hermite import hermite_polynomials


def num_gaussian_derivatives(order, rank=2):
    """N = C(K + r, r) kernels of total order <= K in r dimensions: K + 1, (K+1)(K+2)/2, (K+1)(K+2)(K+3)/6."""
    return math.comb(order + rank, rank)


def _orders_of_total(total, rank):
    if rank == 1:
        return [(total,)]
    return [(p, *rest) for p in range(total + 1) for rest in _orders_of_total(total - p, rank - 1)]


def derivative_orders(order, rank=2):
    """The per-axis orders of the N basis kernels: total order i = 0..K, then the first axis' order ascending.

    For K = 2 in 2-D: [(0, 0), (0, 1), (1, 0), (0, 2), (1, 1), (2, 0)]; in
    1-D [(0,), (1,), (2,)]; in 3-D (p, q, r) with p + q + r = i, p then q ascending.
    """
    return [orders for i in range(order + 1) for orders in _orders_of_total(i, rank)]


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


def _derivative_products(coords, sigma, order):
    """φ[b, n] = Π_a G_{p_a}(y_a, σ_a) over the r axes, (p_a) = `derivative_orders(order, r)`[n].

    coords: r tensors `(B, *kernel_size, N)`; sigma: `(B, N, r)`. The r axes are
    stacked and go through `gaussian_derivatives` once: on eager backends
    (PyTorch) the basis' cost is its number of small operations, not its flops.
    """
    rank = len(coords)
    y = ops.stack(coords, axis=0)  # (r, B, *kernel_size, N)
    sigma = ops.transpose(sigma, (2, 0, 1))  # (r, B, N)
    for _ in range(rank):
        sigma = ops.expand_dims(sigma, 2)  # (r, B, 1, …, 1, N)
    derivatives = ops.stack(gaussian_derivatives(y, sigma, order), axis=0)  # (K + 1, r, B, *kernel_size, N)
    # One-hot of each kernel's per-axis orders picks G_{p_a} for axis a, kernel n.
    one_hot = np.eye(order + 1, dtype="float32")[np.array(derivative_orders(order, rank))]  # (N, r, K + 1)
    s = "dhw"[3 - rank :]
    g = ops.einsum(f"kab{s}n,nak->ab{s}n", derivatives, ops.cast(one_hot, derivatives.dtype))
    product = g[0]
    for a in range(1, rank):
        product = product * g[a]
    return product


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
    return _derivative_products(rotate_and_shift(x, y, offset, theta), sigma, order)


def gaussian_derivative_basis_1d(grid, sigma, offset, order):
    """All B·N 1-D kernels φ[b, n] = G_n(x - μ, σ), n = 0..K.

    Args:
        grid: `(x,)` from `sampling_grid((k,))`.
        sigma: `(B, N)` scales, positive.
        offset: `(B, N)` shifts μ.
        order: K; N must equal K + 1.

    Returns:
        Tensor of shape `(B, k, N)`.
    """
    (x,) = grid
    sigma, offset = as_tensors(x, sigma, offset)
    y = x[None, :, None] - offset[:, None, :]
    return _derivative_products((y,), sigma[..., None], order)


def gaussian_derivative_basis_3d(grid, sigma, offset, rotation, order):
    """All B·N 3-D kernels φ[b, n] = G_p(y₁, σ₁) · G_q(y₂, σ₂) · G_r(y₃, σ₃), p + q + r <= K.

    y = Rᵀ (x, y, z) - μ with R the rotation of vector ω (`rotate_and_shift_3d`);
    (p, q, r) runs over `derivative_orders(order, 3)`.

    Args:
        grid: `(x, y, z)` from `sampling_grid`, each `(kd, kh, kw)`.
        sigma: `(B, N, 3)` scales along the rotated axes, positive.
        offset: `(B, N, 3)` shifts.
        rotation: `(B, N, 3)` rotation vectors (axis · angle in radians).
        order: K; N must equal `num_gaussian_derivatives(K, 3)`.

    Returns:
        Tensor of shape `(B, kd, kh, kw, N)`.
    """
    x, y, z = grid
    sigma, offset, rotation = as_tensors(x, sigma, offset, rotation)
    return _derivative_products(rotate_and_shift_3d(x, y, z, offset, rotation), sigma, order)


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
    "gaussian_derivative_basis_1d",
    "gaussian_derivative_basis_3d",
    "gaussian_derivatives",
    "num_gaussian_derivatives",
]
