"""Migration helpers for users of the reference FTGDConvLayer."""

import numpy as np
import pytest
from helpers import to_numpy

from keras_gaussconv import GaussianDerivativeConv2D
from keras_gaussconv.compat import from_reference_config, load_reference_weights

pytestmark = pytest.mark.core  # CI runs these under TensorFlow and JAX

BASE = {"filters": 8, "kernel_size": (5, 5), "num_basis": 2, "order": 2}


def test_reference_defaults():
    layer = from_reference_config(BASE)
    assert isinstance(layer, GaussianDerivativeConv2D)
    assert (layer.padding, layer.use_bias, layer.separable, layer.strides) == ("same", False, False, (1, 1))
    assert (layer.num_bases, layer.order, layer.filters, layer.kernel_size) == (2, 2, 8, (5, 5))


def test_reference_options_are_mapped():
    layer = from_reference_config(
        {
            **BASE,
            "separated": True,
            "trainability": [False, True, False],
            "padding": "valid",
            "strides": (2, 2),
            "use_bias": True,
            "random_init": False,
            "sigma_init": 1.5,
            "mu_init": 0.25,
            "theta_init": 0.5,
            "name": "Gaussian1",
            "trainable": True,
            "dtype": "float32",
        },
        implementation="basis",
    )
    layer.build((None, 9, 9, 3))
    assert layer.name == "Gaussian1" and layer.separable and layer.use_bias
    assert (layer.padding, layer.strides, layer.implementation) == ("valid", (2, 2), "basis")
    assert sorted(w.name for w in layer.trainable_weights) == ["bias", "coefficients_in", "coefficients_out", "offset"]
    np.testing.assert_allclose(to_numpy(layer.sigma), 1.5)
    np.testing.assert_allclose(to_numpy(layer.offset), 0.25)
    np.testing.assert_allclose(to_numpy(layer.theta), 0.5)


@pytest.mark.parametrize(
    "config,message",
    [
        ({**BASE, "deployed": True}, r"Unknown reference argument\(s\) \['deployed'\]"),
        ({"filters": 8, "kernel_size": 3}, r"lacks \['num_basis', 'order'\]"),
        ({**BASE, "trainability": [True]}, r"Received: trainability=\[True\]"),
        ({**BASE, "filters": 9}, "Received: filters=9, num_bases=2"),
    ],
)
def test_bad_reference_config(config, message):
    with pytest.raises(ValueError, match=message):
        from_reference_config(config)


def reference_arrays(separable, f_in=3, b=2, n=6, per=4, bias=False):
    rng = np.random.default_rng(0)
    arrays = {
        "sigmas": rng.uniform(0.5, 2, (b, n, 2)),
        "centroids": rng.uniform(-1, 1, (b, n, 2)),
        "thetas": rng.uniform(-3, 3, (b, n)),
    }
    if separable:
        arrays.update(clWeights1=rng.normal(size=(b, f_in, n)), clWeights2=rng.normal(size=(b, 1, 1, n, per)))
    else:
        arrays["clWeights"] = rng.normal(size=(b, f_in, per, n))
    if bias:
        arrays["bias"] = rng.normal(size=(b * per,))
    return arrays


@pytest.mark.parametrize("separable", [False, True])
def test_load_builds_and_assigns(separable):
    arrays = reference_arrays(separable, bias=True)
    layer = load_reference_weights(from_reference_config({**BASE, "separated": separable, "use_bias": True}), arrays)
    assert layer.built and layer.in_channels == 3
    np.testing.assert_allclose(to_numpy(layer.theta), arrays["thetas"], rtol=1e-6)
    np.testing.assert_allclose(to_numpy(layer.bias), arrays["bias"], rtol=1e-6)
    if separable:
        np.testing.assert_allclose(to_numpy(layer.coefficients_out), arrays["clWeights2"][:, 0, 0], rtol=1e-6)
    else:
        np.testing.assert_allclose(to_numpy(layer.coefficients), arrays["clWeights"], rtol=1e-6)


def test_load_rejects_wrong_names_and_shapes():
    layer = from_reference_config(BASE)
    with pytest.raises(ValueError, match=r"Received: weights with keys \['centroids', 'clWeights1'"):
        load_reference_weights(layer, reference_arrays(separable=True))
    arrays = reference_arrays(separable=False)
    arrays["thetas"] = arrays["thetas"][:, :3]
    with pytest.raises(ValueError, match=r"Received: thetas of shape \(2, 3\)"):
        load_reference_weights(layer, arrays)
