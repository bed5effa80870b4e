"""`ScaleChannels` and `ScalePooling`: each channel is the wrapped layer at its scale, covariance on
one function sampled at two spacings, both input layouts, every structured layer and rank, saving,
fold into stock layers, training, mixed precision, bad input."""

import keras
import numpy as np
import pytest

from helpers import doubled_channel_responses, images, to_numpy
from keras_gaussconv import (
    GaussianDerivativeConv2D,
    ScaleChannels,
    ScalePooling,
)
from keras_gaussconv.export import fold
from layer_kinds import KINDS as LAYERS  # kind → (a structured layer, one channel's input shape)

pytestmark = pytest.mark.core

SCALES = (1.0, 1.5, 2.0)
# The rule, written here independently of the package: lengths × s, frequencies / s, the rest kept.
POWERS = {"sigma": 1, "offset": 1, "frequency": -1}


def at_scale(layer, scale, shape):
    """An independent copy of `layer` (from its config) with σ, μ × scale and f / scale, built for `shape`."""
    copy = type(layer).from_config(layer.get_config())
    copy.build(shape)
    copy.set_weights(layer.get_weights())
    for g in layer.geometry:
        value = to_numpy(getattr(layer, g.name))
        getattr(copy, g.name).assign(value * scale ** POWERS.get(g.name, 0))
    return copy


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_every_channel_is_the_layer_at_its_scale(kind):
    make, shape = LAYERS[kind]
    channels = ScaleChannels(make(padding="same", bias_initializer="random_normal"), scales=SCALES)
    x = images(shape)
    y = to_numpy(channels(x))
    assert y.shape == channels.compute_output_shape(shape) == (shape[0], 3, *channels.layer.compute_output_shape(shape)[1:])
    for i, scale in enumerate(SCALES):
        np.testing.assert_allclose(y[:, i], to_numpy(at_scale(channels.layer, scale, shape)(x)), atol=1e-5)
    # The slices of a scale-axis input go one to each channel.
    slices = images((shape[0], 3, *shape[1:]))
    y = to_numpy(ScaleChannels(channels.layer, scales=SCALES)(slices))
    for i, scale in enumerate(SCALES):
        np.testing.assert_allclose(y[:, i], to_numpy(at_scale(channels.layer, scale, shape)(slices[:, i])), atol=1e-5)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_scaled_kernels_keep_each_channels_central_taps(kind):
    # Channel i keeps the central taps of the layer's kernel, about k·sᵢ / max(s) of them per axis
    # (at least that many, fewer than 2 more, the same number gone from both ends): it computes
    # what the full-size channel computes with the other taps of its basis set to zero.
    make, shape = LAYERS[kind]
    channels = ScaleChannels(make(padding="same", bias_initializer="random_normal"), (0.5, 1.0, 2.0), scaled_kernels=True)
    x = images(shape)
    y = to_numpy(channels(x))
    layer, sizes = channels.layer, [channels.channel_kernel_size(s) for s in channels.scales]
    for i, (scale, size) in enumerate(zip(channels.scales, sizes)):
        for k, kept in zip(layer.kernel_size, size):
            assert k * scale / 2 <= kept < k * scale / 2 + 2 and (k - kept) % 2 == 0, (k, scale, kept)
        phi = to_numpy(channels.channel_basis(scale))
        mask = np.zeros_like(phi)
        mask[(slice(None), *(slice((k - c) // 2, (k + c) // 2) for k, c in zip(layer.kernel_size, size)), slice(None))] = 1
        np.testing.assert_allclose(y[:, i], to_numpy(layer(x, basis=phi * mask)), atol=1e-5, err_msg=str(scale))
    assert sizes[-1] == tuple(layer.kernel_size) and sizes[0] < sizes[-1]
    assert len(channels.execution_paths) == 3


def test_a_scaled_channel_runs_its_own_cheapest_path_and_folds_to_its_size(tmp_path):
    conv = GaussianDerivativeConv2D(6, 17, num_bases=2, padding="same", scale_normalized=True)
    model = keras.Sequential([keras.Input((24, 24, 3)), ScaleChannels(conv, (0.5, 1.0, 2.0), scaled_kernels=True)])
    channels = model.layers[0]
    small = conv.spec.with_kernel_size((5, 5))
    kernel_costs = [conv.path_costs(spec=conv.spec.with_kernel_size((k, k)))["kernel"] for k in (5, 9, 17)]
    assert kernel_costs == sorted(set(kernel_costs)) and kernel_costs[-1] == conv.path_costs()["kernel"]
    assert channels.execution_paths[0] == min(conv.path_costs(spec=small), key=conv.path_costs(spec=small).get)
    x = images((2, 24, 24, 3))
    expected = to_numpy(model(x))
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert reloaded.layers[0].scaled_kernels is True
    np.testing.assert_allclose(to_numpy(reloaded(x)), expected, atol=1e-6)
    folded = fold(model)
    kernels = [tuple(layer.kernel.shape[:2]) for layer in folded.layers[0].layers if hasattr(layer, "kernel")]
    assert kernels == [(5, 5), (9, 9), (17, 17)]
    np.testing.assert_allclose(to_numpy(folded(x)), expected, atol=1e-5)


def test_a_magnified_image_moves_the_response_to_the_doubled_channel():
    # One function sampled at spacing 1 (A, 40²) and ½ (B, 80²: A magnified 2×). Channel s = 2
    # on B equals channel s = 1 on A at corresponding points (test_scale_normalized.py's bound:
    # 33 taps reach >= 5σ from the shifted centres of both channels: σ <= 1.5 and |μ| <= ½ at
    # s = 1, doubled at s = 2; σ >= 1.2 against blobs >= 1.8 px wide).
    a, b = doubled_channel_responses(GaussianDerivativeConv2D(3, 33, order=2, padding="same", scale_normalized=True))
    assert np.abs(a - b).max() < 2e-5 * np.abs(a).max()


@pytest.mark.parametrize("kind", ["gaussian2d", "separable", "gaussian3d", "gabor1d"])
@pytest.mark.parametrize("scale_axis", [False, True])
def test_saving_and_fold_into_stock_layers(kind, scale_axis, tmp_path):
    make, shape = LAYERS[kind]
    shape = (shape[0], len(SCALES), *shape[1:]) if scale_axis else shape
    model = keras.Sequential([
        keras.Input(shape[1:]), ScaleChannels(make(padding="same"), scales=SCALES), ScalePooling("average"),
    ])
    x = images(shape)
    expected = to_numpy(model(x))
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(to_numpy(keras.saving.load_model(tmp_path / "m.keras")(x)), expected, atol=1e-6)
    folded = fold(model)
    modules = {type(layer).__module__ for inner in folded.layers for layer in [inner, *getattr(inner, "layers", [])]}
    assert not any(m.startswith("keras_gaussconv") for m in modules), modules
    np.testing.assert_allclose(to_numpy(folded(x)), expected, atol=1e-5)


def test_training_moves_the_shared_weights_and_mixed_precision_runs():
    conv = GaussianDerivativeConv2D(4, 7, order=2, padding="same", scale_normalized=True)
    model = keras.Sequential([
        keras.Input((12, 12, 2)), ScaleChannels(conv, scales=(1.0, 2.0)), ScalePooling("max", dropout=0.5, seed=1),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2),
    ])
    before = [to_numpy(w) for w in (conv.sigma, conv.offset, conv.theta, conv.coefficients)]
    model.compile(keras.optimizers.Adam(0.05), "mse")
    history = model.fit(images((8, 12, 12, 2)), images((8, 2)), epochs=2, batch_size=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    for old, new in zip(before, (conv.sigma, conv.offset, conv.theta, conv.coefficients)):
        assert not np.allclose(old, to_numpy(new))
    half = ScaleChannels(GaussianDerivativeConv2D(4, 7, padding="same", dtype="mixed_float16"), scales=(1.0, 2.0))
    y = half(images((2, 12, 12, 2)))
    assert keras.backend.standardize_dtype(y.dtype) == "float16" and np.all(np.isfinite(to_numpy(y)))


def test_pooling_reduces_the_scale_axis_and_drops_channels_only_in_training():
    x = images((6, 4, 5, 3))
    np.testing.assert_allclose(to_numpy(ScalePooling("max")(x)), x.max(axis=1))
    np.testing.assert_allclose(to_numpy(ScalePooling("average")(x)), x.mean(axis=1), rtol=1e-6)
    dropping = ScalePooling("max", dropout=0.6, seed=3)
    np.testing.assert_allclose(to_numpy(dropping(x)), x.max(axis=1))  # inference: every channel
    for mode, reduce in (("max", np.max), ("average", np.mean)):
        y = to_numpy(ScalePooling(mode, dropout=0.6, seed=3)(x, training=True))
        subsets = [[s for s in range(4) if m >> s & 1] for m in range(1, 16)]
        for sample in range(6):  # each sample: the reduction over one non-empty subset of its channels
            assert any(np.allclose(y[sample], reduce(x[sample, s], axis=0), rtol=1e-6) for s in subsets), (mode, sample)
        assert not np.allclose(y, reduce(x, axis=1))  # some channel was dropped


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: ScaleChannels(keras.layers.Conv2D(4, 3)), "`layer` must be a structured layer of keras_gaussconv"),
        (lambda: ScaleChannels(GaussianDerivativeConv2D(4, 3), scales=()), "Received: scales=()"),
        (lambda: ScaleChannels(GaussianDerivativeConv2D(4, 3), scales=(1.0, -2.0)), r"Received: scales=\(1.0, -2.0\)"),
        (lambda: ScaleChannels(GaussianDerivativeConv2D(4, 3), scaled_kernels=1), "Received: scaled_kernels=1"),
        (lambda: ScaleChannels(GaussianDerivativeConv2D(4, 3, padding="valid"), scaled_kernels=True),
         "`scaled_kernels=True` .* Received: scaled_kernels=True for padding='valid'"),
        (lambda: ScaleChannels(GaussianDerivativeConv2D(4, 3, padding="same", strides=2), scaled_kernels=True),
         r"padding='same', strides=\(2, 2\)"),
        (lambda: ScalePooling("median"), "Received: mode='median'"),
        (lambda: ScalePooling(dropout=1.0), "Received: dropout=1.0"),
    ],
)
def test_bad_arguments_name_themselves(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_input_shapes_name_the_shape():
    channels = ScaleChannels(GaussianDerivativeConv2D(4, 3), scales=(1.0, 2.0))
    with pytest.raises(ValueError, match=r"axis 1 must be 2 .*Received: input_shape=\(None, 3, 8, 8, 1\)"):
        channels.build((None, 3, 8, 8, 1))
    with pytest.raises(ValueError, match=r"inputs of rank 4 .* or 5 .*Received: input_shape=\(None, 8, 1\)"):
        channels.build((None, 8, 1))


def test_keras_layer_contract():
    from keras.src.testing import TestCase

    # The wrapped layer travels in init_kwargs (a fresh one each time Keras rebuilds the wrapper).
    TestCase().run_layer_test(
        ScaleChannels,
        init_kwargs=dict(layer=GaussianDerivativeConv2D(4, 5, padding="same"), scales=(1.0, 2.0), scaled_kernels=True),
        input_shape=(2, 8, 8, 3),
        expected_output_shape=(2, 2, 8, 8, 4),
        expected_num_trainable_weights=5,
        expected_num_non_trainable_weights=0,
    )
    TestCase().run_layer_test(
        ScalePooling,
        init_kwargs=dict(mode="max", dropout=0.5, seed=2),
        input_shape=(2, 3, 8, 8, 4),
        expected_output_shape=(2, 8, 8, 4),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=1,
    )


@pytest.mark.parametrize("scale_axis", [False, True])
def test_channels_first_and_whole_input_kernels_fold(scale_axis):
    # A channels_first layer keeps its layout after the scale axis; kernel_size=None runs the
    # FFT path in every channel; both fold into stock layers that compute the same.
    for conv, shape in [
        (GaussianDerivativeConv2D(3, 5, padding="same", data_format="channels_first"), (2, 3, 10, 9)),
        (GaussianDerivativeConv2D(3, None, padding="same"), (2, 12, 11, 1)),
    ]:
        shape = (shape[0], 2, *shape[1:]) if scale_axis else shape
        model = keras.Sequential([keras.Input(shape[1:]), ScaleChannels(conv, scales=(1.0, 2.0))])
        x = images(shape)
        expected = to_numpy(model(x))
        assert expected.shape == (shape[0], 2, *conv.compute_output_shape((None, *shape[-3:]))[1:])
        for i, scale in enumerate((1.0, 2.0)):
            np.testing.assert_allclose(
                expected[:, i], to_numpy(at_scale(conv, scale, (None, *shape[-3:]))(x[:, i] if scale_axis else x)), atol=1e-5
            )
        np.testing.assert_allclose(to_numpy(fold(model)(x)), expected, atol=1e-5)
