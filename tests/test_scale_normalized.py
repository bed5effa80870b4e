"""`scale_normalized=True`: Lindeberg's scale-normalised Gaussian derivatives σ^p ∂^p (γ = 1).

Against NumPy (the sampled basis times σ₁^p σ₂^q), its gradients against finite differences,
and the property it exists for: an image sampled from one continuous function at spacing 1 and
at spacing ½ gives the same responses at corresponding points when σ and μ are doubled.
"""

import keras
import numpy as np
import pytest
from keras import ops

from helpers import assert_gradients_match_numpy_finite_differences, blobs_sampled, numpy_basis_2d, to_numpy, twin_layers
from keras_gaussconv import GaussianDerivativeConv2D
from keras_gaussconv.bases import derivative_orders, scale_normalize
from layer_kinds import GAUSSIAN_KINDS, KINDS

pytestmark = pytest.mark.core

LAYERS = {kind: KINDS[kind] for kind in GAUSSIAN_KINDS}  # kind → (layer with the given options, input shape)


def numpy_factors(sigma, order):
    """Π_a σ[b, n, a]^{p_a} in float64, shaped to multiply a basis `(B, 1, …, 1, N)`; sigma `(B, N, r)`."""
    rank = sigma.shape[-1]
    factor = np.prod(sigma.astype("float64") ** np.array(derivative_orders(order, rank)), axis=-1)  # (B, N)
    return factor.reshape(factor.shape[0], *[1] * rank, factor.shape[1])


def twins(kind, **kwargs):
    """A plain layer and a scale-normalised one with the same weights, built."""
    return twin_layers(*LAYERS[kind], "scale_normalized", **kwargs)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_basis_is_the_plain_basis_times_the_sigma_powers(kind):
    plain, normalized, _ = twins(kind)
    sigma = to_numpy(plain.sigma).reshape(*plain.sigma.shape[:2], plain.rank)  # (B, N, r)
    expected = to_numpy(plain.basis()) * numpy_factors(sigma, plain.order)
    np.testing.assert_allclose(to_numpy(normalized.basis()), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_config_saving_and_fold_keep_it(kind, tmp_path):
    plain, normalized, x = twins(kind)
    assert normalized.get_config()["scale_normalized"] is True and plain.get_config()["scale_normalized"] is False
    model = keras.Sequential([keras.Input(x.shape[1:]), normalized])
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    expected = to_numpy(model(x))
    np.testing.assert_allclose(to_numpy(restored(x)), expected, atol=1e-6)
    folded = x
    for part in normalized.fold():
        folded = part(folded)
    np.testing.assert_allclose(to_numpy(folded), expected, atol=1e-5)
    assert not np.allclose(to_numpy(plain(x)), expected, atol=1e-3)  # the option changes the layer


def test_bad_value_names_the_argument():
    with pytest.raises(ValueError, match="`scale_normalized` must be True or False. Received: scale_normalized=1"):
        GaussianDerivativeConv2D(4, 5, scale_normalized=1)


def test_sigma_and_offset_gradients_match_finite_differences(float64):
    layer = GaussianDerivativeConv2D(2, 7, order=2, num_bases=2, scale_normalized=True, dtype="float64")
    layer.build((None, 9, 9, 1))
    weights = np.random.default_rng(5).normal(size=(2, 7, 7, layer.num_kernels))

    def loss():
        return ops.sum(ops.multiply(layer.basis(), weights))

    def reference_loss(values):
        sigma, offset, theta = values
        return float(np.sum(numpy_basis_2d((7, 7), sigma, offset, theta, 2) * numpy_factors(sigma, 2) * weights))

    assert_gradients_match_numpy_finite_differences(loss, reference_loss, [layer.sigma, layer.offset, layer.theta])


def test_scale_normalize_takes_1d_scales_and_numpy():
    phi = np.ones((2, 5, 3), "float32")  # 1-D, K = 2: orders 0, 1, 2
    sigma = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]], "float32")
    np.testing.assert_allclose(to_numpy(scale_normalize(phi, sigma, 2))[:, 0], [[1, 2, 9], [1, 0.5, 0.25]])


@pytest.mark.parametrize("scale_normalized", [True, False])
def test_magnified_image_at_doubled_scale_gives_the_same_responses(scale_normalized):
    # Image A: f at spacing 1 (40²); image B: f at spacing ½ (80²), so B[2i, 2j] = A[i, j].
    # Layer B: σ and μ doubled, kernel 2k − 1, the same θ and coefficients. σ^p ∂^p makes
    # channel 2σ on B equal channel σ on A at corresponding points, to the kernels'
    # discretisation error: truncation at ±8 taps, >= 7.5 = 5σ from every shifted centre (|μ| <= ½,
    # σ <= 1.5, whatever θ: the square holds the disc), leaves integrands of e^{-12.5} ~ 4e-6
    # of their peak at the edges (at ±3σ the two Riemann sums differed by 3e-3), and σ >= 1.2
    # against blobs >= 1.8 px wide aliases ~ exp(−2π²·1²) ~ 3e-9: float32 rounding dominates.
    # Without the normalisation order p differs by 2^p: the check has teeth.
    small = GaussianDerivativeConv2D(3, 17, order=2, num_bases=1, padding="same", scale_normalized=scale_normalized)
    large = GaussianDerivativeConv2D(3, 33, order=2, num_bases=1, padding="same", scale_normalized=scale_normalized)
    small.build((None, 40, 40, 1))
    large.build((None, 80, 80, 1))
    rng = np.random.default_rng(0)
    sigma = rng.uniform(1.2, 1.5, small.sigma.shape).astype("float32")
    small.sigma.assign(sigma)
    small.offset.assign(rng.uniform(-0.5, 0.5, small.offset.shape).astype("float32"))
    large.set_weights(small.get_weights())
    large.sigma.assign(2 * sigma)
    large.offset.assign(2 * to_numpy(small.offset))
    a = to_numpy(small(blobs_sampled(40, 1.0)))[0, 8:32, 8:32]  # interior: 'same' padding's zeros stay out of reach
    b = to_numpy(large(blobs_sampled(80, 0.5)))[0, 16:64:2, 16:64:2]
    difference = np.abs(a - b).max() / np.abs(a).max()
    if scale_normalized:
        assert difference < 2e-5
    else:  # orders 1 and 2 halve and quarter: how much depends on the coefficients' mix (11 % to 50 % seen)
        assert difference > 0.01
