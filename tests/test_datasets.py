"""The offline data sets: shapes, ranges, labels."""

import numpy as np
import pytest

from keras_gaussconv.datasets import load_digits, load_fashion_mnist, load_nuclei, nuclei_mask


def test_digits():
    (x_train, y_train), (x_test, y_test) = load_digits()
    assert x_train.shape == (1257, 16, 16, 1) and x_test.shape == (540, 16, 16, 1)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
    (raw, _), _ = load_digits(size=8)
    assert raw.shape[1:] == (8, 8, 1)


def test_nuclei_patches_and_masks():
    images, masks = load_nuclei()
    assert images.shape == (49, 128, 128, 3) and masks.shape == (49, 128, 128, 1)
    assert images.dtype == masks.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert set(np.unique(masks)) == {0.0, 1.0}
    assert 0.05 < masks.mean() < 0.6  # nuclei are a minority of the pixels


def test_nuclei_mask_marks_haematoxylin_blue_pixels():
    from skimage import data

    rgb = data.immunohistochemistry()
    mask = nuclei_mask(rgb)
    blue_minus_red = rgb[..., 2].astype(float) - rgb[..., 0]
    assert blue_minus_red[mask].mean() > blue_minus_red[~mask].mean()


def test_fashion_mnist_without_network_is_a_clear_error(monkeypatch):
    import keras

    def offline():
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(RuntimeError, match="Fashion-MNIST could not be downloaded"):
        load_fashion_mnist()
