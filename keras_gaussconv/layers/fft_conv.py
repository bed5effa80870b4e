"""Convolution through the FFT, with the exact semantics of `keras.ops.conv`.

Correlating a padded input of length P with a kernel of length K needs no
extra zero padding: the circular convolution of length L >= P of the input
with the flipped kernel equals the linear one at indices K - 1 … P - 1, which
are exactly the 'valid' outputs. 'same' padding, strides (subsampling the
stride-1 result) and dilation (zeros inserted in the kernel) reduce to that.
The cost no longer grows with the kernel area: per output channel it is one
inverse FFT and F_in complex multiply-adds per frequency.

All functions take channels_last tensors.
"""

import math

import keras
from keras import ops


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
    """(kh, kw, …) → (d₁(kh-1)+1, d₂(kw-1)+1, …) with zeros between the taps."""
    for axis, d in enumerate(rate):
        if d == 1:
            continue
        moved = ops.moveaxis(kernel, axis, 0)
        k = moved.shape[0]
        zeros = ops.zeros((k, d - 1, *moved.shape[1:]), dtype=kernel.dtype)
        spread = ops.reshape(ops.concatenate([moved[:, None], zeros], axis=1), (k * d, *moved.shape[1:]))
        kernel = ops.moveaxis(spread[: d * (k - 1) + 1], 0, axis)
    return kernel


def _same_padding(size, extent, stride):
    """TensorFlow's 'same' padding (before, after) for one spatial axis."""
    total = max((-(-size // stride) - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


def _complex_conj(z):
    return z[0], -z[1]


def _rfft2(x, lengths):
    """Real (…, H, W) → spectrum (re, im) of layout (…, W//2+1, Lh) (frequency of H last)."""
    lh, lw = lengths
    re, im = ops.rfft(x, fft_length=lw)
    re, im = ops.swapaxes(re, -1, -2), ops.swapaxes(im, -1, -2)
    pad = [(0, 0)] * (len(re.shape) - 1) + [(0, lh - re.shape[-1])]
    return ops.fft((ops.pad(re, pad), ops.pad(im, pad)))


def _irfft2(spectrum, lengths):
    """Inverse of `_rfft2`: (re, im) (…, Lw//2+1, Lh) → real (…, Lh, Lw)."""
    lh, lw = lengths
    # ifft(z) = conj(fft(conj(z))) / n: keras.ops has no 1-D inverse complex FFT.
    re, im = _complex_conj(ops.fft(_complex_conj(spectrum)))
    re, im = ops.swapaxes(re, -1, -2) / lh, ops.swapaxes(im, -1, -2) / lh
    return ops.irfft((re, im), fft_length=lw)


def _pad_input(x, kernel_extent, strides, padding):
    if padding != "same":
        return x
    pads = [_same_padding(x.shape[1 + i], kernel_extent[i], strides[i]) for i in range(2)]
    return ops.pad(x, [(0, 0), pads[0], pads[1], (0, 0)])


def _spectra(x, kernel, strides, padding, dilation_rate):
    """Common front end: padded input and flipped kernel as spectra, and how to crop."""
    kernel = _dilate(kernel, dilation_rate)
    kh, kw = kernel.shape[:2]
    x = _pad_input(x, (kh, kw), strides, padding)
    ph, pw = x.shape[1], x.shape[2]
    lengths = (fft_length(ph), fft_length(pw))
    image = _rfft2(ops.transpose(x, (0, 3, 1, 2)), lengths)  # (N, C, Wf, Lh)
    flipped = ops.flip(ops.flip(kernel, 0), 1)
    rest = tuple(range(2, len(kernel.shape)))
    filt = _rfft2(ops.transpose(flipped, (*rest, 0, 1)), lengths)  # (C, [O,] Wf, Lh)

    def finish(spectrum):
        """(N, O, Wf, Lh) spectrum → (N, H_out, W_out, O) correlation."""
        full = _irfft2(spectrum, lengths)
        out = full[:, :, kh - 1 : ph : strides[0], kw - 1 : pw : strides[1]]
        return ops.transpose(out, (0, 2, 3, 1))

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
def fft_conv2d(x, kernel, strides, padding, dilation_rate):
    """`ops.conv(x, kernel, ...)` (channels_last) computed through the FFT.

    Args:
        x: `(N, H, W, C)` with static H, W.
        kernel: `(kh, kw, C, O)`.
        strides, dilation_rate: pairs of ints; padding: "valid" or "same".

    Returns:
        `(N, H_out, W_out, O)`.
    """
    (xr, xi), (kr, ki), finish = _spectra(x, kernel, strides, padding, dilation_rate)
    # Σ_c X[n, c, f] K[c, o, f] as one batched matmul over the frequencies f,
    # complex product with three real products (Gauss).
    xr, xi = (ops.transpose(t, (2, 3, 0, 1)) for t in (xr, xi))  # (Wf, Lh, N, C)
    kr, ki = (ops.transpose(t, (2, 3, 0, 1)) for t in (kr, ki))  # (Wf, Lh, C, O)
    t1, t2 = ops.matmul(xr, kr), ops.matmul(xi, ki)
    t3 = ops.matmul(xr + xi, kr + ki)
    yr, yi = (ops.transpose(t, (2, 3, 0, 1)) for t in (t1 - t2, t3 - t1 - t2))
    return finish((yr, yi))


@_in_float32
def fft_depthwise_conv2d(x, kernel, strides, padding, dilation_rate):
    """`ops.depthwise_conv(x, kernel, ...)` for a `(kh, kw, C)` kernel (multiplier 1), via the FFT."""
    (xr, xi), (kr, ki), finish = _spectra(x, kernel, strides, padding, dilation_rate)
    return finish((xr * kr - xi * ki, xr * ki + xi * kr))


__all__ = ["fft_conv2d", "fft_depthwise_conv2d", "fft_length"]
