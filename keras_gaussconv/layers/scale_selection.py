"""Scale selection (Lindeberg, 1998) for scale channels: how much an image is magnified.

`ImageScale` estimates, per image, the magnification log₂ m̂ of its structures
against the training images'; `ScalePooling(scales=…, window=…)` then pools only
the scale channels that see the image's structures at the sizes they learned.
"""

import math
import numbers

import keras
import numpy as np
from keras import ops

from keras_gaussconv.layers.validation import check_fraction, check_positive_float

STEPS_PER_OCTAVE = 4  # the σ grid of `ImageScale`: quarter octaves


def laplacian_energy_tables(rows, cols, sigmas):
    """NumPy tables for E(σⱼ) = σⱼ⁴ Σ_ω |f̂(ω)|² |ω|⁴ exp(−σⱼ²|ω|²) of a (rows, cols) image.

    |ω|⁴ = (a + b)² = a² + 2ab + b² with a = ω_r², b = ω_c² makes each term
    separable: E = Σₜ uₜᵀ P vₜ for the power spectrum P.

    Returns:
        `(dft_rows, dft_cols, u, v)`: `dft_*` (2, n, n) the cosine and sine DFT
        matrices; `u` (3, J, rows) with σⱼ⁴ and the binomial (1, 2, 1) folded in,
        `v` (3, J, cols); all float32.
    """
    sigmas = np.asarray(sigmas, "float64")

    def axis(n):
        k = np.arange(n)
        angle = 2 * np.pi * np.outer(k, k) / n
        a = (2 * np.pi * np.fft.fftfreq(n)) ** 2
        damped = np.exp(-sigmas[:, None] ** 2 * a[None])  # (J, n)
        return np.stack([np.cos(angle), np.sin(angle)]), np.stack([a**q * damped for q in (2, 1, 0)])

    dft_rows, rows_terms = axis(rows)
    dft_cols, cols_terms = axis(cols)
    u = rows_terms * np.array([1.0, 2.0, 1.0])[:, None, None] * sigmas[None, :, None] ** 4
    return tuple(t.astype("float32") for t in (dft_rows, dft_cols, u, cols_terms[::-1]))


def sigma_grid(sigma_range):
    """σⱼ = 2^(j/4) from `sigma_range[0]` to `sigma_range[1]` (quarter octaves, both ends on the grid)."""
    low, high = (math.log2(s) for s in sigma_range)
    return 2.0 ** np.linspace(low, high, round((high - low) * STEPS_PER_OCTAVE) + 1)


class ReferencedImageLayer(keras.layers.Layer):
    """A layer on 2-D images of known size with a moving reference (`moving_reference`, set in training
    as batch normalisation sets its moving mean, with `momentum`) that folds to its inference-mode
    `keras.ops` graph: `inference(inputs, reference)`, the output for a given reference."""

    def __init__(self, momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        self.momentum = check_fraction("momentum", momentum)

    def build(self, input_shape):
        if len(input_shape) != 4 or None in tuple(input_shape)[1:3]:
            raise ValueError(f"`{type(self).__name__}` needs 2-D images of known size: (batch, rows, cols, channels). "
                             f"Received: input_shape={tuple(input_shape)}")
        self.moving_reference = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                                name="moving_reference")
        self.input_shape_built = tuple(input_shape)  # for `fold`

    def fold(self, tolerance=None):
        """The inference-mode layer as a functional model of `keras.ops` (reloads without this
        package); `tolerance` is unused, accepted as every foldable layer's.

        Returns:
            `[keras.Model]`.
        """
        from keras_gaussconv import folding  # folding imports the layers: imported when used

        return folding.fold_layer(self, tolerance)

    def get_config(self):
        config = super().get_config()
        config["momentum"] = self.momentum
        return config


