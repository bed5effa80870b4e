"""`gaussian_derivative_resnet`: residual scale-channel blocks (full and depthwise-separable) that keep
the plain network's scale covariance, its weight sharing, and save, fold and export like it."""

import keras
import numpy as np
import pytest

from helpers import assert_trains_saves_folds_and_exports, blobs_sampled, images, to_numpy
from keras_gaussconv import GaussianDerivativeDepthwiseConv2D, ScaleChannels, count_parameters
from keras_gaussconv.models import gaussian_derivative_network, gaussian_derivative_resnet


def wrappers(model):
    return {layer.name: layer for layer in model.layers if isinstance(layer, ScaleChannels)}


@pytest.mark.parametrize("separable", [False, True])
def test_blocks_are_residual_with_the_plain_networks_sigma_schedule(separable):
    model = gaussian_derivative_resnet((12, 12, 1), 3, scales=(1.0, 2.0), filters=(4, 4, 6), kernel_size=9,
                                       separable=separable)
    channels = wrappers(model)
    assert list(channels) == ["scales0", "scales1a", "scales1b", "scales2a", "scales2b", "scales3"]
    # σ = sigma · sigma_ratio^block, the same for both layers of a block.
    sigmas = {name: float(to_numpy(w.layer.sigma).mean()) for name, w in channels.items()}
    np.testing.assert_allclose(list(sigmas.values()), [1, 2**0.5, 2**0.5, 2, 2, 2**1.5], rtol=1e-6)
    assert all(w.layer.scale_normalized for w in channels.values())
    inner = [channels[f"scales{b}{h}"].layer for b in (1, 2) for h in "ab"]
    assert all(isinstance(layer, GaussianDerivativeDepthwiseConv2D) == separable for layer in inner)
    # Block 1 keeps its width (identity shortcut); block 2 widens 4 → 6 through a pointwise projection.
    names = [layer.name for layer in model.layers]
    assert "project1" not in names and model.get_layer("project2").kernel.shape == (4, 6)
    assert model.get_layer("add1").input[1] is model.get_layer("relu0").output
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    expected = sum(count_parameters(w.layer) for w in channels.values()) + sum(2 * n.gamma.shape[0] for n in norms)
    assert count_parameters(model) == expected + sum(count_parameters(d) for d in dense)
    if separable:  # depthwise then pointwise: fewer coefficients than the full blocks
        full = gaussian_derivative_resnet((12, 12, 1), 3, scales=(1.0, 2.0), filters=(4, 4, 6), kernel_size=9)
        assert count_parameters(model) < count_parameters(full)


@pytest.mark.parametrize("build", [gaussian_derivative_network, gaussian_derivative_resnet,
                                   lambda *a, **k: gaussian_derivative_resnet(*a, separable=True, **k)])
def test_a_magnified_image_moves_the_class_maps_to_the_next_channel(build):
    # The class maps (before the readout) of blobs sampled at spacing 1 in channel s = 1 and of the
    # same function at spacing ½ (magnified 2×) in channel s = 2, at corresponding interior points.
    model = build((None, None, 1), 3, scales=(1.0, 2.0), filters=(4, 4, 6), sigma=1.5, sigma_ratio=1.2, kernel_size=41)
    maps = keras.Model(model.input, model.get_layer("scales3").output)
    coarse, fine = to_numpy(maps(blobs_sampled(40, 1.0)))[0], to_numpy(maps(blobs_sampled(80, 0.5)))[0]
    a, b = coarse[0, 8:32, 8:32], fine[1, 16:64:2, 16:64:2]
    error, scale = np.abs(a - b).max(), np.abs(a).max()
    # Each operation is covariant on the continuous image; what limits the agreement is the ReLU'd
    # intermediate maps sampled at spacing 1 in the coarse channel: measured 0.1–2 % of the maps'
    # range (3 seeds, TensorFlow and PyTorch; plain, residual and separable alike). The channel that
    # does not correspond to the magnification is off by an order of magnitude more.
    assert error < 0.03 * scale
    assert np.abs(a - fine[0, 16:64:2, 16:64:2]).max() > 10 * error


@pytest.mark.parametrize("build", [gaussian_derivative_network, gaussian_derivative_resnet])
def test_scaled_kernels_crop_the_fine_channel_where_its_gaussians_have_decayed(build):
    # Kernels as large as the 16² input (31 taps); channel s = 1 of (1, 2) keeps the central 17
    # (±8 = ±8σ: the Gaussians' tails beyond are below float32 round-off), s = 2 all 31.
    options = dict(scales=(1.0, 2.0), filters=(4, 4), sigma_ratio=1.0)
    full, scaled = build((16, 16, 1), 3, **options), build((16, 16, 1), 3, scaled_kernels=True, **options)
    scaled.set_weights(full.get_weights())
    assert all(w.scaled_kernels and [w.channel_kernel_size(s) for s in w.scales] == [(17, 17), (31, 31)]
               for w in wrappers(scaled).values())
    x = images((2, 16, 16, 1))
    maps = [to_numpy(keras.Model(m.input, m.get_layer("scales2").output)(x)) for m in (full, scaled)]  # before the readout
    np.testing.assert_allclose(maps[1], maps[0], atol=1e-5 * np.abs(maps[0]).max())


def test_it_trains_saves_folds_and_exports_to_onnx(tmp_path):
    model = gaussian_derivative_resnet((16, 16, 1), 3, scales=(1.0, 2.0), filters=(2, 4), kernel_size=9,
                                       separable=True, scale_dropout=0.25)
    x, y = images((4, 16, 16, 1)), np.array([0, 1, 2, 0])
    probabilities = assert_trains_saves_folds_and_exports(model, x, y, "sparse_categorical_crossentropy", tmp_path)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(separable="yes"), "`separable` must be True or False. Received: separable='yes'"),
        (dict(filters=(4, 0)), "filters"),
        (dict(sigma_ratio=-1.0), "sigma_ratio"),
        (dict(scale_dropout=1.5), "scale_dropout"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        gaussian_derivative_resnet((12, 12, 1), 3, **kwargs)
