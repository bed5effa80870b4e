"""`scale_channel_unet`: the Gaussian U-net in scale channels — the same weights at every scale,
covariant before its first pooling, pooled over the channels per pixel; saves, folds and exports."""

import keras
import numpy as np
import pytest

from helpers import assert_trains_saves_folds_and_exports, blobs_sampled, images, to_numpy
from keras_gaussconv import ScaleChannels, ScalePooling, count_parameters
from keras_gaussconv.folding import structured_layers
from keras_gaussconv.models import gaussian_unet, scale_channel_unet


def test_one_set_of_weights_serves_every_channel():
    model = scale_channel_unet((16, 16, 3), depth=1, scales=(0.5, 1.0, 2.0), base_filters=4)
    wrappers = [layer for layer in model.layers if isinstance(layer, ScaleChannels)]
    assert len(wrappers) == len(structured_layers(model)) == 6  # 3 blocks of 2, every one in scale channels
    assert all(w.scales == (0.5, 1.0, 2.0) and w.layer.scale_normalized and w.layer.normalize_basis for w in wrappers)
    # ±4σ·s at the largest channel for σ = 1: 17 taps.
    assert all(w.layer.kernel_size == (17, 17) for w in wrappers)
    # The same trainable weights as the one-channel Gaussian U-net of that topology.
    plain = gaussian_unet((16, 16, 3), depth=1, base_filters=4, kernel_size=17)
    assert count_parameters(model) == count_parameters(plain)
    assert isinstance(model.get_layer("scale_pooling"), ScalePooling)
    probabilities = to_numpy(model(images((2, 16, 16, 3))))
    assert probabilities.shape == (2, 16, 16, 1) and ((probabilities >= 0) & (probabilities <= 1)).all()
    two = scale_channel_unet((16, 16, 3), num_classes=3, depth=1, base_filters=4, pooling="average")
    np.testing.assert_allclose(to_numpy(two(images((1, 16, 16, 3)))).sum(-1), 1.0, rtol=1e-5)


def test_before_pooling_a_magnified_image_moves_to_the_next_channel():
    # depth 0: the bottleneck's two scale-channel layers and the logits, no pooling. Blobs sampled at
    # spacing 1 in channel s = 1 against the same function at spacing ½ in channel s = 2.
    model = scale_channel_unet((None, None, 1), depth=0, scales=(1.0, 2.0), base_filters=4, sigma=1.5, kernel_size=41)
    logits = keras.Model(model.input, model.get_layer("segmentation_logits").output)
    coarse, fine = to_numpy(logits(blobs_sampled(40, 1.0)))[0, ..., 0], to_numpy(logits(blobs_sampled(80, 0.5)))[0, ..., 0]
    a, b = coarse[0, 8:32, 8:32], fine[1, 16:64:2, 16:64:2]
    error = np.abs(a - b).max()
    # Measured 0.3–1 % of the range (the ReLU'd first-layer maps sampled at spacing 1); the channel
    # that does not correspond to the magnification is an order of magnitude further off.
    assert error < 0.03 * np.abs(a).max()
    assert np.abs(a - fine[0, 16:64:2, 16:64:2]).max() > 10 * error


def test_it_trains_saves_folds_and_exports_to_onnx(tmp_path):
    # With scaled kernels: channel s = 1 keeps the central 5 of the 9 taps (kernel path), s = 2 all 9.
    model = scale_channel_unet((16, 16, 1), depth=1, scales=(1.0, 2.0), base_filters=2, num_bases=2, kernel_size=9,
                               scale_dropout=0.5, scaled_kernels=True)
    wrappers = [layer for layer in model.layers if isinstance(layer, ScaleChannels)]
    assert all([w.channel_kernel_size(s) for s in w.scales] == [(5, 5), (9, 9)] for w in wrappers)
    x = images((2, 16, 16, 1))
    y = (images((2, 16, 16, 1)) > 0).astype("float32")
    assert_trains_saves_folds_and_exports(model, x, y, "binary_crossentropy", tmp_path)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(pooling="median"), "`pooling` must be 'max' or 'average'. Received: pooling='median'"),
        (dict(scales=(1.0, -2.0)), "`scales` must be a non-empty list of positive numbers"),
        (dict(scale_dropout=1.0), "scale_dropout"),
        (dict(sigma=0), "sigma"),
        (dict(scaled_kernels="yes"), "Received: scaled_kernels='yes'"),
        (dict(depth=3), "divisible by 2\\*\\*depth = 8"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        scale_channel_unet((12, 12, 1), **kwargs)
