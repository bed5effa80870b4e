"""Moved to `keras_gaussconv.ops.fft` (any rank); this module keeps 0.1's import path."""

from keras_gaussconv.ops.fft import (  # noqa: F401
    fft_conv,
    fft_conv2d,
    fft_depthwise_conv,
    fft_depthwise_conv2d,
    fft_length,
)
