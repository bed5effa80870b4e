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

import functools
import math
import operator

import keras
import numpy as np
from keras import ops

from keras_gaussconv.bases.derivatives import (  # noqa: F401  (gaussian_derivative: importable here, as before)
    GaussianRecurrence,
    gaussian_derivative,
    gaussian_derivatives,
    integrated_gaussian_derivatives,
)
from keras_gaussconv.bases.discrete import discrete_gaussian_derivatives
from keras_gaussconv.bases.autodiff import cos, sin, with_gradient
from keras_gaussconv.bases.grid import array_module, as_tensors, rotation_matrix

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


def check_discretization(discretization):
    if discretization not in DISCRETIZATIONS:
        raise ValueError(
            f"`discretization` must be one of {list(DISCRETIZATIONS)}. Received: discretization={discretization!r}"
        )
    return discretization


def check_discrete_kernel_size(kernel_size):
    """`kernel_size` if every size is odd, as the discrete analogue needs (integer taps from the centre)."""
    if any(k % 2 == 0 for k in kernel_size):
        raise ValueError(
            "discretization='discrete' samples at integer offsets from the kernel's centre: every kernel "
            f"size must be odd. Received: kernel_size={tuple(kernel_size)}, discretization='discrete'"
        )
    return kernel_size


def _order_table(order, rank):
    """(N, r, K + 1): one-hot of each kernel's per-axis derivative orders (`derivative_orders`)."""
    return np.eye(order + 1)[np.array(derivative_orders(order, rank))]  # float64: cast where used


def _sampled_table(order, rank):
    """(2 + r, N, r, r, K + 3): what `_sampled_basis` picks from G_0 … G_{K+2} of every axis.

    For kernel n and axis a: j = 0, 1, 2 pick G_{p_a + j} of axis a (j = 0 divided by r);
    j = 2 + i (i = 1 … r − 1) G_{p_c} of axis c = (a + i) mod r, the other axes' factors
    whose product ∂φ/∂y_a is multiplied by. The recurrence's terms are (−1)^m √(2π) G_m
    (`GaussianRecurrence(signed=True)`): the table holds (−1)^m / √(2π).
    """
    orders = np.array(derivative_orders(order, rank))  # (N, r)
    eye = np.eye(order + 3) * ((-1.0) ** np.arange(order + 3) / math.sqrt(2.0 * math.pi))
    table = np.zeros((2 + rank, len(orders), rank, rank, order + 3))
    for a in range(rank):
        for j in range(3):
            table[j, :, a, a] = eye[orders[:, a] + j] / (rank if j == 0 else 1)
        for i in range(1, rank):
            table[2 + i, :, a, (a + i) % rank] = eye[orders[:, (a + i) % rank]]
    return table


def _pick(derivatives, table, letters):
    """From `derivatives` (K', *kernel_size, B, N, r) the entries of `table`: `(*kernel_size, B, N, r)`
    with `_order_table`, `(J, *kernel_size, B, N, r)` with `_sampled_table`."""
    spec = "k{0}bna,nak->{0}bna" if table.ndim == 3 else "k{0}bnc,jnack->j{0}bna"
    return ops.einsum(spec.format(letters), derivatives, ops.convert_to_tensor(table, derivatives.dtype))


def _to_basis(factors, letters):
    """φ = Π_a factors[…, a] (`_product`), from the coordinates' layout `(*kernel_size, B, N, r)`
    to the basis' `(B, *kernel_size, N)`."""
    return ops.einsum(f"{letters}bn->b{letters}n", _product(factors))


def _product(g, axis=-1):
    """Π_a g[a] over `axis` (by multiplication: Keras' prod computes float64 in float32 on PyTorch)."""
    factors = ops.unstack(g, axis=axis)
    product = factors[0]
    for factor in factors[1:]:
        product = product * factor
    return product


