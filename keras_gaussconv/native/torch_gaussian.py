"""The sampled Gaussian-derivative basis in PyTorch's own operations: one `torch.autograd.Function`.

The mathematics of `keras_gaussconv.bases.gaussian._sampled_basis` (docs/math.md),
written for the dispatcher: on an eager backend each operation is a dispatch (and a
kernel launch on a GPU), and Keras' conversions around every `keras.ops` call
doubled a layer's count. Every derivative of order m at once, with u = y/σ,

    G_m(y, σ) = (−1)^m σ^{−m−1} He_m(u) e^{−u²/2} / √(2π),

the probabilists' Hermite polynomials He_m as the powers u^l weighed by a constant
table (`native.tables`) and summed; φ = Π_a G_{p_a}(y_a, σ_a) and the analytic gradient
∂φ/∂y_a = G_{p_a+1} Π_{b≠a}, ∂φ/∂σ_a = σ_a G_{p_a+2} Π_{b≠a} (heat equation).
Constants (grid terms, Hermite table, exponents) are made once per kernel size,
order, dtype and device.
"""

import functools
from typing import NamedTuple

import numpy as np
import torch

from keras_gaussconv.native.tables import gaussian_tables
from keras_gaussconv.native.torch_conv import eager_tensors


class Constants(NamedTuple):
    """`tables.Tables` as tensors of one dtype and device, laid out for `SampledBasis`, and scalars.

    terms: 1-D the grid x `(1, 1, k, 1)`, else `(T, Π kernel_size · r)` (y = c · terms); turn (2-D)
    `(4, Π kernel_size · 2)`; table `(J, 1, N, 1…, r, K + 3)`; exponents `(J, 1, N, 1…, r)`;
    num_powers: K + 3, the powers u⁰ … u^{K+2} the table weighs; zero, one; tie: ∂max(σ, f)/∂σ at
    σ = f, ½ as `torch.maximum`'s gradient, 1 in float64, where `at_least` compares instead."""

    terms: torch.Tensor
    turn: torch.Tensor
    table: torch.Tensor
    exponents: torch.Tensor
    num_powers: int
    zero: torch.Tensor
    one: torch.Tensor
    tie: torch.Tensor


@functools.lru_cache(maxsize=256)
def constants(kernel_size, order, dtype, device):
    """The `Constants` of kernels of `kernel_size` and order K, made once."""
    t, rank = gaussian_tables(kernel_size, order), len(kernel_size)
    tensor = functools.partial(torch.as_tensor, dtype=dtype, device=device)
    single = [1] * rank
    j, n = t.table.shape[:2]
    terms = t.base.reshape(1, 1, -1, 1) if rank == 1 else t.terms.reshape(t.terms.shape[0], -1)
    return Constants(
        tensor(terms), None if t.turn is None else tensor(t.turn.reshape(4, -1)),
        tensor(t.table.reshape(j, 1, n, *single, *t.table.shape[2:])), tensor(t.exponents.reshape(j, 1, n, *single, rank)),
        len(t.powers), tensor(0.0), tensor(1.0), tensor(1.0 if dtype == torch.float64 else 0.5),
    )


