"""Pure execution paths, FFT convolution and the cost model of the structured layers, any rank."""

from keras_gaussconv.ops.conv_spec import ConvSpec
from keras_gaussconv.ops.costs import PRICES, backend_prices, cheapest, path_costs
from keras_gaussconv.ops.fft import fft_conv, fft_depthwise_conv, fft_length, fft_lengths
from keras_gaussconv.ops.paths import PATHS, convolve, full_kernel, separable_kernel
