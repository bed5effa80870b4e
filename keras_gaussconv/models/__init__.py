"""Networks built from the structured layers: functional graphs with deterministic layer names."""

from keras_gaussconv.models.convnext import apply_convnext_block, convnext_classifier
from keras_gaussconv.models.comparison import LAYER_TYPES, apply_conv_block, comparison_net, make_conv, stock_cnn
from keras_gaussconv.models.unet import apply_unet_block, gaussian_unet, scale_channel_unet, unet
from keras_gaussconv.models.vgg import gaussian_vgg16
from keras_gaussconv.models.scale import gaussian_derivative_network, gaussian_derivative_resnet, size_normalized_network
