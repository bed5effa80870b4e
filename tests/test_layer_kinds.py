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


def test_the_gaussian_kinds_are_the_gaussian_derivative_layers():
    for kind, (make, _) in KINDS.items():
        assert (kind in GAUSSIAN_KINDS) == type(make()).__name__.startswith("GaussianDerivative"), kind