def _coordinates(terms, coefficients, base, letters):
    """y[…, b, n, a] = base[…, a] + Σ_t c[b, n, t] terms[t, a, …]: every kernel's coordinates in one contraction.

    terms: `(T, r, *kernel_size)`; coefficients: `(B, N, T)`; base: a constant `(*kernel_size, 1, 1, r)`
    or None. Returns `(*kernel_size, B, N, r)`: σ `(B, N, r)` broadcasts against it as it is.
    """
    y = ops.einsum(f"bnt,ta{letters}->{letters}bna", coefficients, terms)
    return y if base is None else y + ops.convert_to_tensor(base, y.dtype)


def _sampled_basis(geometry, sigma, params, order):
    """φ = Π_a G_{p_a}(y_a, σ_a) ("sampled"), coordinates and products, with one analytic gradient.

    ∂φ/∂y_a = G_{p_a+1}(y_a, σ_a) Π_{b≠a}, and by the heat equation ∂G/∂σ = σ ∂²G/∂x²,
    ∂φ/∂σ_a = σ_a G_{p_a+2}(y_a, σ_a) Π_{b≠a}; y is linear in the coefficients c
    (`_coordinates`), so ∂L/∂c = Σ ∂L/∂y · terms, one contraction. The forward pass picks
    the orders p, p + 1 and p + 2 at once and the backward pass is a few contractions,
    instead of autodiff through every operation (what a training step's operation count is
    made of).

    geometry: `(terms, base, coefficients)` with `coefficients(*params) → (c, vjp)`,
    `vjp(∂L/∂c) → ∂L/∂params`; sigma: `(B, N, r)`.
    """
    terms, base, coefficients = geometry
    rank = terms.shape[1]
    letters = "dhw"[3 - rank :]
    table = _sampled_table(order, rank)

    @with_gradient
    def basis(sigma, *params):
        c, vjp = coefficients(*params)
        taps = ops.convert_to_tensor(terms, c.dtype)
        y = _coordinates(taps, c, base, letters)  # (*kernel_size, B, N, r)
        derivatives = ops.stack(GaussianRecurrence(y, sigma, signed=True).upto(order + 2), axis=0)
        factors, first, second, *others = ops.unstack(_pick(derivatives, table, letters), axis=0)
        other = ops.ones_like(first) if rank == 1 else functools.reduce(operator.mul, others)  # Π_{b≠a}
        # Σ_a (G_{p_a} / r) Π_{b≠a} = φ: the product and the move to the basis' layout in one contraction.
        phi = ops.einsum(f"{letters}bna,{letters}bna->b{letters}n", factors, other)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream  # PyTorch passes it by name
            weight = ops.einsum(f"b{letters}n,{letters}bna->{letters}bna", upstream, other)
            d_c = ops.einsum(f"{letters}bna,ta{letters}->bnt", weight * first, taps)
            return (sigma * ops.einsum(f"{letters}bna,{letters}bna->bna", weight, second), *vjp(d_c))

        return phi, grad

    return basis(sigma, *params)


def _geometry_1d(x):
    """y = x − μ: `_sampled_basis`' geometry of a 1-D grid, its parameters `(offset (B, N),)`.

    Grids are NumPy arrays (`numpy_grid`: the terms are constants) or tensors (`sampling_grid`).
    """
    xp = array_module(x)

    def coefficients(offset):
        return ops.expand_dims(offset, -1), lambda d_c: (ops.squeeze(d_c, -1),)

    return xp.reshape(-xp.ones_like(x), (1, 1, *x.shape)), xp.reshape(x, (*x.shape, 1, 1, 1)), coefficients


