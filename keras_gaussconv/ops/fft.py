"""Convolution through the FFT, any rank, with the exact semantics of `keras.ops.conv`.

Correlating n samples, padded by b before and a after, with a kernel of
length K needs no padding at all: the circular convolution of length L of the
input with the flipped kernel reads sample (i + t − b) mod L for output i and
tap t, and wraps onto a sample only where the linear correlation reads padding
beyond b or a. So L >= max(K, n + max(b, a)) gives every output exactly, at
indices K − 1 − b … n + a − 1 ('same': L ≈ n + K/2, not n + K). Strides
subsample the stride-1 result; dilation inserts zeros in the kernel.
The cost no longer grows with the kernel size: per output channel it is one
inverse FFT and F_in complex multiply-adds per frequency.

All functions take channels_last tensors with r = 1, 2 or 3 spatial axes.
"""

import math

import keras
from keras import ops

from keras_gaussconv.ops.conv_spec import paddings


def fft_length(size):
    """The smallest 2^a·3^b·5^c >= size (fast FFT lengths)."""
    best = 2 ** math.ceil(math.log2(max(size, 1)))
    for threes in range(0, int(math.log(best, 3)) + 2):
        for fives in range(0, int(math.log(best, 5)) + 2):
            odd = 3**threes * 5**fives
            if odd > best:
                break
            twos = max(0, math.ceil(math.log2(size / odd)))
            best = min(best, odd * 2**twos)
    return best


def _dilate(kernel, rate):
    """(k₁, …, k_r, …) → (d₁(k₁-1)+1, …, d_r(k_r-1)+1, …) with zeros between the taps."""
    for axis, d in enumerate(rate):
        if d == 1:
            continue
        moved = ops.moveaxis(kernel, axis, 0)
        k = moved.shape[0]
        zeros = ops.zeros((k, d - 1, *moved.shape[1:]), dtype=kernel.dtype)
        spread = ops.reshape(ops.concatenate([moved[:, None], zeros], axis=1), (k * d, *moved.shape[1:]))
        kernel = ops.moveaxis(spread[: d * (k - 1) + 1], 0, axis)
    return kernel


def _complex_conj(z):
    return z[0], -z[1]


def _rotate(t, rank):
    """Moves the last of the `rank` trailing axes in front of the others."""
    return ops.moveaxis(t, -1, -rank) if rank > 1 else t


def _unrotate(t, rank):
    return ops.moveaxis(t, -rank, -1) if rank > 1 else t


def _rfftn(x, lengths):
    """Real (…, n₁, …, n_r) → spectrum (re, im) of the padded lengths L.

    The last axis is transformed with a real FFT, then each other axis in
    turn is rotated last and transformed with a complex FFT; the layout of
    the frequencies is (…, L_r//2+1, L₁, …, L_{r-1}) rotated r - 1 times,
    the same for every tensor, which is all the products need.
    """
    rank = len(lengths)
    re, im = ops.rfft(x, fft_length=lengths[-1])
    for length in reversed(lengths[:-1]):
        re, im = _rotate(re, rank), _rotate(im, rank)
        pad = [(0, 0)] * (len(re.shape) - 1) + [(0, length - re.shape[-1])]
        re, im = ops.fft((ops.pad(re, pad), ops.pad(im, pad)))
    return re, im


def _irfftn(spectrum, lengths):
    """Inverse of `_rfftn`: spectrum → real (…, L₁, …, L_r)."""
    rank = len(lengths)
    re, im = spectrum
    for length in lengths[:-1]:
        # ifft(z) = conj(fft(conj(z))) / n: keras.ops has no 1-D inverse complex FFT.
        re, im = _complex_conj(ops.fft(_complex_conj((re, im))))
        re, im = _unrotate(re / length, rank), _unrotate(im / length, rank)
    return ops.irfft((re, im), fft_length=lengths[-1])


def _lengths(spatial, extent, pads):
    return tuple(fft_length(max(e, n + max(p))) for n, e, p in zip(spatial, extent, pads))


def fft_lengths(spatial, extent, strides, padding):
    """The transform length of each axis: the smallest fast L >= max(K, n + max(b, a)) (see the module)."""
    return _lengths(spatial, extent, paddings(spatial, extent, strides, padding))


