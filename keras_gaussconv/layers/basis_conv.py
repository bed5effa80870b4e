"""`BasisConv`: the one base class of every structured-kernel convolution, any rank.

The layer holds state (weights, config) and calls the pure execution paths of
`keras_gaussconv.ops`; the cost model behind `implementation="auto"` is
`keras_gaussconv.ops.costs`.
"""

import math

import keras
from keras import ops

from keras_gaussconv.bases.autodiff import at_least
from keras_gaussconv.layers.constraints import MinValue
from keras_gaussconv.layers.docstrings import AXES
from keras_gaussconv.layers.geometry import GeometricWeight
from keras_gaussconv.layers.validation import (
    check_bool,
    check_choice,
    check_int_tuple,
    check_positive_float,
    check_positive_int,
)
from keras_gaussconv.ops import costs as cost_model
from keras_gaussconv.ops import paths
from keras_gaussconv.ops.compiled import compiled_basis
from keras_gaussconv.ops.conv_spec import ConvSpec

IMPLEMENTATIONS = ("auto", *paths.PATHS)


# The arguments `BasisConv` takes after rank, filters and kernel_size, in order.
CONV_ARGUMENTS = (
    "num_bases", "separable", "strides", "padding", "data_format", "dilation_rate", "activation",
    "use_bias", "coefficients_initializer", "bias_initializer", "coefficients_regularizer",
    "bias_regularizer", "activity_regularizer", "coefficients_constraint", "bias_constraint",
    "implementation", "normalize_basis",
)


def conv_arguments(arguments):
    """The `CONV_ARGUMENTS` among a public layer's `locals()`, to pass on to `BasisConv`.

    The public layers list every argument in their signatures (as Keras'
    `Conv2D` does) and hand these on unchanged.
    """
    return {name: arguments[name] for name in CONV_ARGUMENTS}


