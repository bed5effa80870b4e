"""The small comparison network of Table 1 of Penaud--Polge et al. (2022)."""

import keras

from keras_gaussconv.layers.conv_norm_act import ConvNormAct
from keras_gaussconv.layers.gabor_conv import GaborConv2D
from keras_gaussconv.layers.gaussian_derivative_conv import GaussianDerivativeConv2D
from keras_gaussconv.layers.presets import DisplacedGaussianConv2D, rfnn_conv2d

LAYER_TYPES = ("free_form", "rfnn", "dau", "gaussian", "gaussian_few", "gaussian_separable", "gabor")


def make_conv(layer_type, filters, name, kernel_size=7, order=2, num_bases=4, discretization="sampled"):
    """One convolution of `layer_type` (see `LAYER_TYPES`), 'same' padding, no bias.

    free_form is a 3×3 `Conv2D`; the structured layers use `kernel_size`;
    `gaussian_few` has half the bases of `gaussian` (at least 1). `num_bases`
    must divide `filters` (the layer says so otherwise). `discretization`
    applies to the Gaussian-derivative types (with "discrete" they have no
    offsets or orientations); another type refuses any but "sampled".
    """
    common = dict(padding="same", use_bias=False, name=name)
    gaussian = dict(discretization=discretization)
    if discretization != "sampled" and layer_type not in ("gaussian", "gaussian_few", "gaussian_separable"):
        raise ValueError(
            "`discretization` applies to the Gaussian-derivative layer types only. "
            f"Received: layer_type={layer_type!r}, discretization={discretization!r}"
        )
    if layer_type == "free_form":
        return keras.layers.Conv2D(filters, 3, **common)
    if layer_type == "rfnn":
        return rfnn_conv2d(filters, kernel_size, order=order, **common)
    if layer_type == "dau":
        return DisplacedGaussianConv2D(filters, kernel_size, num_units=4, num_bases=num_bases, **common)
    if layer_type in ("gaussian", "gaussian_separable"):
        return GaussianDerivativeConv2D(
            filters, kernel_size, order=order, num_bases=num_bases,
            separable=layer_type == "gaussian_separable", **gaussian, **common,
        )
    if layer_type == "gaussian_few":
        return GaussianDerivativeConv2D(
            filters, kernel_size, order=order, num_bases=max(num_bases // 2, 1), **gaussian, **common
        )
    if layer_type == "gabor":
        return GaborConv2D(filters, kernel_size, num_kernels=8, num_bases=num_bases, **common)
    raise ValueError(f"`layer_type` must be one of {list(LAYER_TYPES)}. Received: layer_type={layer_type!r}")


def apply_conv_block(x, layer_type, filters, name, norm="bias_only", **conv_kwargs):
    """conv (of `layer_type`) → normalisation → ReLU, named `name`."""
    conv = make_conv(layer_type, filters, f"{name}_conv", **conv_kwargs)
    return ConvNormAct(conv, norm=norm, activation="relu", name=name)(x)


def comparison_net(
    layer_type,
    input_shape,
    num_classes,
    filters=(16, 32, 32, 64),
    norm="bias_only",
    kernel_size=7,
    order=2,
    num_bases=4,
    discretization="sampled",
    name=None,
):
    """Four convolutional blocks, global average pooling and a dense classifier.

    Blocks `block1` … `block4` are conv → norm → ReLU, 2×2 max pooling after
    the first two; the convolution is `layer_type` (one of `LAYER_TYPES`).
    With `norm="bias_only"` (Table 1's setting) every block adds exactly
    `filters[i]` trainable biases.

    Args:
        layer_type: "free_form" (3×3 `Conv2D`), "rfnn", "dau", "gaussian",
            "gaussian_few", "gaussian_separable" or "gabor".
        input_shape: `(rows, cols, channels)`.
        num_classes: size of the softmax output.
        filters: output channels of the four blocks.
        norm: `ConvNormAct` normalisation.
        kernel_size: of the structured layers.
        order: of the structured layers.
        num_bases: of the structured layers.
        discretization: of the Gaussian-derivative layers (`make_conv`).
        name: model name (default `comparison_<layer_type>`).

    Returns:
        A functional `keras.Model` with softmax outputs.
    """
    if layer_type not in LAYER_TYPES:
        raise ValueError(f"`layer_type` must be one of {list(LAYER_TYPES)}. Received: layer_type={layer_type!r}")
    if len(filters) != 4:
        raise ValueError(f"`filters` must list 4 channel counts. Received: filters={filters!r}")
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, width in enumerate(filters, start=1):
        x = apply_conv_block(
            x, layer_type, width, f"block{i}", norm=norm,
            kernel_size=kernel_size, order=order, num_bases=num_bases, discretization=discretization,
        )
        if i <= 2:
            x = keras.layers.MaxPooling2D(name=f"block{i}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name or f"comparison_{layer_type}")


def stock_cnn(input_shape, num_classes, filters):
    """A stock CNN of `gaussian_derivative_network`'s depth: the scale experiments' baseline.

    Per entry of `filters`: 3×3 `Conv2D` → `BatchNormalization` (momentum
    0.9, as the Gaussian builders) → ReLU, with 2×2 max pooling after the
    first two blocks; then class maps (3×3 `Conv2D` to `num_classes`), the
    spatial maximum and a softmax, so the canvas may grow at test time.
    """
    inputs = keras.Input(input_shape)
    x = inputs
    for block, width in enumerate(filters):
        x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = keras.layers.Activation("relu")(keras.layers.BatchNormalization(momentum=0.9)(x))  # as the builder's
        if block < 2:
            x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(num_classes, 3, padding="same")(x)
    x = keras.layers.GlobalMaxPooling2D()(x)
    return keras.Model(inputs, keras.layers.Activation("softmax")(x), name="stock_cnn")
