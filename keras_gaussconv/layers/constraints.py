"""Element-wise weight constraints."""

import keras

from keras_gaussconv.bases.autodiff import at_least


@keras.saving.register_keras_serializable(package="keras_gaussconv")
class MinValue(keras.constraints.Constraint):
    """Clips every element of a weight from below: w ← max(w, min_value).

    Unlike `keras.constraints.MinMaxNorm`, which bounds the norm of a whole
    tensor, this bounds each element, e.g. each σ of a basis.

    Args:
        min_value: the lower bound.
    """

    def __init__(self, min_value):
        self.min_value = float(min_value)

    def __call__(self, w):
        return at_least(w, self.min_value)

    def get_config(self):
        return {"min_value": self.min_value}
