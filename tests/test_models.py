"""Builders: comparison network, U-nets, VGG16 with a structured first layer."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from helpers import rng, to_numpy
from keras_gaussconv import ConvNormAct, GaborConv2D, GaussianDerivativeConv2D, GaussianDerivativeDepthwiseConv2D
from keras_gaussconv.utils import count_parameters, structured_layers
from keras_gaussconv.models import LAYER_TYPES, comparison_net, convnext_classifier, gaussian_unet, gaussian_vgg16, unet


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_comparison_net_builds_runs_and_trains(layer_type):
    model = comparison_net(layer_type, (16, 16, 1), 10, filters=(4, 8, 8, 8))
    x = rng().normal(size=(8, 16, 16, 1)).astype("float32")
    assert model(x).shape == (8, 10)
    np.testing.assert_allclose(to_numpy(model(x)).sum(axis=1), 1.0, rtol=1e-5)
    assert [layer.name for layer in model.layers][1:4] == ["block1", "block1_pool", "block2"]
    assert all(isinstance(model.get_layer(f"block{i}"), ConvNormAct) for i in range(1, 5))
    assert (len(structured_layers(model)) == 4) == (layer_type != "free_form")
    before = [to_numpy(w).copy() for w in model.trainable_weights]
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, rng().integers(0, 10, 8), epochs=1, verbose=0)
    assert any(not np.allclose(to_numpy(w), b) for w, b in zip(model.trainable_weights, before))


def test_comparison_net_layer_choices():
    few = comparison_net("gaussian_few", (16, 16, 1), 10, num_bases=4)
    many = comparison_net("gaussian", (16, 16, 1), 10, num_bases=4)
    assert few.get_layer("block2").conv.num_bases == 2 and many.get_layer("block2").conv.num_bases == 4
    assert comparison_net("gaussian_separable", (16, 16, 1), 10).get_layer("block1").conv.separable
    assert isinstance(comparison_net("gabor", (16, 16, 1), 10).get_layer("block3").conv, GaborConv2D)
    free = comparison_net("free_form", (16, 16, 1), 10).get_layer("block1").conv
    assert isinstance(free, keras.layers.Conv2D) and free.kernel_size == (3, 3)
    # bias_only normalisation: exactly F_out trainable parameters per block beside the convolution.
    block = many.get_layer("block3")
    assert sum(int(np.prod(w.shape)) for w in block.normalization.trainable_weights) == 32


def test_comparison_net_bad_arguments():
    with pytest.raises(ValueError, match="Received: layer_type='vgg'"):
        comparison_net("vgg", (16, 16, 1), 10)
    with pytest.raises(ValueError, match=r"Received: filters=\(8, 8\)"):
        comparison_net("gaussian", (16, 16, 1), 10, filters=(8, 8))
    # Never silently fewer bases than asked for.
    with pytest.raises(ValueError, match="Received: filters=6, num_bases=4"):
        comparison_net("gaussian", (16, 16, 1), 10, filters=(8, 6, 8, 8), num_bases=4)
    with pytest.raises(ValueError, match="Received: filters=6, num_bases=4"):
        gaussian_unet((16, 16, 1), base_filters=6, depth=1, num_bases=4)


def test_unets_share_topology_and_gaussian_uses_under_30_percent():
    classical = unet((64, 64, 3), 1)
    gaussian = gaussian_unet((64, 64, 3), 1)
    assert [layer.name for layer in classical.layers] == [layer.name for layer in gaussian.layers]
    assert classical.output_shape == gaussian.output_shape == (None, 64, 64, 1)
    ratio = count_parameters(gaussian) / count_parameters(classical)
    assert ratio <= 0.30, ratio
    x = rng().uniform(size=(2, 64, 64, 3)).astype("float32")
    y = (rng().uniform(size=(2, 64, 64, 1)) > 0.5).astype("float32")
    # The Gaussian U-net trains here; both (at depth 1) in tests/test_cli.py's unet smoke run.
    gaussian.compile(keras.optimizers.SGD(0.01), "binary_crossentropy")  # Adam traces 86 slot updates: ~5 s more on TensorFlow
    before = [keras.ops.convert_to_numpy(w) for w in gaussian.trainable_weights]
    gaussian.fit(x, y, epochs=1, verbose=0)
    assert all(not np.array_equal(keras.ops.convert_to_numpy(w), b) for w, b in zip(gaussian.trainable_weights, before))
    for model in (classical, gaussian):
        out = keras.ops.convert_to_numpy(model(x))
        assert ((out >= 0) & (out <= 1)).all()
    assert isinstance(gaussian.get_layer("down1_1").conv, GaussianDerivativeConv2D)
    assert classical.get_layer("down1_1").conv.kernel_size == (5, 5)


def test_unet_momentum_reaches_every_batch_normalization():
    def momenta(model):
        return [layer.normalization.momentum for layer in model.layers if hasattr(layer, "normalization")]

    for builder in (unet, gaussian_unet):
        assert momenta(builder((16, 16, 1), depth=1, momentum=0.99)) == [0.99] * 6  # 3 blocks of 2
        assert momenta(builder((16, 16, 1), depth=1)) == [0.9] * 6  # the builders' default


@pytest.mark.parametrize("input_shape", [(16, 16, 1), (8, 8, 8, 1), (16, 1)])
def test_gaussian_unet_normalizes_its_bases_by_default(input_shape):
    def flags(model):
        return {layer.conv.normalize_basis for layer in model.layers if isinstance(layer, ConvNormAct)}

    assert flags(gaussian_unet(input_shape, depth=1)) == {True}
    assert flags(gaussian_unet(input_shape, depth=1, normalize_basis=False)) == {False}


@pytest.mark.parametrize("input_shape,conv,budget", [((16, 16, 16, 1), "Conv3D", 0.12), ((64, 2), "Conv1D", 0.85)])
def test_unets_of_volumes_and_signals(input_shape, conv, budget):
    classical = unet(input_shape, 1, base_filters=4, depth=2)
    gaussian = gaussian_unet(input_shape, 1, base_filters=4, depth=2, num_bases=2)
    assert [layer.name for layer in classical.layers] == [layer.name for layer in gaussian.layers]
    assert classical.output_shape == gaussian.output_shape == (None, *input_shape[:-1], 1)
    assert type(classical.get_layer("down1_1").conv).__name__ == conv
    assert type(gaussian.get_layer("down1_1").conv).__name__ == f"GaussianDerivative{conv}"
    # 3-D: N = 10 basis kernels of order 2 against 125 weights per channel pair (1-D: 3 against 5)
    assert count_parameters(gaussian) / count_parameters(classical) <= budget
    # Both 3-D U-nets train in tests/test_cli.py's `unet --volumes --smoke` run.
    x = rng().uniform(size=(1, *input_shape)).astype("float32")
    for model in (classical, gaussian):
        out = keras.ops.convert_to_numpy(model(x))
        assert out.shape == (1, *input_shape[:-1], 1) and ((out >= 0) & (out <= 1)).all()


def test_unet_input_must_divide():
    with pytest.raises(ValueError, match=r"divisible by 2\*\*depth = 8"):
        unet((60, 60, 3))


def test_gaussian_vgg16_replaces_block1_conv1_and_freezes_the_rest():
    model = gaussian_vgg16(weights=None, include_top=False, input_shape=(32, 32, 3))
    first = model.get_layer("block1_conv1")
    assert isinstance(first, GaussianDerivativeConv2D) and first.filters == 64 and first.trainable
    for layer in model.layers:
        if layer.weights and layer.name != "block1_conv1":
            assert not layer.trainable, layer.name
    assert {w.name for w in model.trainable_weights} == {w.name for w in first.trainable_weights}
    x = rng().uniform(size=(2, 32, 32, 3)).astype("float32")
    assert model(x).shape == (2, 1, 1, 512)
    frozen = to_numpy(model.get_layer("block2_conv1").kernel).copy()
    model.compile("adam", "mse")
    model.fit(x, rng().normal(size=(2, 1, 1, 512)), epochs=1, verbose=0)
    np.testing.assert_array_equal(to_numpy(model.get_layer("block2_conv1").kernel), frozen)


def test_gaussian_vgg16_without_network_says_what_to_do(tmp_path):
    # A fresh Keras home (no cached weights) and no network: urlopen fails as offline.
    script = textwrap.dedent(
        """
        import urllib.error, urllib.request

        def offline(*args, **kwargs):
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

        urllib.request.urlopen = offline
        from keras_gaussconv.models import gaussian_vgg16

        try:
            gaussian_vgg16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
        except ConnectionError as error:
            print(error)
        """
    )
    env = {**os.environ, "KERAS_HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    message = result.stdout.strip().splitlines()[-1]
    assert message.startswith("weights='imagenet' needs a one-time download of the ImageNet VGG16 weights")
    assert "Temporary failure in name resolution" in message and "weights=None" in message and "weights='PATH'" in message


def test_gaussian_vgg16_keeps_the_other_weights(tmp_path):
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = tmp_path / "vgg.weights.h5"
    base.save_weights(path)
    model = gaussian_vgg16(weights=str(path), include_top=False, input_shape=(32, 32, 3), freeze_base=False)
    np.testing.assert_array_equal(to_numpy(model.get_layer("block3_conv2").kernel), to_numpy(base.get_layer("block3_conv2").kernel))
    assert all(layer.trainable for layer in model.layers)


@pytest.mark.core  # a review defect: its test runs on every backend
def test_convnext_classifier_passes_the_structured_options_on():
    model = convnext_classifier((16, 16, 1), 10, channels=(8,), kernel_size=9, order=1, num_bases=2,
                                implementation="fft")
    depthwise = model.get_layer("stage1_depthwise")
    assert isinstance(depthwise, GaussianDerivativeDepthwiseConv2D)
    assert (depthwise.order, depthwise.num_bases, depthwise.execution_path) == (1, 2, "fft")
    assert depthwise.num_kernels == 3


def test_builders_pass_the_discretization_and_freeze_what_discrete_needs():
    for shape, orientation in (((16, 16, 1), "theta"), ((8, 8, 8, 1), "rotation"), ((16, 1), None)):
        conv = gaussian_unet(shape, depth=1, discretization="discrete").get_layer("down1_1").conv
        assert conv.discretization == "discrete"
        assert conv.frozen_at_zero == ["offset"] + ([orientation] if orientation else [])
    conv = gaussian_unet((16, 16, 1), depth=1, discretization="integrated").get_layer("down1_1").conv
    assert conv.discretization == "integrated" and conv.offset.trainable
    for kind in ("gaussian", "gaussian_few", "gaussian_separable"):
        model = comparison_net(kind, (16, 16, 1), 10, discretization="discrete", kernel_size=5)
        assert model.get_layer("block1").conv.discretization == "discrete"
    with pytest.raises(ValueError, match=r"layer_type='free_form', discretization='normalized'"):
        comparison_net("free_form", (16, 16, 1), 10, discretization="normalized")

@pytest.mark.core
def test_gaussian_derivative_network_is_scale_covariant_end_to_end(tmp_path):
    from keras_gaussconv import ScaleChannels
    from keras_gaussconv.export import fold
    from keras_gaussconv.models import gaussian_derivative_network

    model = gaussian_derivative_network((12, 12, 1), 3, scales=(1.0, 2.0), filters=(3, 3), scale_dropout=0.3)
    wrappers = [layer for layer in model.layers if isinstance(layer, ScaleChannels)]
    assert len(wrappers) == 3 and [w.layer.filters for w in wrappers] == [3, 3, 3]
    assert all(w.layer.scale_normalized and w.layer.full_support for w in wrappers)
    # σ grows by √2 from block to block; every channel of a block shares its one set of weights.
    np.testing.assert_allclose([float(to_numpy(w.layer.sigma).mean()) for w in wrappers], [1.0, 2**0.5, 2.0], rtol=1e-6)
    assert count_parameters(model) == sum(count_parameters(w.layer) for w in wrappers) + 2 * (3 + 3)  # + β, γ of 2 norms
    x = rng().uniform(size=(4, 12, 12, 1)).astype("float32")
    probabilities = to_numpy(model(x))
    assert probabilities.shape == (4, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    model.compile("adam", "sparse_categorical_crossentropy")
    assert np.isfinite(model.fit(x, np.array([0, 1, 2, 0]), epochs=1, verbose=0).history["loss"][0])
    model.save(tmp_path / "m.keras")
    expected = to_numpy(model(x))
    np.testing.assert_allclose(to_numpy(keras.saving.load_model(tmp_path / "m.keras")(x)), expected, atol=1e-5)
    np.testing.assert_allclose(to_numpy(fold(model)(x)), expected, atol=1e-5)


def test_gaussian_derivative_network_takes_a_discretization():
    from keras_gaussconv import ScaleChannels
    from keras_gaussconv.models import gaussian_derivative_network

    model = gaussian_derivative_network((12, 12, 1), 3, scales=(0.5, 1.0), filters=(3,), discretization="discrete")
    layers = [layer.layer for layer in model.layers if isinstance(layer, ScaleChannels)]
    assert [layer.discretization for layer in layers] == ["discrete", "discrete"]
    # The discrete analogue is defined at the integer taps: offsets and θ stay 0; σ and the coefficients train.
    for layer in layers:
        assert {w.path.split("/")[-1] for w in layer.trainable_weights} == {"sigma", "coefficients"} | (
            {"bias"} if layer.use_bias else set()
        )
    with pytest.raises(ValueError, match="discretization"):
        gaussian_derivative_network((12, 12, 1), 3, discretization="exact")
