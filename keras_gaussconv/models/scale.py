"""Scale-channel networks: Lindeberg's Gaussian derivative networks (GaussDerNet)."""

import keras

from keras_gaussconv.layers.gaussian_derivative_conv import GaussianDerivativeConv2D
from keras_gaussconv.layers.scale_channels import ScaleChannels, ScalePooling
from keras_gaussconv.layers.validation import check_fraction, check_positive_float, check_positive_int


def gaussian_derivative_network(
    input_shape, num_classes, scales=(1.0, 2.0, 4.0), filters=(8, 16, 16, 32), order=2, sigma=1.0,
    sigma_ratio=2**0.5, kernel_size=None, scale_dropout=0.0, discretization="sampled", momentum=0.9,
    name="gaussian_derivative_network",
):
    """A scale-covariant classifier (Lindeberg, 2022): scale channels throughout, no subsampling.

    Block l = 0 … L−1: `ScaleChannels` of a `GaussianDerivativeConv2D`
    (`filters[l]`, derivatives up to `order`, `scale_normalized=True`, σ
    initialised to sigma · sigma_ratio^l, offsets to 0, 'same' padding) →
    `BatchNormalization` → ReLU; block 0 sees the image in every channel,
    the others their own channel. Then one more scale-channel layer to
    `num_classes`, the spatial maximum in each channel, `ScalePooling("max",
    dropout=scale_dropout)` over the channels and a softmax. All channels
    share every weight, so a digit magnified sⱼ / sᵢ times moves its
    response from channel i to channel j.

    Args:
        input_shape: `(height, width, channels)`, known sizes.
        num_classes: outputs of the softmax.
        scales: the channels' sᵢ.
        filters: channels of the blocks, one int per block.
        order: maximal derivative order K of every layer.
        sigma: initial σ of block 0 (pixels, at s = 1).
        sigma_ratio: σ grows by it from block to block.
        kernel_size: None (default: as large as the input, FFT path) or an
            odd int holding the largest σ·sᵢ (±4σ·sᵢ).
        scale_dropout: `ScalePooling`'s scale-channel dropout in training.
        discretization: of every layer (`GaussianDerivativeConv2D`);
            "discrete" (the discrete analogue, right at the small σ·sᵢ of the
            fine channels) has no offsets or θ.
        momentum: of the batch normalisations' moving statistics, in [0, 1)
            (Keras' 0.99 lags behind short trainings).
        name: of the model.

    Returns:
        A functional `keras.Model` from images to class probabilities.
    """
    sigma, sigma_ratio = check_positive_float("sigma", sigma), check_positive_float("sigma_ratio", sigma_ratio)
    scale_dropout, momentum = check_fraction("scale_dropout", scale_dropout), check_fraction("momentum", momentum)
    sizes = [*(check_positive_int("filters", width) for width in filters), check_positive_int("num_classes", num_classes)]
    inputs = keras.Input(input_shape)
    x = inputs
    for block, width in enumerate(sizes):
        conv = GaussianDerivativeConv2D(
            width, kernel_size, order=order, padding="same", scale_normalized=True,
            sigma_initializer=keras.initializers.Constant(sigma * sigma_ratio**block),
            offset_initializer="zeros", use_bias=block == len(filters), name=f"conv{block}",
            discretization=discretization,
        )
        x = ScaleChannels(conv, scales=scales, name=f"scales{block}")(x)  # (batch, S, H, W, width)
        if block < len(filters):
            x = keras.layers.BatchNormalization(momentum=momentum, name=f"norm{block}")(x)
            x = keras.layers.Activation("relu", name=f"relu{block}")(x)
    return keras.Model(inputs, _readout(x, scale_dropout), name=name)


def _readout(x, scale_dropout):
    """Class maps `(batch, S, H, W, classes)` → probabilities: spatial max per channel, max over channels."""
    x = keras.layers.TimeDistributed(keras.layers.GlobalMaxPooling2D(), name="spatial_max")(x)  # (batch, S, classes)
    x = ScalePooling("max", dropout=scale_dropout, name="scale_max")(x)
    return keras.layers.Activation("softmax", name="softmax")(x)
