"""`ConvNormAct`: convolution → normalisation → activation as one layer."""

import keras

from keras_gaussconv.layers.validation import check_fraction

NORMS = ("batch", "bias_only", None)


@keras.saving.register_keras_serializable(package="keras_gaussconv")
class ConvNormAct(keras.layers.Layer):
    """Wraps a convolution (structured or `Conv2D`) with a normalisation and an activation.

    y = activation(norm(conv(x))) with `norm`:

    * `"batch"`: a standard `BatchNormalization` (batch statistics in
      training, moving statistics in inference);
    * `"bias_only"`: the setting of Table 1 of Penaud--Polge et al. (2022):
      γ = 1, mean 0 and variance 1 fixed, only β trained — exactly F_out
      trainable parameters, y = x / √(1 + ε) + β (a `BatchNormalization`
      without scale, always in inference mode, so its statistics never move);
    * `None`: no normalisation.

    Args:
        conv: the convolution layer (e.g. `GaussianDerivativeConv2D`,
            `keras.layers.Conv2D`); give it no activation of its own.
        norm: `"batch"`, `"bias_only"` or `None`.
        activation: applied last (default `"relu"`).
        epsilon: the normalisation's ε.
        momentum: of `"batch"`'s moving statistics, in [0, 1) (Keras' default
            0.99 averages over ~100 steps: in short trainings the inference-mode
            statistics lag behind the weights; 0.9 tracks ~10 steps).
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...). The
            block has one dtype policy: with `dtype=` the convolution and the
            normalisation compute in it (the convolution's own policy is
            replaced); without, the block takes the convolution's policy. So
            the declared and the actual output dtype always agree.

    Examples:
        >>> block = ConvNormAct(GaussianDerivativeConv2D(16, 7, padding="same", use_bias=False),
        ...                     norm="bias_only", name="block1")
    """

    def __init__(self, conv, norm="batch", activation="relu", epsilon=1e-3, momentum=0.99, **kwargs):
        if not isinstance(conv, keras.layers.Layer):
            raise ValueError(f"`conv` must be a Keras layer. Received: conv={conv!r}")
        if norm not in NORMS:
            raise ValueError(f"`norm` must be one of {list(NORMS)}. Received: norm={norm!r}")
        check_fraction("momentum", momentum)
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = conv.dtype_policy
        super().__init__(**kwargs)
        conv.dtype_policy = self.dtype_policy
        self.conv = conv
        self.norm = norm
        self.epsilon = float(epsilon)
        self.momentum = float(momentum)
        self.activation = keras.activations.get(activation)
        channel_axis = -1 if getattr(conv, "data_format", "channels_last") == "channels_last" else 1
        self.normalization = None
        if norm is not None:
            self.normalization = keras.layers.BatchNormalization(
                axis=channel_axis, scale=norm == "batch", epsilon=self.epsilon, momentum=self.momentum,
                name=f"{self.name}_norm", dtype=self.dtype_policy,
            )

    def build(self, input_shape):
        self.input_shape_built = tuple(input_shape)  # what fold() builds its copies for
        # A deserialised `conv` arrives built already.
        if not self.conv.built:
            self.conv.build(input_shape)
        if self.normalization is not None and not self.normalization.built:
            self.normalization.build(self.conv.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        x = self.conv(inputs)
        if self.normalization is not None:
            # bias_only: fixed statistics, so always the inference formula.
            x = self.normalization(x, training=training if self.norm == "batch" else False)
        return self.activation(x)

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def fold(self, tolerance=None):
        """Stock layers with this block's output: the folded convolution, the normalisation, the activation.

        `tolerance`: passed to a structured convolution's `fold` (kernels cropped).
        """
        from keras_gaussconv import folding  # folding imports the layers: imported when used

        return folding.fold_layer(self, tolerance)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "conv": keras.layers.serialize(self.conv),
                "norm": self.norm,
                "activation": keras.activations.serialize(self.activation),
                "epsilon": self.epsilon,
                "momentum": self.momentum,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["conv"] = keras.layers.deserialize(config["conv"])
        return cls(**config)


def copy_layer(layer, input_shape):
    """A new layer of the same class and config, built for `input_shape`, with the same weights."""
    copy = layer.__class__.from_config(layer.get_config())
    copy.build(input_shape)
    copy.set_weights(layer.get_weights())
    return copy
