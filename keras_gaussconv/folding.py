"""Discovery and folding: which layers are this package's, and the stock Keras layers that compute them.

One definition of "a structured layer of this package" (`is_structured`) and of
the wrappers seen through (`inner_layers`), used by `structured_layers`,
`fold` and the exports, `GeometryMonitor`, `plot_layer` and the command line.
A structured layer is linear in its input, so once trained it is a plain
convolution with constant weights: `fold_layer` gives the stock layers of one
layer, `fold` rewrites a whole model.
"""

import functools

import keras
import numpy as np
from keras import ops

from keras_gaussconv.layers.basis_conv import BasisConv
from keras_gaussconv.layers.conv_norm_act import ConvNormAct, copy_layer
from keras_gaussconv.layers.scale_channels import ScaleChannels, ScalePooling
from keras_gaussconv.layers.scale_selection import ImageScale, ReferencedImageLayer
from keras_gaussconv.layers.size_normalization import SizeNormalization
from keras_gaussconv.layers.validation import check_positive_float
from keras_gaussconv.ops import costs as cost_model
from keras_gaussconv.ops import paths

# --- discovery ---------------------------------------------------------------


def is_structured(layer):
    """Whether `layer` is a structured-kernel convolution of this package (a `BasisConv`, any family and rank)."""
    return isinstance(layer, BasisConv)


def is_foldable(layer):
    """Whether `fold_layer` replaces `layer` by stock layers: a structured layer or a wrapper of this package."""
    return isinstance(layer, (BasisConv, ConvNormAct, ScaleChannels, ScalePooling, ImageScale, SizeNormalization))


def inner_layers(layer):
    """The layers a wrapper or model holds, seen through by discovery: `ScaleChannels`' layer,
    `ConvNormAct`'s convolution, a model's layers; none for any other layer."""
    if isinstance(layer, ScaleChannels):
        return [layer.layer]
    if isinstance(layer, ConvNormAct):
        return [layer.conv]
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    return []


def structured_layers(layer):
    """Every structured layer in a layer or model, in order, each once: nested models,
    `ConvNormAct` and `ScaleChannels` wrappers included."""
    if is_structured(layer):
        return [layer]
    found = []
    for inner in inner_layers(layer):
        found += [candidate for candidate in structured_layers(inner) if not any(candidate is seen for seen in found)]
    return found


# --- one layer ---------------------------------------------------------------


def _require_built(layer):
    if not layer.built:
        raise ValueError(f"Layer '{layer.name}' must be built before `fold()`.")


def _batch_free(shape):
    """An input shape with its batch size left open: a folded layer serves any batch."""
    return (None, *tuple(shape)[1:])


def fold_layer(layer, tolerance=None):
    """The stock Keras layers, built and applied in order, that compute a foldable layer's output.

    `BasisConv` (`fold_structured`), `ScaleChannels` (one functional model
    stacking each channel's folded copy), `ScalePooling` (its inference-mode
    reduction), `ImageScale` (its inference-mode estimate), `SizeNormalization` (its inference-mode resampling) and `ConvNormAct` (the folded convolution, the normalisation,
    the activation). `tolerance` crops structured kernels (`crop`).
    """
    _require_built(layer)
    if isinstance(layer, BasisConv):
        return fold_structured(layer, tolerance)
    if isinstance(layer, ScaleChannels):
        return [_fold_scale_channels(layer, tolerance)]
    if isinstance(layer, (ScalePooling, ImageScale, SizeNormalization)):
        return [_fold_ops_layer(layer)]
    if isinstance(layer, ConvNormAct):
        return _fold_conv_norm_act(layer, tolerance)
    raise ValueError(f"`layer` must be a structured layer or wrapper of keras_gaussconv. Received: layer={layer!r}")


def _fold_ops_layer(layer):
    """`ScalePooling`, `ImageScale` or `SizeNormalization` in inference mode as a functional model of
    `keras.ops` (reloads without this package): the pooling's reduction; the estimate less, or the resampling
    with, the moving reference as a constant."""
    inputs = keras.Input(batch_shape=_batch_free(layer.input_shape_built), dtype=layer.compute_dtype)
    if isinstance(layer, ReferencedImageLayer):
        reference = float(ops.convert_to_numpy(layer.moving_reference))
        return keras.Model(inputs, layer.inference(inputs, reference), name=layer.name)
    if layer.window is not None:
        inputs = [inputs, keras.Input(batch_shape=(None,), dtype=layer.compute_dtype)]
    return keras.Model(inputs, layer.reduce_all(inputs), name=layer.name)


