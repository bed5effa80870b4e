"""`normalize_basis=True`: every basis kernel rescaled to the energy k₁⋯k_r / N, on every layer."""

import keras
import numpy as np
import pytest
from keras import ops

from helpers import (
    assert_gradients_match_numpy_finite_differences,
    gradients,
    images,
    numpy_basis_2d,
    numpy_layer,
    to_numpy,
    twin_layers,
)
from keras_gaussconv import (
    GaussianDerivativeConv2D,
)
from keras_gaussconv.export import fold
from layer_kinds import KINDS as LAYERS  # (layer factory, input shape): every public structured layer, 1-D to 3-D

pytestmark = pytest.mark.core



def numpy_normalized(phi, rank):
    """φ_n · √(k₁⋯k_r / (N Σ φ_n²)) in float64."""
    phi = phi.astype("float64")
    size, n = np.prod(phi.shape[1 : rank + 1]), phi.shape[-1]
    energy = np.sum(phi**2, axis=tuple(range(1, rank + 1)), keepdims=True)
    return phi * np.sqrt(size / (n * energy))


def twins(kind, **kwargs):
    """The layer with and without `normalize_basis`, built, with the same weights, and an input."""
    return twin_layers(*LAYERS[kind], "normalize_basis", **kwargs)


@pytest.mark.parametrize("kind", LAYERS)
def test_each_kernel_has_the_energy_of_its_share_of_the_pixels(kind):
    plain, normalized, _ = twins(kind)
    expected = numpy_normalized(to_numpy(plain.basis()), plain.rank)
    phi = to_numpy(normalized.basis())
    # float32 rounding, relative to the largest tap: a Gabor's cosine of a rotated argument
    # of ~10 rad carries ~1e-6 of it, however the operations are fused.
    np.testing.assert_allclose(phi, expected, rtol=2e-5, atol=1e-6 * np.abs(expected).max())
    energy = np.sum(phi.astype("float64") ** 2, axis=tuple(range(1, plain.rank + 1)))
    np.testing.assert_allclose(energy, np.prod(plain.kernel_size) / plain.num_kernels, rtol=1e-5)


@pytest.mark.parametrize("kind", ["gaussian2d", "gabor2d", "displaced", "gaussian1d"])
@pytest.mark.parametrize("separable", [False, True])
def test_output_is_the_correlation_with_the_normalized_kernels(kind, separable):
    plain, normalized, x = twins(kind, separable=separable, padding="same", bias_initializer="random_normal")
    expected = numpy_layer(normalized, x.astype("float64"), phi=numpy_normalized(to_numpy(plain.basis()), plain.rank))
    np.testing.assert_allclose(to_numpy(normalized(x)), expected, rtol=2e-6, atol=2e-5)  # float32 rounding of outputs ~40


def test_every_geometric_gradient_matches_finite_differences(float64):
    # float64 layer; loss Σ φ̃ · w through the normalisation, against central differences of NumPy's.
    layer = GaussianDerivativeConv2D(2, 7, order=2, num_bases=2, normalize_basis=True, dtype="float64")
    layer.build((None, 9, 9, 1))
    weights = np.random.default_rng(3).normal(size=(2, 7, 7, layer.num_kernels))

    def loss():
        return ops.sum(ops.multiply(layer.basis(), weights))

    def reference_loss(values):
        return float(np.sum(numpy_normalized(numpy_basis_2d((7, 7), *values, 2), 2) * weights))

    assert_gradients_match_numpy_finite_differences(loss, reference_loss, [getattr(layer, g.name) for g in layer.geometry])


@pytest.mark.parametrize("separable", [False, True])
def test_default_initialisation_has_a_stock_convolutions_scale(separable):
    # E = k²/N exactly: ω ~ N(0, 2/(F_in·k²)) (He for a k×k Conv2D), λ ~ N(0, 2/k²).
    # ≥ 1536 draws: the sample std is within 1.8 % (one standard error) of
    # the true one, so 8 % is a 4-sigma bound; the seed makes it one fixed draw.
    keras.utils.set_random_seed(0)
    layer = GaussianDerivativeConv2D(256, 5, order=2, num_bases=2, separable=separable, normalize_basis=True)
    layer.build((None, 9, 9, 16))
    weight, expected = (layer.coefficients_out, np.sqrt(2 / 25)) if separable else (layer.coefficients, np.sqrt(2 / (16 * 25)))
    assert np.std(to_numpy(weight)) == pytest.approx(expected, rel=0.08)


def test_a_kernel_shifted_off_its_support_stays_finite():
    layer = GaussianDerivativeConv2D(2, 3, order=1, normalize_basis=True, min_sigma=0.2)
    layer.build((None, 6, 6, 1))
    layer.sigma.assign(np.full(layer.sigma.shape, 0.2))
    layer.offset.assign(np.full(layer.offset.shape, 40.0))
    x = images((1, 6, 6, 1))
    assert np.all(np.isfinite(to_numpy(layer(x))))
    grads = gradients(lambda: ops.sum(layer(x)), layer.trainable_weights)
    assert all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("kind", LAYERS)
def test_fold_config_and_saving_keep_it(kind, tmp_path):
    _, layer, x = twins(kind)
    expected = to_numpy(layer(x))
    config = layer.get_config()
    assert config["normalize_basis"] is True
    assert type(layer).from_config(config).normalize_basis is True
    model = keras.Sequential([keras.Input(x.shape[1:]), layer])
    folded = fold(model)
    # float32 round-off at the outputs' scale (up to ~75 here: a fixed 2e-5 was 3 ulp; JAX measured 3.1e-5)
    np.testing.assert_allclose(to_numpy(folded(x)), expected, atol=1e-6 * np.abs(expected).max())
    if kind not in ("gaussian2d", "gabor1d"):  # saving is generic (the config): two kinds cover it
        return
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].normalize_basis is True
    np.testing.assert_allclose(to_numpy(loaded(x)), expected, atol=1e-6)


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_bad_values_are_refused(value):
    with pytest.raises(ValueError, match=f"normalize_basis.*Received: normalize_basis={value!r}"):
        GaussianDerivativeConv2D(4, 5, normalize_basis=value)
