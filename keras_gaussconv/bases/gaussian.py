"""Gaussian derivatives and the anisotropic, shifted, oriented Gaussian-derivative basis.

Discretisations (`DISCRETIZATIONS`), how the continuous G_p(x, σ) becomes a kernel:

* "sampled": G_p at the taps, as the reference;
* "normalized": each sampled kernel divided by the sum over the taps of the sampled
  order-0 kernel of the same σ, μ, θ;
* "integrated": G_p integrated over each tap's unit interval [y − ½, y + ½] along the
  kernel's own axes (the pixel's axes when θ = 0):
  ½ (erf((y + ½)/σ√2) − erf((y − ½)/σ√2)) for p = 0, G_{p−1}(y + ½) − G_{p−1}(y − ½) for p >= 1;
* "discrete": Lindeberg's discrete analogue T(n; σ²) = e^{−σ²} I_n(σ²) with central
  differences δx^{p mod 2} δxx^{⌊p/2⌋} (`keras_gaussconv.bases.discrete`); odd kernel
  sizes, no shift, no rotation.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_gaussconv.bases.autodiff import with_gradient
from keras_gaussconv.bases.discrete import discrete_gaussian_derivatives
from keras_gaussconv.bases.grid import array_module, as_tensors, rotated_coordinates, rotated_coordinates_3d

DISCRETIZATIONS = ("sampled", "normalized", "integrated", "discrete")  # see the module docstring


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


class _Recurrence:
    """G_0(x, σ), G_1, … on demand, by G_{m+1} = q (x G_m + m G_{m−1}) with q = −1/σ².

    (From H_{m+1} = 2z H_m − 2m H_{m−1} with z = x/(σ√2).) Far from the centre G_0
    underflows to 0 and every G_m with it: nothing can overflow. x: any shape; sigma:
    positive, broadcastable to it.
    """

    def __init__(self, x, sigma):
        self.q = -1.0 / ops.square(sigma)
        self.qx = self.q * x
        # G_0 = exp(−x²/2σ²) / (σ√(2π)) = exp(q x² / 2) · √(−q / 2π)
        self.terms = [ops.exp(0.5 * self.qx * x) * ops.sqrt(self.q * (-0.5 / math.pi))]

    def upto(self, order):
        """[G_0, …, G_order]."""
        while len(self.terms) <= order:
            m = len(self.terms) - 1
            nxt = self.qx * self.terms[m]
            if m:  # m q, with no multiplication by 1
                nxt = nxt + (self.q if m == 1 else m * self.q) * self.terms[m - 1]
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
    return _Recurrence(x, sigma).upto(max_order)


def gaussian_derivative(x, sigma, order):
    """G_p(x, σ), the p-th derivative of the 1-D Gaussian (see `gaussian_derivatives`)."""
    return gaussian_derivatives(x, sigma, order)[order]


def check_discretization(discretization):
    if discretization not in DISCRETIZATIONS:
        raise ValueError(
            f"`discretization` must be one of {list(DISCRETIZATIONS)}. Received: discretization={discretization!r}"
        )
    return discretization


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


def check_discrete_kernel_size(kernel_size):
    """`kernel_size` if every size is odd, as the discrete analogue needs (integer taps from the centre)."""
    if any(k % 2 == 0 for k in kernel_size):
        raise ValueError(
            "discretization='discrete' samples at integer offsets from the kernel's centre: every kernel "
            f"size must be odd. Received: kernel_size={tuple(kernel_size)}, discretization='discrete'"
        )
    return kernel_size


def _order_one_hot(order, rank):
    """(N, r, K + 1): one-hot of each kernel's per-axis derivative orders (`derivative_orders`)."""
    return np.eye(order + 1, dtype="float32")[np.array(derivative_orders(order, rank))]


def _pick_orders(derivatives, rank, order, letters):
    """From `derivatives` (K + 1, r, B, …, N), G_{p_a} of axis a for kernel n: (r, B, …, N)."""
    one_hot = _order_one_hot(order, rank)
    return ops.einsum(f"kab{letters}n,nak->ab{letters}n", derivatives, ops.cast(one_hot, derivatives.dtype))


