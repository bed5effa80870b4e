"""Migration from the published reference layer (`FTGDConvLayer`, TF2 / Keras 2).

The reference's mathematics is ours (docs/math.md); its names differ:

| reference | here |
| --- | --- |
| `num_basis`, `separated` | `num_bases`, `separable` |
| `trainability=[σ, μ, θ]` | `trainable_sigma`, `trainable_offset`, `trainable_theta` |
| `random_init=False` + `sigma_init`, `mu_init`, `theta_init` | constant initializers |
| defaults `padding="same"`, `use_bias=False` | the same, set explicitly |
| `sigmas`, `centroids`, `thetas` | `sigma`, `offset`, `theta` |
| `clWeights` | `coefficients` |
| `clWeights1`, `clWeights2` (B, 1, 1, N, F_out/B) | `coefficients_in`, `coefficients_out` (B, N, F_out/B) |
"""

import keras
import numpy as np

from keras_gaussconv.layers.gaussian_derivative_conv import GaussianDerivativeConv2D

_REFERENCE_DEFAULTS = {
    "separated": False,
    "trainability": (True, True, True),
    "padding": "same",
    "sigma_init": 1.0,
    "mu_init": 0.0,
    "theta_init": 0.0,
    "strides": (1, 1),
    "random_init": True,
    "use_bias": False,
}
_REQUIRED = ("filters", "kernel_size", "num_basis", "order")
# Keys that Keras 2's `Layer.get_config` adds and that keep their meaning here.
_LAYER_KEYS = ("name", "trainable", "dtype")


def _check_reference_keys(config):
    """Every required key present and none unknown: no reference setting is silently dropped."""
    missing = [key for key in _REQUIRED if key not in config]
    if missing:
        raise ValueError(f"The reference config lacks {missing}. Received: config={config!r}")
    unknown = sorted(set(config) - set(_REQUIRED) - set(_REFERENCE_DEFAULTS) - set(_LAYER_KEYS))
    if unknown:
        raise ValueError(
            f"Unknown reference argument(s) {unknown}; known: "
            f"{sorted(set(_REQUIRED) | set(_REFERENCE_DEFAULTS) | set(_LAYER_KEYS))}. "
            f"Received: config={config!r}"
        )


def from_reference_config(config, **kwargs):
    """A `GaussianDerivativeConv2D` equivalent to a reference `FTGDConvLayer`.

    Args:
        config: the reference's constructor arguments or `get_config()` dict
            (`filters`, `kernel_size`, `num_basis`, `order`, and optionally
            `separated`, `trainability`, `padding`, `sigma_init`, `mu_init`,
            `theta_init`, `strides`, `random_init`, `use_bias`, `name`,
            `trainable`, `dtype`). Any other key raises `ValueError`, so no
            setting is silently dropped.
        **kwargs: further `GaussianDerivativeConv2D` arguments that the
            reference lacks (e.g. `implementation`, `data_format`,
            `min_sigma`).

    Returns:
        An unbuilt `GaussianDerivativeConv2D`.

    Examples:
        >>> layer = from_reference_config(
        ...     {"filters": 16, "kernel_size": (7, 7), "num_basis": 4, "order": 3,
        ...      "separated": True})
        >>> layer.padding, layer.use_bias, layer.separable
        ('same', False, True)
    """
    _check_reference_keys(config)
    cfg = {**_REFERENCE_DEFAULTS, **config}
    trainability = tuple(cfg["trainability"])
    if len(trainability) != 3:
        raise ValueError(
            "`trainability` must list 3 booleans (σ, μ, θ). "
            f"Received: trainability={cfg['trainability']!r}"
        )
    initializers = {}
    if not cfg["random_init"]:
        for ours, theirs in (("sigma", "sigma_init"), ("offset", "mu_init"), ("theta", "theta_init")):
            initializers[f"{ours}_initializer"] = keras.initializers.Constant(float(cfg[theirs]))
    layer_kwargs = {key: config[key] for key in _LAYER_KEYS if key in config}
    return GaussianDerivativeConv2D(
        filters=cfg["filters"], kernel_size=cfg["kernel_size"], order=cfg["order"], num_bases=cfg["num_basis"],
        separable=bool(cfg["separated"]), strides=cfg["strides"], padding=cfg["padding"],
        use_bias=bool(cfg["use_bias"]), trainable_sigma=bool(trainability[0]),
        trainable_offset=bool(trainability[1]), trainable_theta=bool(trainability[2]),
        **initializers, **layer_kwargs, **kwargs,
    )


def load_reference_weights(layer, weights):
    """Assigns a reference layer's weight arrays to our layer.

    Builds the layer first (input channels read from the coefficients) if it
    is not built yet.

    Args:
        layer: a `GaussianDerivativeConv2D`, e.g. from `from_reference_config`.
        weights: mapping of the reference's names to arrays: `sigmas`,
            `centroids`, `thetas`, then `clWeights` (full) or `clWeights1`
            and `clWeights2` (separable), and `bias` if the layer has one.

    Returns:
        The layer.
    """
    coefficient_keys = ("clWeights1", "clWeights2") if layer.separable else ("clWeights",)
    expected = {"sigmas", "centroids", "thetas", *coefficient_keys}
    if layer.use_bias:
        expected.add("bias")
    if set(weights) != expected:
        raise ValueError(
            f"For this layer (separable={layer.separable}, use_bias="
            f"{layer.use_bias}) the reference weights are {sorted(expected)}. "
            f"Received: weights with keys {sorted(weights)}"
        )
    arrays = {key: np.asarray(value, dtype="float32") for key, value in weights.items()}
    if not layer.built:
        in_channels = arrays[coefficient_keys[0]].shape[1]
        shape = (None, None, None, in_channels)
        if layer.data_format == "channels_first":
            shape = (None, in_channels, None, None)
        layer.build(shape)
    targets = {"sigmas": layer.sigma, "centroids": layer.offset, "thetas": layer.theta}
    if layer.separable:
        targets.update(clWeights1=layer.coefficients_in, clWeights2=layer.coefficients_out)
        # The reference stores λ as 1×1 convolution kernels (B, 1, 1, N, F_out/B).
        if arrays["clWeights2"].shape[1:3] == (1, 1):
            arrays["clWeights2"] = arrays["clWeights2"][:, 0, 0]
    else:
        targets["clWeights"] = layer.coefficients
    if layer.use_bias:
        targets["bias"] = layer.bias
    for key, variable in targets.items():
        if arrays[key].shape != tuple(variable.shape):
            raise ValueError(
                f"Reference weight `{key}` must have shape {tuple(variable.shape)} "
                f"to fit this layer. Received: {key} of shape {arrays[key].shape}"
            )
        variable.assign(arrays[key])
    return layer
