"""`BasisConv2D`: the one base class of every structured-kernel convolution."""

import math

import keras
import numpy as np
from keras import ops

from keras_gaussconv.layers.constraints import MinValue
from keras_gaussconv.layers.fft_conv import fft_conv2d, fft_depthwise_conv2d, fft_length
from keras_gaussconv.layers.validation import (
    check_choice,
    check_int_pair,
    check_positive_float,
    check_positive_int,
)

IMPLEMENTATIONS = ("auto", "kernel", "basis", "fft")
# Measured price of one multiply-add relative to a dense convolution's, per backend
# (CPU kernels; `benchmarks/fit_prices.py` picks them from `benchmarks/bench_layers.py`'s
# timings, see `path_costs`): "full_basis" for the full combination's per-channel basis
# convolution (TensorFlow: depthwise; elsewhere the channels go into the batch of one
# dense convolution), "depthwise" for the separable combination's depthwise step,
# "fft_full" and "fft_separable" for a flop of the FFT path of each combination (their
# transforms and products differ in shape, and XLA prices them very differently).
# A backend not listed uses TensorFlow's.
PRICES = {
    "tensorflow": {"full_basis": 5.0, "depthwise": 8.0, "fft_full": 16.0, "fft_separable": 16.0},
    "jax": {"full_basis": 10.0, "depthwise": 8.0, "fft_full": 16.0, "fft_separable": 2.0},
    "torch": {"full_basis": 4.0, "depthwise": 8.0, "fft_full": 28.0, "fft_separable": 28.0},
}
# The same for inference of folded layers: 1×1 and depthwise forward passes.
FOLD_POINTWISE_COST = 6.0
FOLD_DEPTHWISE_COST = 30.0


