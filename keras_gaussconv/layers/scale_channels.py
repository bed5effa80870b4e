"""Scale channels (Lindeberg's scale-covariant networks): one structured layer at several scales.

`ScaleChannels` applies a structured layer in S channels that share its
coefficients and bias, channel i with every length of its geometry multiplied
by sᵢ; `ScalePooling` reduces the channels, with scale-channel dropout.
"""

import math
import numbers

import keras
import numpy as np
from keras import ops

from keras_gaussconv.layers.basis_conv import BasisConv
from keras_gaussconv.layers.validation import check_bool, check_fraction
from keras_gaussconv.ops.compiled import compiled_basis

def check_scales(scales):
    """`scales` as a tuple of floats if it is a non-empty list of positive numbers, else ValueError naming it."""
    if (
        not isinstance(scales, (list, tuple))
        or not scales
        or not all(isinstance(s, numbers.Real) and not isinstance(s, bool) and s > 0 for s in scales)
    ):
        raise ValueError(f"`scales` must be a non-empty list of positive numbers. Received: scales={scales!r}")
    return tuple(float(s) for s in scales)


@keras.saving.register_keras_serializable(package="keras_gaussconv")
class ScaleChannels(keras.layers.Wrapper):
    """A structured layer applied in S scale channels that share its coefficients and bias.

    Channel i evaluates the wrapped layer's basis with σ·sᵢ and μ·sᵢ (Gabor:
    frequency / sᵢ; orientations, phases and rotations shared), then combines
    it with the layer's own coefficients, bias and activation. With
    `scale_normalized=True` Gaussian derivatives, an input magnified by
    sⱼ / sᵢ moves the response from channel i to channel j (at corresponding
    points). The wrapped layer's kernel size serves the largest channel: make
    it large enough for the largest σ·sᵢ (about ±4σ·sᵢ), or use `kernel_size=None`.
    With `scaled_kernels`, channel i keeps the central k·sᵢ / max(s) taps of
    each axis (`channel_kernel_size`), so its cost follows its own σ·sᵢ: every
    channel sees the same support in its own units, and each runs the path
    cheapest for its size.

    Args:
        layer: a structured layer (`BasisConv`: any Gaussian-derivative,
            Gabor or displaced-Gaussian layer, any rank), not yet built or
            built for one channel's input.
        scales: the sᵢ, positive numbers, e.g. `(1, 2, 4)`.
        scaled_kernels: crop channel i's kernels to the layer's kernel size
            × sᵢ / max(s) (default False: every channel the layer's size). The
            same taps leave both ends of an axis, which keeps the outputs only
            with padding 'same' and strides 1.
        **kwargs: passed to `keras.layers.Wrapper` (`name`, `dtype`, ...).
            Without `dtype=` the wrapper takes the layer's dtype policy; with
            it, the layer's is replaced, so both compute in one.

    Input shape:
        `(batch, *spatial, C)` (every channel sees it) or
        `(batch, S, *spatial, C)` (channel i sees slice i), with the wrapped
        layer's `data_format` for the part after the scale axis.

    Output shape:
        `(batch, S, *layer_output_shape[1:])`.

    Examples:
        >>> conv = GaussianDerivativeConv2D(8, 15, order=2, padding="same", scale_normalized=True)
        >>> channels = ScaleChannels(conv, scales=(1.0, 2.0))
        >>> channels.compute_output_shape((None, 32, 32, 3))
        (None, 2, 32, 32, 8)
    """

    def __init__(self, layer, scales=(1.0, 2.0), scaled_kernels=False, **kwargs):
        if not isinstance(layer, BasisConv):
            raise ValueError(
                f"`layer` must be a structured layer of keras_gaussconv (a BasisConv). Received: layer={layer!r}"
            )
        self.scaled_kernels = check_bool("scaled_kernels", scaled_kernels)
        if self.scaled_kernels and (layer.padding != "same" or set(layer.strides) != {1}):
            raise ValueError(
                "`scaled_kernels=True` crops each channel's kernels, which keeps the outputs only with padding "
                f"'same' and strides 1. Received: scaled_kernels=True for padding={layer.padding!r}, "
                f"strides={layer.strides}"
            )
        if kwargs.get("dtype") is None:  # one policy, as ConvNormAct: the layer's unless dtype= says otherwise
            kwargs["dtype"] = layer.dtype_policy
        super().__init__(layer, **kwargs)
        layer.dtype_policy = self.dtype_policy
        self.scales = check_scales(scales)

    def channel_shape(self, input_shape):
        """(the input shape of one channel, whether the input has a scale axis)."""
        input_shape = tuple(input_shape)
        rank = self.layer.rank
        if len(input_shape) == rank + 3:
            if input_shape[1] is not None and input_shape[1] != len(self.scales):
                raise ValueError(
                    f"An input with a scale axis needs one slice per scale: axis 1 must be {len(self.scales)} "
                    f"(scales={self.scales}). Received: input_shape={input_shape}"
                )
            return (input_shape[0], *input_shape[2:]), True
        if len(input_shape) == rank + 2:
            return input_shape, False
        raise ValueError(
            f"ScaleChannels of a rank-{rank} layer takes inputs of rank {rank + 2} (batch, *spatial, channels) "
            f"or {rank + 3} (batch, scales, *spatial, channels). Received: input_shape={input_shape}"
        )

    def build(self, input_shape):
        shape, self.per_scale_inputs = self.channel_shape(input_shape)
        self.input_shape_built = tuple(input_shape)  # for `fold`
        if not self.layer.built:
            self.layer.build(shape)
        # Per channel, chosen once: the window of the layer's kernel it keeps and how it convolves.
        self._channels = [self._channel(scale) for scale in self.scales]
        self.built = True

    def channel_crops(self, scale):
        """Taps the channel at `scale` drops at each end of each kernel axis: none, or with
        `scaled_kernels` ⌊(k − k·s / max(s)) / 2⌋ (it keeps k·s / max(s), rounded up to k's parity)."""
        if not self.scaled_kernels:
            return (0,) * self.layer.rank
        ratio = scale / max(self.scales)  # the 1e-9: a product that should be whole stays whole
        return tuple(math.floor((k - k * ratio) / 2 + 1e-9) for k in self.layer.kernel_size)

    def channel_kernel_size(self, scale):
        """The kernel size of the channel at `scale`: the layer's less `channel_crops` at both ends."""
        return tuple(k - 2 * c for k, c in zip(self.layer.kernel_size, self.channel_crops(scale)))

    def _channel(self, scale):
        """`(window, execution)`: the slice of the basis `(B, *kernel_size, N)` the channel keeps, and
        the layer's `execution` for that size (None: the layer's own)."""
        crops = self.channel_crops(scale)
        if not any(crops):
            return None, None
        window = (slice(None), *(slice(c, k - c) for c, k in zip(crops, self.layer.kernel_size)), slice(None))
        return window, self.layer.execution(self.channel_kernel_size(scale))

    @property
    def execution_paths(self):
        """The path each channel runs ("kernel", "basis" or "fft"; the layer's unless `scaled_kernels`)."""
        if not self.built:
            raise ValueError(f"Layer '{self.name}' must be built before its `execution_paths` are known.")
        return [self.layer.execution_path if run is None else run[1] for _, run in self._channels]

    def compute_output_shape(self, input_shape):
        shape, _ = self.channel_shape(input_shape)
        return (shape[0], len(self.scales), *self.layer.compute_output_shape(shape)[1:])

    def scaled_geometry(self, scale, values=None):
        """The wrapped layer's geometric tensors by name for one channel: each × scale^p, p the
        `scale_power` the layer declares for it (`GeometricWeight`: lengths 1, frequencies −1, angles 0).
        `values`: the layer's `geometry_values()`, when the caller has read them already."""
        values = self.layer.geometry_values() if values is None else values
        return {g.name: values[g.name] * scale**g.scale_power if g.scale_power else values[g.name]
                for g in self.layer.geometry}

    def channel_basis(self, scale):
        """The basis of the channel at `scale`: `basis_of` the scaled geometry, normalised (with
        `normalize_basis`) at the layer's own, s = 1, so the channels differ by the scaling alone."""
        values = self.layer.geometry_values()
        normalize_at = values if self.layer.normalize_basis else None
        return compiled_basis(self.layer)(normalize_at=normalize_at, **self.scaled_geometry(scale, values))

    def call(self, inputs):
        # Through the layer's __call__: its input_spec check, activity regulariser and dtype policy apply.
        outputs = []
        for i, (scale, (window, execution)) in enumerate(zip(self.scales, self._channels)):
            x = inputs[:, i] if self.per_scale_inputs else inputs
            phi = self.channel_basis(scale)
            phi = phi if window is None else phi[window]
            outputs.append(self.layer(x, basis=phi, execution=execution))
        return ops.stack(outputs, axis=1)

    def fold(self, tolerance=None):
        """Stock Keras layers computing this layer: one functional model.

        Every channel is the wrapped layer folded with that channel's basis
        (`BasisConv.fold`, `tolerance` as there); the model applies each to
        the input (or to its slice), and stacks the outputs along axis 1. Its
        batch size is open, whatever the batch this layer was built with.

        Returns:
            `[keras.Model]`, built, of stock layers and `keras.ops`; it reloads without this package.
        """
        from keras_gaussconv import folding  # folding imports the layers: imported when used

        return folding.fold_layer(self, tolerance)

    def get_config(self):
        config = super().get_config()
        config["scales"] = list(self.scales)
        config["scaled_kernels"] = self.scaled_kernels
        return config


