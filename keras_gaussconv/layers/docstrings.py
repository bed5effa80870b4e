"""The argument documentation every public layer shares, filled into its docstring once, at import."""

AXES = {1: "steps", 2: "rows, cols", 3: "depth, rows, cols"}

# The convolution arguments every public layer documents (`conv_docstring`).
CONV_ARGS_DOC = """\
        strides: int or tuple of {rank} ints, as `keras.layers.Conv{rank}D`.
        padding: "valid" or "same".
        data_format: "channels_last" (default from `keras.config`) or "channels_first".
        dilation_rate: int or tuple of {rank} ints; > 1 only with strides 1.
        activation: activation applied to the output (default none).
        use_bias: whether to add a bias (default True).
        coefficients_initializer: initializer of the combination weights;
            None (default) is He initialisation for the structured layer
            (see `BasisConv`).
        bias_initializer: initializer of the bias (default zeros).
        coefficients_regularizer: regularizer of the combination weights, as in Keras.
        bias_regularizer: regularizer of the bias.
        activity_regularizer: regularizer of the output.
        coefficients_constraint: constraint of the combination weights, as in Keras.
        bias_constraint: constraint of the bias.
        implementation: "auto" (the cheapest path by the cost model),
            "kernel", "basis" or "fft" (needs the input's spatial size when
            built). All give the same result up to float32 round-off.
        normalize_basis: rescale every basis kernel to the energy
            Σ φ² = k^{rank}/N, so the combination weights have a stock
            convolution's scale and learn at its rate under Adam (see `BasisConv`);
            default False, the sampled kernels (the reference's).
        **kwargs: arguments of `keras.layers.Layer` (`name`, `dtype`, `trainable`)."""

SHAPES_DOC = """\
    Input shape:
        channels_last: `(batch, {axes}, channels)`;
        channels_first: `(batch, channels, {axes})`.

    Output shape:
        `(batch, {new_axes}, filters)` or `(batch, filters, {new_axes})`, the
        sizes as `keras.layers.Conv{rank}D` computes them."""


def conv_docstring(rank):
    """Fills a public layer's `{conv_args}` and `{shapes}` docstring fields for `rank`."""

    def decorate(cls):
        axes = AXES[rank]
        new_axes = ", ".join(f"new_{a.strip()}" for a in axes.split(","))
        cls.__doc__ = cls.__doc__.replace("{conv_args}", CONV_ARGS_DOC.format(rank=rank)).replace(
            "{shapes}", SHAPES_DOC.format(axes=axes, new_axes=new_axes, rank=rank)
        )
        return cls

    return decorate
