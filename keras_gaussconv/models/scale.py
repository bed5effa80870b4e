"""Scale-channel networks: Lindeberg's Gaussian derivative networks (GaussDerNet), their
residual form (GaussDerResNet), and a size-normalised Gaussian-derivative CNN."""

import keras

from keras_gaussconv.layers.gaussian_derivative_conv import GaussianDerivativeConv2D, GaussianDerivativeDepthwiseConv2D
from keras_gaussconv.layers.scale_channels import ScaleChannels, ScalePooling, check_scales
from keras_gaussconv.layers.size_normalization import SizeNormalization
from keras_gaussconv.layers.validation import check_fraction, check_positive_float, check_positive_int


def gaussian_derivative_network(
    input_shape, num_classes, scales=(1.0, 2.0, 4.0), filters=(8, 16, 16, 32), order=2, sigma=1.0,
    sigma_ratio=2**0.5, kernel_size=None, scale_dropout=0.0, discretization="sampled", momentum=0.9,
    scaled_kernels=False, name="gaussian_derivative_network",
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
        scaled_kernels: `ScaleChannels`' (channel i's kernels cropped to
            kernel_size · sᵢ / max(s): each channel's cost follows its own σ·sᵢ).
        name: of the model.

    Returns:
        A functional `keras.Model` from images to class probabilities.
    """
    sizes, sigma = _checked(filters, num_classes, sigma, scale_dropout, momentum)
    settings = (sigma, check_positive_float("sigma_ratio", sigma_ratio), scales, scaled_kernels)
    make = dict(kernel_size=kernel_size, order=order, discretization=discretization)
    inputs = keras.Input(input_shape)
    x = inputs
    for block, width in enumerate(sizes):
        last = block == len(filters)
        x = _scale_conv(width, block, f"{block}", settings, use_bias=last, **make)(x)
        if not last:
            x = _norm_relu(x, f"{block}", momentum)
    return keras.Model(inputs, _readout(x, scale_dropout), name=name)


def gaussian_derivative_resnet(
    input_shape, num_classes, scales=(1.0, 2.0, 4.0), filters=(8, 16, 16, 32), order=2, sigma=1.0,
    sigma_ratio=2**0.5, kernel_size=None, separable=False, scale_dropout=0.0, discretization="sampled",
    momentum=0.9, scaled_kernels=False, name="gaussian_derivative_resnet",
):
    """`gaussian_derivative_network` with residual blocks (GaussDerResNet, Perzanowski & Lindeberg).

    Block 0 is the plain network's (scale channels of a Gaussian-derivative
    layer → `BatchNormalization` → ReLU); every later block l, of width
    w = `filters[l]`, is residual:

        y = BN(C_l(ReLU(BN(C_l(x))))),   out = ReLU(y + P x)

    with C_l a `ScaleChannels` Gaussian-derivative layer of width w and σ
    initialised to sigma · sigma_ratio^l (both of the block's), and P the
    identity where the width is unchanged, else a pointwise `Dense(w)` (a 1×1
    convolution, shared by every channel and pixel, so the block stays
    scale-covariant). With `separable=True` each C_l is depthwise-separable:
    a `GaussianDerivativeDepthwiseConv2D` in scale channels, then a
    pointwise `Dense(w)`: C·k² + C·w multiply-adds per pixel and channel
    (C input channels, k² taps) instead of C·w·k², and C·N + C·w
    coefficients instead of C·w·N. Readout as the plain network's.

    Args:
        input_shape: as `gaussian_derivative_network`.
        num_classes: as `gaussian_derivative_network`.
        scales: as `gaussian_derivative_network`.
        filters: widths of the blocks; block l > 0 is residual.
        order: as `gaussian_derivative_network`.
        sigma: as `gaussian_derivative_network`.
        sigma_ratio: σ grows by it from block to block (both layers of a block share it).
        kernel_size: as `gaussian_derivative_network`.
        separable: depthwise-separable residual blocks (block 0 and the
            class layer stay full: the image has too few channels).
        scale_dropout: as `gaussian_derivative_network`.
        discretization: as `gaussian_derivative_network`.
        momentum: as `gaussian_derivative_network`.
        scaled_kernels: as `gaussian_derivative_network`.
        name: of the model.

    Returns:
        A functional `keras.Model` from images to class probabilities.
    """
    sizes, sigma = _checked(filters, num_classes, sigma, scale_dropout, momentum)
    settings = (sigma, check_positive_float("sigma_ratio", sigma_ratio), scales, scaled_kernels)
    if not isinstance(separable, bool):
        raise ValueError(f"`separable` must be True or False. Received: separable={separable!r}")
    make = dict(kernel_size=kernel_size, order=order, discretization=discretization)
    inputs = keras.Input(input_shape)
    x = _norm_relu(_scale_conv(sizes[0], 0, "0", settings, **make)(inputs), "0", momentum)
    for block, width in enumerate(sizes[1:-1], start=1):
        y = x
        for half in ("a", "b"):
            if half == "b":
                y = keras.layers.Activation("relu", name=f"relu{block}a")(y)
            y = _residual_conv(y, width, block, half, settings, separable, make)
            y = keras.layers.BatchNormalization(momentum=momentum, name=f"norm{block}{half}")(y)
        shortcut = x if x.shape[-1] == width else keras.layers.Dense(width, use_bias=False, name=f"project{block}")(x)
        x = keras.layers.Activation("relu", name=f"relu{block}")(keras.layers.Add(name=f"add{block}")([y, shortcut]))
    x = _scale_conv(sizes[-1], len(filters), str(len(filters)), settings, use_bias=True, **make)(x)
    return keras.Model(inputs, _readout(x, scale_dropout), name=name)


def size_normalized_network(
    input_shape, num_classes, output_size=32, scales=(1.0,), filters=(8, 16, 16, 32), kernel_size=5, order=2,
    sigma=1.0, discretization="sampled", scale_dropout=0.0, momentum=0.9, name="size_normalized_network",
):
    """Size normalisation, then a Gaussian-derivative CNN that every scale channel shares.

    Channel i: `SizeNormalization(output_size, scale=sᵢ)` (each image about its
    centroid at the training images' RMS radius × sᵢ), then blocks l of
    `GaussianDerivativeConv2D(filters[l], kernel_size)` (σ initialised to
    `sigma`, offsets to 0, 'same' padding) → `BatchNormalization` → ReLU,
    with 2×2 max pooling after the first two (as `stock_cnn`), class maps
    (one more such layer to `num_classes`, with bias) and their spatial
    maximum. With several channels their class scores go through
    `ScalePooling("max", dropout=scale_dropout)`; then a softmax. The cost is
    the CNN's on `output_size` per channel, whatever the input's size.

    Args:
        input_shape: `(height, width, channels)`, known sizes.
        num_classes: outputs of the softmax.
        output_size: of the normalised images, one int or (rows, cols).
        scales: the channels' sᵢ (1: the training images' size).
        filters: channels of the blocks, one int per block.
        kernel_size: of every Gaussian-derivative layer (holds ±2σ at σ = 1 for 5).
        order: maximal derivative order K of every layer.
        sigma: initial σ of every layer (pixels of its own grid).
        discretization: of every layer (`GaussianDerivativeConv2D`).
        scale_dropout: `ScalePooling`'s scale-channel dropout in training (several channels).
        momentum: of the batch normalisations' and the size references' moving statistics, in [0, 1).
        name: of the model.

    Returns:
        A functional `keras.Model` from images to class probabilities.
    """
    sizes, sigma = _checked(filters, num_classes, sigma, scale_dropout, momentum)
    scales = check_scales(scales)
    arguments = dict(order=order, padding="same", offset_initializer="zeros", discretization=discretization,
                     sigma_initializer=keras.initializers.Constant(sigma))
    layers = []
    for block, width in enumerate(sizes):
        last = block == len(filters)
        layers.append(GaussianDerivativeConv2D(width, kernel_size, use_bias=last, name=f"conv{block}", **arguments))
        if not last:
            layers += [keras.layers.BatchNormalization(momentum=momentum, name=f"norm{block}"),
                       keras.layers.Activation("relu", name=f"relu{block}")]
            layers += [keras.layers.MaxPooling2D(name=f"pool{block}")] if block < 2 else []
    layers.append(keras.layers.GlobalMaxPooling2D(name="spatial_max"))
    inputs = keras.Input(input_shape)
    scores = []
    for i, scale in enumerate(scales):
        x = SizeNormalization(output_size, scale=scale, momentum=momentum, name=f"size{i}")(inputs)
        for layer in layers:  # one set of layers: every weight shared by the channels
            x = layer(x)
        scores.append(x)
    if len(scales) > 1:
        x = keras.layers.Concatenate(axis=1, name="channels")(
            [keras.layers.Reshape((1, sizes[-1]), name=f"channel{i}")(score) for i, score in enumerate(scores)])
        x = ScalePooling("max", dropout=scale_dropout, name="scale_max")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="softmax")(x), name=name)


def _checked(filters, num_classes, sigma, scale_dropout, momentum):
    """The widths (`filters`, then `num_classes`) and `sigma`, each argument checked by name (a builder's
    `scales` and `scaled_kernels` are checked by the layers that take them)."""
    check_fraction("scale_dropout", scale_dropout), check_fraction("momentum", momentum)
    sizes = [*(check_positive_int("filters", width) for width in filters), check_positive_int("num_classes", num_classes)]
    return sizes, check_positive_float("sigma", sigma)


def _scale_conv(width, block, suffix, settings, kernel_size, order, discretization, use_bias=False, depthwise=False):
    """`ScaleChannels` of a scale-normalised Gaussian-derivative layer with σ = sigma · sigma_ratio^block."""
    sigma, ratio, scales, scaled_kernels = settings
    arguments = dict(
        order=order, padding="same", scale_normalized=True, offset_initializer="zeros", use_bias=use_bias,
        sigma_initializer=keras.initializers.Constant(sigma * ratio**block), discretization=discretization,
    )
    if depthwise:
        conv = GaussianDerivativeDepthwiseConv2D(kernel_size, name=f"conv{suffix}", **arguments)
    else:
        conv = GaussianDerivativeConv2D(width, kernel_size, name=f"conv{suffix}", **arguments)
    return ScaleChannels(conv, scales=scales, scaled_kernels=scaled_kernels, name=f"scales{suffix}")


def _residual_conv(x, width, block, half, settings, separable, make):
    """One C_l of a residual block (`gaussian_derivative_resnet`): full, or depthwise then pointwise."""
    if not separable:
        return _scale_conv(width, block, f"{block}{half}", settings, **make)(x)
    x = _scale_conv(None, block, f"{block}{half}", settings, depthwise=True, **make)(x)
    return keras.layers.Dense(width, use_bias=False, name=f"pointwise{block}{half}")(x)


def _norm_relu(x, suffix, momentum):
    x = keras.layers.BatchNormalization(momentum=momentum, name=f"norm{suffix}")(x)
    return keras.layers.Activation("relu", name=f"relu{suffix}")(x)


def _readout(x, scale_dropout):
    """Class maps `(batch, S, H, W, classes)` → probabilities: spatial max per channel, max over channels."""
    x = keras.layers.TimeDistributed(keras.layers.GlobalMaxPooling2D(), name="spatial_max")(x)  # (batch, S, classes)
    x = ScalePooling("max", dropout=scale_dropout, name="scale_max")(x)
    return keras.layers.Activation("softmax", name="softmax")(x)
