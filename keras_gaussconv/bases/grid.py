"""Sampling grid of a kernel."""

import keras
import numpy as np
from keras import ops

from keras_gaussconv.bases.autodiff import cos, sin, with_gradient


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


def numpy_grid(kernel_size, dtype="float32"):
    """`sampling_grid` as NumPy arrays: constants that the bases fold before any graph operation."""
    axes = np.meshgrid(*[np.arange(k) - (k - 1) / 2.0 for k in kernel_size], indexing="ij")
    return tuple(a.astype(keras.backend.standardize_dtype(dtype)) for a in reversed(axes))


def array_module(*grids):
    """NumPy where every grid is a NumPy array (`numpy_grid`: arranged before any graph
    operation, one constant each), else `keras.ops`; both spell stack and reshape alike."""
    return np if all(isinstance(g, np.ndarray) for g in grids) else ops


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
    return tuple(ops.convert_to_tensor(a, dtype) for a in numpy_grid(kernel_size, dtype))


def rotated_coordinates(x, y, offset, theta):
    """Rotated, shifted coordinates of the grid for every basis kernel, stacked, with their analytic gradient.

    u = c (x, y) + s (y, −x) with c = cos θ, s = sin θ (u₁ = x c + y s, u₂ = −x s + y c);
    y_a = u_a − μ_a. Gradient: ∂y_a/∂μ_a = −1, ∂y/∂θ = (u₂, −u₁): a few operations where
    autodiff would differentiate every broadcast and slice.

    Args:
        x: grid of shape `(kh, kw)` from `sampling_grid` (or `numpy_grid`: NumPy
            grids are stacked before any graph operation).
        y: grid of shape `(kh, kw)`, likewise.
        offset: `(B, N, 2)` shifts (μ₁, μ₂).
        theta: `(B, N)` orientations in radians.

    Returns:
        Tensor `(2, B, kh, kw, N)`: y₁, y₂.
    """
    offset, theta = as_tensors(x, offset, theta)
    n = theta.shape[-1]
    xp = array_module(x, y)
    dtype = keras.backend.standardize_dtype(x.dtype)
    grid = ops.convert_to_tensor(xp.reshape(xp.stack([x, y]), (2, 1, *x.shape, 1)), dtype)
    turned = ops.convert_to_tensor(xp.reshape(xp.stack([y, -x]), (2, 1, *x.shape, 1)), dtype)
    sign = ops.convert_to_tensor(np.array([1.0, -1.0]).reshape(2, 1, 1, 1, 1), dtype)

    # The constants are arguments, not captured: JAX's custom gradients cannot close over a value made while tracing.
    @with_gradient
    def coordinates(offset, theta, grid, turned, sign):
        shape = (1, -1, 1, 1, n)
        u = ops.reshape(cos(theta), shape) * grid + ops.reshape(sin(theta), shape) * turned
        shifted = u - ops.reshape(ops.transpose(offset, (2, 0, 1)), (2, -1, 1, 1, n))

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream  # PyTorch passes it by name
            d_offset = -ops.transpose(ops.sum(upstream, axis=(2, 3)), (1, 2, 0))
            d_theta = ops.sum(upstream * ops.flip(u, axis=0) * sign, axis=(0, 2, 3))
            return d_offset, d_theta, None, None, None

        return shifted, grad

    return coordinates(offset, theta, grid, turned, sign)


def rotate_and_shift(x, y, offset, theta):
    """`rotated_coordinates` as a tuple `(y1, y2)`, each of shape `(B, kh, kw, N)`."""
    return tuple(ops.unstack(rotated_coordinates(x, y, offset, theta), axis=0))


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
    a = ops.where(small, 1.0 - angle2 / 6.0, sin(angle) / angle)
    b = ops.where(small, 0.5 - angle2 / 24.0, 2.0 * ops.square(sin(angle / 2.0)) / ops.square(angle))
    zero = ops.zeros_like(w1)
    cross = ops.stack(
        [ops.stack([zero, -w3, w2], -1), ops.stack([w3, zero, -w1], -1), ops.stack([-w2, w1, zero], -1)], -2
    )
    eye = ops.cast(ops.eye(3), rotation.dtype)
    # einsum, not matmul: Keras' matmul computes float64 in float32 on PyTorch (its dtype rules).
    return eye + a[..., None, None] * cross + b[..., None, None] * ops.einsum("...ij,...jk->...ik", cross, cross)


def rotated_coordinates_3d(x, y, z, offset, rotation):
    """Rotated, shifted coordinates of a 3-D grid for every basis kernel, stacked.

    u = Rᵀ (x, y, z) with R = `rotation_matrix(ω)`, then y_a = u_a - μ_a. A
    rotation vector (0, 0, θ) turns the (x, y) plane by θ exactly as the 2-D
    `rotated_coordinates`.

    Args:
        x: grid of shape `(kd, kh, kw)` from `sampling_grid`.
        y: grid of shape `(kd, kh, kw)` from `sampling_grid`.
        z: grid of shape `(kd, kh, kw)` from `sampling_grid`.
        offset: `(B, N, 3)` shifts (μ₁, μ₂, μ₃).
        rotation: `(B, N, 3)` rotation vectors ω.

    Returns:
        Tensor `(3, B, kd, kh, kw, N)`: y₁, y₂, y₃.
    """
    offset, rotation = as_tensors(x, offset, rotation)
    xp = array_module(x, y, z)
    grid = ops.convert_to_tensor(xp.stack([x, y, z], axis=0), keras.backend.standardize_dtype(x.dtype))  # (3, kd, kh, kw)
    # u_a = Σ_c R[c, a] (x, y, z)_c: one contraction (an eager backend's cost is its op count).
    u = ops.einsum("cdhw,bnca->abdhwn", grid, rotation_matrix(rotation))
    return u - ops.reshape(ops.transpose(offset, (2, 0, 1)), (3, -1, 1, 1, 1, offset.shape[1]))


def rotate_and_shift_3d(x, y, z, offset, rotation):
    """`rotated_coordinates_3d` as a tuple `(y1, y2, y3)`, each of shape `(B, kd, kh, kw, N)`."""
    return tuple(ops.unstack(rotated_coordinates_3d(x, y, z, offset, rotation), axis=0))
