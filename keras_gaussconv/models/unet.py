"""U-nets for segmentation of signals, images or volumes: classical (size-5 `Conv{r}D`) and
made of Gaussian-derivative layers."""

import math

import keras

from keras_gaussconv.layers import gaussian_derivative_conv
from keras_gaussconv.layers.conv_norm_act import ConvNormAct
from keras_gaussconv.layers.scale_channels import ScaleChannels, ScalePooling, check_scales, check_window
from keras_gaussconv.layers.scale_selection import ImageScale
from keras_gaussconv.layers.validation import check_choice, check_fraction, check_positive_float, check_positive_int


def _classical_conv(rank):
    def make(filters, name):
        return getattr(keras.layers, f"Conv{rank}D")(filters, 5, padding="same", use_bias=False, name=name)

    return make


def _gaussian_conv(rank, kernel_size, order, num_bases, normalize_basis, discretization, **options):
    """`make(filters, name)`: a 'same', bias-free `GaussianDerivativeConv{rank}D` (`options`: more arguments)."""
    layer = getattr(gaussian_derivative_conv, f"GaussianDerivativeConv{rank}D")

    def make(filters, name):
        return layer(
            filters, kernel_size, order=order, num_bases=num_bases, normalize_basis=normalize_basis,
            padding="same", use_bias=False, name=name, discretization=discretization, **options,
        )

    return make


def _rank(input_shape, depth):
    """r from `(*spatial, channels)`, r = 1, 2, 3, each spatial size divisible by 2^depth."""
    rank = len(input_shape) - 1
    if rank not in (1, 2, 3) or any(s is not None and s % 2**depth for s in input_shape[:-1]):
        raise ValueError(
            f"`input_shape` must be (*spatial, channels) with 1 to 3 spatial sizes, each divisible "
            f"by 2**depth = {2**depth}. Received: input_shape={tuple(input_shape)}, depth={depth}"
        )
    return rank


def apply_unet_block(x, make_conv, filters, name, norm="batch", momentum=0.9):
    """Two conv → norm → ReLU blocks, named `{name}_1` and `{name}_2`."""
    for i in (1, 2):
        x = ConvNormAct(make_conv(filters, f"{name}_{i}_conv"), norm=norm, momentum=momentum, name=f"{name}_{i}")(x)
    return x


def _levels(x, block, pool, upsample, base_filters, depth):
    """The U-net on features `x`: `block(x, filters, name)` at every level, `pool(x, name)` and
    `upsample(x, name)` between them, skip concatenations; the last level's features."""
    skips = []
    for level in range(depth):
        x = block(x, base_filters * 2**level, f"down{level + 1}")
        skips.append(x)
        x = pool(x, f"down{level + 1}_pool")
    x = block(x, base_filters * 2**depth, "bottleneck")
    for level in reversed(range(depth)):
        x = upsample(x, f"up{level + 1}_upsample")
        x = keras.layers.Concatenate(name=f"up{level + 1}_concat")([x, skips[level]])
        x = block(x, base_filters * 2**level, f"up{level + 1}")
    return x


def _unet(make_conv, input_shape, num_classes, base_filters, depth, norm, momentum, name, logits=False):
    """The U-net model; `logits`: its 1×1 output ("logits") without the sigmoid or softmax."""
    rank = len(input_shape) - 1
    pool, upsample, conv = (getattr(keras.layers, f"{kind}{rank}D") for kind in ("MaxPooling", "UpSampling", "Conv"))
    inputs = keras.Input(input_shape, name="image")

    def block(x, filters, block_name):
        return apply_unet_block(x, make_conv, filters, block_name, norm, momentum)

    x = _levels(inputs, block, lambda x, n: pool(name=n)(x), lambda x, n: upsample(name=n)(x), base_filters, depth)
    if logits:
        return keras.Model(inputs, conv(num_classes, 1, name="logits")(x), name=name)
    outputs = conv(num_classes, 1, activation=_output_activation(num_classes), name="segmentation")(x)
    return keras.Model(inputs, outputs, name=name)


def _output_activation(num_classes):
    return "sigmoid" if num_classes == 1 else "softmax"


