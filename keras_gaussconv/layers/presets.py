"""The related work the paper compares against, as configurations of our layers.

* RFNN (Jacobsen et al., CVPR 2016): a fixed, isotropic local N-jet of
  Gaussian derivatives; only the combination is learned.
* DAU (Tabernik et al., CVPR 2018 / IJCV 2020): each filter a weighted sum of
  displaced isotropic Gaussians with trainable positions and scales.
"""

import keras

from keras_gaussconv.bases.gaussian import displaced_gaussian_basis
from keras_gaussconv.bases.grid import sampling_grid
from keras_gaussconv.layers.basis_conv import BasisConv2D
from keras_gaussconv.layers.docstrings import conv_docstring
from keras_gaussconv.layers.gaussian_derivative_conv import GaussianDerivativeConv2D
from keras_gaussconv.layers.validation import check_positive_float, check_positive_int

_RFNN_FIXED = (
    "sigma_initializer",
    "offset_initializer",
    "theta_initializer",
    "trainable_sigma",
    "trainable_offset",
    "trainable_theta",
)


def rfnn_conv2d(filters, kernel_size, order=2, sigma=1.5, **kwargs):
    """An RFNN layer: `GaussianDerivativeConv2D` with a fixed isotropic N-jet.

    Every basis kernel has σ₁ = σ₂ = `sigma`, μ = 0, θ = 0, none of them
    trainable: the basis is the local N-jet G_p(x, σ) G_q(y, σ), p + q <= K,
    and only the combination (and bias) is learned.

    Args:
        filters: as `GaussianDerivativeConv2D`.
        kernel_size: as `GaussianDerivativeConv2D`.
        order: as `GaussianDerivativeConv2D`.
        sigma: the scale of the N-jet (default 1.5).
        **kwargs: other `GaussianDerivativeConv2D` arguments (`num_bases`,
            `separable`, `padding`, `name`, ...), except the geometric
            initializers and `trainable_*` flags that define the preset.

    Returns:
        A `GaussianDerivativeConv2D` (saved and loaded as such).

    Reference:
        J.-H. Jacobsen, J. van Gemert, Z. Lou, A. Smeulders. Structured
        Receptive Fields in CNNs. CVPR 2016.
    """
    fixed = sorted(set(kwargs) & set(_RFNN_FIXED))
    if fixed:
        raise ValueError(
            f"rfnn_conv2d fixes the geometry; it takes no {fixed}. "
            f"Received: {', '.join(f'{k}={kwargs[k]!r}' for k in fixed)}"
        )
    sigma = check_positive_float("sigma", sigma)
    kwargs.setdefault("min_sigma", min(0.2, sigma))
    return GaussianDerivativeConv2D(
        filters,
        kernel_size,
        order=order,
        sigma_initializer=keras.initializers.Constant(sigma),
        offset_initializer="zeros",
        theta_initializer="zeros",
        trainable_sigma=False,
        trainable_offset=False,
        trainable_theta=False,
        **kwargs,
    )


@keras.saving.register_keras_serializable(package="keras_gaussconv")
@conv_docstring(2)
class DisplacedGaussianConv2D(BasisConv2D):
    """DAU-style convolution: filters are mixtures of displaced isotropic Gaussians.

    Each basis holds N = `num_units` Gaussians φ[b, n] = G(x - μ₁, σ) · G(y - μ₂, σ)
    with their own trainable centre μ (`offset`, B × N × 2) and scale σ
    (`sigma`, B × N); filters combine them as in `BasisConv2D`.

    Args:
        filters: F_out, divisible by `num_bases`.
        kernel_size: int or pair; the window the units live in.
        num_units: N, Gaussians per basis.
        num_bases: B.
        separable: eq. (4) instead of eq. (3).
        sigma_initializer: default U(0.5, 1.5).
        offset_initializer: default U(-r, r) with r = (min(kh, kw) - 1) / 4,
            so units start spread inside the window.
        trainable_sigma: whether σ is trained.
        trainable_offset: whether μ is trained.
        min_sigma: element-wise lower bound of σ (default 0.2).
{conv_args}

{shapes}

    Examples:
        >>> layer = DisplacedGaussianConv2D(16, 9, num_units=4, num_bases=2, padding="same")
        >>> layer.compute_output_shape((None, 28, 28, 3))
        (None, 28, 28, 16)

    Reference:
        D. Tabernik, M. Kristan, A. Leonardis. Spatially-Adaptive Filter Units
        for Compact and Efficient Deep Neural Networks. IJCV 2020.
    """

    def __init__(
        self, filters, kernel_size, num_units=4, num_bases=1, separable=False,
        sigma_initializer=None, offset_initializer=None, trainable_sigma=True, trainable_offset=True,
        min_sigma=0.2, strides=1, padding="valid", data_format=None, dilation_rate=1,
        activation=None, use_bias=True, coefficients_initializer=None, bias_initializer="zeros",
        coefficients_regularizer=None, bias_regularizer=None, activity_regularizer=None,
        coefficients_constraint=None, bias_constraint=None, implementation="auto", normalize_basis=False,
        **kwargs,
    ):
        self.num_kernels = check_positive_int("num_units", num_units)
        if kernel_size is None:
            raise ValueError(
                "DisplacedGaussianConv2D spreads its units over a fixed window: `kernel_size` must be given. "
                "Received: kernel_size=None"
            )
        super().__init__(
            filters, kernel_size, num_bases=num_bases, separable=separable, strides=strides, padding=padding,
            data_format=data_format, dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            coefficients_initializer=coefficients_initializer, bias_initializer=bias_initializer,
            coefficients_regularizer=coefficients_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, coefficients_constraint=coefficients_constraint,
            bias_constraint=bias_constraint, implementation=implementation, normalize_basis=normalize_basis,
            **kwargs,
        )
        reach = max((min(self.kernel_size) - 1) / 4.0, 0.5)
        uniform = keras.initializers.RandomUniform
        self.declare_sigma((), sigma_initializer, uniform(0.5, 1.5), trainable_sigma, min_sigma)
        self.declare_geometry(
            "offset", (2,), offset_initializer, uniform(-reach, reach), trainable_offset, scale_power=1
        )

    @property
    def num_units(self):
        return self.num_kernels

    def compute_basis(self, sigma, offset):
        grid = sampling_grid(self.kernel_size, sigma.dtype)
        return displaced_gaussian_basis(grid, self.bounded_sigma(sigma), offset)

    def get_config(self):
        config = super().get_config()
        config["num_units"] = self.num_units
        return config
