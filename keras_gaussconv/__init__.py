"""keras-gaussconv: trainable structured-kernel convolution layers for Keras 3."""

from keras_gaussconv import bases
from keras_gaussconv.initializers import EvenlySpaced
from keras_gaussconv.layers import (
    BasisConv2D,
    ConvNormAct,
    DisplacedGaussianConv2D,
    GaborConv2D,
    GaussianDerivativeConv2D,
    MinValue,
    rfnn_conv2d,
)

__version__ = "0.1.0"