def unet(input_shape, num_classes=1, base_filters=8, depth=3, norm="batch", momentum=0.9, name="unet"):
    """Classical U-net with size-5 convolutions (5×5 as in the paper's comparison; 5×5×5 for volumes).

    `depth` levels of two conv → norm → ReLU blocks with 2×2 max pooling,
    a bottleneck, then upsampling, skip concatenation and two blocks per
    level; channels `base_filters · 2^level`; a 1×1 sigmoid (one class) or
    softmax output.

    Args:
        input_shape: `(rows, cols, channels)` (`Conv2D`), `(depth, rows, cols,
            channels)` (`Conv3D`) or `(steps, channels)` (`Conv1D`); every
            spatial size divisible by 2^depth.
        num_classes: output channels (1: binary mask with sigmoid).
        base_filters: channels of the first level.
        depth: number of pooling levels.
        norm: normalisation of `ConvNormAct` ("batch", "bias_only" or None).
        momentum: of the batch normalisation's moving statistics (`ConvNormAct`);
            0.9 (not Keras' 0.99) so that inference statistics keep up in the
            few hundred steps a small data set gives.
        name: model name.
    """
    return _unet(_classical_conv(_rank(input_shape, depth)), input_shape, num_classes, base_filters, depth, norm, momentum, name)


def gaussian_unet(
    input_shape, num_classes=1, base_filters=8, depth=3, norm="batch", kernel_size=5, order=2,
    num_bases=4, normalize_basis=True, discretization="sampled", momentum=0.9, name="gaussian_unet",
):
    """The `unet` topology with Gaussian-derivative layers instead of size-5 convolutions.

    `GaussianDerivativeConv{r}D` for an input of rank r (from `input_shape`).
    Each convolution holds F_in·F_out·N combination weights instead of
    5^r·F_in·F_out: in 2-D N = (K+1)(K+2)/2, with K = 2 24 % of the classical
    weights; in 3-D N = (K+1)(K+2)(K+3)/6, with K = 2 8 % — plus a few
    geometric weights per basis kernel.

    Args:
        input_shape: as `unet`.
        num_classes: as `unet`.
        base_filters: as `unet`.
        depth: as `unet`.
        norm: as `unet`.
        momentum: as `unet`.
        name: as `unet`.
        kernel_size: of the Gaussian-derivative layers.
        order: of the Gaussian-derivative layers.
        num_bases: of the Gaussian-derivative layers.
        normalize_basis: of the Gaussian-derivative layers; True (default)
            gives their coefficients a stock convolution's scale, so that under
            batch normalisation they learn as fast as the classical U-net's
            kernels (see the geometry guide); False gives the reference's kernels.
        discretization: of the Gaussian-derivative layers (with "discrete"
            they have no offsets or orientations).
    """
    make = _gaussian_conv(_rank(input_shape, depth), kernel_size, order, num_bases, normalize_basis, discretization)
    return _unet(make, input_shape, num_classes, base_filters, depth, norm, momentum, name)


def _check_scale_unet(sigma, momentum, base_filters, num_classes, scale_dropout, pooling, scales):
    """`scale_channel_unet`'s arguments checked: (sigma, momentum, scales) as floats and a tuple."""
    check_positive_int("base_filters", base_filters), check_positive_int("num_classes", num_classes)
    check_fraction("scale_dropout", scale_dropout)
    if pooling not in ("max", "average"):
        raise ValueError(f"`pooling` must be 'max' or 'average'. Received: pooling={pooling!r}")
    return check_positive_float("sigma", sigma), check_fraction("momentum", momentum), check_scales(scales)


# `scale_channel_unet`'s default window for image channels: from 1.5 octaves finer to half an octave coarser
# than the image's magnification (at ×1: s = 0.5 and 1, the pair that pooled best; docs' evidence).
SCALE_WINDOW = (-1.5, 0.5)


