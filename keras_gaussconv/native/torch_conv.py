"""The kernel path of a structured convolution in PyTorch's own operations (`ops.paths`' "kernel").

The dense kernel is built in PyTorch's `(F_out, F_in / groups, *kernel_size)` layout by
one contraction and applied by one `torch.nn.functional.conv{r}d` with the bias fused:
`keras.ops.conv` spends ~15 dispatches around the same convolution (conversions,
transposes of input and kernel, memory-format copies). Shapes as in `ops.paths`.
"""

import functools

import keras
import torch
import torch.nn.functional as F

from keras_gaussconv.ops.conv_spec import paddings

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def fixed_order(function):
    """`function` with torch.einsum contracting left to right, as these functions' equations are written:
    with opt_einsum installed, torch searches a contraction path in Python for every call of three or
    more operands, 1.4 ms for one of five (measured), 50 times the contraction's 27 µs."""

    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        with torch.backends.opt_einsum.flags(enabled=False):
            return function(*args, **kwargs)

    return wrapped


class Contraction(torch.autograd.Function):
    """`torch.einsum(equation, *operands).reshape(shape)` with the gradient of each operand as one
    contraction of the upstream gradient with the others (autodiff of an einsum dispatches ~20
    transposes, reshapes and batched products for the same)."""

    @staticmethod
    @fixed_order
    def forward(ctx, equation, shape, *operands):
        result = torch.einsum(equation, *operands)
        ctx.equation, ctx.result_shape = equation, result.shape
        ctx.save_for_backward(*operands)
        return result.reshape(shape)

    @staticmethod
    @fixed_order
    def backward(ctx, upstream):
        operands = ctx.saved_tensors
        inputs, output = ctx.equation.split("->")
        subscripts = inputs.split(",")
        upstream = upstream.reshape(ctx.result_shape)
        grads = []
        for i, needed in enumerate(ctx.needs_input_grad[2:]):
            others = [s for j, s in enumerate(subscripts) if j != i]
            rest = [o for j, o in enumerate(operands) if j != i]
            equation = f"{','.join([output, *others])}->{subscripts[i]}"
            grads.append(torch.einsum(equation, upstream, *rest) if needed else None)
        return (None, None, *grads)


class Combination(torch.autograd.Function):
    """The full or depthwise combination as batched matrix products, one per basis b:
    W_b = Ω_b φ_bᵀ, Ω_b `(R, N)` the coefficients of basis b's R (output, input) pairs in
    PyTorch's order, φ_bᵀ `(N, P)`; ∂L/∂Ω_b = G_b φ_b, ∂L/∂φ_bᵀ = Ω_bᵀ G_b. Full: R = J·I, Ω_b[j·I + i]
    = ω[b, i, j] (one copy of ω); depthwise: R = (C/B)·M, Ω_b = ω's rows of basis b (a view).
    Three `bmm`s and views: φᵀ is `SampledBasis`' memory layout, and nothing copies the kernel or
    its gradient to reorder them."""

    @staticmethod
    def forward(ctx, combination, phi, omega):
        flat = _coefficient_rows(combination, omega, phi.shape[0])
        phi_t = _transposed(phi)
        ctx.save_for_backward(phi_t, flat)
        ctx.combination, ctx.omega_shape, ctx.taps = combination, omega.shape, phi.shape[1:-1]
        return _combine(combination, flat, phi_t, omega.shape)

    @staticmethod
    def backward(ctx, upstream):
        phi_t, flat = ctx.saved_tensors
        upstream = upstream.reshape(flat.shape[0], flat.shape[1], -1)  # G (B, R, P)
        d_phi = d_omega = None
        if ctx.needs_input_grad[1]:
            d_phi = torch.bmm(flat.transpose(1, 2), upstream).view(*phi_t.shape[:2], *ctx.taps)
            d_phi = d_phi.permute(0, *range(2, len(ctx.taps) + 2), 1)
        if ctx.needs_input_grad[2]:
            d_omega = torch.bmm(upstream, phi_t.transpose(1, 2))  # (B, R, N)
            if ctx.combination == "full":  # rows j·I + i back to ω's (B, I, J, N)
                b, i, j, n = ctx.omega_shape
                d_omega = d_omega.view(b, j, i, n).transpose(1, 2)
            else:
                d_omega = d_omega.view(ctx.omega_shape)
        return None, d_phi, d_omega


