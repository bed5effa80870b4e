"""Sampling grid of a kernel."""

import keras
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
    """Offsets of every kernel pixel from the kernel centre.

    x = col - (kw - 1) / 2 and y = row - (kh - 1) / 2, so an odd size has its
    centre on a pixel and an even size between pixels (half-integer offsets).

    Args:
        kernel_size: pair of ints `(kh, kw)`.
        dtype: dtype of the returned tensors.

    Returns:
        Tuple `(x, y)` of tensors of shape `(kh, kw)`.
    """
    kh, kw = kernel_size
    rows = ops.arange(kh, dtype=dtype) - (kh - 1) / 2.0
    cols = ops.arange(kw, dtype=dtype) - (kw - 1) / 2.0
    y, x = ops.meshgrid(rows, cols, indexing="ij")
    return x, y


def rotate_and_shift(x, y, offset, theta):
    """Rotated, shifted coordinates of the grid for every basis kernel.

    u = x cos θ + y sin θ, v = -x sin θ + y cos θ; y₁ = u - μ₁, y₂ = v - μ₂.

    Args:
        x, y: grid of shape `(kh, kw)` from `sampling_grid`.
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