def _fold_conv_norm_act(block, tolerance):
    shape = block.input_shape_built
    parts = fold_layer(block.conv, tolerance) if is_foldable(block.conv) else [copy_layer(block.conv, shape)]
    if block.normalization is not None:
        parts.append(copy_layer(block.normalization, block.conv.compute_output_shape(shape)))
    parts.append(keras.layers.Activation(block.activation, name=f"{block.name}_activation", dtype=block.dtype_policy))
    return parts


def _fold_scale_channels(wrapper, tolerance):
    """Channel i: the wrapped layer folded with channel i's basis (cropped to its kernel size); the outputs
    stacked on axis 1."""
    input_shape = _batch_free(wrapper.input_shape_built)
    inputs = keras.Input(batch_shape=input_shape, dtype=wrapper.compute_dtype)
    branches = []
    for i, scale in enumerate(wrapper.scales):
        x = inputs[:, i] if wrapper.per_scale_inputs else inputs
        phi, name = wrapper.channel_basis(scale), f"{wrapper.name}_scale{i}"
        for part in fold_structured(wrapper.layer, tolerance, phi, name, wrapper.channel_crops(scale)):
            x = part(x)
        branches.append(x)
    return keras.Model(inputs, ops.stack(branches, axis=1), name=wrapper.name)


def separable_fold_is_cheaper(layer):
    """Whether 1×1 → depthwise → 1×1 beats one dense convolution (ranks 1, 2: Keras has no DepthwiseConv3D)."""
    return (
        layer.separable
        and layer.rank <= 2
        and cost_model.separable_fold_is_cheaper(
            layer.spec, layer.in_channels, layer.filters, layer.num_bases * layer.num_kernels
        )
    )


def crop(layer, tolerance, kernel=None):
    """Taps c_a to drop at each end of kernel axis a: the most whose discarded weights, summed
    over the axes, stay within `tolerance` of every output channel's Σ|W| (None: none).
    `kernel`: the dense kernel as NumPy (default `layer.kernel`)."""
    r = layer.rank
    if tolerance is None:
        return (0,) * r
    tolerance = check_positive_float("tolerance", tolerance)
    if layer.padding != "same" or max(layer.strides) > 1:
        raise ValueError(
            "fold(tolerance=...) crops kernels, which keeps the outputs in place only with padding='same' "
            f"and strides 1. Received: tolerance={tolerance}, padding={layer.padding!r}, strides={layer.strides}"
        )
    kernel = ops.convert_to_numpy(layer.kernel) if kernel is None else kernel
    weights = np.abs(kernel.astype("float64"))  # (*k, F_in, F_out) or (*k, C, M)
    # |W| per tap and output channel, (*k, outputs): summed over the inputs, or depthwise's C·M channels
    weights = weights.reshape(*layer.kernel_size, -1) if layer.combination == "depthwise" else weights.sum(axis=r)
    total = weights.reshape(-1, weights.shape[-1]).sum(axis=0)  # Σ|W| per output channel
    crops = []
    for a in range(r):  # each axis may discard tolerance / r: the box discards at most `tolerance`
        profile = weights.sum(axis=tuple(i for i in range(r) if i != a))  # (k_a, outputs)
        c = 0
        while c < (layer.kernel_size[a] - 1) // 2:
            discarded = profile[: c + 1].sum(axis=0) + profile[len(profile) - c - 1 :].sum(axis=0)
            if (discarded > tolerance / r * total).any():
                break
            c += 1
        crops.append(c)
    return tuple(crops)


def _built(layer, shape, weights):
    layer.build(shape)
    layer.set_weights(weights)
    return layer


