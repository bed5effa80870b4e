"""`GaussianDerivativeDepthwiseConv2D`: a SciPy reference, `DepthwiseConv2D` semantics, paths, fold, saving."""

import keras
import numpy as np
import pytest
from scipy.signal import correlate2d

from helpers import images, outputs_and_gradients, same_padding, to_numpy
from keras_gaussconv import GaussianDerivativeDepthwiseConv2D
from keras_gaussconv.ops import PATHS, cheapest

pytestmark = pytest.mark.core



def numpy_depthwise(layer, x):
    """Channel c·M + m = x_c ⋆ Σ_n ω[c, m, n] φ[c // (C/B), n], with SciPy, Keras' 'same' padding and strides."""
    phi = to_numpy(layer.basis()).astype("float64")  # (B, kh, kw, N)
    omega = to_numpy(layer.coefficients).astype("float64")  # (C, M, N)
    channels, multiplier, _ = omega.shape
    group = channels // phi.shape[0]
    if layer.padding == "same":
        x = same_padding(x, phi.shape[1:3], layer.strides)
    sh, sw = layer.strides
    out = np.array([
        [[correlate2d(img[..., c], phi[c // group] @ omega[c, m], mode="valid")[::sh, ::sw]
          for c in range(channels) for m in range(multiplier)]]
        for img in x
    ])[:, 0]  # (batch, C·M, h, w)
    return np.moveaxis(out, 1, -1) + to_numpy(layer.bias)


@pytest.mark.parametrize(
    "kernel_size,multiplier,num_bases,strides,padding",
    [(5, 1, 1, 1, "same"), (4, 3, 2, 2, "same"), ((3, 6), 2, 6, 1, "valid"), (7, 1, 3, 2, "valid")],
)
def test_matches_scipy_per_channel_correlation(kernel_size, multiplier, num_bases, strides, padding):
    x = images((2, 13, 12, 6))
    layer = GaussianDerivativeDepthwiseConv2D(
        kernel_size, depth_multiplier=multiplier, num_bases=num_bases, strides=strides, padding=padding,
        bias_initializer="random_normal",
    )
    np.testing.assert_allclose(to_numpy(layer(x)), numpy_depthwise(layer, x.astype("float64")), atol=2e-5)


@pytest.mark.parametrize(
    "kwargs",
    [dict(depth_multiplier=2, strides=2, padding="same"), dict(dilation_rate=2), dict(strides=(1, 3), padding="valid")],
)
def test_output_shape_is_depthwise_conv2d_s(kwargs):
    x = images((1, 13, 11, 4))
    stock = keras.layers.DepthwiseConv2D(5, **kwargs)
    layer = GaussianDerivativeDepthwiseConv2D(5, **kwargs)
    # The stock layer is only built: on CPUs where oneDNN does not take it, TensorFlow's depthwise
    # kernel refuses strides (1, 3), which this layer computes another way.
    stock.build(x.shape)
    assert layer.compute_output_shape(x.shape) == stock.compute_output_shape(x.shape)
    assert tuple(layer(x).shape) == stock.compute_output_shape(x.shape)
    assert tuple(layer.kernel.shape) == tuple(stock.kernel.shape)


@pytest.mark.parametrize(
    "kernel_size,multiplier,num_bases,strides,dilation_rate,padding,data_format",
    [
        (5, 1, 1, 1, 1, "same", "channels_last"),
        (4, 3, 2, 2, 1, "valid", "channels_first"),
        (3, 2, 4, 1, 2, "same", "channels_last"),
        (5, 2, 2, (1, 3), 1, "same", "channels_last"),  # unequal strides: TF's CPU kernel refuses them
    ],
)
def test_paths_agree(kernel_size, multiplier, num_bases, strides, dilation_rate, padding, data_format):
    x = images((2, 12, 13, 4))
    if data_format == "channels_first":
        x = np.transpose(x, (0, 3, 1, 2))
    kwargs = dict(depth_multiplier=multiplier, num_bases=num_bases, strides=strides, dilation_rate=dilation_rate,
                  padding=padding, data_format=data_format, bias_initializer="random_normal")
    layers = [GaussianDerivativeDepthwiseConv2D(kernel_size, implementation=path, **kwargs) for path in PATHS]
    for layer in layers:
        layer.build(x.shape)
        layer.set_weights(layers[0].get_weights())
    target = images(layers[0].compute_output_shape(x.shape))
    (reference, reference_grads), *others = outputs_and_gradients(layers, x, target)
    assert all(np.all(np.isfinite(g)) and np.abs(g).max() > 0 for g in reference_grads)
    for layer, (out, grads) in zip(layers[1:], others):
        np.testing.assert_allclose(out, reference, atol=2e-5, err_msg=layer.implementation)
        for g_ref, g in zip(reference_grads, grads):
            np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-4 * np.abs(g_ref).max(), err_msg=layer.implementation)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_fold_into_depthwise_conv2d(data_format):
    x = images((2, 4, 10, 9)) if data_format == "channels_first" else images((2, 10, 9, 4))
    layer = GaussianDerivativeDepthwiseConv2D(
        7, depth_multiplier=2, num_bases=2, padding="same", data_format=data_format, activation="relu",
        bias_initializer="random_normal",
    )
    expected = to_numpy(layer(x))
    parts = layer.fold()
    assert [type(p).__name__ for p in parts if not isinstance(p, keras.layers.Permute)] == ["DepthwiseConv2D"]
    np.testing.assert_allclose(to_numpy(keras.Sequential(parts)(x)), expected, rtol=1e-5, atol=1e-5)


def test_save_load_round_trip(tmp_path):
    model = keras.Sequential([
        keras.Input((12, 12, 4)),
        GaussianDerivativeDepthwiseConv2D(5, depth_multiplier=2, num_bases=2, padding="same", name="dw"),
        keras.layers.GlobalAveragePooling2D(),
    ])
    x = images((3, 12, 12, 4))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))
    assert loaded.get_layer("dw").get_config() == model.get_layer("dw").get_config()
    assert "filters" not in model.get_layer("dw").get_config()