def _product(g, axis=0):
    """Π_a g[a] over `axis` (by multiplication: Keras' prod computes float64 in float32 on PyTorch)."""
    factors = ops.unstack(g, axis=axis)
    product = factors[0]
    for factor in factors[1:]:
        product = product * factor
    return product


def _others(factors):
    """(r, …): the product of the other axes' factors, Π_{b≠a} factors[b], for each axis a (None in 1-D: 1)."""
    rank = factors.shape[0]
    if rank == 1:
        return None
    if rank == 2:
        return ops.flip(factors, axis=0)
    f0, f1, f2 = ops.unstack(factors, axis=0)
    return ops.stack([f1 * f2, f0 * f2, f0 * f1], axis=0)


def _sampled_products(y, sigma, order):
    """φ = Π_a G_{p_a}(y_a, σ_a) (`_derivative_products`, "sampled") with its analytic gradient.

    ∂φ/∂y_a = G_{p_a+1}(y_a, σ_a) Π_{b≠a}, and by the heat equation ∂G/∂σ = σ ∂²G/∂x²,
    ∂φ/∂σ_a = σ_a G_{p_a+2}(y_a, σ_a) Π_{b≠a}: the backward pass is two more steps of the
    forward recurrence and one contraction, instead of autodiff through every one of its
    operations (what a training step's operation count is made of).

    y: `(r, B, *kernel_size, N)`; sigma: `(B, N, r)`.
    """
    rank = y.shape[0]
    letters = "dhw"[3 - rank :]
    spatial = tuple(range(2, rank + 2))
    orders = np.array(derivative_orders(order, rank))  # (N, r)
    raised = np.eye(order + 3, dtype="float32")[np.stack([orders + 1, orders + 2])]  # (2, N, r, K + 3)

    @with_gradient
    def products(y, sigma):
        per_axis = ops.transpose(sigma, (2, 0, 1))  # (r, B, N)
        recurrence = _Recurrence(y, ops.reshape(per_axis, (rank, -1, *[1] * rank, sigma.shape[1])))
        factors = _pick_orders(ops.stack(recurrence.upto(order), axis=0), rank, order, letters)
        phi = _product(factors)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream  # PyTorch passes it by name
            derivatives = ops.stack(recurrence.upto(order + 2), axis=0)  # (K + 3, r, B, *kernel_size, N)
            first, second = ops.unstack(
                ops.einsum(f"kab{letters}n,jnak->jab{letters}n", derivatives, ops.cast(raised, y.dtype)), axis=0
            )
            others = _others(factors)
            weight = upstream if others is None else upstream * others  # (r, B, *kernel_size, N) by broadcasting
            return weight * first, ops.transpose(per_axis * ops.sum(weight * second, axis=spatial), (1, 2, 0))

        return phi, grad

    return products(y, sigma)


def _derivative_products(coords, sigma, order, discretization="sampled"):
    """φ[b, n] = Π_a G_{p_a}(y_a, σ_a) over the r axes, (p_a) = `derivative_orders(order, r)`[n].

    coords: `(r, B, *kernel_size, N)`, the r axes stacked; sigma: `(B, N, r)`. The r
    axes go through `gaussian_derivatives` at once: on eager backends (PyTorch) the
    basis' cost is its number of small operations, not its flops. "sampled" has its
    own gradient (`_sampled_products`).
    `discretization`: "sampled", "normalized" or "integrated" (module docstring).
    """
    y = coords
    rank = y.shape[0]
    if discretization == "sampled":
        return _sampled_products(y, sigma, order)
    sigma = ops.reshape(ops.transpose(sigma, (2, 0, 1)), (rank, -1, *[1] * rank, sigma.shape[1]))
    along_axes = integrated_gaussian_derivatives if discretization == "integrated" else gaussian_derivatives
    derivatives = ops.stack(along_axes(y, sigma, order), axis=0)  # (K + 1, r, B, *kernel_size, N)
    letters = "dhw"[3 - rank :]
    product = _product(_pick_orders(derivatives, rank, order, letters))
    if discretization == "normalized":
        # Σ over the taps of the sampled order-0 kernel of the same geometry, per (b, n).
        total = ops.sum(_product(derivatives[0]), axis=tuple(range(1, rank + 1)), keepdims=True)
        product = product / total
    return product


