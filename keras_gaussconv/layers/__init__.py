"""Structured-kernel convolution layers."""

from keras_gaussconv.layers.basis_conv import BasisConv, BasisConv1D, BasisConv2D, BasisConv3D
from keras_gaussconv.layers.constraints import MinValue
from keras_gaussconv.layers.conv_norm_act import ConvNormAct
from keras_gaussconv.layers.gabor_conv import GaborConv1D, GaborConv2D
from keras_gaussconv.layers.gaussian_derivative_conv import (
    GaussianDerivativeConv1D,
    GaussianDerivativeConv2D,
    GaussianDerivativeConv3D,
    GaussianDerivativeDepthwiseConv2D,
)
from keras_gaussconv.layers.geometry import GeometricWeight
from keras_gaussconv.layers.presets import DisplacedGaussianConv2D, rfnn_conv2d
from keras_gaussconv.layers.scale_channels import ScaleChannels, ScalePooling
from keras_gaussconv.layers.scale_selection import ImageScale
from keras_gaussconv.layers.size_normalization import SizeNormalization
