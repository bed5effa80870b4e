"""ConvNeXt-style blocks and a small classifier, with a stock or a Gaussian-derivative depthwise convolution."""

import keras

from keras_gaussconv.layers.gaussian_derivative_conv import GaussianDerivativeDepthwiseConv2D


def apply_convnext_block(x, kernel_size=7, structured=True, order=2, num_bases=1, implementation="auto", name="block"):
    """x + Dense(C) ∘ GELU ∘ Dense(4C) ∘ LayerNorm ∘ depthwise k×k (x), as in ConvNeXt (Liu et al. 2022).

    The depthwise convolution is `GaussianDerivativeDepthwiseConv2D` (`structured`;
    its `order`, `num_bases`, `implementation`) or `keras.layers.DepthwiseConv2D`:
    per channel M·N + a few geometric weights against k².
    """
    channels = x.shape[-1]
    if structured:
        depthwise = GaussianDerivativeDepthwiseConv2D(
            kernel_size, order=order, num_bases=num_bases, padding="same", implementation=implementation,
            name=f"{name}_depthwise",
        )
    else:
        depthwise = keras.layers.DepthwiseConv2D(kernel_size, padding="same", name=f"{name}_depthwise")
    y = depthwise(x)
    y = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm")(y)
    y = keras.layers.Dense(4 * channels, activation="gelu", name=f"{name}_expand")(y)
    y = keras.layers.Dense(channels, name=f"{name}_project")(y)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def convnext_classifier(
    input_shape, num_classes, channels=(32, 64), kernel_size=7, structured=True, order=2, num_bases=1,
    implementation="auto", name=None,
):
    """A small ConvNeXt-style classifier: per stage a 2×2 stride-2 stem/downsampling, one block.

    Args:
        input_shape: `(rows, cols, channels)`.
        num_classes: softmax outputs.
        channels: channels per stage.
        kernel_size: of the depthwise convolutions.
        structured: Gaussian-derivative (True) or stock depthwise convolutions.
        order: K of the Gaussian-derivative depthwise convolutions (`structured` only).
        num_bases: B of the Gaussian-derivative depthwise convolutions (`structured` only).
        implementation: their execution path (`structured` only).
        name: model name (default from `structured`).
    """
    inputs = keras.Input(input_shape)
    x = inputs
    for stage, width in enumerate(channels, start=1):
        x = keras.layers.Conv2D(width, 2, strides=2, name=f"stage{stage}_downsample")(x)
        x = apply_convnext_block(x, kernel_size, structured, order, num_bases, implementation, name=f"stage{stage}")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="head_norm")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name=name or ("gaussian_convnext" if structured else "convnext"))
