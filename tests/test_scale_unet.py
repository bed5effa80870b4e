"""`scale_channel_unet`: the Gaussian U-net in scale channels — the same weights at every scale,
covariant before its first pooling, pooled over the channels per pixel; saves, folds and exports."""

import keras
import numpy as np
import pytest
from scipy import ndimage

from helpers import assert_trains_saves_folds_and_exports, blobs, blobs_sampled, images, numpy_window, to_numpy
from keras_gaussconv import ImageScale, ScaleChannels, ScalePooling, count_parameters
from keras_gaussconv.folding import structured_layers
from keras_gaussconv.models import gaussian_unet, scale_channel_unet
from keras_gaussconv.models.unet import SCALE_WINDOW


def test_one_set_of_weights_serves_every_channel():
    model = scale_channel_unet((16, 16, 3), depth=1, scales=(0.5, 1.0, 2.0), base_filters=4)
    wrappers = [layer for layer in model.layers if isinstance(layer, ScaleChannels)]
    assert len(wrappers) == len(structured_layers(model)) == 6  # 3 blocks of 2, every one in scale channels
    assert all(w.scales == (0.5, 1.0, 2.0) and w.layer.scale_normalized and w.layer.normalize_basis for w in wrappers)
    assert all(w.layer.discretization == "discrete" for w in wrappers)  # the default: exact where σ·sᵢ < 1
    # ±4σ·s at the largest channel for σ = 1: 17 taps.
    assert all(w.layer.kernel_size == (17, 17) for w in wrappers)
    # The same trainable weights as the one-channel Gaussian U-net of that topology.
    plain = gaussian_unet((16, 16, 3), depth=1, base_filters=4, kernel_size=17, discretization="discrete")
    assert count_parameters(model) == count_parameters(plain)
    assert isinstance(model.get_layer("scale_pooling"), ScalePooling) and model.get_layer("scale_pooling").window is None
    assert not any(isinstance(layer, ImageScale) for layer in model.layers)  # filter channels: every channel pooled
    probabilities = to_numpy(model(images((2, 16, 16, 3))))
    assert probabilities.shape == (2, 16, 16, 1) and ((probabilities >= 0) & (probabilities <= 1)).all()
    two = scale_channel_unet((16, 16, 3), num_classes=3, depth=1, base_filters=4, pooling="average")
    np.testing.assert_allclose(to_numpy(two(images((1, 16, 16, 3)))).sum(-1), 1.0, rtol=1e-5)


def test_before_pooling_a_magnified_image_moves_to_the_next_channel():
    # depth 0: the bottleneck's two scale-channel layers and the logits, no pooling. Blobs sampled at
    # spacing 1 in channel s = 1 against the same function at spacing ½ in channel s = 2.
    # Sampled kernels: samples of the continuous derivatives, which the covariance is about (the
    # discrete analogue's central differences at spacing 1 against ½ differ by O(h²): measured 5 %).
    model = scale_channel_unet((None, None, 1), depth=0, scales=(1.0, 2.0), base_filters=4, sigma=1.5, kernel_size=41,
                               discretization="sampled")
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


def test_a_scale_window_pools_the_channels_the_image_scale_selects():
    # filter channels: the probabilities are the sigmoid of the maximum over the selected channels' logits
    scales, window = (0.5, 1.0, 2.0), (-1.0, 0.0)
    model = scale_channel_unet((16, 16, 1), depth=1, scales=scales, base_filters=2, num_bases=2, scale_window=window)
    x = np.concatenate([images((2, 16, 16, 1)), ndimage.zoom(images((2, 8, 8, 1)), (1, 2, 2, 1), order=1)])
    scale = model.get_layer("image_scale")  # reference: the noise; the zoomed noise reads as magnified
    scale.moving_reference.assign(float(to_numpy(scale.centroids(x[:2])).mean()))
    parts = keras.Model(model.input, [model.get_layer("segmentation_logits").output,
                                      model.get_layer("image_scale").output])
    logits, log_magnification = (to_numpy(t) for t in parts(x))
    keep = numpy_window(scales, window, log_magnification)
    assert len({tuple(k) for k in keep}) > 1  # the images select different channels
    expected = np.stack([logits[b, keep[b]].max(axis=0) for b in range(len(x))])
    np.testing.assert_allclose(to_numpy(model(x)), 1 / (1 + np.exp(-expected)), atol=1e-6)


def test_image_channels_share_one_unet_with_the_gaussian_unets_weights():
    model = scale_channel_unet((16, 16, 3), depth=1, scales=(0.5, 1.0, 2.0), base_filters=4, rescale="image")
    shared = model.get_layer("scale_channel_unet_shared")
    # One U-net (σ = 1: 9 taps) serves the three channels: the one-channel Gaussian U-net's weights.
    assert structured_layers(model) == structured_layers(shared) and len(structured_layers(shared)) == 6
    assert all(layer.kernel_size == (9, 9) and not layer.scale_normalized for layer in structured_layers(shared))
    plain = gaussian_unet((16, 16, 3), depth=1, base_filters=4, kernel_size=9, discretization="discrete")
    assert count_parameters(model) == count_parameters(plain)
    assert [model.get_layer(f"channel{i}_resize").output.shape[1:3] for i in (0, 2)] == [(32, 32), (8, 8)]
    probabilities = to_numpy(model(images((2, 16, 16, 3))))
    assert probabilities.shape == (2, 16, 16, 1) and ((probabilities >= 0) & (probabilities <= 1)).all()


