"""Scale channels seen by every tool (discovery, fold, export, the monitor), the wrapped layer's
Keras contract kept, geometry declared by the layer, discretisation-aware defaults, and the
arguments that used to contradict each other or fail inside a backend."""

import keras
import numpy as np
import onnxruntime
import pytest
from keras import ops

from helpers import blobs_sampled, doubled_channel_responses, images, to_numpy
from keras_gaussconv import (
    BasisConv1D,
    ConvNormAct,
    GaussianDerivativeConv2D,
    GeometryMonitor,
    ScaleChannels,
    ScalePooling,
)
from keras_gaussconv.datasets import load_rescaled_digits
from keras_gaussconv.export import export_onnx
from keras_gaussconv.folding import is_foldable, is_structured, structured_layers
from keras_gaussconv.models import gaussian_derivative_network
from layer_kinds import GAUSSIAN_KINDS, KINDS

pytestmark = pytest.mark.core


def small_network(**kwargs):
    kwargs = {"scales": (1.0, 2.0), "filters": (3,), "kernel_size": 9, **kwargs}
    return gaussian_derivative_network((16, 16, 1), 3, **kwargs)


def test_discovery_sees_through_every_wrapper_and_nested_model():
    inner = keras.Sequential(
        [keras.Input((8, 8, 2)), ScaleChannels(GaussianDerivativeConv2D(2, 5, padding="same", name="in_channels")),
         ScalePooling()], name="nested",
    )
    block = ConvNormAct(GaussianDerivativeConv2D(2, 5, padding="same", name="in_block"), norm=None)
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), GaussianDerivativeConv2D(2, 5, padding="same", name="plain"), block, inner]
    )
    assert [layer.name for layer in structured_layers(model)] == ["plain", "in_block", "in_channels"]
    assert is_structured(model.layers[0]) and not is_structured(block) and is_foldable(block)
    assert not is_foldable(keras.layers.Conv2D(2, 3))


def test_monitor_records_the_shared_geometry_of_a_scale_channel_network():
    model = small_network()
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = images((4, 16, 16, 1)), np.array([0, 1, 2, 0])
    monitor = GeometryMonitor(data=(x[:2], y[:2]))
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[monitor])
    for layer in ("conv0", "conv1"):  # the layers inside the ScaleChannels wrappers
        assert len(monitor.history[f"{layer}/sigma/mean"]) == 2
        assert monitor.history[f"{layer}/sigma/grad_norm"][0] > 0
        assert monitor.history[f"{layer}/coefficients/step"][1] > 0


def test_monitor_refuses_groups_that_no_layer_of_the_model_has():
    model = keras.Sequential([keras.Input((8, 8, 1)), GaussianDerivativeConv2D(2, 5)])
    model.compile("adam", "mse")
    monitor = GeometryMonitor(groups=["rotation", "frequency"])
    with pytest.raises(ValueError, match=r"no layer of this model has: \['rotation', 'frequency'\]"):
        model.fit(np.zeros((2, 8, 8, 1)), np.zeros((2, 4, 4, 2)), verbose=0, callbacks=[monitor])


def test_a_scale_channel_network_folds_and_exports_to_onnx(tmp_path):
    model = small_network()
    x = images((3, 16, 16, 1))
    expected = to_numpy(model(x))
    folded = export_onnx(model, tmp_path / "m.onnx")
    assert not structured_layers(folded)
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)


class WidthBlur1D(BasisConv1D):
    """One sampled Gaussian exp(−x² / 2w²) per basis, its length declared under another name than σ."""

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self.num_kernels = 1
        self.declare_geometry("width", (), None, keras.initializers.Constant(1.5), True, scale_power=1)

    def compute_basis(self, width):
        half = self.kernel_size[0] // 2
        x = ops.reshape(ops.arange(-half, half + 1, dtype=width.dtype), (1, -1, 1))
        return ops.exp(-ops.square(x) / (2.0 * ops.square(width[:, None, :])))  # (B, k, 1)


def test_scale_channels_scale_the_lengths_the_layer_declares():
    layer = WidthBlur1D(1, 15, padding="same", use_bias=False)
    channels = ScaleChannels(layer, scales=(1.0, 2.0))
    impulse = np.zeros((1, 15, 1), "float32")
    impulse[0, 7, 0] = 1.0
    y = to_numpy(channels(impulse))[0, :, :, 0]  # (S, 15): each channel's kernel
    weight = to_numpy(layer.coefficients).ravel()[0]
    x = np.arange(-7, 8)
    for i, scale in enumerate((1.0, 2.0)):
        np.testing.assert_allclose(y[i], weight * np.exp(-(x**2) / (2 * (1.5 * scale) ** 2)), rtol=1e-5, atol=1e-7)


