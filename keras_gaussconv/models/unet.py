"""U-nets for segmentation: classical (5×5 `Conv2D`) and made of Gaussian-derivative layers."""

import keras

from keras_gaussconv.layers.conv_norm_act import ConvNormAct
from keras_gaussconv.layers.gaussian_derivative_conv import GaussianDerivativeConv2D


def _classical_conv(filters, name):
    return keras.layers.Conv2D(filters, 5, padding="same", use_bias=False, name=name)


def _gaussian_conv(kernel_size, order, num_bases):
    def make(filters, name):
        return GaussianDerivativeConv2D(
            filters, kernel_size, order=order, num_bases=num_bases, padding="same", use_bias=False, name=name
        )

    return make


def apply_unet_block(x, make_conv, filters, name, norm="batch", momentum=0.99):
    """Two conv → norm → ReLU blocks, named `{name}_1` and `{name}_2`."""
    for i in (1, 2):
        x = ConvNormAct(make_conv(filters, f"{name}_{i}_conv"), norm=norm, momentum=momentum, name=f"{name}_{i}")(x)
    return x


def _unet(make_conv, input_shape, num_classes, base_filters, depth, norm, momentum, name):
    if len(input_shape) != 3 or any(s is not None and s % 2**depth for s in input_shape[:2]):
        raise ValueError(
            f"`input_shape` must be (rows, cols, channels) with rows and cols divisible by "
            f"2**depth = {2**depth}. Received: input_shape={tuple(input_shape)}, depth={depth}"
        )
    inputs = keras.Input(input_shape, name="image")
    x, skips = inputs, []
    for level in range(depth):
        x = apply_unet_block(x, make_conv, base_filters * 2**level, f"down{level + 1}", norm, momentum)
        skips.append(x)
        x = keras.layers.MaxPooling2D(name=f"down{level + 1}_pool")(x)
    x = apply_unet_block(x, make_conv, base_filters * 2**depth, "bottleneck", norm, momentum)
    for level in reversed(range(depth)):
        x = keras.layers.UpSampling2D(name=f"up{level + 1}_upsample")(x)
        x = keras.layers.Concatenate(name=f"up{level + 1}_concat")([x, skips[level]])
        x = apply_unet_block(x, make_conv, base_filters * 2**level, f"up{level + 1}", norm, momentum)
    activation = "sigmoid" if num_classes == 1 else "softmax"
    outputs = keras.layers.Conv2D(num_classes, 1, activation=activation, name="segmentation")(x)
    return keras.Model(inputs, outputs, name=name)


def unet(input_shape, num_classes=1, base_filters=8, depth=3, norm="batch", momentum=0.99, name="unet"):
    """Classical U-net with 5×5 convolutions (as in the paper's comparison).

    `depth` levels of two conv → norm → ReLU blocks with 2×2 max pooling,
    a bottleneck, then upsampling, skip concatenation and two blocks per
    level; channels `base_filters · 2^level`; a 1×1 sigmoid (one class) or
    softmax output.

    Args:
        input_shape: `(rows, cols, channels)`, rows and cols divisible by 2^depth.
        num_classes: output channels (1: binary mask with sigmoid).
        base_filters: channels of the first level.
        depth: number of pooling levels.
        norm: normalisation of `ConvNormAct` ("batch", "bias_only" or None).
        momentum: of the batch normalisation's moving statistics (`ConvNormAct`).
        name: model name.
    """
    return _unet(_classical_conv, input_shape, num_classes, base_filters, depth, norm, momentum, name)


def gaussian_unet(
    input_shape, num_classes=1, base_filters=8, depth=3, norm="batch", kernel_size=5, order=2,
    num_bases=4, momentum=0.99, name="gaussian_unet",
):
    """The `unet` topology with `GaussianDerivativeConv2D` layers instead of 5×5 `Conv2D`.

    Each convolution holds F_in·F_out·N combination weights (N = (K+1)(K+2)/2)
    instead of 25·F_in·F_out — with K = 2, 24 % of the classical weights —
    plus 5·B·N geometric ones.

    Args:
        input_shape, num_classes, base_filters, depth, norm, momentum, name: as `unet`.
        kernel_size, order, num_bases: of the Gaussian-derivative layers.
    """
    make = _gaussian_conv(kernel_size, order, num_bases)
    return _unet(make, input_shape, num_classes, base_filters, depth, norm, momentum, name)
