"""The constants of the native sampled Gaussian basis, in NumPy: one definition for every backend.

With u = y/σ, every derivative order at once as a polynomial times the Gaussian:

    G_m(y, σ) = (−1)^m σ^{−m−1} He_m(u) e^{−u²/2} / √(2π),

He_m the probabilists' Hermite polynomials, whose coefficients the table holds.
"""

import functools
import math
from typing import NamedTuple

import numpy as np
from numpy.polynomial import hermite_e

from keras_gaussconv.bases.gaussian import derivative_orders
from keras_gaussconv.bases.grid import numpy_grid

DERIVATIVES = 3  # G_p for φ, G_{p+1} for ∂φ/∂y, G_{p+2} for ∂φ/∂σ


class Tables(NamedTuple):
    """What a sampled basis of one kernel size and order K needs (float64 arrays).

    terms `(T, *kernel_size, r)`: y_a = base_a + Σ_t c_t terms[t, …, a], c the geometry's T
    coefficients (`_terms`); base `(*kernel_size, 1, r)`: the 1-D grid x, else None; turn
    `(4, *kernel_size, 2)` (2-D): ∂y/∂θ = Σ_t c_t turn[t];
    table `(J, N, r, K + 3)`: the coefficient of u^l in (−1)^m He_m(u)/√(2π), m = p_{n,a} + j
    (J = `DERIVATIVES`); exponents `(J, 1, N, r)`: −m − 1; powers `(K + 3,)`: l.
    """

    terms: np.ndarray
    base: np.ndarray
    turn: np.ndarray
    table: np.ndarray
    exponents: np.ndarray
    powers: np.ndarray


@functools.lru_cache(maxsize=256)
def gaussian_tables(kernel_size, order):
    """The `Tables` of kernels of `kernel_size` (a tuple) and order K, made once."""
    rank = len(kernel_size)
    grid = np.stack(numpy_grid(kernel_size, "float64"), axis=-1)  # (*kernel_size, r): x, y, z
    orders = np.array(derivative_orders(order, rank))  # (N, r)
    size = order + DERIVATIVES
    hermite = np.zeros((size, size))
    for m in range(size):
        hermite[m, : m + 1] = hermite_e.herme2poly([0] * m + [1])
    m = orders[None] + np.arange(DERIVATIVES)[:, None, None]  # (J, N, r)
    table = hermite[m] * ((-1.0) ** m / math.sqrt(2.0 * math.pi))[..., None]
    turn = None
    if rank == 2:
        x, y = grid[..., 0], grid[..., 1]
        zero = np.zeros_like(x)
        turn = np.stack([np.stack(pair, -1) for pair in ([y, -x], [-x, -y], [zero, zero], [zero, zero])])
    base = grid[..., None, :] if rank == 1 else None
    return Tables(_terms(grid, rank), base, turn, table, -(m + 1.0)[:, None], np.arange(size, dtype="float64"))


def _terms(grid, rank):
    """`(T, *kernel_size, r)`: 1-D y = x − μ (c = (μ,), x in `base`); 2-D y₁ = x cos θ + y sin θ − μ₁,
    y₂ = −x sin θ + y cos θ − μ₂ (c = (cos θ, sin θ, μ₁, μ₂)); 3-D y_a = Σ_c R[c, a] x_c − μ_a
    (c = (R[0, 0], R[0, 1], …, R[2, 2], μ₁, μ₂, μ₃))."""
    one = np.ones(grid.shape[:-1])
    if rank == 1:
        return -one[None, ..., None]
    zero = 0.0 * one
    if rank == 2:
        x, y = grid[..., 0], grid[..., 1]
        return np.stack([np.stack(pair, -1) for pair in ([x, y], [y, -x], [-one, zero], [zero, -one])])
    along = [[grid[..., c] if b == a else zero for b in range(3)] for c in range(3) for a in range(3)]
    shifts = [[-one if b == a else zero for b in range(3)] for a in range(3)]
    return np.stack([np.stack(t, -1) for t in along + shifts])