class SampledBasis(torch.autograd.Function):
    """φ `(B, *kernel_size, N)` from raw σ, bounded below by `floor` in the forward pass, and the
    geometry's parameters: 1-D `(offset (B, N),)`, 2-D `(offset (B, N, 2), theta (B, N))`, 3-D the
    coefficients `(R (9), μ (3))` per kernel `(B, N, 12)` (their map from a rotation vector by autograd).

    Inside, every tensor is laid out `(B, N, *kernel_size, r)`: the coordinates are one matrix
    product, the rest element-wise products and sums (an einsum of tiny operands spends more in its
    permutes and copies than in its arithmetic), and φ = Π_a G_{p_a} a product over the last axis,
    returned as a `(B, *kernel_size, N)` view whose memory is `(B, N, *kernel_size)`.
    """

    @staticmethod
    def forward(ctx, kernel_size, order, floor, sigma, *params):
        rank, (b, n) = len(kernel_size), sigma.shape[:2]
        k = constants(kernel_size, order, sigma.dtype, sigma.device)
        bounded = torch.clamp_min(sigma, floor).view(b, n, *[1] * rank, rank)  # 1-D σ: (B, N)
        c = params[0]
        if rank == 1:
            y = k.terms - c.view(b, n, 1, 1)
        else:
            if rank == 2:  # (cos θ, sin θ, μ₁, μ₂)
                c = torch.cat((torch.view_as_real(torch.polar(k.one, params[1])), c), -1)
            y = torch.matmul(c, k.terms).view(b, n, *kernel_size, rank)
        u = y / bounded
        gauss = torch.exp(torch.addcmul(k.zero, u, u, value=-0.5))
        # He_m(u) from the powers u⁰ … u^{K+2} (a Vandermonde matrix: u ** powers costs 4× as much).
        polynomial = (torch.linalg.vander(u, N=k.num_powers) * k.table).sum(-1)
        derivatives = polynomial * gauss * bounded**k.exponents  # (J, B, N, *kernel_size, r): G_{p + j}
        ctx.save_for_backward(sigma, c, derivatives)
        ctx.floor, ctx.constants = floor, k
        return derivatives[0].prod(-1).permute(0, *range(2, rank + 2), 1)

    @staticmethod
    def backward(ctx, d_phi):
        sigma, c, derivatives = ctx.saved_tensors
        k, rank, (b, n) = ctx.constants, len(derivatives.shape) - 4, sigma.shape[:2]
        g0, g1, g2 = derivatives.unbind(0)
        taps = tuple(range(2, 2 + rank))
        # ∂φ/∂y_a = G_{p_a+1} · other_a, ∂φ/∂σ_a = σ_a G_{p_a+2} · other_a, other_a = Π_{b≠a} G_{p_b}.
        weight = d_phi.permute(0, rank + 1, *range(1, rank + 1)).unsqueeze(-1)
        if rank == 2:
            weight = weight * g0.flip(-1)
        elif rank == 3:
            weight = weight * g0.roll(-1, -1) * g0.roll(-2, -1)
        grads = [None] * len(ctx.needs_input_grad)  # kernel_size, order, floor, sigma, *params
        if ctx.needs_input_grad[3]:
            # ∂max(σ, f)/∂σ: 1 above the floor, 0 below, `tie` at it.
            passed = torch.heaviside(sigma - ctx.floor, k.tie)
            grads[3] = (weight * g2).sum(taps).view(sigma.shape) * sigma * passed
        d_y = weight * g1
        if rank == 3:  # y = c · terms
            grads[4] = torch.matmul(d_y.reshape(b, n, -1), k.terms.T) if ctx.needs_input_grad[4] else None
        elif ctx.needs_input_grad[4]:  # ∂y_a/∂μ_a = −1
            grads[4] = d_y.sum(taps).view(sigma.shape).neg()  # μ has σ's shape in 1-D and 2-D
        if rank == 2 and ctx.needs_input_grad[5]:  # ∂y/∂θ = c · turn
            grads[5] = (d_y * torch.matmul(c, k.turn).view(d_y.shape)).sum((*taps, -1))
        return tuple(grads)


# The generators of rotations about x, y, z: [ω]ₓ = Σ_c ω_c E_c, the cross-product matrix.
_GENERATORS = np.array([np.cross(np.eye(3), axis) for axis in np.eye(3)])  # row i of E_c: e_i × e_c


def _rotation_matrix(rotation):
    """R = exp([ω]ₓ) `(..., 3, 3)`, Rodrigues' rotation (`bases.grid.rotation_matrix`) as PyTorch's
    matrix exponential, whose gradient is exact at ω = 0 too: two dispatches instead of ~40."""
    return torch.linalg.matrix_exp(torch.einsum("...c,cij->...ij", rotation, _generators(rotation.dtype, rotation.device)))


@functools.lru_cache(maxsize=8)
def _generators(dtype, device):
    return torch.as_tensor(_GENERATORS, dtype=dtype, device=device)


def sampled_basis(kernel_size, order, min_sigma, sigma, offset, theta=None, rotation=None):
    """`SampledBasis` for the layers' geometric tensors (σ unbounded, bounded here). None, for the
    reference to serve, while torch traces for an export or a compiler (torch.onnx and torch.export
    cannot trace this Python `autograd.Function`) or where a value is no torch tensor (NumPy values)."""
    if not eager_tensors(sigma, offset, theta, rotation):
        return None
    if rotation is not None:
        b, n = rotation.shape[:2]
        coefficients = torch.cat((_rotation_matrix(rotation).reshape(b, n, 9), offset), -1)
        return SampledBasis.apply(tuple(kernel_size), order, min_sigma, sigma, coefficients)
    params = (offset,) if theta is None else (offset, theta)
    return SampledBasis.apply(tuple(kernel_size), order, min_sigma, sigma, *params)