def test_keras_layer_contract():
    from keras.src.testing import TestCase

    TestCase().run_layer_test(
        GaussianDerivativeDepthwiseConv2D,
        init_kwargs=dict(kernel_size=3, depth_multiplier=2, num_bases=3, padding="same"),
        input_shape=(2, 8, 8, 3),
        expected_output_shape=(2, 8, 8, 6),
        expected_num_trainable_weights=5,
        expected_num_non_trainable_weights=0,
    )


@pytest.mark.parametrize("kernel_size,size", [(7, 16), (31, 32), (7, None)])
def test_auto_runs_the_cheapest_path(kernel_size, size):
    layer = GaussianDerivativeDepthwiseConv2D(kernel_size, padding="same")
    layer.build((None, size, size, 8))
    costs = layer.path_costs()
    assert layer.execution_path == cheapest(costs)
    assert ("fft" in costs) == (size is not None)


def test_default_coefficients_keep_the_input_variance():
    # He initialisation for one input channel per output: ω ~ N(0, 2 / (N·E)).
    layer = GaussianDerivativeDepthwiseConv2D(7, depth_multiplier=64, padding="same")
    layer.build((None, 16, 16, 32))
    energy = float(np.mean(np.sum(to_numpy(layer.basis()) ** 2, axis=(1, 2))))
    expected = np.sqrt(2 / (layer.num_kernels * energy))
    assert np.std(to_numpy(layer.coefficients)) == pytest.approx(expected, rel=0.1)


def test_channels_not_divisible_by_num_bases():
    layer = GaussianDerivativeDepthwiseConv2D(3, num_bases=4)
    with pytest.raises(ValueError, match=r"divisible by `num_bases`.*num_bases=4, input_shape=\(None, 8, 8, 6\)"):
        layer.build((None, 8, 8, 6))


@pytest.mark.parametrize("implementation", ["kernel", "basis", "fft"])
def test_empty_batch_gives_an_empty_output(implementation):
    layer = GaussianDerivativeDepthwiseConv2D(3, depth_multiplier=2, padding="same", implementation=implementation)
    assert tuple(layer(np.zeros((0, 9, 9, 4), "float32")).shape) == (0, 9, 9, 8)


@pytest.mark.parametrize("kwargs", [dict(filters=8), dict(separable=True)])
def test_depthwise_refuses_filters_and_separable(kwargs):
    from keras_gaussconv import BasisConv2D

    # BasisConv with a depth multiplier has C·M outputs and one combination: nothing to ignore.
    with pytest.raises(ValueError, match=f"depth_multiplier=2, filters={kwargs.get('filters')}, "
                                         f"separable={kwargs.get('separable', False)}"):
        BasisConv2D(kwargs.get("filters"), 3, depth_multiplier=2, separable=kwargs.get("separable", False))
