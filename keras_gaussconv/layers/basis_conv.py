"""`BasisConv`: the one base class of every structured-kernel convolution, any rank.

The layer holds state (weights, config) and calls the pure execution paths of
`keras_gaussconv.ops`; the cost model behind `implementation="auto"` is
`keras_gaussconv.ops.costs`.
"""

import keras
from keras import ops

from keras_gaussconv import native
from keras_gaussconv.bases.autodiff import normalize_energy
from keras_gaussconv.initializers import basis_he_normal, seeded_copy
from keras_gaussconv.layers.docstrings import AXES, conv_docstring
from keras_gaussconv.layers.geometry import DeclaresGeometry
from keras_gaussconv.layers.validation import (
    check_bool,
    check_choice,
    check_int_tuple,
    check_positive_int,
)
from keras_gaussconv.ops import costs as cost_model
from keras_gaussconv.ops import paths
from keras_gaussconv.ops.compiled import compiled_basis, convolve_layer
from keras_gaussconv.ops.conv_spec import ConvSpec

IMPLEMENTATIONS = ("auto", *paths.PATHS)


@conv_docstring("r")
class BasisConv(DeclaresGeometry, keras.layers.Layer):
    """Convolution of rank r (1, 2 or 3) whose kernels combine B bases of N structured kernels.

    A subclass declares the basis in `__init__`: `self.num_kernels` (N) and
    its geometric weights (`declare_geometry`, a `GeometricWeight` each); and
    it implements `compute_basis(**geometry)`, the sampled kernels φ of shape
    `(B, *kernel_size, N)` for given geometric values. This class does the
    rest: argument checks, all weights, the combination, the choice of
    execution path, shapes, config and folding.

    Full combination (eq. 3 of Penaud--Polge et al. 2022), output channel
    c = b·(F_out/B) + j, with ω = `coefficients` of shape (B, F_in, F_out/B, N):

    $$J_c = \\sum_i \\sum_n ω[b, i, j, n]\\, (φ[b, n] \\star I_i).$$

    Separable combination (eq. 4), with β = `coefficients_in` (B, F_in, N) and
    λ = `coefficients_out` (B, N, F_out/B):

    $$J_c = \\sum_n λ[b, n, j] \\sum_i β[b, i, n]\\, (φ[b, n] \\star I_i).$$

    Args:
        rank: r, the number of spatial axes.
        depth_multiplier: M; given, the layer is depthwise (`filters` None,
            `separable` False): output channel c·M + m correlates input
            channel c with Σ_n ω[c, m, n] φ[b(c), n], ω = `coefficients`
            (C, M, N), the C channels in B contiguous groups of one basis each.
        filters: F_out, number of output channels; divisible by `num_bases`.
        kernel_size: int or tuple of r ints; odd, even and non-cubic sizes
            are sampled exactly as given. None: 2n − 1 taps along an input
            axis of n samples, set in `build` (receptive fields as large as the
            input; needs padding 'same', stride 1, no dilation, a known
            spatial size; "auto" runs the FFT path).
        num_bases: B, number of independent bases.
        separable: use the separable combination (eq. 4) instead of eq. 3.
{conv_args}
    """

    def __init__(
        self, rank, filters, kernel_size, num_bases=1, separable=False, strides=1, padding="valid",
        data_format=None, dilation_rate=1, activation=None, use_bias=True, coefficients_initializer=None,
        bias_initializer="zeros", coefficients_regularizer=None, bias_regularizer=None,
        activity_regularizer=None, coefficients_constraint=None, bias_constraint=None,
        implementation="auto", normalize_basis=False, depth_multiplier=None, **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.rank = rank
        self.num_bases = check_positive_int("num_bases", num_bases)
        self._set_combination(filters, separable, depth_multiplier)
        # None: the support is as large as the input, (2n − 1) taps for n input samples, set in `build`.
        self.full_support = kernel_size is None
        self.kernel_size = None if self.full_support else check_int_tuple("kernel_size", kernel_size, rank)
        self.strides = check_int_tuple("strides", strides, rank)
        self.dilation_rate = check_int_tuple("dilation_rate", dilation_rate, rank)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides` > 1 is not supported together with `dilation_rate` "
                f"> 1. Received: strides={strides}, dilation_rate={dilation_rate}"
            )
        self.padding = check_choice("padding", padding, ("valid", "same"))
        self.data_format = check_choice(
            "data_format",
            keras.config.image_data_format() if data_format is None else data_format,
            ("channels_last", "channels_first"),
        )
        self.normalize_basis = check_bool("normalize_basis", normalize_basis)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        # None: He initialisation for the structured layer (`basis_he_normal`), made in `build`.
        self.coefficients_initializer = None if coefficients_initializer is None else keras.initializers.get(
            coefficients_initializer
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.coefficients_regularizer = keras.regularizers.get(coefficients_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.coefficients_constraint = keras.constraints.get(coefficients_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.implementation = check_choice("implementation", implementation, IMPLEMENTATIONS)
        self._native = native.enabled()  # backend-native functions, chosen at construction
        self._native_energy = native.energy_normalization() if self._native else None
        if self.full_support and (self.padding != "same" or max(self.strides) > 1 or max(self.dilation_rate) > 1):
            raise ValueError(
                "kernel_size=None (a kernel as large as the input) computes 'same' outputs at stride 1: "
                f"give padding='same', strides=1 and dilation_rate=1. Received: kernel_size=None, "
                f"padding={padding!r}, strides={strides!r}, dilation_rate={dilation_rate!r}"
            )
        # With kernel_size=None a 1-tap placeholder until `build`: 'same' output shapes do not depend on it.
        self.spec = ConvSpec(self.kernel_size or (1,) * rank, self.strides, self.padding, self.dilation_rate)
        self.geometry = []

    def _set_combination(self, filters, separable, depth_multiplier):
        """`filters`, `separable` and `combination` ("full", "separable" or "depthwise"), checked."""
        if depth_multiplier is not None and (filters is not None or separable):
            raise ValueError(
                "A depthwise layer (`depth_multiplier` given) has C·M output channels and one "
                "combination: give neither `filters` nor `separable`. Received: "
                f"depth_multiplier={depth_multiplier!r}, filters={filters!r}, separable={separable!r}"
            )
        self.separable = check_bool("separable", separable)
        if depth_multiplier is not None:
            self.depth_multiplier = check_positive_int("depth_multiplier", depth_multiplier)
            self.filters = None  # C·M, set in `build`
            self.combination = "depthwise"
            return
        self.filters = check_positive_int("filters", filters)
        if self.filters % self.num_bases:
            raise ValueError(
                "`filters` must be divisible by `num_bases` (each basis makes filters / num_bases output "
                f"channels). Received: filters={filters}, num_bases={self.num_bases}"
            )
        self.combination = "separable" if self.separable else "full"

    # --- what a subclass declares -------------------------------------------

    def compute_basis(self, **geometry):
        """The basis kernels φ, shape `(B, *kernel_size, N)`, for given geometric values.

        Keyword arguments are the declared geometric weights by name (tensors
        of their shapes), so the basis can be sampled for values that are not
        (yet) the layer's, e.g. initial draws in `build`.
        """
        raise NotImplementedError

    def basis(self):
        """The layer's basis kernels φ, shape `(B, *kernel_size, N)`, in `geometry_dtype`.

        With `normalize_basis`, φ_n · √(k₁⋯k_r / (N · Σ φ_n²)).
        """
        return compiled_basis(self)(**self.geometry_values())

    def basis_of(self, normalize_at=None, **geometry):
        """`basis()` for given geometric tensors by name (`compute_basis`, then `normalize_basis`).

        `normalize_at`: the geometric tensors by name whose basis's energy the
        normalisation divides by (default: `geometry`'s own). `ScaleChannels`
        gives the layer's own values, so every channel is normalised at s = 1
        and a `scale_normalized` layer keeps its σᵖ factor across channels.
        """
        phi = self.compute_basis(**geometry)
        if not self.normalize_basis:
            return phi
        reference = None if normalize_at is None else self.compute_basis(**normalize_at)
        normalized = None if self._native_energy is None else self._native_energy(phi, reference)
        return normalize_energy(phi, reference) if normalized is None else normalized

    # --- shapes -------------------------------------------------------------

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _check_rank(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank {self.rank + 2} (batch, "
                f"{AXES[self.rank]}, channels or batch, channels, {AXES[self.rank]}). "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def _spatial_shape(self, input_shape):
        """The spatial sizes of an input shape in this layer's data format."""
        return tuple(input_shape[1:-1] if self.data_format == "channels_last" else input_shape[2:])

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        self._check_rank(input_shape)
        spatial = self._spatial_shape(input_shape)
        if not self.spec.fits(spatial):
            raise ValueError(
                f"With padding='valid' the dilated kernel (extent {self.spec.extent}) must "
                f"fit in the input. Received: kernel_size={self.kernel_size}, "
                f"dilation_rate={self.dilation_rate}, input_shape={input_shape}"
            )
        out = self.spec.output_shape(spatial)
        channels = self.filters
        if self.combination == "depthwise":
            in_channels = input_shape[self._channel_axis()]
            channels = None if in_channels is None else in_channels * self.depth_multiplier
        if self.data_format == "channels_last":
            return (input_shape[0], *out, channels)
        return (input_shape[0], channels, *out)

    # --- state --------------------------------------------------------------

    def _add_coefficients(self, name, shape, variance, index=0):
        """Combination weight number `index`: the user's initializer (`seeded_copy`), or He
        initialisation for the structured layer, N(0, variance(E)) (`basis_he_normal`)."""
        initializer = seeded_copy(self.coefficients_initializer, index)
        if initializer is None:
            initializer = basis_he_normal(self.basis, self.rank, variance)
        return self.add_weight(
            name=name,
            shape=shape,
            initializer=initializer,
            regularizer=self.coefficients_regularizer,
            constraint=self.coefficients_constraint,
        )

    def build(self, input_shape):
        self._build_input(input_shape)
        b, n = self.num_bases, self.num_kernels
        for g in self.geometry:
            weight = self.add_weight(
                name=g.name, shape=(b, n, *g.shape), initializer=g.initializer, trainable=g.trainable,
                constraint=g.constraint, dtype=self.geometry_dtype, autocast=False,
            )
            setattr(self, g.name, weight)
        self._add_combination_weights()
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint,
            )
        self._execution = self.execution()  # (spec, path, native function): chosen once

    def _build_input(self, input_shape):
        """What the input fixes: the channels (and a depthwise layer's `filters`), the input spec,
        the spatial size, and with `kernel_size=None` the kernel size."""
        self.compute_output_shape(input_shape)
        channel_axis = self._channel_axis()
        in_channels = input_shape[channel_axis]
        if in_channels is None:
            raise ValueError(
                f"The channel dimension of the inputs of {type(self).__name__} "
                f"must be known. Received: input_shape={tuple(input_shape)}"
            )
        if self.combination == "depthwise":
            if in_channels % self.num_bases:
                raise ValueError(
                    "The input channels of a depthwise layer must be divisible by `num_bases` "
                    "(each basis serves a contiguous group of channels). Received: "
                    f"num_bases={self.num_bases}, input_shape={tuple(input_shape)}"
                )
            self.filters = in_channels * self.depth_multiplier
        self.input_spec = keras.layers.InputSpec(ndim=self.rank + 2, axes={channel_axis: in_channels})
        self.in_channels = in_channels
        spatial = self._spatial_shape(input_shape)
        if self.implementation == "fft" and None in spatial:
            raise ValueError(
                "implementation='fft' needs the input's spatial size to be known "
                "(FFT lengths are fixed when the layer is built); use 'auto' for "
                f"inputs of varying size. Received: input_shape={tuple(input_shape)}"
            )
        self.input_spatial_shape = spatial
        if self.full_support:
            if None in spatial:
                raise ValueError(
                    "kernel_size=None makes kernels of 2n − 1 taps along an input axis of n samples: the "
                    f"input's spatial size must be known when the layer is built. Received: input_shape={tuple(input_shape)}"
                )
            self.kernel_size = tuple(2 * size - 1 for size in spatial)
            self.spec = ConvSpec(self.kernel_size, self.strides, self.padding, self.dilation_rate)

    def _add_combination_weights(self):
        """ω (full, depthwise) or β and λ (separable), He-initialised by default (`basis_he_normal`)."""
        b, n, c = self.num_bases, self.num_kernels, self.in_channels
        if self.combination == "depthwise":
            self.coefficients = self._add_coefficients(
                "coefficients", (c, self.depth_multiplier, n), lambda energy: 2.0 / (n * energy)
            )
        elif self.separable:
            self.coefficients_in = self._add_coefficients("coefficients_in", (b, c, n), lambda energy: 1.0 / c)
            self.coefficients_out = self._add_coefficients(
                "coefficients_out", (b, n, self.filters // b), lambda energy: 2.0 / (n * energy), index=1
            )
        else:
            self.coefficients = self._add_coefficients(
                "coefficients", (b, c, self.filters // b, n), lambda energy: 2.0 / (c * n * energy)
            )

    # --- execution ----------------------------------------------------------

    def path_costs(self, prices=None, spec=None):
        """Estimated cost of each execution path for this layer (`keras_gaussconv.ops.costs.path_costs`).

        `prices`: a price table; default the active backend's (`PRICES`). `spec`: another
        `ConvSpec` (e.g. a smaller kernel size); default the layer's.
        """
        return cost_model.path_costs(
            spec or self.spec, self.in_channels, self.filters, self.num_bases, self.num_kernels,
            self.combination, self.input_spatial_shape, prices,
        )

    def execution(self, kernel_size=None):
        """`(spec, path, native function or None)` of this layer's convolution with kernels of
        `kernel_size` (default its own; `ScaleChannels(scaled_kernels=True)` asks for smaller ones):
        `implementation`'s path, or auto's cheapest for that size, chosen once, not per call."""
        spec = self.spec if kernel_size is None else self.spec.with_kernel_size(kernel_size)
        if self.implementation != "auto":
            path = self.implementation
        else:  # a whole-input kernel: FFT, whose cost does not grow with the kernel
            path = "fft" if self.full_support and spec == self.spec else cost_model.cheapest(self.path_costs(spec=spec))
        return spec, path, native.conv_path(path) if self._native else None  # None: the keras.ops reference

    @property
    def execution_path(self):
        """The path `call` runs: "kernel", "basis" or "fft" (`implementation`, or auto's choice at build)."""
        if not self.built:
            raise ValueError(f"Layer '{self.name}' must be built before its `execution_path` is known.")
        return self._execution[1]

    def combination_weights(self):
        """The combination weights: `(coefficients,)`, or `(coefficients_in, coefficients_out)` when separable."""
        if self.separable:
            return (self.coefficients_in, self.coefficients_out)
        return (self.coefficients,)

    @property
    def kernel(self):
        """The dense kernel W the layer applies, shape `(*kernel_size, F_in, F_out)`, like `Conv{r}D.kernel`.

        Full: W[*s, i, b·(F_out/B) + j] = Σ_n ω[b, i, j, n] φ[b, *s, n];
        separable: Σ_n β[b, i, n] φ[b, *s, n] λ[b, n, j]; depthwise: shape
        `(*kernel_size, C, M)` (as `DepthwiseConv2D.kernel`), W[*s, c, m] =
        Σ_n ω[c, m, n] φ[b(c), *s, n]. Computed from the current weights on
        each access.
        """
        if not self.built:
            raise ValueError(f"Layer '{self.name}' must be built before its `kernel` exists.")
        return self.kernel_of(self.basis())

    def kernel_of(self, phi):
        """The dense kernel (`kernel`) for the basis `phi` `(B, *kernel_size, N)` and the layer's coefficients."""
        return paths.dense_kernel(phi, self.combination_weights(), self.combination)

    def call(self, inputs, basis=None, execution=None):
        """The convolution of `inputs` with the layer's kernels; `basis`: another basis `(B, *kernel_size, N)`
        to combine instead of `basis()` (`basis_of` at other geometric values, as `ScaleChannels` gives),
        and `execution` (`execution(kernel_size)`) where its kernel size is another."""
        return self.convolve_with(inputs, self.basis() if basis is None else basis, execution)

    def convolve_with(self, inputs, phi, execution=None):
        """The layer's output for the basis `phi` (`(B, *kernel_size, N)`, e.g. `basis_of` at other
        geometric values) with the layer's own coefficients, bias and activation; `execution`: as `call`."""
        if isinstance(inputs.shape[0], int) and inputs.shape[0] == 0:
            # An empty batch: TensorFlow's CPU convolutions return a wrongly shaped tensor
            # for it, PyTorch's FFTs refuse it. Nothing to compute. (Only a static size is
            # read: a traced one, as in torch.onnx's export, is left to the graph.)
            return ops.zeros(self.compute_output_shape(inputs.shape), self.compute_dtype)
        spec, path, native_conv = execution or self._execution
        bias = self.bias if self.use_bias else None
        args = (inputs, phi, self.combination_weights(), bias, self.combination, spec, self.data_format == "channels_first")
        x = native_conv(*args) if native_conv is not None else convolve_layer(*args, path=path)
        return x if self.activation is None else self.activation(x)

    # --- fold ---------------------------------------------------------------

    def fold(self, tolerance=None):
        """Stock Keras layers that compute this layer's output with constant weights.

        A full layer folds into one `Conv{r}D` with the dense kernel W, a
        separable one into `Conv{r}D 1×1 → DepthwiseConv{r}D → Conv{r}D 1×1`
        when that is faster, a depthwise one into `DepthwiseConv{r}D` (3-D: a
        grouped `Conv3D`). `tolerance` (e.g. 1e-4; padding 'same', strides 1)
        crops each kernel so that no output changes by more than `tolerance`
        relative to the largest an input of that range can give. The code and
        its details: `keras_gaussconv.folding.fold_structured`.

        Returns:
            A list of built layers, to be applied in order.
        """
        from keras_gaussconv import folding  # folding imports the layers: imported when used

        return folding.fold_layer(self, tolerance)

    # --- config -------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        serialize = {"initializer": keras.initializers, "regularizer": keras.regularizers, "constraint": keras.constraints}
        config.update(
            {
                "filters": self.filters,
                "kernel_size": None if self.full_support else self.kernel_size,
                "num_bases": self.num_bases,
                "separable": self.separable,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "implementation": self.implementation,
                "normalize_basis": self.normalize_basis,
                "activity_regularizer": keras.regularizers.serialize(self.activity_regularizer),
            }
        )
        for weight in ("coefficients", "bias"):
            for kind, module in serialize.items():
                value = getattr(self, f"{weight}_{kind}")
                # None: He initialisation for the structured layer (`basis_he_normal`), kept as None.
                config[f"{weight}_{kind}"] = None if value is None else module.serialize(value)
        if self.combination == "depthwise":
            del config["filters"], config["separable"]
            config["depth_multiplier"] = self.depth_multiplier
        for g in self.geometry:
            config[f"{g.name}_initializer"] = keras.initializers.serialize(g.initializer)
            config[f"trainable_{g.name}"] = g.trainable
        if any(g.name == "sigma" for g in self.geometry):
            config["min_sigma"] = self.min_sigma
        return config


class BasisConv1D(BasisConv):
    """`BasisConv` of rank 1: inputs `(batch, steps, channels)` (channels_last)."""

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(1, filters, kernel_size, **kwargs)


class BasisConv2D(BasisConv):
    """`BasisConv` of rank 2: inputs `(batch, rows, cols, channels)` (channels_last)."""

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(2, filters, kernel_size, **kwargs)


class BasisConv3D(BasisConv):
    """`BasisConv` of rank 3: inputs `(batch, depth, rows, cols, channels)` (channels_last)."""

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(3, filters, kernel_size, **kwargs)
