"""`ImageScale` and `ScalePooling(window=...)`: the Laplacian energy against NumPy's FFT and SciPy's
filters, covariance on one function sampled at two spacings, the moving reference, the channels the
window selects against a NumPy reference, saving and bad input."""

import keras
import numpy as np
import pytest

from helpers import blobs_sampled, images, numpy_window, to_numpy
from keras_gaussconv import ImageScale, ScalePooling
from keras_gaussconv.layers.scale_selection import sigma_grid

pytestmark = pytest.mark.core


def numpy_energy(image, sigmas):
    """E(σ) = Σ_ω |f̂(ω)|² (σ²|ω|²)² exp(−σ²|ω|²) of the channels' mean, by NumPy's FFT (float64)."""
    g = image.astype("float64").mean(-1)
    power = np.abs(np.fft.fft2(g)) ** 2
    w2 = np.add.outer((2 * np.pi * np.fft.fftfreq(g.shape[0])) ** 2, (2 * np.pi * np.fft.fftfreq(g.shape[1])) ** 2)
    u = np.asarray(sigmas)[:, None, None] ** 2 * w2
    return (power * u**2 * np.exp(-u)).sum(axis=(1, 2))


def test_energy_is_the_scale_normalised_laplacians_by_parseval():
    from scipy import ndimage

    x = images((2, 24, 20, 3))
    layer = ImageScale()
    layer.build(x.shape)
    energy = to_numpy(layer.laplacian_energy(x))
    for b in range(2):
        expected = numpy_energy(x[b], layer.sigmas)  # float32 underflows where E < 1e-38: atol
        np.testing.assert_allclose(energy[b], expected, rtol=2e-5, atol=1e-9 * expected.max())
    # Parseval: Σ_ω |ĥ|² = rows·cols Σ_x h² for h = σ²∇²(g_σ ∗ f), periodic (SciPy's sampled kernels; σ ≥ 2)
    g = x[0].astype("float64").mean(-1)
    for j in np.flatnonzero((layer.sigmas >= 2) & (layer.sigmas <= 6)):
        h = layer.sigmas[j] ** 2 * ndimage.gaussian_laplace(g, layer.sigmas[j], mode="wrap", truncate=8)
        np.testing.assert_allclose(energy[0, j], g.size * np.sum(h**2), rtol=1e-3)


def test_a_magnified_image_moves_the_estimate_by_one_octave():
    # one continuous image (three blobs) at spacing 1 (40²) and ½ (80², magnified 2×)
    coarse, fine = ImageScale(), ImageScale()
    difference = to_numpy(fine(blobs_sampled(80, 0.5))) - to_numpy(coarse(blobs_sampled(40, 1.0)))
    np.testing.assert_allclose(difference, [1.0], atol=1e-3)
    # the unnormalised Laplacian's energy (σ⁻⁴ E) does not follow the magnification
    grid = sigma_grid((0.5, 64.0))

    def centroid(image):
        e = numpy_energy(image[0], grid) / grid**4
        return np.sum(e**2 * np.log2(grid)) / np.sum(e**2)

    assert abs(centroid(blobs_sampled(80, 0.5)) - centroid(blobs_sampled(40, 1.0)) - 1.0) > 0.3


def test_training_sets_the_reference_inference_keeps_it():
    x = images((4, 16, 16, 2))
    layer = ImageScale(momentum=0.75)
    layer.build(x.shape)
    c = to_numpy(layer.centroids(x))
    np.testing.assert_allclose(to_numpy(layer(x, training=True)), c - c.mean(), atol=1e-5)
    np.testing.assert_allclose(to_numpy(layer.moving_reference), 0.25 * c.mean(), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(layer(x)), c - 0.25 * c.mean(), atol=1e-5)
    np.testing.assert_allclose(to_numpy(layer.moving_reference), 0.25 * c.mean(), rtol=1e-5)  # unchanged


SCALES, WINDOW = (0.5, 1.0, 2.0, 4.0), (-1.5, 0.5)
LOG_MAGNIFICATIONS = np.array([0.0, -1.0, 1.2, 3.0, -5.0, 0.5], "float32")