def test_an_image_channel_meets_a_magnified_image_at_the_size_it_learned():
    # depth 1 (pooling included). The same continuous blobs sampled at spacing 1 (40²) and ½ (80²),
    # pixel centres aligned as resizing aligns them (fine pixel k at k/2 − ¼).
    def sampled(size, spacing):
        grid = np.arange(size) * spacing + (spacing - 1) / 2
        return blobs(np.meshgrid(grid, grid, indexing="xy")).astype("float32")[None, :, :, None]

    models = [scale_channel_unet((n, n, 1), depth=1, scales=(1.0, 2.0), base_filters=4, rescale="image", sigma=1.5)
              for n in (40, 80)]
    for i, w in enumerate(models[0].weights):  # random combinations, the geometry at its initial values
        if w.path.endswith(("coefficients", "kernel")):
            w.assign(np.random.default_rng(i).normal(0.0, 0.1, w.shape))
    models[1].set_weights(models[0].get_weights())
    image, magnified = sampled(40, 1.0), sampled(80, 0.5)
    coarse, fine = (to_numpy(keras.Model(m.input, m.get_layer("scale_channels").output)(x))[0, ..., 0]
                    for m, x in zip(models, (image, magnified)))

    def bilinear_by_2(logits):  # SciPy's linear zoom, pixel centres aligned as Keras' (`grid_mode`)
        return ndimage.zoom(logits, 2, order=1, grid_mode=True, mode="nearest")[16:64, 16:64]

    # Exactly: channel s = 2 of the 80² image is the shared U-net's logits of its 2 × 2 means, resized by 2.
    means = magnified.reshape(1, 40, 2, 40, 2, 1).mean((2, 4))
    shared = to_numpy(models[0].get_layer("scale_channel_unet_shared")(means))[0, ..., 0]
    np.testing.assert_allclose(fine[1, 16:64, 16:64], bilinear_by_2(shared), atol=1e-5 * np.abs(shared).max())
    # Approximately: the 40² image's channel s = 1, resized by 2, up to the 2 × 2 means against the
    # point samples (1.2 % of the image's range; measured 1.0 % of the logits' range); the other
    # channel, which meets the magnified image at the wrong size, is 100× further off.
    expected = bilinear_by_2(coarse[0])
    error = np.abs(fine[1, 16:64, 16:64] - expected).max()
    assert error < 0.03 * np.abs(expected).max()
    assert np.abs(fine[0, 16:64, 16:64] - expected).max() > 20 * error


def test_image_channels_predict_in_inference_mode():
    # A model of Keras' `Resizing` layers ran its later batch normalisations in training mode when
    # called eagerly: the image channels use pooling and upsampling layers instead.
    model = scale_channel_unet((16, 16, 1), depth=1, scales=(0.5, 1.0, 2.0), base_filters=4, rescale="image")
    for w in model.weights:  # moving means far from any batch's: the two modes differ
        if w.path.endswith("moving_mean"):
            w.assign(np.full(w.shape, 3.0))
    x = images((4, 16, 16, 1))
    np.testing.assert_allclose(to_numpy(model(x)), to_numpy(model.predict(x, verbose=0)), atol=1e-6)


def test_image_channels_train_save_fold_and_export_to_onnx(tmp_path):
    # by default with the channels selected by each image's scale (`ImageScale`, `ScalePooling(window=...)`)
    model = scale_channel_unet((16, 16, 1), depth=1, scales=(1.0, 2.0), base_filters=2, num_bases=2, rescale="image",
                               discretization="discrete", scale_dropout=0.5)
    assert isinstance(model.get_layer("image_scale"), ImageScale)
    assert model.get_layer("scale_pooling").window == SCALE_WINDOW == (-1.5, 0.5)
    x = images((2, 16, 16, 1))
    assert_trains_saves_folds_and_exports(model, x, (images((2, 16, 16, 1)) > 0).astype("float32"), "binary_crossentropy",
                                          tmp_path)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(pooling="median"), "`pooling` must be 'max' or 'average'. Received: pooling='median'"),
        (dict(scales=(1.0, -2.0)), "`scales` must be a non-empty list of positive numbers"),
        (dict(scale_dropout=1.0), "scale_dropout"),
        (dict(sigma=0), "sigma"),
        (dict(scaled_kernels="yes"), "Received: scaled_kernels='yes'"),
        (dict(depth=3), "divisible by 2\\*\\*depth = 8"),
        (dict(rescale="input"), "`rescale` must be one of \\['filters', 'image'\\]. Received: rescale='input'"),
        (dict(rescale="image", scales=(1.0, 1.5)), "powers of 2. Received: scales=\\(1.0, 1.5\\)"),
        (dict(rescale="image", scales=(1.0, 8.0)), "rows/sᵢ and cols/sᵢ integers .* scales=\\(1.0, 8.0\\)"),
        (dict(rescale="image", scales=(0.5, 4.0), depth=1), "divisible by 2\\*\\*depth = 2"),
        (dict(rescale="image", scaled_kernels=True), "Received: scaled_kernels=True, rescale='image'"),
        (dict(scale_window=(1.0, 0.0)), r"`scale_window` must be .* Received: scale_window=\(1.0, 0.0\)"),
        (dict(scale_window="wide"), r"Received: scale_window='wide'"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        scale_channel_unet((12, 12, 1), **kwargs)
