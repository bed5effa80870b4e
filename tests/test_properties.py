"""Property-based tests (hypothesis): random valid and invalid layer configurations."""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import outputs_and_gradients, to_numpy
from keras_gaussconv import DisplacedGaussianConv2D, GaborConv2D, GaussianDerivativeConv2D, rfnn_conv2d

pytestmark = pytest.mark.core  # CI runs these under TensorFlow and JAX

KINDS = {  # its own table (not layer_kinds.KINDS): the order is a drawn parameter of every kind
    "gaussian": lambda order, **kw: GaussianDerivativeConv2D(order=order, **kw),
    "gabor": lambda order, **kw: GaborConv2D(num_kernels=order + 1, **kw),
    "displaced": lambda order, **kw: DisplacedGaussianConv2D(num_units=order + 1, **kw),
    "rfnn": lambda order, **kw: rfnn_conv2d(order=order, **kw),
}
# A fixed profile: the same 20 examples on every machine and in every order (derandomize),
# no example database carried between runs, no per-example time limit.
SETTINGS = settings(
    max_examples=20, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def valid_configs(draw):
    kernel_size = (draw(st.integers(1, 15)), draw(st.integers(1, 15)))
    strides = draw(st.integers(1, 3))
    dilation = 1 if strides > 1 else draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["valid", "same"]))
    num_bases = draw(st.integers(1, 3))
    extent = [dilation * (k - 1) + 1 for k in kernel_size]
    low = extent if padding == "valid" else [1, 1]
    spatial = (draw(st.integers(low[0], low[0] + 6)), draw(st.integers(low[1], low[1] + 6)))
    return dict(
        kind=draw(st.sampled_from(sorted(KINDS))),
        order=draw(st.integers(0, 6)),
        layer=dict(
            filters=num_bases * draw(st.integers(1, 3)),
            kernel_size=kernel_size,
            num_bases=num_bases,
            strides=strides,
            dilation_rate=dilation,
            padding=padding,
            data_format=draw(st.sampled_from(["channels_last", "channels_first"])),
            separable=draw(st.booleans()),
        ),
        in_channels=draw(st.integers(1, 3)),
        spatial=spatial,
    )


@SETTINGS
@given(config=valid_configs(), seed=st.integers(0, 2**16))
def test_valid_configurations(config, seed):
    keras.utils.set_random_seed(seed)
    args, spatial, c = config["layer"], config["spatial"], config["in_channels"]
    shape = (2, *spatial, c) if args["data_format"] == "channels_last" else (2, c, *spatial)
    x = np.random.default_rng(seed).normal(size=shape).astype("float32")
    conv_args = {k: v for k, v in args.items() if k not in ("num_bases", "separable")}
    expected = keras.layers.Conv2D(**conv_args).compute_output_shape(shape)
    layers = [KINDS[config["kind"]](config["order"], implementation=path, **args) for path in ("kernel", "basis", "fft")]
    for layer in layers:
        layer.build(shape)
        layer.set_weights(layers[0].get_weights())
    assert layers[0].compute_output_shape(shape) == expected
    target = np.random.default_rng(seed + 1).normal(size=expected).astype("float32")
    (reference, grads), *others = outputs_and_gradients(layers, x, target)
    assert reference.shape == expected and np.all(np.isfinite(reference))
    assert all(np.all(np.isfinite(g)) for g in grads)
    scale = np.abs(reference).max() + 1e-6
    for layer, (out, grads) in zip(layers[1:], others):
        np.testing.assert_allclose(out, reference, atol=1e-5 * scale + 1e-6, err_msg=layer.implementation)
        assert all(np.all(np.isfinite(g)) for g in grads)
    folded = x
    for part in layers[0].fold():
        folded = part(folded)
    np.testing.assert_allclose(to_numpy(folded), reference, atol=1e-5 * scale + 1e-6)


INVALID = {  # argument → bad values
    "filters": [0, -3, 2.5, "8"],
    "kernel_size": [0, -1, (3, 0), (3, 3, 3), "3"],
    "num_bases": [0, -2],
    "strides": [0, (1, -1)],
    "dilation_rate": [0, (2, 0)],
    "padding": ["causal", "full", 3],
    "data_format": ["NHWC", "channels_middle"],
    "implementation": ["cuda", "winograd"],
    "min_sigma": [0, -1.0, "small"],
}


@SETTINGS
@given(
    kind=st.sampled_from(["gaussian", "gabor", "displaced"]),
    argument=st.sampled_from(sorted(INVALID)),
    data=st.data(),
)
def test_invalid_configurations_name_the_argument(kind, argument, data):
    value = data.draw(st.sampled_from(INVALID[argument]))
    args = {**dict(filters=4, kernel_size=3, num_bases=2), argument: value}
    with pytest.raises(ValueError, match=f"{argument}="):
        KINDS[kind](2, **args)


@pytest.mark.parametrize("kind", ["gaussian", "gabor", "displaced"])
def test_invalid_combinations(kind):
    with pytest.raises(ValueError, match="Received: filters=5, num_bases=2"):
        KINDS[kind](2, filters=5, kernel_size=3, num_bases=2)
    with pytest.raises(ValueError, match="Received: strides=2, dilation_rate=2"):
        KINDS[kind](2, filters=4, kernel_size=3, strides=2, dilation_rate=2)
    layer = KINDS[kind](2, filters=4, kernel_size=7)
    with pytest.raises(ValueError, match="Received: kernel_size=\\(7, 7\\)"):
        layer.build((None, 5, 5, 3))
    with pytest.raises(ValueError, match="rank 4"):
        KINDS[kind](2, filters=4, kernel_size=3).build((None, 5, 3))
