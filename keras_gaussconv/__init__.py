"""keras-gaussconv: trainable structured-kernel convolution layers for Keras 3."""

from keras_gaussconv import bases
from keras_gaussconv.layers import BasisConv2D, GaussianDerivativeConv2D, MinValue

__version__ = "0.1.0"
