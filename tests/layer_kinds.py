"""The one table of every structured layer kind that the tests sweep: a new kind is added here once.

`KINDS`: kind → (a factory of a small layer of that kind taking extra options as keywords, one
input shape with its batch size): orders up to 3, a non-square kernel, several bases, a depth
multiplier, odd sizes (so the discrete analogue applies to every Gaussian kind). Modules that sweep "every layer" import it; a module that needs
another configuration of a kind (a non-square kernel, a whole-input kernel) says why beside it.
`test_layer_kinds.py` checks that every public layer of the package has a kind here.
"""

from keras_gaussconv import (
    DisplacedGaussianConv2D,
    GaborConv1D,
    GaborConv2D,
    GaussianDerivativeConv1D,
    GaussianDerivativeConv2D,
    GaussianDerivativeConv3D,
    GaussianDerivativeDepthwiseConv2D,
    rfnn_conv2d,
)

KINDS = {
    "gaussian1d": (lambda **kw: GaussianDerivativeConv1D(4, 9, order=3, num_bases=2, **kw), (2, 14, 2)),
    "gaussian2d": (lambda **kw: GaussianDerivativeConv2D(4, (7, 5), order=2, num_bases=2, **kw), (2, 10, 9, 3)),
    "separable": (lambda **kw: GaussianDerivativeConv2D(4, 7, order=1, num_bases=2, separable=True, **kw), (2, 10, 9, 3)),
    "gaussian3d": (lambda **kw: GaussianDerivativeConv3D(2, 5, order=2, **kw), (1, 6, 7, 6, 2)),
    "depthwise": (lambda **kw: GaussianDerivativeDepthwiseConv2D(7, depth_multiplier=2, num_bases=3, order=2, **kw),
                  (2, 10, 9, 3)),
    "gabor1d": (lambda **kw: GaborConv1D(3, 11, num_kernels=2, **kw), (2, 16, 2)),
    "gabor2d": (lambda **kw: GaborConv2D(4, 7, num_kernels=3, num_bases=2, **kw), (2, 10, 9, 3)),
    "displaced": (lambda **kw: DisplacedGaussianConv2D(4, 5, num_units=3, **kw), (2, 10, 9, 3)),
    "rfnn": (lambda **kw: rfnn_conv2d(4, 5, order=2, **kw), (2, 10, 9, 3)),
}
# The Gaussian-derivative kinds (they take `discretization`, `scale_normalized`, ...).
GAUSSIAN_KINDS = ("gaussian1d", "gaussian2d", "separable", "gaussian3d", "depthwise")
