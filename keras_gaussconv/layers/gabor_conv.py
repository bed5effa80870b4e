"""`GaborConv1D` and `GaborConv2D`: kernels made of trainable Gabor functions."""

import math

import keras

from keras_gaussconv.bases.gabor import gabor_basis, gabor_basis_1d
from keras_gaussconv.bases.grid import sampling_grid
from keras_gaussconv.initializers import EvenlySpaced
from keras_gaussconv.layers.basis_conv import BasisConv1D, BasisConv2D
from keras_gaussconv.layers.docstrings import conv_docstring
from keras_gaussconv.layers.validation import check_positive_int


class GaborMixin:
    """The rank-generic part of the Gabor layers: N kernels with σ, μ, frequency and phase (θ in 2-D)."""

    def declare_gabor(
        self, normalize, sigma_initializer, offset_initializer, frequency_initializer, phase_initializer,
        trainable_sigma, trainable_offset, trainable_frequency, trainable_phase, min_sigma,
        theta_initializer=None, trainable_theta=True,
    ):
        self.normalize = bool(normalize)
        uniform = keras.initializers.RandomUniform
        axes = () if self.rank == 1 else (self.rank,)
        self.declare_sigma(axes, sigma_initializer, uniform(1.0, 3.0), trainable_sigma, min_sigma)
        self.declare_geometry(
            "offset", axes, offset_initializer, keras.initializers.Zeros(), trainable_offset, scale_power=1
        )
        if self.rank == 2:
            self.declare_geometry("theta", (), theta_initializer, EvenlySpaced(0.0, math.pi), trainable_theta)
        self.declare_geometry(
            "frequency", (), frequency_initializer, uniform(0.05, 0.35), trainable_frequency, scale_power=-1
        )
        self.declare_geometry("phase", (), phase_initializer, uniform(-math.pi, math.pi), trainable_phase)

    def get_config(self):
        config = super().get_config()
        config.update({"num_kernels": self.num_kernels, "normalize": self.normalize})
        return config


@keras.saving.register_keras_serializable(package="keras_gaussconv")
@conv_docstring(1)
class GaborConv1D(GaborMixin, BasisConv1D):
    """1-D convolution whose kernels combine trainable Gabor functions: a learnable filter bank.

    Each of the B bases holds N = `num_kernels` kernels
    φ = exp(-y²/2σ²) · cos(2π f y + ψ), y = x - μ (times 1/(σ√(2π)) when
    `normalize`), each with its own σ, μ, centre frequency f and phase ψ,
    combined like `GaborConv2D`'s (full eq. 3 or `separable` eq. 4). With
    one input channel and `separable=False` the N kernels are a band-pass
    filter bank whose centre frequencies and bandwidths (∝ 1/σ) are trained.

    Weights: `sigma`, `offset`, `frequency` (cycles per sample), `phase`,
    each (B, N), then the coefficients and `bias` as in `BasisConv`.

    Args:
        filters: F_out, divisible by `num_bases`.
        kernel_size: int or tuple of 1 int, or None: 2n − 1 taps along an input axis of n samples
            (the whole input; 'same' padding, stride 1).
        num_kernels: N, Gabor kernels per basis.
        num_bases: B.
        separable: eq. (4) instead of eq. (3).
        normalize: multiply each kernel by 1/(σ√(2π)).
        sigma_initializer: default U(1, 3).
        offset_initializer: default zeros.
        frequency_initializer: default U(0.05, 0.35) cycles per sample
            (below the Nyquist frequency 0.5).
        phase_initializer: default U(-π, π).
        trainable_sigma: whether σ is trained.
        trainable_offset: whether μ is trained.
        trainable_frequency: whether the frequency is trained.
        trainable_phase: whether the phase is trained.
        min_sigma: element-wise lower bound of σ (default 0.2).
{conv_args}

{shapes}

    Examples:
        >>> layer = GaborConv1D(16, 31, num_kernels=8, padding="same")
        >>> layer.compute_output_shape((None, 400, 1))
        (None, 400, 16)
    """

    def __init__(
        self, filters, kernel_size, num_kernels=8, num_bases=1, separable=False, normalize=False,
        sigma_initializer=None, offset_initializer=None, frequency_initializer=None,
        phase_initializer=None, trainable_sigma=True, trainable_offset=True, trainable_frequency=True,
        trainable_phase=True, min_sigma=0.2, strides=1, padding="valid", data_format=None,
        dilation_rate=1, activation=None, use_bias=True, coefficients_initializer=None,
        bias_initializer="zeros", coefficients_regularizer=None, bias_regularizer=None,
        activity_regularizer=None, coefficients_constraint=None, bias_constraint=None,
        implementation="auto", normalize_basis=False,
        **kwargs,
    ):
        self.num_kernels = check_positive_int("num_kernels", num_kernels)
        super().__init__(
            filters, kernel_size, num_bases=num_bases, separable=separable, strides=strides, padding=padding,
            data_format=data_format, dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            coefficients_initializer=coefficients_initializer, bias_initializer=bias_initializer,
            coefficients_regularizer=coefficients_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, coefficients_constraint=coefficients_constraint,
            bias_constraint=bias_constraint, implementation=implementation, normalize_basis=normalize_basis,
            **kwargs,
        )
        self.declare_gabor(
            normalize, sigma_initializer, offset_initializer, frequency_initializer, phase_initializer,
            trainable_sigma, trainable_offset, trainable_frequency, trainable_phase, min_sigma,
        )

    def compute_basis(self, sigma, offset, frequency, phase):
        grid = sampling_grid(self.kernel_size, sigma.dtype)
        return gabor_basis_1d(grid, self.bounded_sigma(sigma), offset, frequency, phase, normalize=self.normalize)


