"""Sampling grid of a kernel."""

import keras
import numpy as np
from keras import ops


def as_tensors(like, *values):
    """`values` as tensors of `like`'s dtype where they are NumPy arrays, lists or numbers.

    The bases take NumPy parameters too; on PyTorch an ndarray cannot meet a tensor in
    `*` or `-`, so they are converted first. Tensors and variables pass unchanged.
    """
    dtype = keras.backend.standardize_dtype(like.dtype)
    return tuple(
        v if ops.is_tensor(v) or isinstance(v, keras.Variable) else ops.convert_to_tensor(v, dtype)
        for v in values
    )


def sampling_grid(kernel_size, dtype="float32"):
    """Offsets of every kernel tap from the kernel centre, for a kernel of rank 1, 2 or 3.

    Along an axis of size k the offsets are index - (k - 1) / 2, so an odd
    size has its centre on a tap and an even size between taps. x runs along
    the last axis (columns), y along the one before (rows), z along the first
    of a 3-D kernel (depth).

    Args:
        kernel_size: tuple of ints, `(k,)`, `(kh, kw)` or `(kd, kh, kw)`.
        dtype: dtype of the returned tensors.

    Returns:
        Tuple `(x,)`, `(x, y)` or `(x, y, z)` of tensors of shape `kernel_size`.
    """
    # Constants, made with NumPy: no graph operations, and tracers that replace
    # `arange` (jax2onnx's) see none.
    axes = np.meshgrid(*[np.arange(k) - (k - 1) / 2.0 for k in kernel_size], indexing="ij")
    return tuple(ops.convert_to_tensor(a, dtype) for a in reversed(axes))


def rotate_and_shift(x, y, offset, theta):
    """Rotated, shifted coordinates of the grid for every basis kernel.

    u = x cos θ + y sin θ, v = -x sin θ + y cos θ; y₁ = u - μ₁, y₂ = v - μ₂.

    Args:
        x: grid of shape `(kh, kw)` from `sampling_grid`.
        y: grid of shape `(kh, kw)` from `sampling_grid`.
        offset: `(B, N, 2)` shifts (μ₁, μ₂).
        theta: `(B, N)` orientations in radians.

    Returns:
        Tuple `(y1, y2)`, each of shape `(B, kh, kw, N)`.
    """
    offset, theta = as_tensors(x, offset, theta)
    x = x[None, :, :, None]
    y = y[None, :, :, None]
    cos = ops.cos(theta)[:, None, None, :]
    sin = ops.sin(theta)[:, None, None, :]
    y1 = x * cos + y * sin - offset[:, None, None, :, 0]
    y2 = -x * sin + y * cos - offset[:, None, None, :, 1]
    return y1, y2


def rotation_matrix(rotation):
    """Rotation matrices from rotation vectors ω (axis ω/|ω|, angle |ω| in radians).

    Rodrigues: R = I + a [ω]ₓ + b [ω]ₓ², a = sin|ω|/|ω|, b = 2 sin²(|ω|/2)/|ω|²,
    with their Taylor series 1 - |ω|²/6 and 1/2 - |ω|²/24 near ω = 0, where
    the gradient is then finite (the identity is the usual initial value).

    Args:
        rotation: `(..., 3)` rotation vectors.

    Returns:
        `(..., 3, 3)` matrices; column c of R is the rotated c-th axis.
    """
    w1, w2, w3 = rotation[..., 0], rotation[..., 1], rotation[..., 2]
    angle2 = w1 * w1 + w2 * w2 + w3 * w3
    small = angle2 < 1e-6
    # Double `where`: the exact branch never sees 0, so its gradient stays finite too.
    angle = ops.sqrt(ops.where(small, ops.ones_like(angle2), angle2))
    a = ops.where(small, 1.0 - angle2 / 6.0, ops.sin(angle) / angle)
    b = ops.where(small, 0.5 - angle2 / 24.0, 2.0 * ops.square(ops.sin(angle / 2.0)) / ops.square(angle))
    zero = ops.zeros_like(w1)
    cross = ops.stack(
        [ops.stack([zero, -w3, w2], -1), ops.stack([w3, zero, -w1], -1), ops.stack([-w2, w1, zero], -1)], -2
    )
    eye = ops.cast(ops.eye(3), rotation.dtype)
    return eye + a[..., None, None] * cross + b[..., None, None] * ops.matmul(cross, cross)


def rotate_and_shift_3d(x, y, z, offset, rotation):
    """Rotated, shifted coordinates of a 3-D grid for every basis kernel.

    u = Rᵀ (x, y, z) with R = `rotation_matrix(ω)`, then y_a = u_a - μ_a. A
    rotation vector (0, 0, θ) turns the (x, y) plane by θ exactly as the 2-D
    `rotate_and_shift`.

    Args:
        x: grid of shape `(kd, kh, kw)` from `sampling_grid`.
        y: grid of shape `(kd, kh, kw)` from `sampling_grid`.
        z: grid of shape `(kd, kh, kw)` from `sampling_grid`.
        offset: `(B, N, 3)` shifts (μ₁, μ₂, μ₃).
        rotation: `(B, N, 3)` rotation vectors ω.

    Returns:
        Tuple `(y1, y2, y3)`, each of shape `(B, kd, kh, kw, N)`.
    """
    offset, rotation = as_tensors(x, offset, rotation)
    grid = ops.stack([x, y, z], axis=0)  # (3, kd, kh, kw)
    # u_a = Σ_c R[c, a] (x, y, z)_c: one contraction (an eager backend's cost is its op count).
    u = ops.einsum("cdhw,bnca->abdhwn", grid, rotation_matrix(rotation))
    return tuple(ops.unstack(u - ops.transpose(offset, (2, 0, 1))[:, :, None, None, None, :], axis=0))
