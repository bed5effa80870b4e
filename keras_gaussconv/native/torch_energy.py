"""The basis' energy normalisation in PyTorch's own operations: one `torch.autograd.Function`.

`bases.autodiff.normalize_energy`'s map, φ̃_n = c φ_n / max(‖ψ_n‖, 10⁻⁶) with c = √(k₁⋯k_r / N)
and ψ the reference (default φ), whose `keras.ops` form costs a layer's eager step ~200 µs
(ten operations and their conversions, forward and backward). With n = c / ‖ψ_n‖ and
s_n = Σ_taps φ_n ∂L/∂φ̃_n, the gradient is ∂L/∂φ_n = n ∂L/∂φ̃_n and ∂L/∂ψ_n = −ψ_n n s_n / ‖ψ_n‖²
(zero where the floor holds), summed when ψ is φ.
"""

import math

import torch

from keras_gaussconv.native.torch_conv import eager_tensors

FLOOR = 1e-6  # on ‖ψ_n‖: the reference's 10⁻¹² on Σ ψ_n²


class EnergyNormalization(torch.autograd.Function):
    """φ̃ `(B, *kernel_size, N)` from φ and the reference ψ of φ's shape (None: φ itself)."""

    @staticmethod
    def forward(ctx, phi, reference):
        taps = tuple(range(1, phi.ndim - 1))
        psi = phi if reference is None else reference
        norm = torch.linalg.vector_norm(psi, dim=taps, keepdim=True)
        bounded = torch.clamp_min(norm, FLOOR)
        scale = bounded.reciprocal().mul_(math.sqrt(math.prod(phi.shape[1:-1]) / phi.shape[-1]))
        ctx.save_for_backward(phi, psi, norm, bounded, scale)
        ctx.taps, ctx.own = taps, reference is None
        return phi * scale

    @staticmethod
    def backward(ctx, d_out):
        phi, psi, norm, bounded, scale = ctx.saved_tensors
        d_phi = d_out * scale
        # n s_n / ‖ψ_n‖², zero where the floor holds
        along = (phi * d_out).sum(ctx.taps, keepdim=True).mul_(scale).div_(bounded.square()).mul_(norm >= FLOOR)
        d_psi = psi * along
        if ctx.own:
            return d_phi.sub_(d_psi), None
        return d_phi, d_psi.neg_() if ctx.needs_input_grad[1] else None


def normalize_energy(phi, reference=None):
    """`EnergyNormalization`, or None for the reference to serve while torch traces (an export or a
    compiler cannot trace a Python `autograd.Function`) or where a value is no torch tensor."""
    return EnergyNormalization.apply(phi, reference) if eager_tensors(phi, reference) else None
