"""RFNN preset and the DAU-style DisplacedGaussianConv2D."""

import numpy as np
import pytest
from helpers import numpy_gaussian_derivative, to_numpy

from keras_gaussconv import DisplacedGaussianConv2D, GaussianDerivativeConv2D, rfnn_conv2d
from keras_gaussconv.bases import derivative_orders

pytestmark = pytest.mark.core  # CI runs these under TensorFlow and JAX


def test_rfnn_has_only_combination_weights_and_the_isotropic_njet():
    layer = rfnn_conv2d(8, 9, order=3, sigma=1.5, num_bases=2, padding="same")
    layer.build((None, 16, 16, 3))
    assert isinstance(layer, GaussianDerivativeConv2D)
    assert sorted(w.name for w in layer.trainable_weights) == ["bias", "coefficients"]
    coords = np.arange(9) - 4.0
    njet = np.stack(
        [np.outer(numpy_gaussian_derivative(coords, 1.5, q), numpy_gaussian_derivative(coords, 1.5, p))
         for p, q in derivative_orders(3)],
        axis=-1,
    )  # rows carry y (order q), columns x (order p)
    basis = to_numpy(layer.basis())
    for b in range(2):
        np.testing.assert_allclose(basis[b], njet, atol=1e-6)


def test_rfnn_rejects_geometry_arguments():
    with pytest.raises(ValueError, match="Received: trainable_sigma=True"):
        rfnn_conv2d(4, 5, trainable_sigma=True)
    with pytest.raises(ValueError, match="Received: sigma=0"):
        rfnn_conv2d(4, 5, sigma=0)


def test_rfnn_small_sigma_keeps_its_scale():
    layer = rfnn_conv2d(4, 5, sigma=0.1)
    layer.build((None, 8, 8, 1))
    np.testing.assert_allclose(to_numpy(layer.sigma), 0.1)
    assert layer.min_sigma == pytest.approx(0.1)


def test_displaced_gaussians_are_centred_at_their_offsets():
    layer = DisplacedGaussianConv2D(4, 15, num_units=3, num_bases=2)
    layer.build((None, 20, 20, 1))
    offsets = np.array([[[0, 0], [3, -2], [-4, 5]], [[1, 1], [-6, -6], [2, 4]]], "float32")
    sigma = np.array([[1.0, 1.5, 0.8], [2.0, 0.7, 1.2]], "float32")
    layer.offset.assign(offsets)
    layer.sigma.assign(sigma)
    basis = to_numpy(layer.basis())
    coords = np.arange(15) - 7.0
    for b in range(2):
        for n in range(3):
            expected = np.outer(
                numpy_gaussian_derivative(coords - offsets[b, n, 1], sigma[b, n], 0),
                numpy_gaussian_derivative(coords - offsets[b, n, 0], sigma[b, n], 0),
            )
            np.testing.assert_allclose(basis[b, :, :, n], expected, atol=1e-6)
            row, col = np.unravel_index(basis[b, :, :, n].argmax(), (15, 15))
            assert (col - 7, row - 7) == tuple(offsets[b, n])
    assert basis[0, :, :, 0].sum() == pytest.approx(1.0, abs=1e-4)


def test_displaced_gaussian_weights_and_defaults():
    layer = DisplacedGaussianConv2D(6, 7, num_units=5, num_bases=3, separable=True)
    layer.build((None, 12, 12, 2))
    assert {w.name: tuple(w.shape) for w in layer.weights} == {
        "sigma": (3, 5), "offset": (3, 5, 2), "coefficients_in": (3, 2, 5),
        "coefficients_out": (3, 5, 2), "bias": (6,),
    }
    assert np.abs(to_numpy(layer.offset)).max() <= 1.5
    assert layer.num_units == 5


@pytest.mark.parametrize(
    "kwargs,message",
    [(dict(num_units=0), "Received: num_units=0"), (dict(min_sigma=-1), "Received: min_sigma=-1")],
)
def test_displaced_gaussian_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DisplacedGaussianConv2D(4, 5, **kwargs)
