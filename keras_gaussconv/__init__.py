"""keras-gaussconv: trainable structured-kernel convolution layers for Keras 3."""

from keras_gaussconv import bases
from keras_gaussconv.callbacks import GeometryMonitor
from keras_gaussconv.initializers import EvenlySpaced, RandomRotation
from keras_gaussconv.layers import (
    BasisConv,
    BasisConv1D,
    BasisConv2D,
    BasisConv3D,
    ConvNormAct,
    DisplacedGaussianConv2D,
    GaborConv1D,
    GaborConv2D,
    GaussianDerivativeConv1D,
    GaussianDerivativeConv2D,
    GaussianDerivativeConv3D,
    GaussianDerivativeDepthwiseConv2D,
    GeometricWeight,
    ImageScale,
    MinValue,
    ScaleChannels,
    ScalePooling,
    SizeNormalization,
    rfnn_conv2d,
)
from keras_gaussconv.utils import count_parameters, structured_layers

__version__ = "0.2.0"