def scale_channel_unet(
    input_shape, num_classes=1, scales=(0.5, 1.0, 2.0), base_filters=8, depth=2, kernel_size=None, order=2,
    num_bases=4, sigma=1.0, pooling="max", scale_dropout=0.0, discretization="discrete", momentum=0.9,
    scaled_kernels=False, rescale="filters", scale_window="auto", name="scale_channel_unet",
):
    """The `gaussian_unet` topology in scale channels: one set of weights seen at every scale sᵢ.

    Every Gaussian-derivative layer (scale- and energy-normalised, σ initialised
    to `sigma`) is wrapped in `ScaleChannels(scales)`; batch norm, ReLU, pooling
    and upsampling act on each channel, the skips concatenate per channel, a
    pointwise `Dense` gives each channel's logits and `ScalePooling(pooling,
    dropout=scale_dropout)` reduces the channels at every pixel before the
    sigmoid (one class) or softmax. A structure m times larger meets filters m
    times larger in another channel: exactly before the first pooling,
    approximately after it (pooling strides are fixed).

    With `rescale="image"` (2-D) channel i instead resizes the image by 1/sᵢ
    (bilinear up, pixel means down), runs one shared Gaussian U-net on it (`gaussian_unet`'s
    layers, σ trainable from `sigma`) and resizes its logits back: a structure
    m times larger, shrunk by m, meets the whole network — pooling included —
    at the size it learned (Jansson & Lindeberg's scale channels), at
    Σᵢ sᵢ⁻² times the pixels of one U-net.

    Args:
        input_shape: as `unet`.
        num_classes: as `unet`.
        scales: the channels' sᵢ.
        base_filters: as `unet`.
        depth: as `unet`.
        kernel_size: odd int, or None (default): 2·⌈4·sigma·max(scales)⌉ + 1,
            ±4σ·sᵢ at the largest channel for the initial σ.
        order: of the Gaussian-derivative layers.
        num_bases: of the Gaussian-derivative layers.
        sigma: initial σ (pixels of the level, at s = 1) of every layer.
        pooling: "max" or "average" over the channels (`ScalePooling`).
        scale_dropout: `ScalePooling`'s scale-channel dropout in training.
        discretization: of the Gaussian-derivative layers; "discrete" (default: the discrete
            analogue, exact where σ·sᵢ < 1, where sampled kernels lost 0.13–0.20 Dice at
            unseen magnifications in the docs' evidence).
        momentum: as `unet`.
        scaled_kernels: `ScaleChannels`' (channel i's kernels cropped to
            kernel_size · sᵢ / max(s): each channel's cost follows its own σ·sᵢ).
        rescale: what a channel rescales: "filters" (default; the layers' σ·sᵢ) or
            "image" (the input, by 1/sᵢ; `input_shape` fixed, sᵢ powers of 2, each
            rows/sᵢ and cols/sᵢ an integer divisible by 2^depth; `kernel_size`
            default 2·⌈4·sigma⌉ + 1; no `scaled_kernels`).
        scale_window: None (every channel pooled) or (low, high) octaves: an `ImageScale`
            layer ("image_scale") estimates each image's magnification m̂ against the
            training images', and `ScalePooling` pools only the channels with
            low ≤ log₂(sᵢ/m̂) ≤ high, in training and inference alike (2-D, fixed input
            size). "auto" (default): `SCALE_WINDOW` (−1.5, 0.5) with `rescale="image"`, where
            it lifted unseen magnifications by up to 0.13 Dice in the docs' evidence; None
            with `rescale="filters"` (not measured there).
        name: as `unet`.

    Returns:
        A functional `keras.Model` to per-pixel probabilities; it saves, folds and exports like
        `gaussian_unet` (ONNX from TensorFlow or PyTorch: Keras 3.15's JAX export of any max
        pooling gives a `MaxPool` onnxruntime refuses).
    """
    rank = _rank(input_shape, depth)
    sigma, momentum, scales = _check_scale_unet(sigma, momentum, base_filters, num_classes, scale_dropout, pooling, scales)
    initial_sigma = keras.initializers.Constant(sigma)
    image = check_choice("rescale", rescale, ("filters", "image")) == "image"
    if isinstance(scale_window, str) and scale_window == "auto":
        scale_window = SCALE_WINDOW if image else None
    if scale_window is not None:
        scale_window = check_window(scale_window, "scale_window")
    pool = _scale_pooling(scales, pooling, scale_dropout, scale_window)
    if image:
        make = _gaussian_conv(rank, kernel_size or 2 * math.ceil(4 * sigma) + 1, order, num_bases, True,
                              discretization, sigma_initializer=initial_sigma)
        return _image_channel_unet(make, input_shape, num_classes, scales, base_filters, depth, momentum,
                                   pool, scaled_kernels, name)
    make = _gaussian_conv(rank, kernel_size or 2 * math.ceil(4 * sigma * max(scales)) + 1, order, num_bases, True,
                          discretization, scale_normalized=True, sigma_initializer=initial_sigma)

    def block(x, filters, block_name):  # conv → norm → ReLU twice, each in every scale channel
        for i in (1, 2):
            conv = make(filters, f"{block_name}_{i}_conv")
            x = ScaleChannels(conv, scales=scales, scaled_kernels=scaled_kernels, name=f"{block_name}_{i}")(x)
            x = keras.layers.BatchNormalization(momentum=momentum, name=f"{block_name}_{i}_norm")(x)
            x = keras.layers.Activation("relu", name=f"{block_name}_{i}_relu")(x)
        return x

    def per_channel(kind):  # each scale channel pooled or upsampled on its own
        return lambda x, n: keras.layers.TimeDistributed(getattr(keras.layers, f"{kind}{rank}D")(), name=n)(x)

    inputs = keras.Input(input_shape, name="image")
    x = _levels(inputs, block, per_channel("MaxPooling"), per_channel("UpSampling"), base_filters, depth)
    x = keras.layers.Dense(num_classes, name="segmentation_logits")(x)  # a 1×1 convolution shared by the channels
    return keras.Model(inputs, _segmentation(pool(x, inputs), num_classes), name=name)


