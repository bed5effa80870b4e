"""Size normalisation: each image resampled about its intensity centroid to the training images' size.

The method of moments (as character recognition normalises glyphs): the centroid and the RMS
radius of an image's intensity move and grow exactly with the object, whatever its fine detail,
so a network behind this layer sees every object at the size it learned.
"""

import keras
import numpy as np
from keras import ops

from keras_gaussconv.layers.scale_selection import ReferencedImageLayer, moving_reference
from keras_gaussconv.layers.validation import check_int_tuple, check_positive_float

_EPSILON = 1e-6  # of the total intensity and the variance: a blank image resamples to a blank one


def moments(image):
    """Centroid and log₂ RMS radius of `image` (batch, rows, cols) ≥ 0, float32.

    With w the image, μ = Σ w x / Σ w and r² = Σ w |x − μ|² / Σ w (x in pixels).

    Returns:
        `(mu_rows, mu_cols, log_size)`, each (batch, 1).
    """
    profiles = ops.sum(image, axis=2), ops.sum(image, axis=1)  # (batch, rows), (batch, cols)
    total = ops.sum(profiles[0], axis=1, keepdims=True) + _EPSILON
    centres, variance = [], 0.0
    for profile in profiles:
        position = np.arange(profile.shape[1], dtype="float32")
        centre = ops.sum(profile * position, axis=1, keepdims=True) / total
        variance = variance + ops.sum(profile * ops.square(centre - position), axis=1, keepdims=True) / total
        centres.append(centre)
    return centres[0], centres[1], 0.5 * ops.log2(variance + _EPSILON)


def resampling_matrix(centre, step, size, length):
    """(batch, size, length): output i samples at p = centre + (i − (size−1)/2)·step with the tent of
    width w = max(1, step) (bilinear; anti-aliased when it shrinks), weights summing to 1 over the input.

    `centre`, `step`: (batch, 1) in input pixels.
    """
    p = centre + step * (np.arange(size, dtype="float32") - (size - 1) / 2)  # (batch, size); tensors first: symbolic too
    width = ops.maximum(step, 1.0)[:, :, None]
    tent = ops.relu(1.0 - ops.abs(p[:, :, None] - np.arange(length, dtype="float32")) / width)
    # the tent sampled at integers sums to 1 only for integer widths: normalise (zero outside the image)
    return tent / ops.maximum(ops.sum(tent, axis=2, keepdims=True), _EPSILON)


@keras.saving.register_keras_serializable(package="keras_gaussconv")
class SizeNormalization(ReferencedImageLayer):
    """Each 2-D image resampled about its centroid to the training images' size times `scale`.

    With w = |f| (the channels' mean), the centroid μ and RMS radius r of w
    (`moments`) are covariant: magnifying the image by m moves μ with the
    object and multiplies r by m. Output pixel (i, j) of the `output_size`
    grid samples f at μ + (i − (h−1)/2, j − (w−1)/2)·t, with
    t = 2^(log₂ r − ρ) / `scale` and a tent filter of width max(1, t)
    (bilinear, anti-aliased when it shrinks); so every object comes out with
    RMS radius 2^ρ · `scale`. ρ, the reference: in training the batch's mean
    of log₂ r (updating `moving_reference` with `momentum`, as batch
    normalisation does), in inference `moving_reference`. Meant for an object
    on a zero background (digits, shapes): clutter moves μ and r with it.

    Args:
        output_size: (rows, cols) of the output, or one int for both.
        scale: the output's size against the training images' (2: twice as large).
        momentum: of the moving reference, in [0, 1).
        **kwargs: passed to `keras.layers.Layer`.

    Input shape:
        `(batch, rows, cols, channels)`, rows and cols known.

    Output shape:
        `(batch, output_rows, output_cols, channels)`.
    """

    def __init__(self, output_size, scale=1.0, momentum=0.9, **kwargs):
        super().__init__(momentum=momentum, **kwargs)
        self.output_size = check_int_tuple("output_size", output_size, 2)
        self.scale = check_positive_float("scale", scale)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.output_size, input_shape[-1])

    def log_sizes(self, inputs):
        """log₂ r per image (batch, 1), float32, and the centroid's rows and cols (batch, 1) each."""
        mu_rows, mu_cols, log_size = moments(ops.mean(ops.abs(ops.cast(inputs, "float32")), axis=-1))
        return log_size, mu_rows, mu_cols

    def resample(self, inputs, sizes, reference):
        """`inputs` resampled to `output_size`, given their `log_sizes` and the reference ρ."""
        log_size, mu_rows, mu_cols = (ops.stop_gradient(t) for t in sizes)
        step = ops.exp((log_size - reference) * np.log(2.0)) / self.scale  # 2^x: ONNX has no exp2
        (rows, cols), image = self.output_size, ops.cast(inputs, "float32")
        along_rows = resampling_matrix(mu_rows, step, rows, inputs.shape[1])
        along_cols = resampling_matrix(mu_cols, step, cols, inputs.shape[2])
        x = ops.einsum("bir,brwc->biwc", along_rows, image)
        return ops.cast(ops.einsum("biwc,bjw->bijc", x, along_cols), self.compute_dtype)

    def inference(self, inputs, reference):
        """`inputs` resampled to `output_size` with the reference ρ."""
        return self.resample(inputs, self.log_sizes(inputs), reference)

    def call(self, inputs, training=False):
        sizes = self.log_sizes(inputs)
        return self.resample(inputs, sizes, moving_reference(self, sizes[0], training))

    def get_config(self):
        config = super().get_config()
        config.update({"output_size": list(self.output_size), "scale": self.scale})
        return config