@keras.saving.register_keras_serializable(package="keras_gaussconv")
@conv_docstring(2)
class GaborConv2D(GaborMixin, BasisConv2D):
    """Convolution whose kernels combine trainable Gabor functions.

    Each of the B bases holds N = `num_kernels` Gabor kernels
    φ = exp(-y₁²/2σ₁² - y₂²/2σ₂²) · cos(2π f y₁ + ψ) (times 1/(2π σ₁ σ₂) when
    `normalize`), y₁ = x cos θ + y sin θ - μ₁, y₂ = -x sin θ + y cos θ - μ₂,
    each with its own σ, μ, θ, f and ψ; they are combined like
    `GaussianDerivativeConv2D`'s (full eq. 3 or `separable` eq. 4).

    Weights: `sigma` (B, N, 2), `offset` (B, N, 2), `theta` (B, N),
    `frequency` (B, N, cycles per pixel), `phase` (B, N), then the
    coefficients and `bias` as in `BasisConv2D`.

    Args:
        filters: F_out, divisible by `num_bases`.
        kernel_size: int or pair `(kh, kw)`, or None: 2n − 1 taps along an input axis of n samples
            (the whole input; 'same' padding, stride 1).
        num_kernels: N, Gabor kernels per basis.
        num_bases: B.
        separable: eq. (4) instead of eq. (3).
        normalize: multiply each kernel by 1/(2π σ₁ σ₂), as
            `skimage.filters.gabor_kernel`.
        sigma_initializer: default U(1, 3).
        offset_initializer: default zeros (a shift along the carrier
            duplicates a phase change).
        theta_initializer: default `EvenlySpaced(0, π)`: N orientations
            spread over half a turn.
        frequency_initializer: default U(0.05, 0.35) cycles per pixel
            (below the Nyquist frequency 0.5).
        phase_initializer: default U(-π, π).
        trainable_sigma: whether σ is trained.
        trainable_offset: whether μ is trained.
        trainable_theta: whether θ is trained.
        trainable_frequency: whether the frequency is trained.
        trainable_phase: whether the phase is trained.
        min_sigma: element-wise lower bound of σ (default 0.2).
{conv_args}

{shapes}

    Examples:
        >>> layer = GaborConv2D(16, 11, num_kernels=8, num_bases=2, padding="same")
        >>> tuple(layer(np.zeros((1, 32, 32, 3), "float32")).shape)
        (1, 32, 32, 16)
    """

    def __init__(
        self, filters, kernel_size, num_kernels=8, num_bases=1, separable=False, normalize=False,
        sigma_initializer=None, offset_initializer=None, theta_initializer=None,
        frequency_initializer=None, phase_initializer=None, trainable_sigma=True,
        trainable_offset=True, trainable_theta=True, trainable_frequency=True, trainable_phase=True,
        min_sigma=0.2, strides=1, padding="valid", data_format=None, dilation_rate=1,
        activation=None, use_bias=True, coefficients_initializer=None, bias_initializer="zeros",
        coefficients_regularizer=None, bias_regularizer=None, activity_regularizer=None,
        coefficients_constraint=None, bias_constraint=None, implementation="auto", normalize_basis=False,
        **kwargs,
    ):
        self.num_kernels = check_positive_int("num_kernels", num_kernels)
        super().__init__(
            filters, kernel_size, num_bases=num_bases, separable=separable, strides=strides, padding=padding,
            data_format=data_format, dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            coefficients_initializer=coefficients_initializer, bias_initializer=bias_initializer,
            coefficients_regularizer=coefficients_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, coefficients_constraint=coefficients_constraint,
            bias_constraint=bias_constraint, implementation=implementation, normalize_basis=normalize_basis,
            **kwargs,
        )
        self.declare_gabor(
            normalize, sigma_initializer, offset_initializer, frequency_initializer, phase_initializer,
            trainable_sigma, trainable_offset, trainable_frequency, trainable_phase, min_sigma,
            theta_initializer, trainable_theta,
        )

    def compute_basis(self, sigma, offset, theta, frequency, phase):
        return gabor_basis(
            sampling_grid(self.kernel_size, sigma.dtype), self.bounded_sigma(sigma), offset, theta,
            frequency, phase, normalize=self.normalize,
        )
