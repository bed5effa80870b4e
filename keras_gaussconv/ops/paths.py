"""The execution paths of a structured convolution: pure functions, any rank r = 1, 2, 3.

Inputs are channels_last, `x` of shape `(batch, *spatial, F_in)`; the basis
`phi` has shape `(B, *kernel_size, N)`; the combination (`COMBINATIONS`) is

* "full": `omega` `(B, F_in, F_out/B, N)` (eq. 3 of Penaud--Polge et al.
  2022), output channel c = b·(F_out/B) + j belongs to basis b;
* "separable": `beta` `(B, F_in, N)` and `lam` `(B, N, F_out/B)` (eq. 4);
* "depthwise": `omega` `(C, M, N)`, output channel c·M + m is input channel c
  correlated with Σ_n ω[c, m, n] φ[b(c), n], b(c) = c // (C/B) (the
  channels split into B contiguous groups, one basis each), as
  `keras.layers.DepthwiseConv2D` with depth multiplier M.

Every path computes the same linear map (no bias), up to float32 round-off:

* "kernel": build the dense kernel W, one `ops.conv`;
* "basis": convolve with the B·N basis kernels, then combine (1×1);
* "fft": the same products in the frequency domain (`keras_gaussconv.ops.fft`).
"""

import keras
import numpy as np
from keras import ops

from keras_gaussconv.ops.fft import fft_conv, fft_depthwise_conv

PATHS = ("kernel", "basis", "fft")
COMBINATIONS = ("full", "separable", "depthwise")


def _spatial_letters(rank):
    return "dhw"[3 - rank :]


def _eye(b, dtype, shape):
    """δ(b, b′) `(B, B)` as a constant of `shape` (the B × B identity with axes of size 1 between)."""
    return ops.cast(np.eye(b, dtype="float32").reshape(shape), dtype)


def _one_product(phi, blocks):
    """Σ_{b,n} φ[b, *s, n] blocks[b, n, q] `(P, Q)`, P = k₁⋯k_r, `blocks` `(B, N, …)` zero where q
    belongs to another basis: one plain matrix product `(P, B·N) · (B·N, Q)`, for TensorFlow, whose
    oneDNN runs the einsums below at ~190 µs a call and a batched product at ~100 µs, a plain
    product of these sizes at 6–25 µs (docs/speed.md). `blocks` hold B× the coefficients' entries:
    elsewhere (XLA, PyTorch) the einsum serves."""
    rows = phi_channels(phi, flat=True)  # (P, B·N)
    return ops.matmul(rows, ops.reshape(blocks, (rows.shape[-1], -1)))


def _full_by_one_product(phi, columns):
    """TensorFlow's W[*s, i, b·J + j] = Σ_n φ[b, *s, n] columns[b, n, i, j] (`_one_product`)."""
    b, n, f_in, per = columns.shape
    blocks = ops.expand_dims(columns, 3) * _eye(b, phi.dtype, (b, 1, 1, b, 1))  # (B, N, I, B, J)
    return ops.reshape(_one_product(phi, blocks), (*phi.shape[1:-1], f_in, b * per))


def _merged(w):
    """`(*kernel_size, F_in, B, F_out/B)` → `(*kernel_size, F_in, F_out)`."""
    return ops.reshape(w, (*w.shape[:-3], w.shape[-3], w.shape[-2] * w.shape[-1]))


def full_kernel(phi, omega):
    """W[*s, i, b·(F_out/B) + j] = Σ_n ω[b, i, j, n] φ[b, *s, n], shape `(*kernel_size, F_in, F_out)`."""
    omega = ops.cast(omega, phi.dtype)
    if keras.backend.backend() == "tensorflow":
        return _full_by_one_product(phi, ops.transpose(omega, (0, 3, 1, 2)))
    s = _spatial_letters(len(phi.shape) - 2)
    return _merged(ops.einsum(f"b{s}n,bijn->{s}ibj", phi, omega))


def separable_kernel(phi, beta, lam):
    """W[*s, i, b·(F_out/B) + j] = Σ_n β[b, i, n] φ[b, *s, n] λ[b, n, j]."""
    beta, lam = ops.cast(beta, phi.dtype), ops.cast(lam, phi.dtype)
    if keras.backend.backend() == "tensorflow":
        return _full_by_one_product(phi, ops.expand_dims(ops.transpose(beta, (0, 2, 1)), -1) * ops.expand_dims(lam, 2))
    s = _spatial_letters(len(phi.shape) - 2)
    return _merged(ops.einsum(f"bin,b{s}n,bnj->{s}ibj", beta, phi, lam))


