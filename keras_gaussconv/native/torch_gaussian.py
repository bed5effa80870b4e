"""The sampled Gaussian-derivative basis in PyTorch's own operations: one `torch.autograd.Function`.

The mathematics of `keras_gaussconv.bases.gaussian._sampled_basis` (docs/math.md),
written for the dispatcher: on an eager backend each operation is a dispatch (and a
kernel launch on a GPU), and Keras' conversions around every `keras.ops` call
doubled a layer's count. Every derivative of order m at once, with u = y/σ,

    G_m(y, σ) = (−1)^m σ^{−m−1} He_m(u) e^{−u²/2} / √(2π),

the probabilists' Hermite polynomials He_m as one contraction of the powers u^l with
a constant table (`native.tables`); φ = Π_a G_{p_a}(y_a, σ_a) and the analytic gradient
∂φ/∂y_a = G_{p_a+1} Π_{b≠a}, ∂φ/∂σ_a = σ_a G_{p_a+2} Π_{b≠a} (heat equation).
Constants (grid terms, Hermite table, exponents) are made once per kernel size,
order, dtype and device.
"""

import functools
from typing import NamedTuple

import numpy as np
import torch

from keras_gaussconv.native.tables import gaussian_tables
from keras_gaussconv.native.torch_conv import fixed_order, tracing


class Constants(NamedTuple):
    """`tables.Tables` as tensors of one dtype and device, and scalars: zero, one; tie:
    ∂max(σ, f)/∂σ at σ = f, ½ as `torch.maximum`'s gradient, 1 in float64, where `at_least`
    compares instead."""

    terms: torch.Tensor
    base: torch.Tensor
    shift: torch.Tensor
    turn: torch.Tensor
    table: torch.Tensor
    exponents: torch.Tensor
    powers: torch.Tensor
    zero: torch.Tensor
    one: torch.Tensor
    tie: torch.Tensor


@functools.lru_cache(maxsize=256)
def constants(kernel_size, order, dtype, device):
    """The `Constants` of kernels of `kernel_size` and order K, made once."""
    tensor = functools.partial(torch.as_tensor, dtype=dtype, device=device)
    tables = [None if a is None else tensor(a) for a in gaussian_tables(kernel_size, order)]
    return Constants(*tables, tensor(0.0), tensor(1.0), tensor(1.0 if dtype == torch.float64 else 0.5))


def _letters(rank):
    return "dhw"[3 - rank :]


class SampledBasis(torch.autograd.Function):
    """φ `(B, *kernel_size, N)` from raw σ, bounded below by `floor` in the forward pass, and the
    geometry's parameters: 1-D `(offset (B, N),)`, 2-D `(offset (B, N, 2), theta (B, N))`, 3-D the
    coefficients `(R (9), μ (3))` per kernel `(B, N, 12)` (their map from a rotation vector by autograd).

    Inside, every tensor is laid out `(B, *kernel_size, N, r)`, so that φ = Π_a G_{p_a} is the
    product over the last axis, already in the basis' layout.
    """

    @staticmethod
    @fixed_order
    def forward(ctx, kernel_size, order, floor, sigma, *params):
        rank, s_ = len(kernel_size), _letters(len(kernel_size))
        k = constants(kernel_size, order, sigma.dtype, sigma.device)
        bounded = torch.clamp_min(sigma, floor)  # (B, N, r); 1-D (B, N)
        if rank == 1:
            bounded = bounded.unsqueeze(-1)
            c = params[0]
            y = torch.einsum(f"bn,t{s_}a->b{s_}na", c, k.terms) + k.base
        else:
            c = params[0]
            if rank == 2:  # (cos θ, sin θ, μ₁, μ₂)
                c = torch.cat((torch.view_as_real(torch.polar(k.one, params[1])), c), -1)
            y = torch.einsum(f"bnt,t{s_}a->b{s_}na", c, k.terms)
        u = y / bounded.view(bounded.shape[0], *[1] * rank, *bounded.shape[1:])
        gauss = torch.exp(torch.addcmul(k.zero, u, u, value=-0.5))
        derivatives = torch.einsum(  # (J, B, *kernel_size, N, r): G_{p + j}
            f"b{s_}nal,jnal,b{s_}na,jbna->jb{s_}na", u.unsqueeze(-1) ** k.powers, k.table, gauss,
            bounded**k.exponents,
        )
        ctx.save_for_backward(sigma, c, derivatives)
        ctx.floor, ctx.constants = floor, k
        return derivatives[0].prod(-1)

    @staticmethod
    @fixed_order
    def backward(ctx, d_phi):
        sigma, c, derivatives = ctx.saved_tensors
        k, rank = ctx.constants, len(derivatives.shape) - 4
        s_ = _letters(rank)
        g0, g1, g2 = derivatives.unbind(0)
        # ∂φ/∂y_a = G_{p_a+1} · other_a, ∂φ/∂σ_a = σ_a G_{p_a+2} · other_a, other_a = Π_{b≠a} G_{p_b}.
        factors, subscripts = [d_phi], [f"b{s_}n"]
        if rank > 1:
            factors.append(g0.flip(-1) if rank == 2 else g0.roll(-1, -1) * g0.roll(-2, -1))
            subscripts.append(f"b{s_}na")
        grads = [None] * len(ctx.needs_input_grad)  # kernel_size, order, floor, sigma, *params
        if ctx.needs_input_grad[3]:
            # ∂max(σ, f)/∂σ: 1 above the floor, 0 below, `tie` at it; σ's own shape (1-D: (B, N)).
            passed = torch.heaviside(sigma - ctx.floor, k.tie)
            own = "bn" if rank == 1 else "bna"
            equation = ",".join([*subscripts, f"b{s_}na", own, own]) + "->" + own
            grads[3] = torch.einsum(equation, *factors, g2, sigma, passed)
        along = ",".join([*subscripts, f"b{s_}na"])
        if rank == 1 and ctx.needs_input_grad[4]:
            grads[4] = torch.einsum(f"{along},t{s_}a->bn", *factors, g1, k.terms)
        elif rank == 2:
            if ctx.needs_input_grad[4]:
                grads[4] = torch.einsum(f"{along},t{s_}a->bnt", *factors, g1, k.shift)
            if ctx.needs_input_grad[5]:
                grads[5] = torch.einsum(f"{along},t{s_}a,bnt->bn", *factors, g1, k.turn, c)
        elif rank == 3 and ctx.needs_input_grad[4]:
            grads[4] = torch.einsum(f"{along},t{s_}a->bnt", *factors, g1, k.terms)
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
    given = [t for t in (sigma, offset, theta, rotation) if t is not None]
    if tracing() or not all(isinstance(t, torch.Tensor) for t in given):
        return None
    if rotation is not None:
        b, n = rotation.shape[:2]
        coefficients = torch.cat((_rotation_matrix(rotation).reshape(b, n, 9), offset), -1)
        return SampledBasis.apply(tuple(kernel_size), order, min_sigma, sigma, coefficients)
    params = (offset,) if theta is None else (offset, theta)
    return SampledBasis.apply(tuple(kernel_size), order, min_sigma, sigma, *params)
