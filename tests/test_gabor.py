"""GaborConv2D and the Gabor basis against scikit-image and finite differences."""

import math

import keras
import numpy as np
import pytest
from keras import ops
from skimage.filters import gabor_kernel

from helpers import gradients, to_numpy

from keras_gaussconv import EvenlySpaced, GaborConv2D
from keras_gaussconv.bases import gabor_basis, sampling_grid

pytestmark = pytest.mark.core  # CI runs these under TensorFlow and JAX

PARAMS = [  # frequency, theta, sigma_x, sigma_y, phase
    (0.25, math.pi / 4, 2.0, 4.0, 0.0),
    (0.1, -0.7, 3.0, 1.5, 1.2),
    (0.4, 2.5, 1.0, 1.0, -2.0),
    (0.05, 0.0, 2.5, 0.8, math.pi / 2),
]


def ours(size, frequency, theta, sx, sy, phase, normalize=True, offset=(0.0, 0.0)):
    one = lambda v: np.array([[v]], "float32")  # noqa: E731  (B = N = 1)
    basis = gabor_basis(
        sampling_grid(size), np.array([[[sx, sy]]], "float32"), np.array([[offset]], "float32"),
        one(theta), one(frequency), one(phase), normalize=normalize,
    )
    return to_numpy(basis)[0, :, :, 0]


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("size", [(11, 11), (7, 13), (5, 5)])
def test_odd_sizes_equal_skimage(params, size):
    frequency, theta, sx, sy, phase = params
    reference = gabor_kernel(frequency, theta=theta, sigma_x=sx, sigma_y=sy, offset=phase, n_stds=8).real
    ch, cw = reference.shape[0] // 2, reference.shape[1] // 2
    kh, kw = size
    assert reference.shape[0] >= kh and reference.shape[1] >= kw
    crop = reference[ch - kh // 2 : ch + kh // 2 + 1, cw - kw // 2 : cw + kw // 2 + 1]
    np.testing.assert_allclose(ours(size, *params), crop, atol=1e-6)


def np_gabor(size, sigma, offset, theta, frequency, phase):
    """The normalised Gabor formula in float64 NumPy: (B, N, ...) parameters → (B, kh, kw, N)."""
    kh, kw = size
    y, x = (np.mgrid[0:kh, 0:kw] - np.array([(kh - 1) / 2, (kw - 1) / 2])[:, None, None])[..., None, None]
    cos, sin = np.cos(theta), np.sin(theta)
    y1 = x * cos + y * sin - offset[..., 0]
    y2 = -x * sin + y * cos - offset[..., 1]
    s1, s2 = sigma[..., 0], sigma[..., 1]
    kernels = np.exp(-0.5 * ((y1 / s1) ** 2 + (y2 / s2) ** 2)) * np.cos(2 * np.pi * frequency * y1 + phase)
    return np.moveaxis(kernels / (2 * np.pi * s1 * s2), 2, 0)


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("size", [(10, 10), (6, 9)])
def test_even_sizes_equal_the_formula_on_the_half_pixel_grid(params, size):
    frequency, theta, sx, sy, phase = params
    one = lambda v: np.array([[v]])  # noqa: E731  (B = N = 1)
    expected = np_gabor(size, np.array([[[sx, sy]]]), np.zeros((1, 1, 2)), one(theta), one(frequency), one(phase))
    np.testing.assert_allclose(ours(size, *params), expected[0, :, :, 0], atol=1e-6)


def test_unnormalised_peak_is_one_and_offset_moves_the_centre():
    kernel = ours((9, 9), 0.0, 0.3, 1.5, 2.0, 0.0, normalize=False)
    assert kernel.max() == pytest.approx(1.0) and kernel[4, 4] == pytest.approx(1.0)
    shifted = ours((9, 9), 0.0, 0.0, 1.0, 1.0, 0.0, normalize=False, offset=(2.0, -1.0))
    assert np.unravel_index(shifted.argmax(), shifted.shape) == (3, 6)  # row = 4 - 1, col = 4 + 2


def test_gradients_match_finite_differences_of_the_numpy_formula(float64):
    rng = np.random.default_rng(1)
    b, n = 2, 3
    values = {
        "sigma": rng.uniform(1, 3, (b, n, 2)),
        "offset": rng.uniform(-1, 1, (b, n, 2)),
        "theta": rng.uniform(-3, 3, (b, n)),
        "frequency": rng.uniform(0.05, 0.4, (b, n)),
        "phase": rng.uniform(-3, 3, (b, n)),
    }
    weights = rng.normal(size=(b, 9, 8, n))
    grid = sampling_grid((9, 8), "float64")

    def loss(v):
        return ops.sum(ops.multiply(gabor_basis(grid, **v, normalize=True), weights))

    def reference_loss(v):
        return float(np.sum(np_gabor((9, 8), **v) * weights))

    variables = {k: keras.Variable(v, dtype="float64") for k, v in values.items()}
    analytic = gradients(lambda: loss({k: v.value for k, v in variables.items()}), list(variables.values()))
    step = 1e-6
    for (name, v), grad in zip(values.items(), analytic):
        numeric = np.zeros_like(v)
        for index in np.ndindex(v.shape):
            up, down = v.copy(), v.copy()
            up[index] += step
            down[index] -= step
            numeric[index] = (reference_loss({**values, name: up}) - reference_loss({**values, name: down})) / (2 * step)
        assert np.all(np.isfinite(grad))
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("normalize", [False, True])
def test_zero_sigma_and_frequency_stay_finite(normalize):
    x = np.random.default_rng(0).normal(size=(2, 12, 12, 3)).astype("float32")
    layer = GaborConv2D(4, 7, num_kernels=3, num_bases=2, normalize=normalize)
    layer.build(x.shape)
    layer.sigma.assign(np.zeros(layer.sigma.shape))
    layer.frequency.assign(np.zeros(layer.frequency.shape))
    assert np.all(np.isfinite(to_numpy(layer(x))))
    for g in gradients(lambda: ops.sum(layer(x) ** 2), layer.trainable_weights):
        assert np.all(np.isfinite(g))


def test_default_orientations_and_frequencies_are_spread():
    layer = GaborConv2D(4, 9, num_kernels=8, num_bases=2)
    layer.build((None, 16, 16, 1))
    theta = to_numpy(layer.theta)
    np.testing.assert_allclose(theta[0], np.arange(8) * np.pi / 8, atol=1e-6)
    assert len(np.unique(np.round(to_numpy(layer.frequency), 4))) > 8
    assert np.all((to_numpy(layer.frequency) >= 0.05) & (to_numpy(layer.frequency) <= 0.35))


def test_weights_names_shapes_and_flags():
    layer = GaborConv2D(6, 5, num_kernels=4, num_bases=3, separable=True, trainable_frequency=False, trainable_phase=False)
    layer.build((None, 9, 9, 2))
    assert {w.name: tuple(w.shape) for w in layer.weights} == {
        "sigma": (3, 4, 2), "offset": (3, 4, 2), "theta": (3, 4), "frequency": (3, 4), "phase": (3, 4),
        "coefficients_in": (3, 2, 4), "coefficients_out": (3, 4, 2), "bias": (6,),
    }
    assert sorted(w.name for w in layer.trainable_weights) == [
        "bias", "coefficients_in", "coefficients_out", "offset", "sigma", "theta",
    ]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(num_kernels=0), "Received: num_kernels=0"),
        (dict(filters=5, num_bases=2), "Received: filters=5, num_bases=2"),
        (dict(min_sigma=0.0), "Received: min_sigma=0.0"),
        (dict(kernel_size=(3, 0)), r"Received: kernel_size=\(3, 0\)"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = dict(filters=4, kernel_size=5, num_bases=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        GaborConv2D(**args)


def test_evenly_spaced_initializer_round_trip():
    init = EvenlySpaced(0.0, math.pi)
    values = to_numpy(init((2, 4)))
    np.testing.assert_allclose(values, np.broadcast_to(np.arange(4) * math.pi / 4, (2, 4)), atol=1e-6)
    clone = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert isinstance(clone, EvenlySpaced) and clone.get_config() == init.get_config()