def depthwise_kernel(phi, omega):
    """W[*s, c, m] = Σ_n ω[c, m, n] φ[b(c), *s, n], shape `(*kernel_size, C, M)`."""
    channels, multiplier, n = omega.shape
    b, omega = phi.shape[0], ops.cast(omega, phi.dtype)
    if keras.backend.backend() == "tensorflow":
        owner = np.repeat(np.eye(b, dtype="float32"), channels // b, axis=1).reshape(b, 1, channels, 1)  # δ(b, b(c))
        blocks = ops.transpose(omega, (2, 0, 1)) * ops.cast(owner, phi.dtype)  # (B, N, C, M)
        return ops.reshape(_one_product(phi, blocks), (*phi.shape[1:-1], channels, multiplier))
    s = _spatial_letters(len(phi.shape) - 2)
    per_channel = ops.repeat(phi, channels // b, axis=0)  # (C, *k, N)
    return ops.einsum(f"c{s}n,cmn->{s}cm", per_channel, omega)


def dense_kernel(phi, coefficients, combination):
    """The dense kernel of a combination ("full", "separable" or "depthwise") of the basis `phi`."""
    make = {"full": full_kernel, "separable": separable_kernel, "depthwise": depthwise_kernel}[combination]
    return make(phi, *coefficients)


def phi_channels(phi, flat=False):
    """(B, *kernel_size, N) → (*kernel_size, B·N), channel b·N + n; `flat`: (k₁⋯k_r, B·N)."""
    rank = len(phi.shape) - 2
    moved = ops.transpose(phi, (*range(1, rank + 1), 0, rank + 1))
    taps = (-1,) if flat else phi.shape[1 : rank + 1]
    return ops.reshape(moved, (*taps, phi.shape[0] * phi.shape[-1]))


def block_diagonal(weights):
    """(B, M, J) per-basis matrices → (B·M, B·J) block-diagonal matrix."""
    b, m, j = weights.shape
    return ops.reshape(ops.expand_dims(weights, 2) * _eye(b, weights.dtype, (b, 1, b, 1)), (b * m, b * j))


def separable_matrices(beta, lam, dtype):
    """The separable combination's two 1×1 steps: β as (F_in, B·N), λ block-diagonal (B·N, F_out)."""
    beta = ops.cast(beta, dtype)  # (B, F_in, N)
    b, f_in, n = beta.shape
    beta = ops.reshape(ops.transpose(beta, (1, 0, 2)), (f_in, b * n))
    return beta, block_diagonal(ops.cast(lam, dtype))


def depthwise(x, kernel, spec):
    """Correlates channel c of `x` with `kernel[..., c]`, kernel `(*kernel_size, C)` (multiplier 1)."""
    return depthwise_multiplier(x, kernel[..., None], spec)


def depthwise_multiplier(x, kernel, spec):
    """Keras' depthwise convolution with a `(*kernel_size, C, M)` kernel, output channel c·M + m.

    Rank 3 is a grouped `conv` (C groups of M outputs), and so are unequal
    strides on TensorFlow: its CPU depthwise kernel refuses them unless oneDNN
    takes the op, which depends on the CPU.
    """
    refused = keras.backend.backend() == "tensorflow" and len(set(spec.strides)) > 1
    if spec.rank <= 2 and not refused:
        return ops.depthwise_conv(x, kernel, **spec.conv_kwargs())
    channels, multiplier = kernel.shape[-2:]
    grouped = ops.reshape(kernel, (*kernel.shape[:-2], 1, channels * multiplier))
    return ops.conv(x, grouped, **spec.conv_kwargs())


def _responses_in_batch(x, phi, spec):
    """Every input channel correlated with all B·N basis kernels, the channels put in the batch.

    (n, *spatial, C) → (n·C, *out, B·N) through one dense convolution with one input
    channel: the multiply-adds of a depthwise convolution with multiplier B·N,
    which XLA's CPU backend runs 60–90× slower than a dense convolution (this
    form: 0.5–4×, measured on JAX, 2-D). Returns the responses and `out`.
    """
    rank = spec.rank
    size = ops.shape(x)
    # Axes counted from the front: torch.onnx writes a negative one into an invalid Transpose.
    planes = ops.reshape(ops.moveaxis(x, rank + 1, 1), (-1, *size[1 : rank + 1], 1))
    r = ops.conv(planes, phi_channels(phi)[..., None, :], **spec.conv_kwargs())
    return r, ops.shape(r)[1 : rank + 1]


def depthwise_basis_first(x, phi, omega, spec):
    """Responses of each channel to its basis' N kernels, then Σ_n ω[c, m, n] per channel.

    TensorFlow (ranks 1, 2): one depthwise convolution with multiplier N.
    Elsewhere the channels go into the batch of one dense convolution with the
    B·N kernels, and each channel keeps its own basis' responses (B× the
    work, but XLA's CPU depthwise convolution with a multiplier is far slower).
    """
    b, n, channels = phi.shape[0], phi.shape[-1], x.shape[-1]
    rank = spec.rank
    if keras.backend.backend() == "tensorflow" and rank <= 2:
        per_channel = ops.repeat(phi, channels // b, axis=0)  # (C, *k, N)
        kernel = ops.transpose(per_channel, (*range(1, rank + 1), 0, rank + 1))  # (*k, C, N)
        r = depthwise_multiplier(x, kernel, spec)
        out = ops.shape(r)[1 : rank + 1]
        r = ops.reshape(r, (-1, *out, channels, n))
    else:
        r, out = _responses_in_batch(x, phi, spec)  # (batch·C, *out, B·N)
        r = ops.reshape(r, (-1, b, channels // b, *out, b, n))
        s = _spatial_letters(rank)
        eye = ops.cast(np.eye(b, dtype="float32"), x.dtype)
        r = ops.einsum(f"zbg{s}dn,bd->z{s}bgn", r, eye)  # each group's own basis
        r = ops.reshape(r, (-1, *out, channels, n))
    y = ops.einsum("...cn,cmn->...cm", r, ops.cast(omega, x.dtype))
    return ops.reshape(y, (-1, *out, channels * omega.shape[1]))


def separable_basis_first(x, phi, beta, lam, spec, fft=False):
    """J = λ · (φ ⋆ (β · I)): 1×1 F_in → B·N, per-channel φ, block-diagonal 1×1 B·N → F_out."""
    beta, lam = separable_matrices(beta, lam, x.dtype)
    mixed = ops.matmul(x, beta)
    if fft:
        args = dict(strides=spec.strides, padding=spec.padding, dilation_rate=spec.dilation_rate)
        responses = fft_depthwise_conv(mixed, phi_channels(phi), **args)
    else:
        responses = depthwise(mixed, phi_channels(phi), spec)
    return ops.matmul(responses, lam)


def full_basis_first(x, phi, omega, spec):
    """Responses r of every input channel to the B·N kernels, then the 1×1 ω.

    TensorFlow (ranks 1, 2): a depthwise convolution with depth multiplier B·N.
    Elsewhere `_responses_in_batch`: the same multiply-adds as one dense convolution.
    """
    b, n, f_in = phi.shape[0], phi.shape[-1], x.shape[-1]
    rank = spec.rank
    if keras.backend.backend() == "tensorflow" and rank <= 2:
        spread = ops.broadcast_to(phi_channels(phi)[..., None, :], (*spec.kernel_size, f_in, b * n))
        r = depthwise_multiplier(x, spread, spec)
    else:
        r, out = _responses_in_batch(x, phi, spec)
        r = ops.moveaxis(ops.reshape(r, (-1, f_in, *out, b * n)), 1, rank + 1)
        r = ops.reshape(r, (-1, *out, f_in * b * n))
    # Channel i·B·N + b·N + n of r meets ω[b, i, j, n] for output b·(F_out/B) + j.
    omega = ops.transpose(ops.cast(omega, x.dtype), (1, 0, 3, 2))  # (I, B, N, J)
    combine = ops.expand_dims(omega, 3) * _eye(b, x.dtype, (1, b, 1, b, 1))  # (I, B, N, B, J)
    return ops.matmul(r, ops.reshape(combine, (f_in * b * n, -1)))


def convolve(x, phi, coefficients, combination, path, spec):
    """The structured convolution's linear map (no bias) by one path.

    Args:
        x: `(batch, *spatial, F_in)`; the "fft" path needs static spatial sizes.
        phi: `(B, *kernel_size, N)` in `x`'s dtype.
        coefficients: `(omega,)` for the full and depthwise combinations,
            `(beta, lam)` for the separable one.
        combination: one of `COMBINATIONS`.
        path: one of `PATHS`.
        spec: the `ConvSpec`.

    Returns:
        `(batch, *out, F_out)`.
    """
    separable = combination == "separable"
    if path == "fft" and None in x.shape[1:-1]:
        # A graph traced with relaxed shapes: same result by the direct path.
        path = "basis" if separable else "kernel"
    fft_args = dict(strides=spec.strides, padding=spec.padding, dilation_rate=spec.dilation_rate)
    if combination == "depthwise":
        if path == "basis":
            return depthwise_basis_first(x, phi, *coefficients, spec)
        kernel = depthwise_kernel(phi, *coefficients)
        if path == "fft":
            return fft_depthwise_conv(x, kernel, **fft_args)
        return depthwise_multiplier(x, kernel, spec)
    if path == "basis" or (path == "fft" and separable):
        if separable:
            return separable_basis_first(x, phi, *coefficients, spec, fft=path == "fft")
        return full_basis_first(x, phi, *coefficients, spec)
    kernel = separable_kernel(phi, *coefficients) if separable else full_kernel(phi, *coefficients)
    if path == "fft":
        return fft_conv(x, kernel, **fft_args)
    return ops.conv(x, kernel, **spec.conv_kwargs())