@keras.saving.register_keras_serializable(package="keras_gaussconv")
class ScalePooling(keras.layers.Layer):
    """Reduces the scale axis (axis 1) of `ScaleChannels`' output: max or average, with scale-channel dropout.

    Scale-channel dropout (Lindeberg, 2024): in training each sample keeps
    each scale channel with probability 1 − `dropout` (at least one: a
    sample that would keep none keeps all), and the reduction runs over the
    kept channels only; in inference over all.

    With a `window` (low, high) the layer is called on `[channels, log₂ m̂]`,
    m̂ each sample's estimated magnification (`ImageScale`), and reduces only
    the channels with low ≤ log₂(sᵢ / m̂) ≤ high (or, where none is, the
    nearest to the window): those that see the sample's structures at the
    sizes the network learned. Dropout then acts among them.

    Args:
        mode: "max" (scale invariance by the strongest channel) or "average".
        dropout: probability of dropping a channel in training, in [0, 1).
        seed: int seed of the dropout.
        scales: the channels' sᵢ; needed with `window`.
        window: None (every channel) or (low, high) in octaves, low ≤ high.
        **kwargs: passed to `keras.layers.Layer`.

    Input shape:
        `(batch, S, ...)`; with `window`, `[(batch, S, ...), (batch,)]`.

    Output shape:
        `(batch, ...)`.
    """

    def __init__(self, mode="max", dropout=0.0, seed=None, scales=None, window=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "average"):
            raise ValueError(f"`mode` must be 'max' or 'average'. Received: mode={mode!r}")
        self.mode = mode
        self.dropout = check_fraction("dropout", dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if self.dropout > 0 else None
        self.window = None if window is None else check_window(window)
        self.scales = None if scales is None else check_scales(scales)
        if self.window is not None and self.scales is None:
            raise ValueError(f"`window` selects among the channels' `scales`: give both. Received: window={window!r}, "
                             "scales=None")

    def build(self, input_shape):
        channels = input_shape[0] if self.window is not None else input_shape
        if self.window is not None and channels[1] != len(self.scales):
            raise ValueError(f"`scales` must name each of the input's {channels[1]} channels (axis 1). "
                             f"Received: scales={self.scales}")
        self.input_shape_built = tuple(channels)  # for `fold`
        self.built = True

    def compute_output_shape(self, input_shape):
        channels = input_shape[0] if self.window is not None else input_shape
        return (channels[0], *channels[2:])

    def fold(self, tolerance=None):
        """The inference-mode reduction as a functional model of `keras.ops` (reloads without this
        package); `tolerance` is unused (nothing to crop), accepted as every foldable layer's.

        Returns:
            `[keras.Model]`.
        """
        from keras_gaussconv import folding  # folding imports the layers: imported when used

        return folding.fold_layer(self, tolerance)

    def window_keep(self, log_magnification):
        """(batch, S) bool: the channels within `window` of each sample's log₂ m̂, else the nearest."""
        # NumPy and Python constants, not tensors: an exported graph would take captured tensors as inputs
        log_scales = np.log2(self.scales).astype("float32")[None, :]
        relative = ops.subtract(log_scales, ops.cast(log_magnification, "float32")[:, None])
        outside = ops.maximum(ops.maximum(self.window[0] - relative, relative - self.window[1]), 0.0)
        return outside <= ops.min(outside, axis=1, keepdims=True)

    def reduce(self, inputs, keep=None):
        """The reduction over the channels `keep` (batch, S) marks; all where None."""
        if keep is None:
            return ops.max(inputs, axis=1) if self.mode == "max" else ops.mean(inputs, axis=1)
        keep = ops.reshape(keep, (-1, keep.shape[1]) + (1,) * (len(inputs.shape) - 2))
        if self.mode == "max":
            # a dropped channel takes the channels' minimum (never above a kept one; −∞ exports as NaN)
            return ops.max(ops.where(keep, inputs, ops.min(inputs, axis=1, keepdims=True)), axis=1)
        keep = ops.cast(keep, inputs.dtype)
        return ops.sum(inputs * keep, axis=1) / ops.sum(keep, axis=1)

    def channels_and_window(self, inputs):
        """`call`'s inputs as (channels, the channels the window keeps, or None without a window)."""
        if self.window is None:
            return inputs, None
        return inputs[0], self.window_keep(inputs[1])

    def reduce_all(self, inputs):
        """The inference-mode reduction: `inputs` as `call`'s."""
        return self.reduce(*self.channels_and_window(inputs))

    def call(self, inputs, training=False):
        if not (training and self.dropout > 0):
            return self.reduce_all(inputs)
        channels, keep = self.channels_and_window(inputs)
        batch, scales = ops.shape(channels)[0], channels.shape[1]
        kept = keras.random.uniform((batch, scales), seed=self.seed_generator) >= self.dropout
        if keep is None:
            keep = ops.ones_like(kept)
        kept = ops.logical_and(kept, keep)
        # a sample that keeps none keeps all (the window's)
        return self.reduce(channels, ops.where(ops.any(kept, axis=1, keepdims=True), kept, keep))

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "dropout": self.dropout, "seed": self.seed,
                       "scales": None if self.scales is None else list(self.scales),
                       "window": None if self.window is None else list(self.window)})
        return config


def check_window(window, name="window"):
    """`window` as (low, high) floats with low ≤ high, else ValueError naming it (as `name`)."""
    if (not isinstance(window, (list, tuple)) or len(window) != 2
            or not all(isinstance(w, numbers.Real) and not isinstance(w, bool) and math.isfinite(w) for w in window)
            or window[0] > window[1]):
        raise ValueError(f"`{name}` must be (low, high) in octaves, finite numbers, low ≤ high. "
                         f"Received: {name}={window!r}")
    return tuple(float(w) for w in window)