class BasisConv(keras.layers.Layer):
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
        strides: int or tuple of r ints, as in `keras.layers.Conv{r}D`.
        padding: "valid" or "same".
        data_format: "channels_last" or "channels_first".
        dilation_rate: int or tuple of r ints; > 1 only with strides 1.
        activation: applied to the output.
        use_bias: whether to add a bias.
        coefficients_initializer: initializer of ω (or β and λ). `None`
            (default) is He initialisation for the structured layer: with
            E = mean Σ φ² the energy of the initial basis kernels (the
            variance of a basis response to unit white noise),
            ω ~ N(0, 2 / (F_in·N·E)), or β ~ N(0, 1 / F_in) and
            λ ~ N(0, 2 / (N·E)), so a layer keeps the variance of its
            input in ReLU networks whatever the width and the scales (the
            reference's N(0, (√2/(F_in + F_out))²) shrinks with width and
            ignores that Gaussian kernels have E ≪ 1, so deep stacks
            started with vanishing activations).
        bias_initializer: initializer of the bias.
        coefficients_regularizer: regularizer of the combination weights, as in Keras.
        bias_regularizer: regularizer of the bias.
        activity_regularizer: regularizer of the output.
        coefficients_constraint: constraint of the combination weights, as in Keras.
        bias_constraint: constraint of the bias.
        implementation: `"auto"` (the cheapest by `path_costs()`, a
            multiply-add count weighted by measured prices), `"kernel"` (build
            the dense kernel, one convolution), `"basis"` (convolve with the
            basis kernels, then combine) or `"fft"` (pointwise products of
            spectra; needs the input's spatial size when built). All give
            the same result up to float32 round-off.
        normalize_basis: multiply every basis kernel by
            √(k₁⋯k_r / (N · Σ φ²)), so each has the energy k₁⋯k_r / N and the
            N of them the energy of the k₁⋯k_r unit pixels of a stock kernel.
            The He-initialised combination weights are then
            N(0, 2 / (F_in · k₁⋯k_r)), a stock convolution's, instead of
            1/√(E·N/k₁⋯k_r) times larger (about 8× for 5×5 kernels of
            order 2). Optimizers whose steps do not scale with the gradient
            (Adam: about `learning_rate` per step) then change the kernels as
            fast, relatively, as a stock layer's; before a normalisation
            (batch, layer), where the weights' scale does nothing else, that
            is what decides how fast the layer learns. It also frees σ from
            setting the kernels' amplitude (a sampled Gaussian of σ has the
            energy 1 / (4πσ²) in 2-D): σ then changes only their shape.
            Default False: the sampled kernels, as the reference.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).
    """

    def __init__(
        self,
        rank,
        filters,
        kernel_size,
        num_bases=1,
        separable=False,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        coefficients_initializer=None,
        bias_initializer="zeros",
        coefficients_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        coefficients_constraint=None,
        bias_constraint=None,
        implementation="auto",
        normalize_basis=False,
        depth_multiplier=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.rank = rank
        self.num_bases = check_positive_int("num_bases", num_bases)
        if depth_multiplier is not None and (filters is not None or separable):
            raise ValueError(
                "A depthwise layer (`depth_multiplier` given) has C·M output channels and one "
                "combination: give neither `filters` nor `separable`. Received: "
                f"depth_multiplier={depth_multiplier!r}, filters={filters!r}, separable={separable!r}"
            )
        if depth_multiplier is None:
            self.filters = check_positive_int("filters", filters)
            if self.filters % self.num_bases:
                raise ValueError(
                    "`filters` must be divisible by `num_bases` (each basis makes "
                    f"filters / num_bases output channels). Received: "
                    f"filters={filters}, num_bases={num_bases}"
                )
            self.combination = "separable" if separable else "full"
        else:
            self.depth_multiplier = check_positive_int("depth_multiplier", depth_multiplier)
            self.filters = None  # C·M, set in `build`
            self.combination = "depthwise"
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
        self.separable = check_bool("separable", separable)
        self.normalize_basis = check_bool("normalize_basis", normalize_basis)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.coefficients_initializer = (
            None
            if coefficients_initializer is None
            else keras.initializers.get(coefficients_initializer)
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.coefficients_regularizer = keras.regularizers.get(coefficients_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.coefficients_constraint = keras.constraints.get(coefficients_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.implementation = check_choice(
            "implementation", implementation, IMPLEMENTATIONS
        )
        if self.full_support and (self.padding != "same" or max(self.strides) > 1 or max(self.dilation_rate) > 1):
            raise ValueError(
                "kernel_size=None (a kernel as large as the input) computes 'same' outputs at stride 1: "
                f"give padding='same', strides=1 and dilation_rate=1. Received: kernel_size=None, "
                f"padding={padding!r}, strides={strides!r}, dilation_rate={dilation_rate!r}"
            )
        # With kernel_size=None a 1-tap placeholder until `build`: 'same' output shapes do not depend on it.
        self.spec = ConvSpec(self.kernel_size or (1,) * rank, self.strides, self.padding, self.dilation_rate)
        self.geometry = []

    # --- what a subclass declares -------------------------------------------

    def compute_basis(self, **geometry):
        """The basis kernels φ, shape `(B, *kernel_size, N)`, for given geometric values.

        Keyword arguments are the declared geometric weights by name (tensors
        of their shapes), so the basis can be sampled for values that are not
        (yet) the layer's, e.g. initial draws in `build`.
        """
        raise NotImplementedError

    @property
    def geometry_dtype(self):
        """dtype of the geometric weights and the basis: the variable dtype, at least float32.

        A float16 basis breaks down: G_p(0, σ) grows as σ^{−p−1}, so at σ = 0.2
        the order-6 kernel's peak (≈ 4.7·10⁵) passes float16's 65504 (inf), and
        its 11-bit significand leaves every kernel ~1e-3 off.
        """
        dtype = self.variable_dtype
        return "float32" if dtype in ("float16", "bfloat16") else dtype

    def basis(self):
        """The layer's basis kernels φ, shape `(B, *kernel_size, N)`, in `geometry_dtype`.

        With `normalize_basis`, φ_n · √(k₁⋯k_r / (N · Σ φ_n²)).
        """
        return compiled_basis(self)(**self.geometry_values())

    def geometry_values(self):
        """The geometric weights' current values as tensors, by name (`basis_of`'s arguments)."""
        return {g.name: ops.convert_to_tensor(getattr(self, g.name)) for g in self.geometry}

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
        reference = phi if normalize_at is None else self.compute_basis(**normalize_at)
        size = math.prod(self.kernel_size)
        energy = ops.sum(ops.square(reference), axis=tuple(range(1, self.rank + 1)), keepdims=True)
        # The floor keeps a kernel shifted off its support (Σ φ² → 0) and its gradient finite
        # (d m^{-1/2}/dm = −m^{-3/2}/2 stays far below float32's range at m = 1e-12).
        return phi * (math.sqrt(size / self.num_kernels) * ops.rsqrt(at_least(energy, 1e-12)))

    def declare_geometry(self, name, shape, initializer, default, trainable, constraint=None, scale_power=0):
        """Declares a geometric weight of shape `(B, N, *shape)` (a `GeometricWeight`), made in `build`.

        `default` is used when `initializer` is None; `scale_power`: 1 for a
        length, −1 for a frequency, 0 for an angle (`GeometricWeight`).
        """
        self.geometry.append(
            GeometricWeight.create(name, shape, initializer, default, trainable, constraint, scale_power)
        )

    def declare_sigma(self, shape, initializer, default, trainable, min_sigma):
        """Declares the scales `sigma` (B, N, *shape), bounded below by `min_sigma`.

        The bound is applied element-wise after each update (`MinValue`) and
        in the forward pass (`bounded_sigma`), so a σ = 0 assigned by a user
        still gives finite kernels.
        """
        self.min_sigma = check_positive_float("min_sigma", min_sigma)
        self.declare_geometry("sigma", shape, initializer, default, trainable, MinValue(self.min_sigma), scale_power=1)

    def bounded_sigma(self, sigma):
        """max(σ, min_sigma), the scales the basis is sampled with."""
        return at_least(sigma, self.min_sigma)

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
        if self.data_format == "channels_last":
            return tuple(input_shape[1:-1])
        return tuple(input_shape[2:])

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

    def _coefficients_initializer(self, index):
        """The user's coefficient initializer for the `index`-th combination weight (0 or 1).

        Keras initializers are stateless: one instance seeded with an integer
        draws the same values at every call, so β and λ would share their
        draws. Weight `index` gets its own copy, seeded `seed + index`
        (an unseeded copy draws its own seed).
        """
        initializer = self.coefficients_initializer
        if index == 0 or not hasattr(initializer, "get_config"):
            return initializer
        config = initializer.get_config()
        if isinstance(config.get("seed"), int):
            config["seed"] += index
        return type(initializer).from_config(config)

    def _add_coefficients(self, name, shape, variance, index=0):
        """Combination weight number `index`; by default N(0, variance(E)) with E the initial basis energy."""
        initializer = self._coefficients_initializer(index)
        if initializer is None:

            def initializer(shape, dtype=None):
                # Mean energy Σ φ² of the initial basis kernels: a unit-variance
                # input gives basis responses of about this variance. Computed
                # here, when the variable is created, not in `build`: reading
                # variables in a `build` that a parent model runs in a graph
                # makes Keras track them twice. Tensor ops only, no `float()`:
                # Keras also calls an initializer symbolically (a deferred
                # build inside `fit`, `jax.eval_shape`, `tf.function`).
                phi = self.basis()
                energy = ops.mean(ops.sum(ops.square(phi), axis=tuple(range(1, self.rank + 1))))
                stddev = ops.sqrt(variance(at_least(energy, 1e-6)))
                unit = keras.initializers.RandomNormal(stddev=1.0)(shape, dtype)
                return unit * ops.cast(stddev, unit.dtype)

        return self.add_weight(
            name=name,
            shape=shape,
            initializer=initializer,
            regularizer=self.coefficients_regularizer,
            constraint=self.coefficients_constraint,
        )

    def build(self, input_shape):
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
        b, n, per_basis = self.num_bases, self.num_kernels, self.filters // self.num_bases
        for g in self.geometry:
            weight = self.add_weight(
                name=g.name,
                shape=(b, n, *g.shape),
                initializer=g.initializer,
                trainable=g.trainable,
                constraint=g.constraint,
                dtype=self.geometry_dtype,
                autocast=False,
            )
            setattr(self, g.name, weight)
        if self.combination == "depthwise":
            self.coefficients = self._add_coefficients(
                "coefficients", (in_channels, self.depth_multiplier, n), lambda energy: 2.0 / (n * energy)
            )
        elif self.separable:
            self.coefficients_in = self._add_coefficients(
                "coefficients_in", (b, in_channels, n), lambda energy: 1.0 / in_channels
            )
            self.coefficients_out = self._add_coefficients(
                "coefficients_out", (b, n, per_basis), lambda energy: 2.0 / (n * energy), index=1
            )
        else:
            self.coefficients = self._add_coefficients(
                "coefficients", (b, in_channels, per_basis, n),
                lambda energy: 2.0 / (in_channels * n * energy),
            )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self._path = self._choose_path()

    # --- execution ----------------------------------------------------------

    def path_costs(self, prices=None):
        """Estimated cost of each execution path for this layer (`keras_gaussconv.ops.costs.path_costs`).

        `prices`: a price table; default the active backend's (`PRICES`).
        """
        return cost_model.path_costs(
            self.spec, self.in_channels, self.filters, self.num_bases, self.num_kernels,
            self.combination, self.input_spatial_shape, prices,
        )

    def _choose_path(self):
        if self.implementation != "auto":
            return self.implementation
        if self.full_support:
            return "fft"  # its cost does not grow with the kernel; every other path's does
        return cost_model.cheapest(self.path_costs())

    @property
    def execution_path(self):
        """The path `call` runs: "kernel", "basis" or "fft" (`implementation`, or auto's choice at build)."""
        if not self.built:
            raise ValueError(f"Layer '{self.name}' must be built before its `execution_path` is known.")
        return self._path

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
        if self.combination == "depthwise":
            return paths.depthwise_kernel(phi, *self.combination_weights())
        if self.separable:
            return paths.separable_kernel(phi, *self.combination_weights())
        return paths.full_kernel(phi, *self.combination_weights())

    def call(self, inputs, basis=None):
        """The convolution of `inputs` with the layer's kernels; `basis`: another basis `(B, *kernel_size, N)`
        to combine instead of `basis()` (`basis_of` at other geometric values, as `ScaleChannels` gives)."""
        return self.convolve_with(inputs, self.basis() if basis is None else basis)

    def convolve_with(self, inputs, phi):
        """The layer's output for the basis `phi` (`(B, *kernel_size, N)`, e.g. `basis_of` at other
        geometric values) with the layer's own coefficients, bias and activation."""
        if isinstance(inputs.shape[0], int) and inputs.shape[0] == 0:
            # An empty batch: TensorFlow's CPU convolutions return a wrongly shaped tensor
            # for it, PyTorch's FFTs refuse it. Nothing to compute. (Only a static size is
            # read: a traced one, as in torch.onnx's export, is left to the graph.)
            return ops.zeros(self.compute_output_shape(inputs.shape), self.compute_dtype)
        x = inputs
        last = self.rank + 1
        if self.data_format == "channels_first":
            x = ops.moveaxis(x, 1, last)
        phi = ops.cast(phi, x.dtype)
        x = paths.convolve(x, phi, self.combination_weights(), self.combination, self._path, self.spec)
        if self.use_bias:
            x = x + ops.cast(self.bias, x.dtype)
        if self.data_format == "channels_first":
            x = ops.moveaxis(x, last, 1)
        if self.activation is not None:
            x = self.activation(x)
        return x

    # --- fold ---------------------------------------------------------------

    def fold(self, tolerance=None):
        """Stock Keras layers that compute this layer's output with constant weights.

        Full layer: one `Conv{r}D` with the dense kernel W. Separable layer
        (r = 1, 2): `Conv{r}D 1×1 (F_in → B·N) → DepthwiseConv{r}D (φ) →
        Conv{r}D 1×1 (B·N → F_out, block-diagonal λ)` when that is faster
        than one `Conv{r}D` (estimated from measured prices), else one
        `Conv{r}D`. The last 1×1 is dense with zero blocks rather than
        `groups=B`: TensorFlow's CPU grouped convolution measured 3× slower
        than the dense one. Bias and activation are kept on the last
        convolution; names derive from this layer's.

        A `channels_first` layer folds into the same channels_last
        convolutions between two `Permute` layers, as it computes itself:
        TensorFlow's CPU kernels run a channels_first convolution only with
        oneDNN, so a folded model runs wherever the layer did.

        `tolerance` (e.g. 1e-4; needs padding 'same' and strides 1, as every
        `kernel_size=None` layer has) crops each kernel, the same taps from both
        ends of an axis, to the smallest size whose discarded weights W_d make
        |Δy_o| ≤ Σ|W_d[..., o]| · max|x| ≤ `tolerance` · Σ|W[..., o]| · max|x| for
        every output channel o: no output changes by more than `tolerance`
        relative to the largest an input of that range can give.

        The code is `keras_gaussconv.folding.fold_structured`.

        Returns:
            A list of built layers, to be applied in order.
        """
        from keras_gaussconv import folding  # folding imports the layers: imported when used

        return folding.fold_layer(self, tolerance)

    # --- config -------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
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
                "coefficients_initializer": (
                    None
                    if self.coefficients_initializer is None
                    else keras.initializers.serialize(self.coefficients_initializer)
                ),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "coefficients_regularizer": keras.regularizers.serialize(
                    self.coefficients_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "coefficients_constraint": keras.constraints.serialize(
                    self.coefficients_constraint
                ),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
                "activity_regularizer": keras.regularizers.serialize(
                    self.activity_regularizer
                ),
                "implementation": self.implementation,
                "normalize_basis": self.normalize_basis,
            }
        )
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
