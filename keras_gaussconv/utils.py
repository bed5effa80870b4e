"""Small helpers for models that hold structured layers."""

import keras
import numpy as np

from keras_gaussconv.layers.basis_conv import BasisConv
from keras_gaussconv.layers.conv_norm_act import ConvNormAct


def structured_layers(layer):
    """Every `BasisConv` in a layer or model: nested models and `ConvNormAct` wrappers included."""
    if isinstance(layer, BasisConv):
        return [layer]
    if isinstance(layer, ConvNormAct):
        return structured_layers(layer.conv)
    if isinstance(layer, keras.Model):
        return [found for inner in layer.layers for found in structured_layers(inner)]
    return []


def count_parameters(model, trainable=True):
    """The number of trainable (or, with `trainable=False`, all) scalar weights of a layer or model."""
    weights = model.trainable_weights if trainable else model.weights
    return int(sum(np.prod(w.shape) for w in weights))
