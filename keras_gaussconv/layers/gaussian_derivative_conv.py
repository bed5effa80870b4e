"""Gaussian-derivative convolutions of rank 1, 2 and 3, and depthwise in 2-D: kernels made of trainable Gaussian derivatives."""

import math

import keras

from keras_gaussconv.bases.gaussian import (
    check_discrete_kernel_size,
    check_discretization,
    gaussian_derivative_basis,
    gaussian_derivative_basis_1d,
    gaussian_derivative_basis_3d,
    num_gaussian_derivatives,
    scale_normalize,
)
from keras_gaussconv.bases.grid import numpy_grid
from keras_gaussconv.initializers import RandomRotation
from keras_gaussconv.layers.basis_conv import BasisConv1D, BasisConv2D, BasisConv3D
from keras_gaussconv.layers.docstrings import conv_docstring
from keras_gaussconv.layers.validation import check_bool, check_non_negative_int
from keras_gaussconv.native import gaussian_basis as native_gaussian_basis


class GaussianDerivativeMixin:
    """The Gaussian-derivative family's one body, any rank: order K, scales σ, shifts μ, orientation.

    The public classes give their rank's signature and `ORIENTATION`: the
    name, trailing shape and default initializer of the orientation weight
    (None in 1-D, θ in 2-D, a rotation vector in 3-D).
    """

    ORIENTATION = None

    def __init__(
        self, filters, kernel_size, *, order, sigma_initializer, offset_initializer, trainable_sigma,
        trainable_offset, min_sigma, discretization, scale_normalized, orientation_initializer=None,
        trainable_orientation=None, **conv_arguments,
    ):
        self.order = check_non_negative_int("order", order)
        super().__init__(filters, kernel_size, **conv_arguments)
        rank = self.rank
        self.scale_normalized = check_bool("scale_normalized", scale_normalized)
        self.num_kernels = num_gaussian_derivatives(self.order, rank)
        self.discretization = check_discretization(discretization)
        # None: the keras.ops reference (BasisConv read `use_native` at construction)
        self._native_basis = native_gaussian_basis(self.discretization) if self._native else None
        self.frozen_at_zero = []  # weights the discrete analogue cannot hold (not made)
        if self.discretization == "discrete" and self.kernel_size is not None:  # None: 2n − 1 taps, always odd
            check_discrete_kernel_size(self.kernel_size)
        axes = () if rank == 1 else (rank,)
        self.declare_sigma(axes, sigma_initializer, keras.initializers.RandomUniform(0.5, 2.0), trainable_sigma, min_sigma)
        self.declare_shift_or_turn(
            "offset", axes, offset_initializer, keras.initializers.RandomUniform(-1.0, 1.0), trainable_offset
        )
        if self.ORIENTATION is not None:
            name, shape, default = self.ORIENTATION
            self.declare_shift_or_turn(name, shape, orientation_initializer, default(), trainable_orientation)

    def declare_shift_or_turn(self, name, shape, initializer, default, trainable):
        """Declares the offsets or the orientation. `trainable` None resolves from the discretisation: trained,
        except with "discrete", which cannot hold them (none is made; asking for a trained one raises)."""
        if self.discretization != "discrete":
            scale_power = 1 if name == "offset" else 0  # a shift is a length, an angle is not
            trainable = True if trainable is None else trainable
            self.declare_geometry(name, shape, initializer, default, trainable, scale_power=scale_power)
            return
        zero = initializer in (None, "zeros") or isinstance(initializer, keras.initializers.Zeros)
        if trainable or not zero:
            what = "a sub-pixel shift" if name == "offset" else "a rotation"
            raise ValueError(
                f"discretization='discrete' (the discrete analogue, defined at the integer taps) cannot hold "
                f"{what}: leave trainable_{name} unset (or False) and {name}_initializer unset (or 'zeros'). "
                f"Received: discretization='discrete', trainable_{name}={trainable!r}, "
                f"{name}_initializer={initializer!r}"
            )
        self.frozen_at_zero.append(name)

    def compute_basis(self, sigma, offset=None, theta=None, rotation=None):
        """The basis of the layer's rank; the orientation is θ (2-D) or a rotation vector (3-D)."""
        phi = None
        if self._native_basis is not None:
            phi = self._native_basis(self.kernel_size, self.order, self.min_sigma, sigma, offset, theta, rotation)
        if phi is not None:
            return scale_normalize(phi, self.bounded_sigma(sigma), self.order) if self.scale_normalized else phi
        sigma = self.bounded_sigma(sigma)
        grid = numpy_grid(self.kernel_size, sigma.dtype)  # constants
        if self.rank == 1:
            phi = gaussian_derivative_basis_1d(grid, sigma, offset, self.order, self.discretization)
        elif self.rank == 2:
            phi = gaussian_derivative_basis(grid, sigma, offset, theta, self.order, self.discretization)
        else:
            phi = gaussian_derivative_basis_3d(grid, sigma, offset, rotation, self.order, self.discretization)
        return scale_normalize(phi, sigma, self.order) if self.scale_normalized else phi

    def get_config(self):
        config = super().get_config()
        config["order"] = self.order
        config["discretization"] = self.discretization
        config["scale_normalized"] = self.scale_normalized
        for name in self.frozen_at_zero:
            config[f"trainable_{name}"] = False
        return config