def test_the_wrapped_layers_activity_regularizer_and_input_spec_apply():
    regularizer = keras.regularizers.L2(0.1)
    conv = GaussianDerivativeConv2D(2, 5, padding="same", activity_regularizer=regularizer)
    model = keras.Sequential([keras.Input((8, 8, 1)), ScaleChannels(conv, scales=(1.0, 2.0))])
    x = images((2, 8, 8, 1))
    y = to_numpy(model(x))
    assert len(model.losses) == 2  # one per channel, as the plain layer adds one per call
    # Keras divides an activity loss by the batch size (2), as for the plain layer.
    expected = sum(float(to_numpy(regularizer(ops.convert_to_tensor(y[:, i])))) for i in range(2)) / 2
    np.testing.assert_allclose(sum(float(to_numpy(loss)) for loss in model.losses), expected, rtol=1e-5)
    built_for_five = GaussianDerivativeConv2D(2, 5)
    built_for_five.build((None, 8, 8, 5))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 5"):
        ScaleChannels(built_for_five, scales=(1.0, 2.0))(images((1, 8, 8, 3)))


def test_normalize_basis_keeps_the_scale_normalised_covariance():
    # As test_scale_channels' covariance test, with normalize_basis=True as well: the energy is
    # normalised at s = 1 for every channel, so channel 2 on the 2× magnified image still equals
    # channel 1 on the original (it did not: the per-channel rescale removed the σᵖ factor).
    conv = GaussianDerivativeConv2D(3, 33, order=2, padding="same", scale_normalized=True, normalize_basis=True)
    a, b = doubled_channel_responses(conv)
    assert np.abs(a - b).max() < 2e-5 * np.abs(a).max()
    # Channel 1 is the layer itself, normalised as always.
    x = blobs_sampled(40, 1.0)
    np.testing.assert_allclose(to_numpy(ScaleChannels(conv, scales=(1.0, 2.0))(x))[:, 0], to_numpy(conv(x)), atol=1e-5)


@pytest.mark.parametrize("kind", GAUSSIAN_KINDS)
def test_the_discrete_analogue_needs_no_other_argument(kind):
    make, shape = KINDS[kind]
    trained = [g.name for g in make().geometry]  # the default discretisation: shifts and orientations
    assert trained[:2] == ["sigma", "offset"] and len(trained) == (2 if kind == "gaussian1d" else 3)
    layer = make(discretization="discrete")
    y = to_numpy(layer(images(shape)))
    assert [g.name for g in layer.geometry] == ["sigma"] and np.isfinite(y).all()
    config = layer.get_config()
    assert all(config[f"trainable_{name}"] is False for name in trained[1:])
    np.testing.assert_allclose(to_numpy(type(layer).from_config(config).compute_basis(sigma=layer.sigma.value)),
                               to_numpy(layer.basis()), atol=1e-6)
    for name in trained[1:]:
        with pytest.raises(ValueError, match=f"trainable_{name}=True"):
            make(discretization="discrete", **{f"trainable_{name}": True})


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(sigma_ratio=-1), "`sigma_ratio` must be a positive number. Received: sigma_ratio=-1"),
        (dict(sigma=0), "`sigma` must be a positive number"),
        (dict(momentum=1.5), r"`momentum` must be a number in \[0, 1\). Received: momentum=1.5"),
        (dict(scale_dropout=1.5), "`scale_dropout` must be a number in .* Received: scale_dropout=1.5"),
        (dict(filters=(3, 0)), "`filters` must be a positive integer. Received: filters=0"),
    ],
)
def test_network_arguments_are_checked_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_network(**kwargs)


def test_the_discrete_network_builds_without_freezing_arguments():
    model = small_network(discretization="discrete")
    assert all([g.name for g in layer.geometry] == ["sigma"] for layer in structured_layers(model))


def test_fold_before_build_is_a_clear_error_and_fold_serves_any_batch():
    with pytest.raises(ValueError, match="must be built before `fold\\(\\)`"):
        ScalePooling(name="pool").fold()
    channels = ScaleChannels(GaussianDerivativeConv2D(2, 5, padding="same"), scales=(1.0, 2.0))
    pooling = ScalePooling()
    x = images((2, 8, 8, 1))
    expected = to_numpy(pooling(channels(x)))  # eager build: batch 2
    (folded_channels,), (folded_pooling,) = channels.fold(), pooling.fold()
    assert folded_channels.inputs[0].shape[0] is None and folded_pooling.inputs[0].shape[0] is None
    three = images((3, 8, 8, 1))
    np.testing.assert_allclose(to_numpy(folded_pooling(folded_channels(three))), to_numpy(pooling(channels(three))),
                               atol=1e-5)
    np.testing.assert_allclose(to_numpy(folded_pooling(folded_channels(x))), expected, atol=1e-5)


def test_rescaled_digits_take_numpy_scales_and_check_count():
    a, labels = load_rescaled_digits("test", scale=np.float32(2), count=3)
    b, _ = load_rescaled_digits("test", scale=2.0, count=3)
    assert a.shape == (3, 72, 72, 1) and labels.shape == (3,)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="`count` must be a positive integer. Received: count=0"):
        load_rescaled_digits("test", count=0)