def _spectra(x, kernel, strides, padding, dilation_rate):
    """Common front end: input and flipped kernel as spectra, and how to crop."""
    rank = len(strides)
    kernel = _dilate(kernel, dilation_rate)
    extent = kernel.shape[:rank]
    spatial = x.shape[1 : 1 + rank]
    pads = paddings(spatial, extent, strides, padding)
    lengths = _lengths(spatial, extent, pads)
    image = _rfftn(ops.moveaxis(x, -1, 1), lengths)  # (N, C, *frequencies)
    flipped = ops.flip(kernel, tuple(range(rank)))
    rest = tuple(range(rank, len(kernel.shape)))
    filt = _rfftn(ops.transpose(flipped, (*rest, *range(rank))), lengths)  # (C, [O,] *frequencies)

    def finish(spectrum):
        """(N, O, *frequencies) spectrum → (N, *out, O) correlation."""
        full = _irfftn(spectrum, lengths)
        crop = tuple(slice(k - 1 - b, n + a, s) for k, n, (b, a), s in zip(extent, spatial, pads, strides))
        return ops.moveaxis(full[(slice(None), slice(None), *crop)], 1, -1)

    return image, filt, finish


def _in_float32(function):
    """FFTs exist for float32 and float64 only: half precision (mixed-precision
    policies) is computed in float32 and the result cast back."""

    def wrapped(x, kernel, *args, **kwargs):
        dtype = keras.backend.standardize_dtype(x.dtype)
        if dtype in ("float32", "float64"):
            return function(x, kernel, *args, **kwargs)
        out = function(ops.cast(x, "float32"), ops.cast(kernel, "float32"), *args, **kwargs)
        return ops.cast(out, dtype)

    wrapped.__doc__ = function.__doc__
    wrapped.__name__ = function.__name__
    return wrapped


@_in_float32
def fft_conv(x, kernel, strides, padding, dilation_rate):
    """`ops.conv(x, kernel, ...)` (channels_last) computed through the FFT.

    Args:
        x: `(N, *spatial, C)` with r static spatial sizes.
        kernel: `(*kernel_size, C, O)`.
        strides, dilation_rate: r ints each; padding: "valid" or "same".

    Returns:
        `(N, *out, O)`.
    """
    (xr, xi), (kr, ki), finish = _spectra(x, kernel, strides, padding, dilation_rate)
    # Σ_c X[n, c, f] K[c, o, f] as one batched matmul over the frequencies f,
    # complex product with three real products (Gauss).
    freq = tuple(range(2, len(xr.shape)))
    to_matrices, back = (*freq, 0, 1), (len(freq), len(freq) + 1, *range(len(freq)))
    xr, xi, kr, ki = (ops.transpose(t, to_matrices) for t in (xr, xi, kr, ki))  # (*F, N, C), (*F, C, O)
    t1, t2 = ops.matmul(xr, kr), ops.matmul(xi, ki)
    t3 = ops.matmul(xr + xi, kr + ki)
    yr, yi = (ops.transpose(t, back) for t in (t1 - t2, t3 - t1 - t2))
    return finish((yr, yi))


@_in_float32
def fft_depthwise_conv(x, kernel, strides, padding, dilation_rate):
    """Per-channel correlation via the FFT: `ops.depthwise_conv` semantics.

    Args:
        x: `(N, *spatial, C)` with r static spatial sizes.
        kernel: `(*kernel_size, C)` (multiplier 1) or `(*kernel_size, C, M)`
            (output channel c·M + m, as `ops.depthwise_conv`).
    """
    rank = len(strides)
    (xr, xi), (kr, ki), finish = _spectra(x, kernel, strides, padding, dilation_rate)
    if len(kernel.shape) == rank + 1:
        return finish((xr * kr - xi * ki, xr * ki + xi * kr))
    xr, xi = xr[:, :, None], xi[:, :, None]  # (N, C, 1, *F) against (C, M, *F)
    yr, yi = xr * kr - xi * ki, xr * ki + xi * kr
    flat = (-1, yr.shape[1] * yr.shape[2], *yr.shape[3:])
    return finish((ops.reshape(yr, flat), ops.reshape(yi, flat)))


# The 0.1 names, kept for code that imported them.
fft_conv2d = fft_conv
fft_depthwise_conv2d = fft_depthwise_conv

__all__ = ["fft_conv", "fft_conv2d", "fft_depthwise_conv", "fft_depthwise_conv2d", "fft_length", "fft_lengths"]