COMBINATION_DOC = """\
        num_bases: B; `filters` must be divisible by it.
        separable: combine with eq. 4 (β then λ) instead of eq. 3 (ω).
"""

GEOMETRY_DOC = """\
        order: K, the maximal total order of derivation (>= 0).
{combination}        sigma_initializer: default U(0.5, 2), as the reference.
        offset_initializer: default U(-1, 1).
        trainable_sigma: whether σ is trained.
        trainable_offset: whether μ is trained; default None: True, except
            with discretization="discrete" (no offsets).
        min_sigma: lower bound of every σ, applied after each update and in
            the forward pass (σ_used = max(σ, min_sigma)), so an assigned
            σ = 0 still gives finite outputs. Default 0.2.
        discretization: how each G_p(x, σ) becomes a kernel: "sampled"
            (default, the reference's), "normalized" (divided by the sum of
            the sampled order-0 kernel of the same σ, μ and orientation),
            "integrated" (integrated over each tap's unit interval along the
            kernel's axes) or "discrete" (Lindeberg's discrete analogue
            e^{-σ²} I_n(σ²) with central differences: odd kernel sizes, no
            shift or orientation weights: `trainable_offset` and the
            orientation's `trainable_*` resolve to False, and True raises). See
            `keras_gaussconv.bases.gaussian`.
        scale_normalized: multiply the kernel of per-axis orders (p₁, …, p_r)
            by σ₁^p₁ ⋯ σ_r^p_r (Lindeberg's scale-normalised derivatives,
            γ = 1), so the response to a magnified input at a magnified σ
            is the response to the original at the original σ. Default False."""


def _gaussian_docstring(cls):
    # A depthwise layer has one combination and no `filters`: its `num_bases` is documented apart.
    combination = "" if "depth_multiplier" in cls.__doc__ else COMBINATION_DOC
    cls.__doc__ = cls.__doc__.replace("{geometry}", GEOMETRY_DOC.replace("{combination}", combination))
    return cls