def discrete_gaussian_derivative_basis(kernel_size, sigma, order):
    """φ[b, n] = Π_a δ^{p_a} T(·; σ_a²) along the r kernel axes (Lindeberg's discrete analogue).

    Args:
        kernel_size: r odd sizes `(k,)`, `(kh, kw)` or `(kd, kh, kw)`.
        sigma: `(B, N, r)` scales; σ_a acts along the rotated axis y_a of the
            other discretisations with no rotation: x (columns), y (rows), z (depth).
        order: K; (p_a) runs over `derivative_orders(order, r)`.

    Returns:
        Tensor `(B, *kernel_size, N)`.
    """
    rank = len(check_discrete_kernel_size(kernel_size))
    if not (ops.is_tensor(sigma) or isinstance(sigma, keras.Variable)):
        sigma = ops.convert_to_tensor(np.asarray(sigma))
    one_hot = _order_one_hot(order, rank)
    product = None
    for a in range(rank):
        dim = rank - 1 - a  # x (a = 0) runs along the last kernel dimension
        values = discrete_gaussian_derivatives(sigma[..., a], kernel_size[dim], order)  # (B, N, K + 1, k)
        picked = ops.einsum("bnpk,np->bkn", values, ops.cast(one_hot[:, a], values.dtype))  # (B, k, N)
        shape = [1] * rank
        shape[dim] = kernel_size[dim]
        picked = ops.reshape(picked, (sigma.shape[0], *shape, sigma.shape[1]))
        product = picked if product is None else product * picked  # broadcasts to (B, *kernel_size, N)
    return product


def _discrete_or(discretization, grid, sigma, order, **geometry):
    """The discrete analogue's basis when `discretization` says so (no shift, no rotation), else None."""
    if check_discretization(discretization) != "discrete":
        return None
    given = sorted(name for name, value in geometry.items() if value is not None)
    if given:
        raise ValueError(
            "The discrete analogue is defined at the integer taps only: it has no sub-pixel shift and no "
            f"rotation. Pass {' and '.join(f'{name}=None' for name in given)} with discretization='discrete'."
        )
    return discrete_gaussian_derivative_basis(tuple(grid[0].shape), sigma, order)


def scale_normalize(phi, sigma, order):
    """Scale-normalised derivatives (Lindeberg, γ = 1): φ[b, …, n] · Π_a σ[b, n, a]^{p_a}.

    (p_a) = `derivative_orders(order, r)`[n]. For f magnified s times,
    f_s(x) = f(x / s), the responses L_p = G_p(·, σ) ∗ f obey
    L_p[f_s](s x; s σ) = s^{-p} L_p[f](x; σ), so σ^p L_p is the same at
    corresponding points and scales: what scale channels build on.

    Args:
        phi: `(B, *kernel_size, N)`, r = 1, 2 or 3 spatial axes.
        sigma: `(B, N, r)` (or `(B, N)` in 1-D) scales, positive.
        order: K; N must equal `num_gaussian_derivatives(K, r)`.

    Returns:
        Tensor of `phi`'s shape.
    """
    rank = len(phi.shape) - 2
    phi, sigma = as_tensors(phi, phi, sigma)
    if len(sigma.shape) == 2:
        sigma = ops.expand_dims(sigma, -1)
    powers = ops.cast(np.array(derivative_orders(order, rank), "float32"), sigma.dtype)  # (N, r)
    factor = _product(ops.power(sigma, powers), axis=-1)  # (B, N)
    for _ in range(rank):
        factor = ops.expand_dims(factor, 1)  # (B, 1, …, 1, N)
    return phi * ops.cast(factor, phi.dtype)