def _coefficient_rows(combination, omega, b):
    """Ω `(B, R, N)`: full ω `(B, I, J, N)` transposed to rows j·I + i (one copy), depthwise ω `(C, M, N)`
    viewed per basis."""
    n = omega.shape[-1]
    return omega.transpose(1, 2).reshape(b, -1, n) if combination == "full" else omega.view(b, -1, n)


def _transposed(phi):
    """φᵀ `(B, N, P)` of φ `(B, *kernel_size, N)`: a view where φ's memory is `(B, N, *kernel_size)`
    (`SampledBasis`), else one copy."""
    return phi.permute(0, phi.ndim - 1, *range(1, phi.ndim - 1)).reshape(phi.shape[0], phi.shape[-1], -1)


def _combine(combination, flat, phi_t, omega_shape):
    """W = Ω φᵀ per basis in PyTorch's kernel layout `(F_out, F_in / groups, *kernel_size)`."""
    inputs = omega_shape[1] if combination == "full" else 1
    taps = phi_t.shape[-1]
    return torch.bmm(flat, phi_t).view(-1, inputs, taps)


def tracing():
    """Whether torch is tracing (torch.onnx, torch.jit.trace, torch.export, torch.compile), which cannot
    trace a Python `autograd.Function`: the plain operations serve then."""
    compiling = getattr(torch.compiler, "is_compiling", None) or torch._dynamo.is_compiling  # the latter before 2.3
    return torch.onnx.is_in_onnx_export() or torch.jit.is_tracing() or compiling()


def eager_tensors(*values):
    """Whether a native `autograd.Function` can take `values` (None ones skipped): torch is not tracing
    (`tracing`) and each is a torch tensor (not a NumPy value, for which the reference serves)."""
    return not tracing() and all(isinstance(v, torch.Tensor) for v in values if v is not None)


def torch_kernel(phi, coefficients, combination):
    """W `(F_out, F_in / groups, *kernel_size)` for `phi` `(B, *kernel_size, N)`, `ops.paths.dense_kernel`'s
    map in PyTorch's layout: full W[b·J + j, i] = Σ_n ω[b, i, j, n] φ[b, …, n]; separable
    Σ_n β[b, i, n] φ[b, …, n] λ[b, n, j]; depthwise W[c·M + m, 0] = Σ_n ω[c, m, n] φ[c // (C/B), …, n]."""
    traced = tracing()  # the same products without the autograd.Functions
    if combination == "separable":
        beta, lam = coefficients
        shape, equation = (-1, beta.shape[1], *phi.shape[1:-1]), "bin,b...n,bnj->bji..."
        if traced:
            return fixed_order(torch.einsum)(equation, beta, phi, lam).reshape(shape)
        return Contraction.apply(equation, shape, beta, phi, lam)
    (omega,) = coefficients
    if traced:
        kernel = _combine(combination, _coefficient_rows(combination, omega, phi.shape[0]), _transposed(phi), omega.shape)
    else:
        kernel = Combination.apply(combination, phi, omega)
    return kernel.view(*kernel.shape[:2], *phi.shape[1:-1])


def _as(value, dtype):
    """A tensor or `keras.Variable` (its autocast value) as a torch tensor of `dtype`, without a
    dispatch where it has it already."""
    value = value.value if isinstance(value, keras.Variable) else value
    return value if value.dtype == dtype else value.to(dtype)


def kernel_path(x, phi, coefficients, bias, combination, spec, channels_first):
    """The layer's convolution plus bias (or None) by the kernel path, `x` in the layer's data format."""
    rank, dtype = spec.rank, x.dtype
    kernel = torch_kernel(_as(phi, dtype), [_as(c, dtype) for c in coefficients], combination)
    bias = None if bias is None else _as(bias, dtype)
    if not channels_first:
        x = x.permute(0, rank + 1, *range(1, rank + 1))
    padding = 0
    if spec.padding == "same":
        pads = paddings(x.shape[2:], spec.extent, spec.strides, "same")
        if all(before == after for before, after in pads):
            padding = tuple(before for before, _ in pads)
        else:  # the extra zero after, as Keras: F.pad takes the last axis first
            x = F.pad(x, [p for pair in reversed(pads) for p in pair])
    groups = x.shape[1] if combination == "depthwise" else 1
    y = _CONV[rank](x, kernel, bias, spec.strides, padding, spec.dilation_rate, groups)
    return y if channels_first else y.permute(0, *range(2, rank + 2), 1)
