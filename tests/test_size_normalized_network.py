"""`size_normalized_network`: one Gaussian CNN behind `SizeNormalization`, shared by its channels; the
same object at two magnifications gets the same answer; it trains, saves, folds and exports."""

import keras
import numpy as np
import pytest

from helpers import assert_trains_saves_folds_and_exports, blobs_sampled, images, to_numpy
from keras_gaussconv import GaussianDerivativeConv2D, ScalePooling, SizeNormalization, count_parameters
from keras_gaussconv.models import size_normalized_network

pytestmark = pytest.mark.core


def test_one_cnn_serves_every_channel():
    one = size_normalized_network((20, 20, 1), 3, output_size=12, filters=(3, 4), kernel_size=5)
    three = size_normalized_network((20, 20, 1), 3, output_size=12, scales=(0.7, 1.0, 1.4), filters=(3, 4),
                                    kernel_size=5)
    convs = [layer for layer in three.layers if isinstance(layer, GaussianDerivativeConv2D)]
    assert [c.filters for c in convs] == [3, 4, 3] and [c.kernel_size for c in convs] == [(5, 5)] * 3
    sizes = [layer for layer in three.layers if isinstance(layer, SizeNormalization)]
    assert [s.scale for s in sizes] == pytest.approx([0.7, 1.0, 1.4]) and isinstance(three.layers[-2], ScalePooling)
    assert not any(isinstance(layer, ScalePooling) for layer in one.layers)
    # the channels add no weight: convolutions plus β, γ of two batch normalisations
    assert count_parameters(three) == count_parameters(one) == sum(count_parameters(c) for c in convs) + 2 * (3 + 4)


def test_an_object_at_twice_the_magnification_gets_the_same_answer():
    # one continuous image (three blobs) sampled at spacing 1 (40²) and ½ (80²): the same object, magnified 2×
    coarse, fine = blobs_sampled(40, 1.0), blobs_sampled(80, 0.5)
    model = size_normalized_network((40, 40, 1), 4, output_size=24, filters=(4, 4))
    model.get_layer("size0").moving_reference.assign(float(to_numpy(model.get_layer("size0").log_sizes(coarse)[0])[0, 0]))
    for layer in model.layers:  # a network whose scores differ: random σ and coefficients
        if isinstance(layer, GaussianDerivativeConv2D):
            layer.set_weights([images(w.shape) * (0.3 if w.shape == layer.sigma.shape else 1.0) + (
                1.5 if w.shape == layer.sigma.shape else 0.0) for w in layer.get_weights()])
    magnified = size_normalized_network((80, 80, 1), 4, output_size=24, filters=(4, 4))
    magnified.set_weights(model.get_weights())
    same, other = to_numpy(model(coarse))[0], to_numpy(magnified(fine))[0]
    assert same.max() - same.min() > 0.1  # the answer is not uniform
    np.testing.assert_allclose(other, same, atol=1e-3)  # measured 5e-5: the anti-aliasing tent against bilinear
    # without normalisation (the CNN on the image as it is) the magnified object gets another answer
    unnormalized = keras.Model(magnified.get_layer("conv0").input, magnified.output)
    assert np.abs(to_numpy(unnormalized(fine[:, 28:52, 28:52]))[0] - same).max() > 5 * np.abs(other - same).max()


def small_network_and_data():
    model = size_normalized_network((16, 16, 1), 3, output_size=8, scales=(1.0, 2.0), filters=(2, 3),
                                    scale_dropout=0.5)
    return model, np.abs(images((4, 16, 16, 1))), np.array([0, 1, 2, 0])


@pytest.mark.skipif(keras.backend.backend() == "jax",
                    reason="Keras' JAX ONNX export of max pooling fails in onnxruntime (as test_scale_unet's)")
def test_it_trains_saves_folds_and_exports_to_onnx(tmp_path):
    model, x, y = small_network_and_data()
    assert_trains_saves_folds_and_exports(model, x, y, "sparse_categorical_crossentropy", tmp_path)


def test_it_trains_saves_and_folds(tmp_path):  # every backend, JAX included
    from keras_gaussconv.export import fold

    model, x, y = small_network_and_data()
    model.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy")
    before = to_numpy(model.get_layer("size0").moving_reference)
    assert np.isfinite(model.fit(x, y, epochs=1, verbose=0).history["loss"][0])
    assert to_numpy(model.get_layer("size0").moving_reference) != before  # training moved the size reference
    expected = to_numpy(model(x))
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(to_numpy(keras.saving.load_model(tmp_path / "m.keras")(x)), expected, atol=1e-5)
    np.testing.assert_allclose(to_numpy(fold(model)(x)), expected, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(scales=()), r"Received: scales=\(\)"),
        (dict(scales=(1.0, -2.0)), r"Received: scales=\(1.0, -2.0\)"),
        (dict(output_size=0), "Received: output_size=0"),
        (dict(filters=(4, 0)), "Received: filters=0"),
        (dict(scale_dropout=1.5), "Received: scale_dropout=1.5"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        size_normalized_network((16, 16, 1), 3, **kwargs)
