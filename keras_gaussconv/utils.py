"""Small helpers for models that hold structured layers."""

import numpy as np

from keras_gaussconv.folding import structured_layers

__all__ = ["count_parameters", "structured_layers"]


def count_parameters(model, trainable=True):
    """The number of trainable (or, with `trainable=False`, all) scalar weights of a layer or model."""
    weights = model.trainable_weights if trainable else model.weights
    return int(sum(np.prod(w.shape) for w in weights))
