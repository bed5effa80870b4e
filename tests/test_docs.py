"""The examples in the public docstrings run and print what they say."""

import doctest

import keras
import numpy as np
import pytest

import keras_gaussconv
from keras_gaussconv import callbacks, compat, folding
from keras_gaussconv.layers import conv_norm_act, gabor_conv, gaussian_derivative_conv, presets, scale_channels

pytestmark = pytest.mark.core

MODULES = [gaussian_derivative_conv, gabor_conv, presets, conv_norm_act, scale_channels, compat, folding, callbacks]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    names = {name: getattr(keras_gaussconv, name) for name in dir(keras_gaussconv) if not name.startswith("_")}
    result = doctest.testmod(
        module, extraglobs={"keras": keras, "np": np, **names}, optionflags=doctest.ELLIPSIS, verbose=False
    )
    assert result.attempted > 0
    assert result.failed == 0
