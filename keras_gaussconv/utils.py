"""Small helpers for models that hold structured layers."""

import numpy as np

from keras_gaussconv.folding import structured_layers

__all__ = ["count_parameters", "require", "structured_layers"]


def count_parameters(model, trainable=True):
    """The number of trainable (or, with `trainable=False`, all) scalar weights of a layer or model."""
    weights = model.trainable_weights if trainable else model.weights
    return int(sum(np.prod(w.shape) for w in weights))


def require(module, package):
    """Imports an optional dependency's `module`, or says in one line which extra installs `package`."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as error:
        raise ImportError(f"{package} is needed for this: pip install 'keras-gaussconv[examples]'") from error
