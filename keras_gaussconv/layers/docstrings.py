"""The argument documentation every public layer shares, filled into its docstring once, at import."""

AXES = {1: "steps", 2: "rows, cols", 3: "depth, rows, cols"}

# The convolution arguments every public layer documents (`conv_docstring`).
CONV_ARGS_DOC = """\
        strides: int or tuple of {rank} ints, as in Keras' convolutions.
        padding: "valid" or "same".
        data_format: "channels_last" (default from `keras.config`) or "channels_first".
        dilation_rate: int or tuple of {rank} ints; > 1 only with strides 1.
        activation: activation applied to the output (default none).
        use_bias: whether to add a bias (default True).
        coefficients_initializer: initializer of the combination weights ω
            (or β and λ). None (default) is He initialisation for the
            structured layer: with E = mean Σ φ² the energy of the initial
            basis kernels (the variance of a basis response to unit white
            noise), ω ~ N(0, 2 / (F_in·N·E)), or β ~ N(0, 1 / F_in) and
            λ ~ N(0, 2 / (N·E)) (depthwise: ω ~ N(0, 2 / (N·E))), so a layer
            keeps the variance of its input in ReLU networks whatever the
            width and the scales (the reference's N(0, (√2/(F_in + F_out))²)
            shrinks with width and ignores that Gaussian kernels have E ≪ 1,
            so deep stacks started with vanishing activations).
        bias_initializer: initializer of the bias (default zeros).
        coefficients_regularizer: regularizer of the combination weights, as in Keras.
        bias_regularizer: regularizer of the bias.
        activity_regularizer: regularizer of the output.
        coefficients_constraint: constraint of the combination weights, as in Keras.
        bias_constraint: constraint of the bias.
        implementation: "auto" (default: the cheapest path by `path_costs()`,
            multiply-adds weighted by measured prices), "kernel" (the dense
            kernel, one convolution), "basis" (convolve with the basis
            kernels, then combine) or "fft" (pointwise products of spectra;
            needs the input's spatial size when built). All give the same
            result up to float32 round-off.
        normalize_basis: multiply every basis kernel by √(k₁⋯k_r / (N · Σ φ²)),
            so each has the energy k₁⋯k_r / N and the N of them the energy of
            the k₁⋯k_r unit pixels of a stock kernel. The He-initialised
            combination weights are then N(0, 2 / (F_in · k₁⋯k_r)), a stock
            convolution's, instead of 1/√(E·N/k₁⋯k_r) times larger (about 8×
            for 5×5 kernels of order 2): under Adam (steps of about
            `learning_rate`) the kernels then change as fast, relatively, as a
            stock layer's, which before a normalisation decides how fast the
            layer learns. σ then sets only the kernels' shape, not their
            amplitude. Default False: the sampled kernels, as the reference.
        **kwargs: arguments of `keras.layers.Layer` (`name`, `dtype`, `trainable`)."""

SHAPES_DOC = """\
    Input shape:
        channels_last: `(batch, {axes}, channels)`;
        channels_first: `(batch, channels, {axes})`.

    Output shape:
        `(batch, {new_axes}, filters)` or `(batch, filters, {new_axes})`, the
        sizes as `keras.layers.Conv{rank}D` computes them."""


def conv_docstring(rank):
    """Fills a layer's `{conv_args}` and `{shapes}` docstring fields for `rank` (1, 2, 3, or "r": any)."""

    def decorate(cls):
        cls.__doc__ = cls.__doc__.replace("{conv_args}", CONV_ARGS_DOC.format(rank=rank))
        if rank in AXES:
            axes = AXES[rank]
            new_axes = ", ".join(f"new_{a.strip()}" for a in axes.split(","))
            cls.__doc__ = cls.__doc__.replace("{shapes}", SHAPES_DOC.format(axes=axes, new_axes=new_axes, rank=rank))
        return cls

    return decorate
