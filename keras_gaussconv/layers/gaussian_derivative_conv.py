"""`GaussianDerivativeConv2D`: kernels made of trainable Gaussian derivatives."""

import math

import keras
from keras_gaussconv.bases.gaussian import gaussian_derivative_basis, num_gaussian_derivatives
from keras_gaussconv.bases.grid import sampling_grid
from keras_gaussconv.layers.basis_conv import BasisConv2D
from keras_gaussconv.layers.validation import check_non_negative_int


@keras.saving.register_keras_serializable(package="keras_gaussconv")
class GaussianDerivativeConv2D(BasisConv2D):
    """Fully trainable Gaussian-derivative convolution (Penaud--Polge et al., 2022).

    Every kernel combines B bases of N = (K+1)(K+2)/2 anisotropic, shifted,
    oriented Gaussian derivatives φ = G_p(y₁, σ₁) · G_q(y₂, σ₂), p + q <= K,
    with y₁ = x cos θ + y sin θ - μ₁ and y₂ = -x sin θ + y cos θ - μ₂; the
    scales, shifts and orientations are trained with the combination.

    Weights: `sigma` (B, N, 2), `offset` (B, N, 2), `theta` (B, N), then
    `coefficients` (B, F_in, F_out/B, N), or `coefficients_in` (B, F_in, N)
    and `coefficients_out` (B, N, F_out/B) when `separable=True`, and `bias`
    (F_out,). Output shape as `keras.layers.Conv2D`.

    Args:
        filters: F_out, divisible by `num_bases`.
        kernel_size: int or pair `(kh, kw)`, sampled exactly as given.
        order: K, the maximal total order of derivation (>= 0).
        num_bases: B.
        separable: combine with eq. 4 (β then λ) instead of eq. 3 (ω).
        sigma_initializer: default U(0.5, 2), as the reference.
        offset_initializer: default U(-1, 1).
        theta_initializer: default U(-π, π).
        trainable_sigma, trainable_offset, trainable_theta: whether each
            group of geometric weights is trained.
        min_sigma: lower bound of every σ, applied after each update and in
            the forward pass (σ_used = max(σ, min_sigma)), so an assigned
            σ = 0 still gives finite outputs. Default 0.2.
        **kwargs: the arguments of `BasisConv2D` (`strides`, `padding`,
            `data_format`, `dilation_rate`, `activation`, `use_bias`,
            `coefficients_*`, `bias_*`, `implementation`) and of
            `keras.layers.Layer` (`name`, `dtype`, `trainable`).

    Example:

    >>> model = keras.Sequential([keras.Input((32, 32, 3))])
    >>> model.add(GaussianDerivativeConv2D(16, 7, order=3, num_bases=4, padding="same"))
    >>> model.output_shape
    (None, 32, 32, 16)

    Reference:
        V. Penaud--Polge, S. Velasco-Forero, J. Angulo. Fully Trainable
        Gaussian Derivative Convolutional Layer. ICIP 2022.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        order=2,
        num_bases=1,
        separable=False,
        sigma_initializer=None,
        offset_initializer=None,
        theta_initializer=None,
        trainable_sigma=True,
        trainable_offset=True,
        trainable_theta=True,
        min_sigma=0.2,
        **kwargs,
    ):
        self.order = check_non_negative_int("order", order)
        super().__init__(
            filters, kernel_size, num_bases=num_bases, separable=separable, **kwargs
        )
        self.num_kernels = num_gaussian_derivatives(self.order)
        self.declare_sigma(
            (2,), sigma_initializer, keras.initializers.RandomUniform(0.5, 2.0),
            trainable_sigma, min_sigma,
        )
        self.declare_geometry(
            "offset", (2,), offset_initializer, keras.initializers.RandomUniform(-1.0, 1.0),
            trainable_offset,
        )
        self.declare_geometry(
            "theta", (), theta_initializer, keras.initializers.RandomUniform(-math.pi, math.pi),
            trainable_theta,
        )

    def compute_basis(self, sigma, offset, theta):
        return gaussian_derivative_basis(
            sampling_grid(self.kernel_size, sigma.dtype), self.bounded_sigma(sigma), offset, theta, self.order
        )

    def get_config(self):
        config = super().get_config()
        config["order"] = self.order
        return config