def fold_structured(layer, tolerance=None, phi=None, name=None, at_least=None):
    """Stock Keras layers that compute a structured layer's output with constant weights (`BasisConv.fold`).

    Full layer: one `Conv{r}D` with the dense kernel W. Separable layer
    (r = 1, 2): `Conv{r}D 1×1 (F_in → B·N) → DepthwiseConv{r}D (φ) →
    Conv{r}D 1×1 (B·N → F_out, block-diagonal λ)` when that is faster than
    one `Conv{r}D` (`separable_fold_is_cheaper`, from measured prices), else
    one `Conv{r}D`. The last 1×1 is dense with zero blocks rather than
    `groups=B`: TensorFlow's CPU grouped convolution measured 3× slower than
    the dense one. Depthwise layer: `DepthwiseConv{r}D` (3-D: a `Conv3D` with
    one group per channel). Bias and activation stay on the last convolution.

    A `channels_first` layer folds into the same channels_last convolutions
    between two `Permute` layers, as it computes itself: TensorFlow's CPU
    kernels run a channels_first convolution only with oneDNN, so a folded
    model runs wherever the layer did.

    `tolerance` (`crop`; padding 'same' and strides 1) crops each kernel, the
    same taps from both ends of an axis, to the smallest size whose discarded
    weights W_d make |Δy_o| ≤ Σ|W_d[..., o]| · max|x| ≤ `tolerance` ·
    Σ|W[..., o]| · max|x| for every output channel o.

    `phi`: the basis to fold with (default `layer.basis()`; `ScaleChannels`
    gives a channel's); `name`: of the folded layers (default the layer's);
    `at_least`: taps to drop at each end of each axis whatever `tolerance` keeps
    (a `ScaleChannels(scaled_kernels=True)` channel's crop).
    """
    _require_built(layer)
    r = layer.rank
    phi = layer.basis() if phi is None else phi
    name = layer.name if name is None else name
    full_kernel = ops.convert_to_numpy(layer.kernel_of(phi))
    crops = crop(layer, tolerance, full_kernel)
    if at_least is not None:
        crops = tuple(max(c, m) for c, m in zip(crops, at_least))
    window = tuple(slice(c, k - c) for c, k in zip(crops, layer.kernel_size))
    kernel_size = tuple(k - 2 * c for c, k in zip(crops, layer.kernel_size))
    conv_class = _stock("Conv", r)
    shape = (None,) * (r + 1) + (layer.in_channels,)
    common = dict(padding=layer.padding, data_format="channels_last", dtype=layer.dtype_policy)
    last = dict(activation=layer.activation, use_bias=layer.use_bias, name=name)
    tail = [ops.convert_to_numpy(layer.bias.value)] if layer.use_bias else []
    spacing = dict(strides=layer.strides, dilation_rate=layer.dilation_rate)
    if layer.combination == "depthwise":
        kernel = full_kernel[window]
        if r <= 2:
            conv = _stock("DepthwiseConv", r)(
                kernel_size, depth_multiplier=layer.depth_multiplier, **spacing, **common, **last
            )
        else:  # no DepthwiseConv3D in Keras: a grouped Conv3D, one group per channel
            conv = conv_class(layer.filters, kernel_size, groups=layer.in_channels, **spacing, **common, **last)
            kernel = kernel.reshape(*kernel_size, 1, layer.filters)
        parts = [_built(conv, shape, [kernel] + tail)]
    elif not separable_fold_is_cheaper(layer):
        conv = conv_class(layer.filters, kernel_size, **spacing, **common, **last)
        parts = [_built(conv, shape, [full_kernel[window]] + tail)]
    else:
        depthwise = _stock("DepthwiseConv", r)(
            kernel_size, use_bias=False, name=f"{name}_depthwise", **spacing, **common
        )
        channels_phi = ops.convert_to_numpy(paths.phi_channels(phi))[window]  # (*kernel_size, B·N), cropped
        parts = _separable_parts(layer, channels_phi, depthwise, conv_class, name, common, last, tail)
    return _between_permutes(parts, layer, name) if layer.data_format == "channels_first" else parts


def _stock(kind, rank):
    """`keras.layers.{kind}{rank}D` ("Conv" or "DepthwiseConv") with a zeros kernel initializer: the
    folded weights are set at once, and a zeros draw compiles nothing (JAX compiles its random
    generator for every new weight shape: a U-net's fold took 1.2 s with Glorot draws, 0.4 s so)."""
    argument = "depthwise_initializer" if kind == "DepthwiseConv" else "kernel_initializer"
    return functools.partial(getattr(keras.layers, f"{kind}{rank}D"), **{argument: "zeros"})