@keras.saving.register_keras_serializable(package="keras_gaussconv")
@conv_docstring(1)
@_gaussian_docstring
class GaussianDerivativeConv1D(GaussianDerivativeMixin, BasisConv1D):
    """1-D convolution whose kernels combine trainable Gaussian derivatives (signals, time series).

    Each of the B bases holds the N = K + 1 derivatives φ_p = G_p(x - μ, σ),
    p = 0..K, each with its own σ and μ, combined like
    `GaussianDerivativeConv2D`'s (full eq. 3 or `separable` eq. 4).

    Weights: `sigma` (B, N), `offset` (B, N), then `coefficients`
    (B, F_in, F_out/B, N), or `coefficients_in` (B, F_in, N) and
    `coefficients_out` (B, N, F_out/B), and `bias` (F_out,).

    Args:
        filters: F_out.
        kernel_size: int or tuple of 1 int, sampled exactly as given, or None: 2n − 1 taps along an input axis of n samples
            (the whole input; 'same' padding, stride 1).
{geometry}
{conv_args}

{shapes}

    Examples:
        >>> layer = GaussianDerivativeConv1D(8, 15, order=3, padding="same")
        >>> layer.compute_output_shape((None, 100, 2))
        (None, 100, 8)
    """

    def __init__(
        self, filters, kernel_size, order=2, num_bases=1, separable=False,
        sigma_initializer=None, offset_initializer=None, trainable_sigma=True, trainable_offset=None,
        min_sigma=0.2, discretization="sampled", scale_normalized=False, strides=1, padding="valid", data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True, coefficients_initializer=None, bias_initializer="zeros",
        coefficients_regularizer=None, bias_regularizer=None, activity_regularizer=None,
        coefficients_constraint=None, bias_constraint=None, implementation="auto", normalize_basis=False,
        **kwargs,
    ):
        super().__init__(
            filters, kernel_size, separable=separable,
            order=order, sigma_initializer=sigma_initializer, offset_initializer=offset_initializer,
            trainable_sigma=trainable_sigma, trainable_offset=trainable_offset, min_sigma=min_sigma,
            discretization=discretization, scale_normalized=scale_normalized,
            num_bases=num_bases, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            coefficients_initializer=coefficients_initializer, bias_initializer=bias_initializer,
            coefficients_regularizer=coefficients_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, coefficients_constraint=coefficients_constraint,
            bias_constraint=bias_constraint, implementation=implementation, normalize_basis=normalize_basis,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="keras_gaussconv")
@conv_docstring(2)
@_gaussian_docstring
class GaussianDerivativeConv2D(GaussianDerivativeMixin, BasisConv2D):
    """Fully trainable Gaussian-derivative convolution (Penaud--Polge et al., 2022).

    Every kernel combines B bases of N = (K+1)(K+2)/2 anisotropic, shifted,
    oriented Gaussian derivatives φ = G_p(y₁, σ₁) · G_q(y₂, σ₂), p + q <= K,
    with y₁ = x cos θ + y sin θ - μ₁ and y₂ = -x sin θ + y cos θ - μ₂; the
    scales, shifts and orientations are trained with the combination.

    Weights: `sigma` (B, N, 2), `offset` (B, N, 2), `theta` (B, N), then
    `coefficients` (B, F_in, F_out/B, N), or `coefficients_in` (B, F_in, N)
    and `coefficients_out` (B, N, F_out/B) when `separable=True`, and `bias`
    (F_out,).

    Args:
        filters: F_out.
        kernel_size: int or pair `(kh, kw)`, sampled exactly as given, or None: 2n − 1 taps along an input axis of n samples
            (the whole input; 'same' padding, stride 1).
{geometry}
        theta_initializer: default U(-π, π).
        trainable_theta: whether θ is trained; default None: True, except
            with discretization="discrete".
{conv_args}

{shapes}

    Examples:
        >>> model = keras.Sequential([keras.Input((32, 32, 3))])
        >>> model.add(GaussianDerivativeConv2D(16, 7, order=3, num_bases=4, padding="same"))
        >>> model.output_shape
        (None, 32, 32, 16)

    Reference:
        V. Penaud--Polge, S. Velasco-Forero, J. Angulo. Fully Trainable
        Gaussian Derivative Convolutional Layer. ICIP 2022.
    """

    ORIENTATION = ("theta", (), lambda: keras.initializers.RandomUniform(-math.pi, math.pi))

    def __init__(
        self, filters, kernel_size, order=2, num_bases=1, separable=False,
        sigma_initializer=None, offset_initializer=None, theta_initializer=None,
        trainable_sigma=True, trainable_offset=None, trainable_theta=None, min_sigma=0.2,
        discretization="sampled", scale_normalized=False,
        strides=1, padding="valid", data_format=None, dilation_rate=1, activation=None,
        use_bias=True, coefficients_initializer=None, bias_initializer="zeros",
        coefficients_regularizer=None, bias_regularizer=None, activity_regularizer=None,
        coefficients_constraint=None, bias_constraint=None, implementation="auto", normalize_basis=False,
        **kwargs,
    ):
        super().__init__(
            filters, kernel_size, separable=separable,
            order=order, sigma_initializer=sigma_initializer, offset_initializer=offset_initializer,
            trainable_sigma=trainable_sigma, trainable_offset=trainable_offset, min_sigma=min_sigma,
            discretization=discretization, scale_normalized=scale_normalized,
            orientation_initializer=theta_initializer, trainable_orientation=trainable_theta,
            num_bases=num_bases, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            coefficients_initializer=coefficients_initializer, bias_initializer=bias_initializer,
            coefficients_regularizer=coefficients_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, coefficients_constraint=coefficients_constraint,
            bias_constraint=bias_constraint, implementation=implementation, normalize_basis=normalize_basis,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="keras_gaussconv")