def test_window_reduces_the_channels_it_selects():
    x = images((6, 4, 5, 3))
    keep = numpy_window(SCALES, WINDOW, LOG_MAGNIFICATIONS)
    assert keep[4].sum() == 1 and keep[4, 0]  # none in the window: the nearest
    for mode, reduce in (("max", np.max), ("average", np.mean)):
        pooling = ScalePooling(mode, scales=SCALES, window=WINDOW)
        y = to_numpy(pooling([x, LOG_MAGNIFICATIONS]))
        for b in range(6):
            np.testing.assert_allclose(y[b], reduce(x[b, keep[b]], axis=0), rtol=1e-6)


def test_window_dropout_keeps_a_subset_of_the_window():
    x = images((6, 4, 5, 3))
    keep = numpy_window(SCALES, WINDOW, LOG_MAGNIFICATIONS)
    y = to_numpy(ScalePooling("max", dropout=0.5, seed=1, scales=SCALES, window=WINDOW)([x, LOG_MAGNIFICATIONS],
                                                                                            training=True))
    for b in range(6):
        allowed = np.flatnonzero(keep[b])
        subsets = [allowed[[k for k in range(len(allowed)) if m >> k & 1]] for m in range(1, 2 ** len(allowed))]
        assert any(np.allclose(y[b], x[b, s].max(axis=0)) for s in subsets), b


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: ImageScale(sigma_range=(0.5, 3.0)), r"Received: sigma_range=\(0.5, 3.0\)"),
        (lambda: ImageScale(sigma_range=(2.0, 1.0)), r"Received: sigma_range=\(2.0, 1.0\)"),
        (lambda: ImageScale(power=0), "Received: power=0"),
        (lambda: ImageScale(momentum=1.0), "Received: momentum=1.0"),
        (lambda: ScalePooling(window=(-1.0, 1.0)), r"give both. Received: window=\(-1.0, 1.0\), scales=None"),
        (lambda: ScalePooling(scales=(1.0, 2.0), window=(1.0, -1.0)), r"Received: window=\(1.0, -1.0\)"),
        (lambda: ScalePooling(scales=(1.0, 2.0), window="wide"), "Received: window='wide'"),
    ],
)
def test_bad_arguments_name_themselves(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_input_shapes_name_the_shape():
    with pytest.raises(ValueError, match=r"known size.*Received: input_shape=\(None, None, 8, 1\)"):
        ImageScale().build((None, None, 8, 1))
    with pytest.raises(ValueError, match=r"Received: input_shape=\(None, 8, 1\)"):
        ImageScale().build((None, 8, 1))
    with pytest.raises(ValueError, match=r"each of the input's 3 channels.*Received: scales=\(1.0, 2.0\)"):
        ScalePooling(scales=(1.0, 2.0), window=WINDOW).build([(None, 3, 4, 1), (None,)])


def test_keras_layer_contract():
    from keras.src.testing import TestCase

    TestCase().run_layer_test(
        ImageScale,
        init_kwargs=dict(sigma_range=(1.0, 8.0), power=1.0),
        input_shape=(2, 12, 10, 3),
        expected_output_shape=(2,),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=1,
    )
    TestCase().run_layer_test(
        ScalePooling,
        init_kwargs=dict(mode="average", dropout=0.5, seed=2, scales=(1.0, 2.0, 4.0), window=(-1.0, 1.0)),
        input_shape=((2, 3, 8, 8, 4), (2,)),  # a tuple: Keras' harness builds no tf.data signature of a list
        expected_output_shape=(2, 8, 8, 4),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=1,
    )


def test_folded_layers_equal_the_layers_and_reload(tmp_path):
    x = images((3, 16, 16, 2))
    scale = ImageScale()
    scale(x, training=True)  # a non-zero reference
    (folded,) = scale.fold()
    np.testing.assert_allclose(to_numpy(folded(x)), to_numpy(scale(x)), atol=1e-5)
    channels = images((3, 4, 5, 2))
    pooling = ScalePooling("max", scales=SCALES, window=WINDOW)
    expected = to_numpy(pooling([channels, LOG_MAGNIFICATIONS[:3]]))
    (folded_pooling,) = pooling.fold()
    folded_pooling.save(tmp_path / "pool.keras")
    folded.save(tmp_path / "scale.keras")
    np.testing.assert_allclose(to_numpy(keras.saving.load_model(tmp_path / "scale.keras")(x)), to_numpy(scale(x)),
                               atol=1e-5)
    reloaded = keras.saving.load_model(tmp_path / "pool.keras")
    np.testing.assert_allclose(to_numpy(reloaded([channels, LOG_MAGNIFICATIONS[:3]])), expected)