class BasisConv2D(keras.layers.Layer):
    """2-D convolution whose kernels combine B bases of N structured kernels.

    A subclass declares the basis in `__init__`: `self.num_kernels` (N) and
    its geometric weights (`declare_geometry`); and it implements
    `compute_basis(**geometry)`, the sampled kernels φ of shape
    `(B, kh, kw, N)` for given geometric values. This class does the rest:
    argument checks, all weights, the combination, the execution paths,
    shapes, config and folding.

    Full combination (eq. 3 of Penaud--Polge et al. 2022), output channel
    c = b·(F_out/B) + j:
        J_c = Σ_i Σ_n ω[b, i, j, n] · (φ[b, n] ⋆ I_i),  ω = `coefficients`
        of shape (B, F_in, F_out/B, N).
    Separable combination (eq. 4):
        J_c = Σ_n λ[b, n, j] · Σ_i β[b, i, n] · (φ[b, n] ⋆ I_i),
        β = `coefficients_in` (B, F_in, N), λ = `coefficients_out` (B, N, F_out/B).

    Args:
        filters: F_out, number of output channels; divisible by `num_bases`.
        kernel_size: int or pair `(kh, kw)`; odd, even and non-square sizes
            are sampled exactly as given.
        num_bases: B, number of independent bases.
        separable: use the separable combination (eq. 4) instead of eq. 3.
        strides, padding, data_format, dilation_rate, activation, use_bias:
            as in `keras.layers.Conv2D`.
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
        coefficients_regularizer, bias_regularizer, activity_regularizer:
            regularizers, as in Keras.
        coefficients_constraint, bias_constraint: constraints, as in Keras.
        implementation: `"auto"` (the fastest by `path_costs()`, a
            multiply-add count weighted by measured prices), `"kernel"` (build
            the dense kernel, one convolution), `"basis"` (convolve with the
            basis kernels, then combine) or `"fft"` (pointwise products of
            spectra; needs the input's spatial size when built). All give
            the same result up to float32 round-off.
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        num_bases=1,
        separable=False,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
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
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.filters = check_positive_int("filters", filters)
        self.num_bases = check_positive_int("num_bases", num_bases)
        if self.filters % self.num_bases:
            raise ValueError(
                "`filters` must be divisible by `num_bases` (each basis makes "
                f"filters / num_bases output channels). Received: "
                f"filters={filters}, num_bases={num_bases}"
            )
        self.kernel_size = check_int_pair("kernel_size", kernel_size)
        self.strides = check_int_pair("strides", strides)
        self.dilation_rate = check_int_pair("dilation_rate", dilation_rate)
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
        if not isinstance(separable, bool):
            raise ValueError(
                f"`separable` must be True or False. Received: separable={separable!r}"
            )
        self.separable = separable
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

    # --- what a subclass declares -------------------------------------------

    def compute_basis(self, **geometry):
        """The basis kernels φ, shape `(B, kh, kw, N)`, for given geometric values.

        Keyword arguments are the declared geometric weights by name (tensors
        of their shapes), so the basis can be sampled for values that are not
        (yet) the layer's, e.g. initial draws in `build`.
        """
        raise NotImplementedError

    def basis(self):
        """The layer's basis kernels φ, shape `(B, kh, kw, N)`, in the variable dtype."""
        return self.compute_basis(**{name: getattr(self, name) for name in self._geometry})

    def declare_geometry(self, name, shape, initializer, default, trainable, constraint=None):
        """Declares a geometric weight of shape `(B, N, *shape)`, made in `build`.

        Sets `{name}_initializer` (`default` when `initializer` is None) and
        `trainable_{name}`; both go into `get_config`. The weight is float32
        and never autocast, so bases are computed in float32 under mixed
        precision.
        """
        if not hasattr(self, "_geometry"):
            self._geometry = {}
        self._geometry[name] = (tuple(shape), constraint)
        setattr(
            self,
            f"{name}_initializer",
            default if initializer is None else keras.initializers.get(initializer),
        )
        setattr(self, f"trainable_{name}", bool(trainable))

    def declare_sigma(self, shape, initializer, default, trainable, min_sigma):
        """Declares the scales `sigma` (B, N, *shape), bounded below by `min_sigma`.

        The bound is applied element-wise after each update (`MinValue`) and
        in the forward pass (`bounded_sigma`), so a σ = 0 assigned by a user
        still gives finite kernels.
        """
        self.min_sigma = check_positive_float("min_sigma", min_sigma)
        self.declare_geometry(
            "sigma", shape, initializer, default, trainable, constraint=MinValue(self.min_sigma)
        )

    def bounded_sigma(self, sigma):
        """max(σ, min_sigma), the scales the basis is sampled with."""
        return ops.maximum(sigma, self.min_sigma)

    # --- shapes -------------------------------------------------------------

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _check_rank(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank 4 (batch, rows, "
                f"cols, channels or batch, channels, rows, cols). Received: "
                f"input_shape={tuple(input_shape)}"
            )

    def _spatial_shape(self, input_shape):
        """The (rows, cols) of an input shape in this layer's data format."""
        return tuple(input_shape[1:3] if self.data_format == "channels_last" else input_shape[2:])

    def _output_spatial_shape(self, spatial, input_shape=None):
        """Output (rows, cols) for input (rows, cols) `spatial`; None stays None."""
        out = []
        for size, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate):
            if size is None:
                out.append(None)
            elif self.padding == "same":
                out.append((size + s - 1) // s)
            else:
                extent = d * (k - 1) + 1
                if size < extent:
                    raise ValueError(
                        "With padding='valid' the dilated kernel (extent "
                        f"{extent}) must fit in the input. Received: "
                        f"kernel_size={self.kernel_size}, dilation_rate="
                        f"{self.dilation_rate}, input_shape={input_shape}"
                    )
                out.append((size - extent) // s + 1)
        return tuple(out)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        self._check_rank(input_shape)
        out = self._output_spatial_shape(self._spatial_shape(input_shape), input_shape)
        if self.data_format == "channels_last":
            return (input_shape[0], *out, self.filters)
        return (input_shape[0], self.filters, *out)

    # --- state --------------------------------------------------------------

    def _add_coefficients(self, name, shape, variance):
        """A combination weight; by default N(0, variance(E)) with E the initial basis energy."""
        initializer = self.coefficients_initializer
        if initializer is None:

            def initializer(shape, dtype=None):
                # Mean energy Σ φ² of the initial basis kernels: a unit-variance
                # input gives basis responses of about this variance. Computed
                # here, when the variable is created, not in `build`: reading
                # variables in a `build` that a parent model runs in a graph
                # makes Keras track them twice. Tensor ops only, no `float()`:
                # Keras also calls an initializer symbolically (a deferred
                # build inside `fit`, `jax.eval_shape`, `tf.function`).
                energy = ops.mean(ops.sum(ops.square(self.basis()), axis=(1, 2)))
                stddev = ops.sqrt(variance(ops.maximum(energy, 1e-6)))
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
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={channel_axis: in_channels})
        self.in_channels = in_channels
        spatial = self._spatial_shape(input_shape)
        if self.implementation == "fft" and None in spatial:
            raise ValueError(
                "implementation='fft' needs the input's spatial size to be known "
                "(FFT lengths are fixed when the layer is built); use 'auto' for "
                f"inputs of varying size. Received: input_shape={tuple(input_shape)}"
            )
        self.input_spatial_shape = spatial
        b, n, per_basis = self.num_bases, self.num_kernels, self.filters // self.num_bases
        for name, (shape, constraint) in self._geometry.items():
            weight = self.add_weight(
                name=name,
                shape=(b, n, *shape),
                initializer=getattr(self, f"{name}_initializer"),
                trainable=getattr(self, f"trainable_{name}"),
                constraint=constraint,
                autocast=False,
            )
            setattr(self, name, weight)
        if self.separable:
            self.coefficients_in = self._add_coefficients(
                "coefficients_in", (b, in_channels, n), lambda energy: 1.0 / in_channels
            )
            self.coefficients_out = self._add_coefficients(
                "coefficients_out", (b, n, per_basis), lambda energy: 2.0 / (n * energy)
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

    # --- execution paths ----------------------------------------------------

    def path_costs(self, prices=None):
        """Estimated cost of each execution path, in dense-convolution multiply-adds per image.

        Multiply-add counts weighted by their measured price on this backend's
        CPU kernels (`PRICES`, or `prices` if given): a multiply-add of the
        full combination's basis step costs `full_basis` dense ones, one of the
        separable combination's depthwise step `depthwise` (their backward
        passes are slow), an FFT-path flop `fft_full` or `fft_separable`
        (transposes, many small complex matmuls). With P output pixels, P_in
        input pixels, k = kh·kw:

        * kernel: F_in·F_out·k·P;
        * basis, full: (full_basis·F_in·B·N·k + F_in·B·N·F_out)·P;
        * basis, separable: F_in·B·N·P_in + (depthwise·B·N·k + B·N·F_out)·P;
        * fft (only with a known spatial size), FFT length L = Lh·Lw and
          S = Lh·(Lw/2 + 1) frequencies: fft_* · (c·L·log₂L + m·S) with
          c FFTs and m real multiplies per image (the kernel's FFTs amortised
          over a batch of 16), plus the separable layer's 1×1 steps.
        """
        prices = prices or PRICES.get(keras.backend.backend(), PRICES["tensorflow"])
        f_in, f_out, b, n = self.in_channels, self.filters, self.num_bases, self.num_kernels
        k = self.kernel_size[0] * self.kernel_size[1]
        spatial = self.input_spatial_shape
        known = None not in spatial
        out = self._output_spatial_shape(spatial) if known else (1, 1)
        pixels, pixels_in = out[0] * out[1], (spatial[0] * spatial[1] if known else 1)
        pointwise = f_in * b * n * pixels_in + b * n * f_out * pixels
        if self.separable:
            basis = pointwise + prices["depthwise"] * b * n * k * pixels
        else:
            basis = (prices["full_basis"] * f_in * b * n * k + f_in * b * n * f_out) * pixels
        costs = {"kernel": f_in * f_out * k * pixels, "basis": basis}
        if known:
            extent = [d * (s - 1) + 1 for d, s in zip(self.dilation_rate, self.kernel_size)]
            padded = [
                size + (extent[i] - 1 if self.padding == "same" else 0) for i, size in enumerate(spatial)
            ]
            lh, lw = (fft_length(size) for size in padded)
            length, freqs = lh * lw, lh * (lw // 2 + 1)
            if self.separable:
                transforms, multiplies = 2 * b * n + b * n / 16, 4 * b * n * freqs
                price, other = prices["fft_separable"], pointwise
            else:
                transforms, multiplies = f_in + f_out + f_in * f_out / 16, 3 * f_in * f_out * freqs
                price, other = prices["fft_full"], 0
            costs["fft"] = price * (transforms * length * math.log2(length) + multiplies) + other
        return costs

    def _choose_path(self):
        if self.implementation != "auto":
            return self.implementation
        costs = self.path_costs()
        return min(costs, key=costs.get)

    def _conv_kwargs(self):
        return dict(
            strides=self.strides,
            padding=self.padding,
            data_format="channels_last",
            dilation_rate=self.dilation_rate,
        )

    def kernel(self, basis=None):
        """The dense kernel W of shape `(kh, kw, F_in, F_out)` the layer applies.

        Full: W[h, w, i, b·(F_out/B) + j] = Σ_n ω[b, i, j, n] φ[b, h, w, n];
        separable: Σ_n β[b, i, n] φ[b, h, w, n] λ[b, n, j].
        """
        phi = self.basis() if basis is None else basis
        if self.separable:
            w = ops.einsum(
                "bin,bhwn,bnj->hwibj",
                ops.cast(self.coefficients_in, phi.dtype),
                phi,
                ops.cast(self.coefficients_out, phi.dtype),
            )
        else:
            w = ops.einsum("bhwn,bijn->hwibj", phi, ops.cast(self.coefficients, phi.dtype))
        kh, kw = self.kernel_size
        return ops.reshape(w, (kh, kw, self.in_channels, self.filters))

    def _block_diagonal(self, weights):
        """(B, M, J) per-basis matrices → (B·M, B·J) block-diagonal matrix."""
        b, m, j = weights.shape
        eye = ops.cast(np.eye(b, dtype="float32"), weights.dtype)
        return ops.reshape(ops.einsum("bmj,bc->bmcj", weights, eye), (b * m, b * j))

    def _phi_channels(self, phi):
        """(B, kh, kw, N) → (kh, kw, B·N), channel b·N + n."""
        kh, kw = self.kernel_size
        return ops.reshape(ops.transpose(phi, (1, 2, 0, 3)), (kh, kw, self.num_bases * self.num_kernels))

    def _separable_matrices(self, dtype):
        """The separable layer's two 1×1 steps as matrices: β (F_in, B·N) and block-diagonal λ (B·N, F_out)."""
        beta = ops.cast(self.coefficients_in, dtype)  # (B, F_in, N)
        beta = ops.reshape(ops.transpose(beta, (1, 0, 2)), (self.in_channels, self.num_bases * self.num_kernels))
        return beta, self._block_diagonal(ops.cast(self.coefficients_out, dtype))

    def _separable_basis_first(self, x, phi, depthwise):
        """J = λ · (φ ⋆ (β · I)): 1×1 F_in → B·N, depthwise with φ, block-diagonal 1×1 B·N → F_out."""
        beta, lam = self._separable_matrices(x.dtype)
        return ops.matmul(depthwise(ops.matmul(x, beta), self._phi_channels(phi)), lam)

    def _full_basis_first(self, x, phi):
        """Responses r of every input channel to the B·N kernels, then the 1×1 ω.

        TensorFlow: a depthwise convolution with depth multiplier B·N. Elsewhere the
        channels go into the batch, (n, h, w, F_in) → (n·F_in, h, w, 1), for one dense
        convolution with B·N outputs — the same multiply-adds; XLA's CPU backend runs the
        depthwise form 60–90× slower than a Conv2D, this one 0.5–4× (measured on JAX).
        """
        b, n, f_in = self.num_bases, self.num_kernels, self.in_channels
        kh, kw = self.kernel_size
        phi = self._phi_channels(phi)
        if keras.backend.backend() == "tensorflow":
            depthwise = ops.broadcast_to(phi[:, :, None, :], (kh, kw, f_in, b * n))
            r = ops.depthwise_conv(x, depthwise, **self._conv_kwargs())
        else:
            size = ops.shape(x)
            planes = ops.reshape(ops.transpose(x, (0, 3, 1, 2)), (-1, size[1], size[2], 1))
            r = ops.conv(planes, phi[:, :, None, :], **self._conv_kwargs())
            out = ops.shape(r)
            r = ops.transpose(ops.reshape(r, (-1, f_in, out[1], out[2], b * n)), (0, 2, 3, 1, 4))
            r = ops.reshape(r, (-1, out[1], out[2], f_in * b * n))
        # Channel i·B·N + b·N + n of r meets ω[b, i, j, n] for output b·(F_out/B) + j.
        omega = ops.cast(self.coefficients, x.dtype)
        combine = ops.einsum("bijn,bc->ibncj", omega, ops.cast(np.eye(b, dtype="float32"), x.dtype))
        return ops.matmul(r, ops.reshape(combine, (f_in * b * n, self.filters)))

    def _convolve(self, x, phi):
        """The layer's linear map (no bias) on channels_last `x`, by the chosen path."""
        conv = self._conv_kwargs()
        path = self._path
        if path == "fft" and None in x.shape[1:3]:
            # A graph traced with relaxed shapes: same result by the direct path.
            path = "basis" if self.separable else "kernel"
        if path == "kernel":
            return ops.conv(x, self.kernel(phi), **conv)
        if path == "fft":
            fft = dict(strides=self.strides, padding=self.padding, dilation_rate=self.dilation_rate)
            if self.separable:
                return self._separable_basis_first(x, phi, lambda t, k: fft_depthwise_conv2d(t, k, **fft))
            return fft_conv2d(x, self.kernel(phi), **fft)
        if self.separable:
            return self._separable_basis_first(x, phi, lambda t, k: ops.depthwise_conv(t, k[..., None], **conv))
        return self._full_basis_first(x, phi)

    def call(self, inputs):
        x = inputs
        if self.data_format == "channels_first":
            x = ops.transpose(x, (0, 2, 3, 1))
        x = self._convolve(x, ops.cast(self.basis(), x.dtype))
        if self.use_bias:
            x = x + ops.cast(self.bias, x.dtype)
        if self.data_format == "channels_first":
            x = ops.transpose(x, (0, 3, 1, 2))
        if self.activation is not None:
            x = self.activation(x)
        return x

    # --- fold ---------------------------------------------------------------

    def _separable_fold_is_cheaper(self):
        """Whether 1×1 → depthwise → 1×1 beats one Conv2D, by measured forward prices."""
        if not self.separable:
            return False
        k = self.kernel_size[0] * self.kernel_size[1]
        channels = self.num_bases * self.num_kernels
        three = (
            FOLD_POINTWISE_COST * channels * (self.in_channels + self.filters)
            + FOLD_DEPTHWISE_COST * channels * k
        )
        return three < self.in_channels * self.filters * k

    def fold(self):
        """Stock Keras layers that compute this layer's output with constant weights.

        Full layer: one `Conv2D` with the dense kernel W. Separable layer:
        `Conv2D 1×1 (F_in → B·N) → DepthwiseConv2D (φ) → Conv2D 1×1 (B·N →
        F_out, block-diagonal λ)` when that is faster than one `Conv2D`
        (estimated from measured prices), else one `Conv2D`. The last 1×1 is
        dense with zero blocks rather than `groups=B`: TensorFlow's CPU
        grouped convolution measured 3× slower than the dense one. Bias and
        activation are kept on the last convolution; names derive from this
        layer's.

        A `channels_first` layer folds into the same channels_last
        convolutions between two `Permute` layers (NCHW → NHWC → NCHW), as it
        computes itself: TensorFlow's CPU kernels run a channels_first
        `Conv2D` only with oneDNN, so a folded model runs wherever the
        layer did.

        Returns:
            A list of built layers, to be applied in order.
        """
        if not self.built:
            raise ValueError(f"Layer '{self.name}' must be built before `fold()`.")
        shape = (None, None, None, self.in_channels)
        common = dict(padding=self.padding, data_format="channels_last", dtype=self.dtype_policy)
        last = dict(activation=self.activation, use_bias=self.use_bias)
        tail = [ops.convert_to_numpy(self.bias.value)] if self.use_bias else []
        if not self._separable_fold_is_cheaper():
            conv = keras.layers.Conv2D(
                self.filters, self.kernel_size, strides=self.strides,
                dilation_rate=self.dilation_rate, name=self.name, **common, **last,
            )
            conv.build(shape)
            conv.set_weights([ops.convert_to_numpy(self.kernel())] + tail)
            parts = [conv]
        else:
            channels = self.num_bases * self.num_kernels
            beta, lam = (ops.convert_to_numpy(m) for m in self._separable_matrices(self.variable_dtype))
            phi = ops.convert_to_numpy(self._phi_channels(self.basis()))  # (kh, kw, B·N)
            pointwise_in = keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{self.name}_pointwise_in", **common)
            depthwise = keras.layers.DepthwiseConv2D(
                self.kernel_size, strides=self.strides, dilation_rate=self.dilation_rate,
                use_bias=False, name=f"{self.name}_depthwise", **common,
            )
            pointwise_out = keras.layers.Conv2D(self.filters, 1, name=f"{self.name}_pointwise_out", **common, **last)
            mid = (None, None, None, channels)
            pointwise_in.build(shape)
            depthwise.build(mid)
            pointwise_out.build(mid)
            pointwise_in.set_weights([beta[None, None]])
            depthwise.set_weights([phi[:, :, :, None]])
            pointwise_out.set_weights([lam[None, None]] + tail)
            parts = [pointwise_in, depthwise, pointwise_out]
        if self.data_format == "channels_first":
            parts = [
                keras.layers.Permute((2, 3, 1), name=f"{self.name}_to_channels_last", dtype=self.dtype_policy),
                *parts,
                keras.layers.Permute((3, 1, 2), name=f"{self.name}_to_channels_first", dtype=self.dtype_policy),
            ]
        return parts

    # --- config -------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
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
            }
        )
        if "sigma" in self._geometry:
            config["min_sigma"] = self.min_sigma
        for name in self._geometry:
            initializer = getattr(self, f"{name}_initializer")
            config[f"{name}_initializer"] = keras.initializers.serialize(initializer)
            config[f"trainable_{name}"] = getattr(self, f"trainable_{name}")
        return config
