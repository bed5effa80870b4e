"""`SizeNormalization`: the moments against NumPy's, bilinear resampling against SciPy's, covariance on
one continuous image sampled at two spacings, translation, the moving reference, saving, folding and
bad input."""

import keras
import numpy as np
import pytest

from helpers import blobs_sampled, images, to_numpy
from keras_gaussconv import SizeNormalization

pytestmark = pytest.mark.core


def numpy_moments(image):
    """Centroid (rows, cols) and log₂ RMS radius of |image|'s channel mean, float64."""
    w = np.abs(image.astype("float64")).mean(-1)
    rows, cols = np.indices(w.shape)
    mu = np.array([(w * rows).sum(), (w * cols).sum()]) / w.sum()
    variance = (w * ((rows - mu[0]) ** 2 + (cols - mu[1]) ** 2)).sum() / w.sum()
    return mu, 0.5 * np.log2(variance)


def layer_at(reference, output_size=24, scale=1.0):
    layer = SizeNormalization(output_size, scale=scale)
    layer.build((None, 40, 40, 1))
    layer.moving_reference.assign(reference)
    return layer


def test_moments_are_numpys():
    x = images((3, 18, 14, 2))
    layer = SizeNormalization(8)
    log_size, mu_rows, mu_cols = (to_numpy(t)[:, 0] for t in layer.log_sizes(x))
    for b in range(3):
        mu, expected = numpy_moments(x[b])
        np.testing.assert_allclose([mu_rows[b], mu_cols[b], log_size[b]], [*mu, expected], rtol=1e-5, atol=1e-4)


def test_magnifying_resamples_bilinearly_as_scipy():
    from scipy import ndimage

    x = np.pad(images((1, 16, 16, 1)), ((0, 0), (12, 12), (12, 12), (0, 0)))  # 40², zero border
    mu, log_size = numpy_moments(x[0])
    step = 0.6  # output spacing in input pixels: magnified 1/0.6 times, bilinear
    layer = layer_at(log_size - np.log2(step))
    offsets = (np.arange(24) - 11.5) * step
    expected = ndimage.map_coordinates(x[0, :, :, 0].astype("float64"),
                                       np.meshgrid(mu[0] + offsets, mu[1] + offsets, indexing="ij"), order=1)
    np.testing.assert_allclose(to_numpy(layer(x))[0, :, :, 0], expected, atol=1e-5)


def test_one_image_at_two_spacings_comes_out_alike():
    # one continuous image (three blobs) at spacing 1 (40²) and ½ (80², magnified 2×)
    coarse, fine = blobs_sampled(40, 1.0), blobs_sampled(80, 0.5)
    layer = SizeNormalization(24)
    sizes = [to_numpy(layer.log_sizes(x)[0])[0, 0] for x in (coarse, fine)]
    np.testing.assert_allclose(sizes[1] - sizes[0], 1.0, atol=1e-3)  # |f| has kinks: not spectrally exact
    layer = layer_at(sizes[0])
    same, fine_out = to_numpy(layer(coarse)), to_numpy(layer(fine))
    error = np.abs(fine_out - same).max() / np.abs(same).max()
    assert error < 0.02, error  # the fine image's anti-aliasing tent (½ a coarse pixel) against bilinear
    # resampled a quarter octave off, the coarse image is far from itself: the bound above is sharp
    assert np.abs(to_numpy(layer_at(sizes[0], scale=2**0.25)(coarse)) - same).max() / np.abs(same).max() > 10 * error


def test_a_moved_object_comes_out_the_same():
    x = np.zeros((2, 40, 40, 1), "float32")
    x[0, 5:21, 7:23] = images((16, 16, 1))
    x[1, 17:33, 20:36] = x[0, 5:21, 7:23]
    y = to_numpy(layer_at(2.5)(x))
    np.testing.assert_allclose(y[1], y[0], atol=1e-5)
    assert np.abs(y[0]).max() > 0.5


def test_training_sets_the_reference_inference_keeps_it():
    x = images((4, 16, 16, 2))
    layer = SizeNormalization(12, momentum=0.75)
    layer.build(x.shape)
    log_size = to_numpy(layer.log_sizes(x)[0])
    layer(x, training=True)
    np.testing.assert_allclose(to_numpy(layer.moving_reference), 0.25 * log_size.mean(), rtol=1e-5)
    layer(x)
    np.testing.assert_allclose(to_numpy(layer.moving_reference), 0.25 * log_size.mean(), rtol=1e-5)  # unchanged
    # in training the batch's mean is the reference: the same output as inference with that reference
    trained = to_numpy(SizeNormalization(12)(x, training=True))
    np.testing.assert_allclose(trained, to_numpy(layer.resample(x, layer.log_sizes(x), log_size.mean())), atol=1e-5)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: SizeNormalization(0), "Received: output_size=0"),
        (lambda: SizeNormalization((8, 8, 8)), r"Received: output_size=\(8, 8, 8\)"),
        (lambda: SizeNormalization(8, scale=-1.0), "Received: scale=-1.0"),
        (lambda: SizeNormalization(8, momentum=1.0), "Received: momentum=1.0"),
    ],
)
def test_bad_arguments_name_themselves(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_input_shapes_name_the_shape():
    with pytest.raises(ValueError, match=r"known size.*Received: input_shape=\(None, None, 8, 1\)"):
        SizeNormalization(8).build((None, None, 8, 1))
    with pytest.raises(ValueError, match=r"Received: input_shape=\(None, 8, 1\)"):
        SizeNormalization(8).build((None, 8, 1))


def test_keras_layer_contract():
    from keras.src.testing import TestCase

    TestCase().run_layer_test(
        SizeNormalization,
        init_kwargs=dict(output_size=(6, 7), scale=2.0),
        input_shape=(2, 12, 10, 3),
        expected_output_shape=(2, 6, 7, 3),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=1,
    )


def test_folded_layer_equals_the_layer_and_reloads(tmp_path):
    x = images((3, 16, 16, 2))
    layer = SizeNormalization(10)
    layer(x, training=True)  # a non-zero reference
    (folded,) = layer.fold()
    np.testing.assert_allclose(to_numpy(folded(x)), to_numpy(layer(x)), atol=1e-5)
    folded.save(tmp_path / "size.keras")
    np.testing.assert_allclose(to_numpy(keras.saving.load_model(tmp_path / "size.keras")(x)), to_numpy(layer(x)),
                               atol=1e-5)
