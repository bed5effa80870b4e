"""The FFT path (`keras_gaussconv.ops.fft`) against SciPy's direct correlation, and its transform lengths."""

import functools

import keras
import numpy as np
import pytest
from scipy.signal import correlate

from helpers import rng, same_padding, to_numpy
from keras_gaussconv.ops.fft import fft_conv, fft_depthwise_conv, fft_length, fft_lengths

pytestmark = pytest.mark.core

CASES = [  # spatial, kernel size, strides, padding, dilation
    ((13,), (5,), (1,), "same", (1,)),
    ((5,), (11,), (1,), "same", (1,)),  # kernel longer than the input and its padding
    ((12, 11), (5, 4), (2, 3), "same", (1, 1)),  # stride padding (1, 2) and (2, 2): uneven
    ((9, 8), (3, 2), (1, 1), "same", (2, 3)),
    ((10, 9), (4, 3), (3, 2), "valid", (1, 1)),
    ((6, 5, 7), (3, 4, 2), (1, 2, 1), "same", (1, 1, 1)),
]


def numpy_correlation(x, kernel, strides, padding, dilation):
    """Σ_c x ⋆ kernel[..., c, o] by SciPy on the dilated kernel, padded by Keras' 'same' rule, subsampled."""
    dilated = np.zeros([d * (k - 1) + 1 for k, d in zip(kernel.shape, dilation)] + list(kernel.shape[len(dilation):]))
    dilated[tuple(slice(None, None, d) for d in dilation)] = kernel
    if padding == "same":
        x = same_padding(x, dilated.shape[: len(strides)], strides)
    out = np.stack(
        [
            sum(correlate(image[..., c], dilated[..., c, o], mode="valid") for c in range(x.shape[-1]))
            for image in x
            for o in range(kernel.shape[-1])
        ]
    )
    out = out.reshape(x.shape[0], kernel.shape[-1], *out.shape[1:])[(slice(None), slice(None), *[slice(None, None, s) for s in strides])]
    return np.moveaxis(out, 1, -1)


def run(function, x, kernel, *settings):
    """`function(x, kernel, *settings)` in float32; on JAX compiled once (eager JAX compiles each op)."""
    call = functools.partial(function, strides=settings[0], padding=settings[1], dilation_rate=settings[2])
    if keras.backend.backend() == "jax":
        import jax

        call = jax.jit(call)
    return to_numpy(call(x.astype("float32"), kernel.astype("float32")))


@pytest.mark.parametrize("case", range(len(CASES)))
def test_fft_conv_equals_the_direct_correlation(case):
    spatial, kernel_size, strides, padding, dilation = CASES[case]
    x = rng().normal(size=(2, *spatial, 3))
    kernel = rng().normal(size=(*kernel_size, 3, 4))
    expected = numpy_correlation(x, kernel, strides, padding, dilation)
    got = run(fft_conv, x, kernel, strides, padding, dilation)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5 * np.abs(expected).max())
    # Depthwise, multiplier 2: output channel c·2 + m correlates channel c with kernel[..., c, m].
    depthwise = kernel[..., :2]
    got = run(fft_depthwise_conv, x, depthwise, strides, padding, dilation)
    expected = np.concatenate(
        [numpy_correlation(x[..., c : c + 1], depthwise[..., c : c + 1, :], strides, padding, dilation) for c in range(3)],
        axis=-1,
    )
    np.testing.assert_allclose(got, expected, atol=1e-5 * np.abs(expected).max())


def test_same_padding_transforms_at_about_n_plus_half_the_kernel():
    # 32 samples, 49 taps, 'same': padding (24, 24); L >= 32 + 24 = 56 → 60 (2²·3·5), not 32 + 48 = 80.
    assert fft_lengths((32, 32), (49, 49), (1, 1), "same") == (60, 60)
    assert fft_lengths((12,), (5,), (2,), "same") == (fft_length(12 + 2),)  # padding (1, 2)
    assert fft_lengths((40,), (9,), (1,), "valid") == (40,)  # nothing to pad: the input's length
    assert fft_lengths((3,), (9,), (1,), "same") == (9,)  # never shorter than the kernel