def _scale_pooling(scales, pooling, scale_dropout, scale_window):
    """`(channels, image) → pooled`: `ScalePooling` over every channel, or with `scale_window` over those
    that `ImageScale` of the image selects."""
    pool = ScalePooling(pooling, dropout=scale_dropout, scales=scales, window=scale_window, name="scale_pooling")
    if scale_window is None:
        return lambda x, image: pool(x)
    return lambda x, image: pool([x, ImageScale(name="image_scale")(image)])


def _segmentation(logits, num_classes):
    return keras.layers.Activation(_output_activation(num_classes), name="segmentation")(logits)


def _check_image_channels(input_shape, scales, depth):
    """`scale_channel_unet(rescale="image")`'s shape and scales: a fixed 2-D image, scales powers of 2, each
    channel's image size an integer divisible by 2^depth; else ValueError naming them."""
    if len(input_shape) != 3 or None in input_shape:
        raise ValueError("`rescale='image'` needs a fixed 2-D `input_shape` (rows, cols, channels). "
                         f"Received: input_shape={tuple(input_shape)}")
    if any(math.log2(s) != round(math.log2(s)) for s in scales):
        raise ValueError(f"`rescale='image'` needs `scales` that are powers of 2. Received: scales={scales}")
    if any(n % s or (n / s) % 2**depth for s in scales for n in input_shape[:2]):
        raise ValueError(f"`rescale='image'` needs rows/sᵢ and cols/sᵢ integers divisible by 2**depth = {2**depth}. "
                         f"Received: input_shape={tuple(input_shape)}, scales={scales}, depth={depth}")


def _resized(x, scale, name):
    """`x` (2-D) resized by `scale` (a power of 2): bilinear up, or the mean of scale⁻¹ × scale⁻¹ pixels
    down (bilinear by ½ is the 2 × 2 mean; the mean also filters the pixels bilinear would skip)."""
    if scale > 1:
        return keras.layers.UpSampling2D(round(scale), interpolation="bilinear", name=name)(x)
    return keras.layers.AveragePooling2D(round(1 / scale), name=name)(x) if scale < 1 else x


def _image_channel_unet(make, input_shape, num_classes, scales, base_filters, depth, momentum, pooling,
                        scaled_kernels, name):
    """`scale_channel_unet(rescale="image")`: one U-net to logits, shared by the resized images."""
    if scaled_kernels:
        raise ValueError("`scaled_kernels` crops the kernels of filter channels; `rescale='image'` has none. "
                         f"Received: scaled_kernels={scaled_kernels!r}, rescale='image'")
    _check_image_channels(input_shape, scales, depth)
    shared = _unet(make, (None, None, input_shape[-1]), num_classes, base_filters, depth, "batch", momentum,
                   f"{name}_shared", logits=True)
    inputs = keras.Input(input_shape, name="image")
    channels = []
    for i, scale in enumerate(scales):  # Keras' `Resizing` is not used: in a model, it puts later layers in training mode
        x = _resized(shared(_resized(inputs, 1 / scale, f"channel{i}_resize")), scale, f"channel{i}_resize_back")
        channels.append(keras.layers.Reshape((1, *input_shape[:2], num_classes), name=f"channel{i}")(x))
    x = channels[0] if len(channels) == 1 else keras.layers.Concatenate(axis=1, name="scale_channels")(channels)
    return keras.Model(inputs, _segmentation(pooling(x, inputs), num_classes), name=name)