def _geometry_2d(x, y):
    """y₁ = x c + y s − μ₁, y₂ = −x s + y c − μ₂ (c = cos θ, s = sin θ): the geometry of a 2-D grid.

    Parameters `(offset (B, N, 2), theta (B, N))`, coefficients (c, s, μ₁, μ₂); the
    chain rule by hand: ∂L/∂μ is the coefficients' own, ∂L/∂θ = c ∂L/∂s − s ∂L/∂c.
    """
    xp = array_module(x, y)
    zero, one = xp.zeros_like(x), xp.ones_like(x)
    terms = xp.stack([xp.stack(pair) for pair in ([x, y], [y, -x], [-one, zero], [zero, -one])])  # (4, 2, kh, kw)

    def coefficients(offset, theta):
        c, s = cos(theta), sin(theta)

        def vjp(d_c):
            d_cos, d_sin, d_mu1, d_mu2 = ops.unstack(d_c, axis=-1)
            return ops.stack([d_mu1, d_mu2], axis=-1), c * d_sin - s * d_cos

        return ops.stack([c, s, *ops.unstack(offset, axis=-1)], axis=-1), vjp

    return terms, None, coefficients


def _geometry_3d(x, y, z):
    """y_a = Σ_c R[c, a] (x, y, z)_c − μ_a: the geometry of a 3-D grid, its one parameter the
    coefficients (R[0, 0], R[0, 1], …, R[2, 2], μ₁, μ₂, μ₃) themselves (R's own gradient by autodiff)."""
    xp = array_module(x, y, z)
    zero, one = xp.zeros_like(x), xp.ones_like(x)

    def along(a, value):  # `value` on axis a, 0 on the others: (3, kd, kh, kw)
        return xp.stack([value if b == a else zero for b in range(3)])

    terms = xp.stack([along(a, g) for g in (x, y, z) for a in range(3)] + [along(a, -one) for a in range(3)])
    return terms, None, lambda c: (c, lambda d_c: (d_c,))


def _derivative_products(geometry, sigma, params, order, discretization="sampled"):
    """φ[b, …, n] = Π_a G_{p_a}(y_a, σ_a) over the r axes, (p_a) = `derivative_orders(order, r)`[n].

    geometry: `_geometry_1d/2d/3d` of the grid; params: its parameters; sigma: `(B, N, r)`.
    The r axes go through `gaussian_derivatives` at once: on eager backends (PyTorch) the
    basis' cost is its number of small operations, not its flops. "sampled" has its
    own gradient (`_sampled_basis`).
    `discretization`: "sampled", "normalized" or "integrated" (module docstring).
    """
    if discretization == "sampled":
        return _sampled_basis(geometry, sigma, params, order)
    terms, base, coefficients = geometry
    rank = terms.shape[1]
    letters = "dhw"[3 - rank :]
    c = coefficients(*params)[0]
    y = _coordinates(ops.convert_to_tensor(terms, c.dtype), c, base, letters)
    along_axes = integrated_gaussian_derivatives if discretization == "integrated" else gaussian_derivatives
    derivatives = ops.stack(along_axes(y, sigma, order), axis=0)  # (K + 1, *kernel_size, B, N, r)
    product = _to_basis(_pick(derivatives, _order_table(order, rank), letters), letters)
    if discretization == "normalized":
        # Σ over the taps of the sampled order-0 kernel of the same geometry, per (b, n).
        total = ops.sum(_to_basis(derivatives[0], letters), axis=tuple(range(1, rank + 1)), keepdims=True)
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
    one_hot = _order_table(order, rank)
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
    $L_p[f_s](s x; s σ) = s^{-p} L_p[f](x; σ)$, so σ^p L_p is the same at
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
    return _derivative_products(_geometry_2d(x, y), sigma, (offset, theta), order, discretization)


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
    return _derivative_products(_geometry_1d(x), sigma, (offset,), order, discretization)


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
    matrix = ops.reshape(rotation_matrix(rotation), (*rotation.shape[:2], 9))  # (B, N, 9): R[c, a] at 3c + a
    coefficients = ops.concatenate([matrix, ops.cast(offset, matrix.dtype)], axis=-1)
    return _derivative_products(_geometry_3d(x, y, z), sigma, (coefficients,), order, discretization)


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
