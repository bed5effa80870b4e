"""Initializers for geometric weights."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_gaussconv")
class EvenlySpaced(keras.initializers.Initializer):
    """Values evenly spaced along the last axis, repeated over the others.

    w[..., n] = minval + (maxval - minval) · n / N: maxval is excluded, so
    angles spread over a period, e.g. `EvenlySpaced(0, π)` gives N distinct
    orientations.

    Args:
        minval: first value.
        maxval: end of the range (excluded).
    """

    def __init__(self, minval=0.0, maxval=1.0):
        self.minval = float(minval)
        self.maxval = float(maxval)

    def __call__(self, shape, dtype=None):
        n = shape[-1]
        values = self.minval + (self.maxval - self.minval) * np.arange(n) / n
        return ops.cast(np.broadcast_to(values, shape), dtype or "float32")

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}
