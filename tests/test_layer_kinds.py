"""The shared layer table (`layer_kinds.KINDS`) covers every public layer of the package."""

import inspect

import pytest

import keras_gaussconv
from keras_gaussconv import BasisConv
from layer_kinds import GAUSSIAN_KINDS, KINDS

pytestmark = pytest.mark.core


def test_every_public_layer_class_has_a_kind():
    public = {
        value for name, value in vars(keras_gaussconv).items()
        if inspect.isclass(value) and issubclass(value, BasisConv) and not name.startswith("BasisConv")
    }
    covered = {type(make()) for make, _ in KINDS.values()}
    assert public and public <= covered, public - covered


def test_the_gaussian_kinds_cover_every_gaussian_derivative_class():
    # (rfnn_conv2d is a preset of GaussianDerivativeConv2D with frozen geometry: not one of these kinds.)
    classes = {type(KINDS[kind][0]()) for kind in GAUSSIAN_KINDS}
    assert all(cls.__name__.startswith("GaussianDerivative") for cls in classes), classes
    public = {value for name, value in vars(keras_gaussconv).items() if name.startswith("GaussianDerivative")}
    assert classes == public, public ^ classes