@conv_docstring(3)
@_gaussian_docstring
class GaussianDerivativeConv3D(GaussianDerivativeMixin, BasisConv3D):
    """3-D convolution whose kernels combine trainable, oriented Gaussian derivatives (volumes).

    Each of the B bases holds N = (K+1)(K+2)(K+3)/6 kernels
    φ = G_p(y₁, σ₁) · G_q(y₂, σ₂) · G_r(y₃, σ₃), p + q + r <= K, with
    y = Rᵀ (x, y, z) - μ: anisotropic scales along axes turned by the
    rotation R of a trained rotation vector ω (axis ω/|ω|, angle |ω|;
    `keras_gaussconv.bases.rotation_matrix`, smooth at ω = 0). x runs along
    columns, y along rows, z along depth; ω = (0, 0, θ) is the 2-D layer's θ.
    A 5×5×5 kernel of order 2 holds 10 basis kernels where a `Conv3D` holds
    125 weights per channel pair.

    Weights: `sigma` (B, N, 3), `offset` (B, N, 3), `rotation` (B, N, 3),
    then the coefficients and `bias` as `GaussianDerivativeConv2D`.

    Args:
        filters: F_out.
        kernel_size: int or tuple `(kd, kh, kw)`, sampled exactly as given, or None: 2n − 1 taps along an input axis of n samples
            (the whole input; 'same' padding, stride 1).
{geometry}
        rotation_initializer: default `RandomRotation()`, orientations
            uniform over all 3-D rotations.
        trainable_rotation: whether ω is trained; default None: True, except
            with discretization="discrete".
{conv_args}

{shapes}

    Examples:
        >>> layer = GaussianDerivativeConv3D(8, 5, order=2, padding="same")
        >>> layer.compute_output_shape((None, 16, 16, 16, 1))
        (None, 16, 16, 16, 8)
    """

    ORIENTATION = ("rotation", (3,), RandomRotation)

    def __init__(
        self, filters, kernel_size, order=2, num_bases=1, separable=False,
        sigma_initializer=None, offset_initializer=None, rotation_initializer=None,
        trainable_sigma=True, trainable_offset=None, trainable_rotation=None, min_sigma=0.2,
        discretization="sampled", scale_normalized=False,
        strides=1, padding="valid", data_format=None, dilation_rate=1, activation=None,
        use_bias=True, coefficients_initializer=None, bias_initializer="zeros",
        coefficients_regularizer=None, bias_regularizer=None, activity_regularizer=None,
        coefficients_constraint=None, bias_constraint=None, implementation="auto", normalize_basis=False,
        **kwargs,
    ):
        super().__init__(
            filters, kernel_size, separable=separable,
            order=order, sigma_initializer=sigma_initializer, offset_initializer=offset_initializer,
            trainable_sigma=trainable_sigma, trainable_offset=trainable_offset, min_sigma=min_sigma,
            discretization=discretization, scale_normalized=scale_normalized,
            orientation_initializer=rotation_initializer, trainable_orientation=trainable_rotation,
            num_bases=num_bases, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            coefficients_initializer=coefficients_initializer, bias_initializer=bias_initializer,
            coefficients_regularizer=coefficients_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, coefficients_constraint=coefficients_constraint,
            bias_constraint=bias_constraint, implementation=implementation, normalize_basis=normalize_basis,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="keras_gaussconv")