@keras.saving.register_keras_serializable(package="keras_gaussconv")
class ImageScale(ReferencedImageLayer):
    """Each 2-D image's magnification against the training images': log₂ m̂ per sample.

    The energy of the scale-normalised Laplacian σ²∇²(g_σ ∗ f) of the image f
    (its channels' mean, periodic; by Parseval)

        E(σ) = Σ_ω |f̂(ω)|² (σ²|ω|²)² exp(−σ²|ω|²)

    on σⱼ = 2^(j/4) over `sigma_range`, and its centroid
    c = Σⱼ wⱼ log₂ σⱼ with wⱼ ∝ E(σⱼ)^`power`: magnifying f by m gives
    E(σ/m) up to a constant, so c moves by log₂ m (exactly for continuous
    images whose energy lies inside the grid). The output is c minus a
    reference: in training the batch's mean of c (updating
    `moving_reference` with `momentum`, as batch normalisation does), in
    inference `moving_reference`; so 0 is "as magnified as the training images".

    Args:
        sigma_range: (smallest, largest) σ in pixels, each a power of 2^(1/4); default (0.5, 64).
        power: p of the weights E^p (larger: nearer the energy's peak, noisier).
        momentum: of the moving reference, in [0, 1).
        **kwargs: passed to `keras.layers.Layer`.

    Input shape:
        `(batch, rows, cols, channels)`, rows and cols known.

    Output shape:
        `(batch,)`.
    """

    def __init__(self, sigma_range=(0.5, 64.0), power=2.0, momentum=0.9, **kwargs):
        super().__init__(momentum=momentum, **kwargs)
        self.sigma_range = _check_sigma_range(sigma_range)
        self.power = check_positive_float("power", power)
        self.sigmas = sigma_grid(self.sigma_range)

    def build(self, input_shape):
        super().build(input_shape)
        self.tables = laplacian_energy_tables(input_shape[1], input_shape[2], self.sigmas)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def laplacian_energy(self, inputs):
        """E(σⱼ) per image, float32: (batch, J)."""
        dft_rows, dft_cols, u, v = self.tables  # NumPy: constants of a traced graph, not captured tensors
        image = ops.mean(ops.cast(inputs, "float32"), axis=-1)
        parts = [ops.einsum("kx,bxy->bky", dft_rows[i], image) for i in (0, 1)]  # cos and sin along rows
        real = ops.einsum("bky,ly->bkl", parts[0], dft_cols[0]) - ops.einsum("bky,ly->bkl", parts[1], dft_cols[1])
        imag = ops.einsum("bky,ly->bkl", parts[0], dft_cols[1]) + ops.einsum("bky,ly->bkl", parts[1], dft_cols[0])
        power = real**2 + imag**2
        return ops.einsum("tjk,bkl,tjl->bj", u, power, v)

    def centroids(self, inputs):
        """c = Σⱼ wⱼ log₂ σⱼ per image, float32: (batch,)."""
        energy = self.laplacian_energy(inputs)
        # w ∝ E^p as a softmax of p·log E: no overflow of E^p for large images
        weights = ops.softmax(self.power * ops.log(energy + 1e-30), axis=-1)
        return ops.sum(weights * np.log2(self.sigmas).astype("float32"), axis=-1)

    def relative(self, c, reference):
        """c − `reference` (float32, or a Python float: no captured tensor in an exported graph) per image,
        in the compute dtype."""
        return ops.cast(c - reference, self.compute_dtype)

    def inference(self, inputs, reference):
        """The estimate for a given reference: what `fold` exports."""
        return self.relative(self.centroids(inputs), reference)

    def call(self, inputs, training=False):
        c = self.centroids(inputs)
        return self.relative(c, moving_reference(self, c, training))

    def get_config(self):
        config = super().get_config()
        config.update({"sigma_range": list(self.sigma_range), "power": self.power})
        return config


def moving_reference(layer, values, training):
    """The reference of `values` (float32): in training their mean, which updates
    `layer.moving_reference` by `layer.momentum` as batch normalisation does; else `layer.moving_reference`."""
    if not training:
        return ops.cast(layer.moving_reference, "float32")
    reference = ops.mean(values)
    layer.moving_reference.assign(layer.momentum * layer.moving_reference + (1 - layer.momentum) * reference)
    return reference


def _check_sigma_range(sigma_range):
    """`sigma_range` as (low, high) floats: positive, low < high, each 2^(k/4); else ValueError naming it."""
    ok = (isinstance(sigma_range, (list, tuple)) and len(sigma_range) == 2
          and all(isinstance(s, numbers.Real) and not isinstance(s, bool) and s > 0 for s in sigma_range))
    if ok:
        steps = [math.log2(s) * STEPS_PER_OCTAVE for s in sigma_range]
        ok = steps[0] < steps[1] and all(abs(k - round(k)) < 1e-9 for k in steps)
    if not ok:
        raise ValueError("`sigma_range` must be (smallest, largest) σ, positive, increasing, each a power of "
                         f"2^(1/4) (e.g. (0.5, 64)). Received: sigma_range={sigma_range!r}")
    return tuple(float(s) for s in sigma_range)