def _between_permutes(parts, layer, name):
    """channels_last `parts` for a channels_first layer: Permute to channels_last, the parts, Permute back."""
    r, dtype = layer.rank, layer.dtype_policy
    return [
        keras.layers.Permute((*range(2, r + 2), 1), name=f"{name}_to_channels_last", dtype=dtype),
        *parts,
        keras.layers.Permute((r + 1, *range(1, r + 1)), name=f"{name}_to_channels_first", dtype=dtype),
    ]


def _separable_parts(layer, phi, depthwise, conv_class, name, common, last, tail):
    """`Conv 1×1 (β) → depthwise (φ) → Conv 1×1 (block-diagonal λ)`, built; `phi` the cropped basis as
    depthwise channels, `(*kernel_size, B·N)`."""
    r, channels = layer.rank, layer.num_bases * layer.num_kernels
    weights = layer.combination_weights()
    beta, lam = (ops.convert_to_numpy(m) for m in paths.separable_matrices(*weights, layer.variable_dtype))
    shape, mid, unit = (None,) * (r + 1) + (layer.in_channels,), (None,) * (r + 1) + (channels,), (None,) * r
    return [
        _built(conv_class(channels, 1, use_bias=False, name=f"{name}_pointwise_in", **common), shape, [beta[unit]]),
        _built(depthwise, mid, [phi[..., None]]),
        _built(conv_class(layer.filters, 1, **{**last, "name": f"{name}_pointwise_out"}, **common), mid,
               [lam[unit]] + tail),
    ]


# --- a model -------------------------------------------------------------------


def _folded_layer(layer, tolerance=None):
    """The stock layer (or a Sequential of them, named like `layer`) replacing `layer`."""
    parts = fold_layer(layer, tolerance)
    if len(parts) == 1:
        return parts[0]
    return keras.Sequential(parts, name=layer.name)


def fold(model, tolerance=None):
    """A new model with the same inputs and outputs, made of stock Keras layers only.

    Every foldable layer (`is_foldable`: structured layers, `ConvNormAct`,
    `ScaleChannels`, `ScalePooling`; also inside nested Sequential/functional
    models) is replaced by its `fold_layer`: a `Conv2D`, or a `Sequential` of
    stock layers (1×1 → depthwise → 1×1 for a separable layer; convolution,
    `BatchNormalization`, `Activation` for a wrapper). Every other layer is
    cloned with its weights copied, so the result is independent of `model`.

    Args:
        model: a built Sequential or functional Keras model.
        tolerance: None (kernels kept whole) or a relative tolerance with which
            each structured layer crops its kernels (`BasisConv.fold`), e.g.
            to fold `kernel_size=None` layers into small stock kernels.

    Returns:
        The folded `keras.Model`; its outputs equal `model`'s up to float32
        round-off (within `tolerance` per layer when given).

    Examples:
        >>> model = keras.Sequential([keras.Input((16, 16, 3)), GaussianDerivativeConv2D(4, 5)])
        >>> folded = fold(model)  # folded.save(path) loads without keras_gaussconv
        >>> [type(layer).__name__ for layer in folded.layers]
        ['Conv2D']
    """
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(f"`model` must be a built Keras model. Received: model={model!r}")
    # Keras exports no `Functional` class; a functional model is one in its MRO.
    if not any(cls.__name__ in ("Sequential", "Functional") for cls in type(model).__mro__):
        raise ValueError(
            "`fold` needs a Sequential or functional model (a subclassed model "
            "has no graph to rewrite); fold its layers with `layer.fold()`. "
            f"Received: model of type {type(model).__name__}"
        )
    copies = []

    def clone(layer):
        if is_foldable(layer):
            return _folded_layer(layer, tolerance)
        new = layer.__class__.from_config(layer.get_config())
        copies.append((layer, new))
        return new

    folded = keras.models.clone_model(model, clone_function=clone, recursive=True)
    for original, new in copies:
        if original.weights:
            new.set_weights(original.get_weights())
    # A model Keras made but never called refuses `export(format="onnx")`; one symbolic
    # call on fresh inputs of the model's shapes marks it called and computes nothing.
    inputs = [keras.Input(batch_shape=t.shape, dtype=t.dtype) for t in folded.inputs]
    folded(inputs[0] if len(inputs) == 1 else inputs)
    return folded