@conv_docstring(2)
@_gaussian_docstring
class GaussianDerivativeDepthwiseConv2D(GaussianDerivativeMixin, BasisConv2D):
    """Depthwise convolution whose kernels combine trainable Gaussian derivatives (large-kernel CNNs).

    As `keras.layers.DepthwiseConv2D`: output channel c·M + m (M =
    `depth_multiplier`) is input channel c alone correlated with its kernel,
    here W[c, m] = Σ_n ω[c, m, n] φ[b(c), n], a combination of the
    N = (K+1)(K+2)/2 oriented Gaussian derivatives of basis b(c). The C input
    channels split into B = `num_bases` contiguous groups, one basis each
    (b(c) = c // (C/B); B = C gives every channel its own basis). Each channel
    holds M·N coefficients where a `DepthwiseConv2D` holds M·k² weights, and the
    FFT path's cost does not grow with k (ConvNeXt-style 7×7 to 31×31 kernels).

    Weights: `sigma` (B, N, 2), `offset` (B, N, 2), `theta` (B, N),
    `coefficients` (C, M, N) and `bias` (C·M,).

    Args:
        kernel_size: int or pair `(kh, kw)`, sampled exactly as given, or None: 2n − 1 taps along an input axis of n samples
            (the whole input; 'same' padding, stride 1).
        depth_multiplier: M, output channels per input channel.
        num_bases: B; the input channels must be divisible by it (B
            contiguous groups of channels, one basis each).
{geometry}
        theta_initializer: default U(-π, π).
        trainable_theta: whether θ is trained; default None: True, except
            with discretization="discrete".
{conv_args}

    Input shape:
        channels_last: `(batch, rows, cols, channels)`;
        channels_first: `(batch, channels, rows, cols)`; channels divisible by B.

    Output shape:
        `(batch, new_rows, new_cols, channels · depth_multiplier)` (or
        channels first), the sizes as `keras.layers.DepthwiseConv2D` computes them.

    Examples:
        >>> layer = GaussianDerivativeDepthwiseConv2D(31, depth_multiplier=1, order=2, padding="same")
        >>> layer.compute_output_shape((None, 56, 56, 96))
        (None, 56, 56, 96)
    """

    ORIENTATION = ("theta", (), lambda: keras.initializers.RandomUniform(-math.pi, math.pi))

    def __init__(
        self, kernel_size, depth_multiplier=1, order=2, num_bases=1,
        sigma_initializer=None, offset_initializer=None, theta_initializer=None,
        trainable_sigma=True, trainable_offset=None, trainable_theta=None, min_sigma=0.2,
        discretization="sampled", scale_normalized=False,
        strides=1, padding="valid", data_format=None, dilation_rate=1, activation=None,
        use_bias=True, coefficients_initializer=None, bias_initializer="zeros",
        coefficients_regularizer=None, bias_regularizer=None, activity_regularizer=None,
        coefficients_constraint=None, bias_constraint=None, implementation="auto", normalize_basis=False,
        **kwargs,
    ):
        super().__init__(
            None, kernel_size, depth_multiplier=depth_multiplier,
            order=order, sigma_initializer=sigma_initializer, offset_initializer=offset_initializer,
            trainable_sigma=trainable_sigma, trainable_offset=trainable_offset, min_sigma=min_sigma,
            discretization=discretization, scale_normalized=scale_normalized,
            orientation_initializer=theta_initializer, trainable_orientation=trainable_theta,
            num_bases=num_bases, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            coefficients_initializer=coefficients_initializer, bias_initializer=bias_initializer,
            coefficients_regularizer=coefficients_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, coefficients_constraint=coefficients_constraint,
            bias_constraint=bias_constraint, implementation=implementation, normalize_basis=normalize_basis,
            **kwargs,
        )