def gaussian_derivative_basis(grid, sigma, offset, theta, order, discretization="sampled"):
    """All B·N basis kernels φ[b, n] = G_p(y₁, σ₁) · G_q(y₂, σ₂) at once.

    y₁, y₂ are the grid rotated by θ and shifted by μ (see `rotated_coordinates`);
    (p, q) runs over `derivative_orders(order)`.

    Args:
        grid: `(x, y)` from `sampling_grid`, each `(kh, kw)`.
        sigma: `(B, N, 2)` scales (σ₁, σ₂), positive.
        offset: `(B, N, 2)` shifts (μ₁, μ₂); None with "discrete".
        theta: `(B, N)` orientations in radians; None with "discrete".
        order: maximal total order K; N must equal `num_gaussian_derivatives(K)`.
        discretization: one of `DISCRETIZATIONS` (module docstring).

    Returns:
        Tensor of shape `(B, kh, kw, N)`.
    """
    discrete = _discrete_or(discretization, grid, sigma, order, offset=offset, theta=theta)
    if discrete is not None:
        return discrete
    x, y = grid
    sigma, offset, theta = as_tensors(x, sigma, offset, theta)
    return _derivative_products(rotated_coordinates(x, y, offset, theta), sigma, order, discretization)


def gaussian_derivative_basis_1d(grid, sigma, offset, order, discretization="sampled"):
    """All B·N 1-D kernels φ[b, n] = G_n(x - μ, σ), n = 0..K.

    Args:
        grid: `(x,)` from `sampling_grid((k,))`.
        sigma: `(B, N)` scales, positive.
        offset: `(B, N)` shifts μ; None with "discrete".
        order: K; N must equal K + 1.
        discretization: one of `DISCRETIZATIONS` (module docstring).

    Returns:
        Tensor of shape `(B, k, N)`.
    """
    (x,) = grid
    if not (ops.is_tensor(sigma) or isinstance(sigma, keras.Variable)):
        (sigma,) = as_tensors(x, sigma)
    sigma = ops.expand_dims(sigma, -1)  # (B, N, 1): one axis
    discrete = _discrete_or(discretization, grid, sigma, order, offset=offset)
    if discrete is not None:
        return discrete
    (offset,) = as_tensors(x, offset)
    taps = array_module(x).reshape(x, (1, 1, -1, 1))
    y = ops.convert_to_tensor(taps, offset.dtype) - ops.reshape(offset, (1, -1, 1, offset.shape[-1]))  # (1, B, k, N)
    return _derivative_products(y, sigma, order, discretization)


def gaussian_derivative_basis_3d(grid, sigma, offset, rotation, order, discretization="sampled"):
    """All B·N 3-D kernels φ[b, n] = G_p(y₁, σ₁) · G_q(y₂, σ₂) · G_r(y₃, σ₃), p + q + r <= K.

    y = Rᵀ (x, y, z) - μ with R the rotation of vector ω (`rotated_coordinates_3d`);
    (p, q, r) runs over `derivative_orders(order, 3)`.

    Args:
        grid: `(x, y, z)` from `sampling_grid`, each `(kd, kh, kw)`.
        sigma: `(B, N, 3)` scales along the rotated axes, positive.
        offset: `(B, N, 3)` shifts; None with "discrete".
        rotation: `(B, N, 3)` rotation vectors (axis · angle in radians); None with "discrete".
        order: K; N must equal `num_gaussian_derivatives(K, 3)`.
        discretization: one of `DISCRETIZATIONS` (module docstring).

    Returns:
        Tensor of shape `(B, kd, kh, kw, N)`.
    """
    discrete = _discrete_or(discretization, grid, sigma, order, offset=offset, rotation=rotation)
    if discrete is not None:
        return discrete
    x, y, z = grid
    sigma, offset, rotation = as_tensors(x, sigma, offset, rotation)
    return _derivative_products(rotated_coordinates_3d(x, y, z, offset, rotation), sigma, order, discretization)


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
    "DISCRETIZATIONS",
    "derivative_orders",
    "discrete_gaussian_derivative_basis",
    "displaced_gaussian_basis",
    "gaussian_derivative",
    "gaussian_derivative_basis",
    "gaussian_derivative_basis_1d",
    "gaussian_derivative_basis_3d",
    "gaussian_derivatives",
    "integrated_gaussian_derivatives",
    "num_gaussian_derivatives",
]
