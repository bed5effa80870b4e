"""The four discretisations of the Gaussian derivatives against SciPy, pyscsp and finite differences."""

import keras
import numpy as np
import pytest
from keras import ops
from pyscsp import discscsp
from scipy.signal import convolve

from helpers import (
    FLOAT64_BASIS_ROUNDING,
    assert_gradients_match_numpy_finite_differences,
    centred,
    images,
    numpy_basis_2d,
    numpy_gaussian_derivative,
    numpy_kernels,
    to_numpy,
)
from keras_gaussconv import (
    GaussianDerivativeConv1D,
    GaussianDerivativeConv2D,
    GaussianDerivativeConv3D,
    GaussianDerivativeDepthwiseConv2D,
)
from keras_gaussconv.bases import (
    DISCRETIZATIONS,
    derivative_orders,
    gaussian_derivative_basis,
    gaussian_derivative_basis_1d,
    gaussian_derivative_basis_3d,
    sampling_grid,
)
from keras_gaussconv.export import fold
from keras_gaussconv.native import use_native

pytestmark = pytest.mark.core

SIGMAS = [0.2, 0.35, 0.5, 0.8, 1.3, 2.5, 4.0]
ORDER = 4


def close(actual, expected, relative=2e-5):
    """Agreement to `relative` of the kernel's largest magnitude."""
    np.testing.assert_allclose(actual, expected, rtol=0, atol=relative * np.abs(expected).max())


@pytest.mark.parametrize("discretization", DISCRETIZATIONS)
def test_1d_kernels_equal_the_scipy_formulas(discretization):
    size = 15
    x = centred(size)
    for s in SIGMAS:
        sigma = np.full((1, ORDER + 1), s, "float32")
        offset = None if discretization == "discrete" else np.zeros_like(sigma)
        phi = to_numpy(gaussian_derivative_basis_1d(sampling_grid((size,)), sigma, offset, ORDER, discretization))
        assert phi.shape == (1, size, ORDER + 1)
        for p, expected in enumerate(numpy_kernels(x, s, ORDER, discretization)):
            close(phi[0, :, p], expected)


@pytest.mark.parametrize("discretization", ["sampled", "normalized", "integrated"])
def test_shifted_1d_kernels_equal_the_scipy_formulas(discretization):
    size, shift = 11, 0.37
    x = centred(size) - shift
    for s in (0.3, 0.9, 2.0):
        sigma = np.full((1, ORDER + 1), s, "float32")
        phi = to_numpy(gaussian_derivative_basis_1d(sampling_grid((size,)), sigma, np.full_like(sigma, shift), ORDER, discretization))
        expected = numpy_kernels(x, s, ORDER, discretization)
        if discretization == "normalized":  # the normaliser is the shifted order-0 kernel's sum
            total = numpy_gaussian_derivative(x, s, 0).sum()
            expected = [numpy_gaussian_derivative(x, s, p) / total for p in range(ORDER + 1)]
        for p in range(ORDER + 1):
            close(phi[0, :, p], expected[p])


@pytest.mark.parametrize("sigma", [0.3, 0.7, 1.5, 3.0])
def test_order_0_equals_pyscsp_filters(sigma):
    # pyscsp builds its filters over a support long enough for a 1e-8 truncation error:
    # compare their central taps with kernels of that length.
    filters = {
        "discrete": discscsp.make1Ddiscgaussfilter(sigma),
        "sampled": discscsp.make1Dsamplgaussfilter(sigma),
        "normalized": discscsp.make1Dnormsamplgaussfilter(sigma),
        "integrated": discscsp.make1Dintgaussfilter(sigma),
    }
    for discretization, reference in filters.items():
        size = len(reference)
        s = np.full((1, 1), sigma, "float32")
        phi = to_numpy(gaussian_derivative_basis_1d(
            sampling_grid((size,)), s, None if discretization == "discrete" else np.zeros_like(s), 0, discretization,
        ))[0, :, 0]
        close(phi, reference)


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.2])
def test_discrete_derivatives_equal_pyscsp_difference_masks_on_its_discrete_gaussian(sigma):
    smoothed = discscsp.make1Ddiscgaussfilter(sigma, epsilon=1e-12)
    size = len(smoothed) - 4  # taps where the order-3 and 4 stencils see only the filter
    masks = {1: discscsp.dxmask()[0], 2: discscsp.dxxmask()[0], 3: discscsp.dxxxmask()[0], 4: discscsp.dxxxxmask()[0]}
    s = np.full((1, 5), sigma, "float32")
    phi = to_numpy(gaussian_derivative_basis_1d(sampling_grid((size,)), s, None, 4, "discrete"))[0]
    for p, mask in masks.items():
        # pyscsp's masks are correlation masks along x (taps at −h..h), as its applyNjetfcn uses them
        response = np.correlate(smoothed, mask, mode="same")
        half = (len(response) - size) // 2
        close(phi[:, p], response[half : half + size])


def test_discrete_gaussian_keeps_the_semigroup_and_variance_at_small_scales(float64):
    # T(·; t₁) * T(·; t₂) = T(·; t₁ + t₂) and Σ n² T(n; t) = t, where sampling breaks both.
    size = 41
    n = centred(size)

    def kernel(sigma, discretization):
        s = np.full((1, 1), sigma, "float64")
        return to_numpy(gaussian_derivative_basis_1d(
            sampling_grid((size,), "float64"), s, None if discretization == "discrete" else np.zeros_like(s), 0, discretization,
        ))[0, :, 0]

    a, b = kernel(0.4, "discrete"), kernel(0.5, "discrete")
    np.testing.assert_allclose(convolve(a, b, mode="same"), kernel(np.sqrt(0.41), "discrete"), atol=1e-7)
    np.testing.assert_allclose(np.sum(n**2 * kernel(0.4, "discrete")), 0.16, rtol=1e-6)
    sampled = kernel(0.4, "normalized")
    assert abs(np.sum(n**2 * sampled) - 0.16) > 0.01  # sampled at σ = 0.4: the variance is off


@pytest.mark.parametrize("discretization", DISCRETIZATIONS)
def test_2d_and_3d_kernels_are_the_products_of_the_1d_ones(discretization):
    # θ = 0 and no rotation: each basis kernel is the product of its axes' 1-D kernels, x along columns.
    rng = np.random.default_rng(0)
    for kernel_size in [(5, 7), (3, 5, 7)]:
        rank = len(kernel_size)
        n = len(derivative_orders(2, rank))
        sigma = rng.uniform(0.25, 2.0, (2, n, rank)).astype("float32")
        zeros = np.zeros_like(sigma)
        grid = sampling_grid(kernel_size)
        if discretization == "discrete":
            geometry = (None, None)
        else:
            geometry = (zeros, np.zeros((2, n), "float32") if rank == 2 else zeros)
        basis = gaussian_derivative_basis if rank == 2 else gaussian_derivative_basis_3d
        phi = to_numpy(basis(grid, sigma, *geometry, 2, discretization))
        for b in range(2):
            for k, orders in enumerate(derivative_orders(2, rank)):
                expected = np.ones(())
                for a, p in enumerate(orders):  # axis a = x, y, z along kernel dimension rank − 1 − a
                    dim = rank - 1 - a
                    line = numpy_kernels(centred(kernel_size[dim]), float(sigma[b, k, a]), 2, discretization)[p]
                    shape = [1] * rank
                    shape[dim] = kernel_size[dim]
                    expected = expected * line.reshape(shape)  # "normalized": the 1-D sums multiply to the 2-D one
                close(phi[b, ..., k], expected)


def test_rotated_integrated_kernels_integrate_along_the_kernels_own_axes():
    size, theta, sigma = 7, 0.6, (0.8, 1.7)
    x, y = np.meshgrid(centred(size), centred(size))
    y1 = x * np.cos(theta) + y * np.sin(theta)
    y2 = -x * np.sin(theta) + y * np.cos(theta)
    phi = to_numpy(gaussian_derivative_basis(
        sampling_grid((size, size)), np.tile(np.array(sigma, "float32"), (1, 6, 1)), np.zeros((1, 6, 2), "float32"),
        np.full((1, 6), theta, "float32"), 2, "integrated",
    ))
    for k, (p, q) in enumerate(derivative_orders(2)):
        expected = numpy_kernels(y1.ravel(), sigma[0], 2, "integrated")[p] * numpy_kernels(y2.ravel(), sigma[1], 2, "integrated")[q]
        close(phi[0, ..., k], expected.reshape(size, size))


@pytest.mark.parametrize(
    "discretization,native",  # the sampled basis by both implementations where a backend has a native one
    [(d, False) for d in DISCRETIZATIONS] + [pytest.param("sampled", True, marks=pytest.mark.native, id="sampled-native")],
)
def test_gradients_match_finite_differences_of_the_numpy_formulas(discretization, native, float64):
    discrete = discretization == "discrete"
    frozen = dict(trainable_offset=False, trainable_theta=False) if discrete else {}
    with use_native(native):
        layer = GaussianDerivativeConv2D(2, 7, order=3, num_bases=2, discretization=discretization, dtype="float64", **frozen)
    assert (layer._native_basis is not None) == native
    layer.build((None, 9, 9, 1))
    layer.sigma.assign(np.random.default_rng(5).uniform(0.25, 2.5, layer.sigma.shape))  # small σ included
    weights = np.random.default_rng(3).normal(size=(2, 7, 7, layer.num_kernels))
    geometry = [getattr(layer, g.name) for g in layer.geometry]
    assert len(geometry) == (1 if discrete else 3)

    def loss():
        return ops.sum(ops.multiply(layer.basis(), weights))

    def reference_loss(values):
        sigma, offset, theta = values if not discrete else (values[0], None, None)
        return float(np.sum(numpy_basis_2d((7, 7), sigma, offset, theta, 3, discretization) * weights))

    expected = numpy_basis_2d((7, 7), *[to_numpy(v) for v in geometry], *([None, None] if discrete else []), 3, discretization)
    np.testing.assert_allclose(  # the forward pass first: the same function is differentiated
        to_numpy(layer.basis()), expected, rtol=0, atol=FLOAT64_BASIS_ROUNDING * np.abs(expected).max()
    )
    assert_gradients_match_numpy_finite_differences(loss, reference_loss, geometry)


def test_discrete_stays_exact_up_to_sigma_of_the_kernel_width():
    # the spectral sums' aliases lie at least 7 kernel widths away (`spectrum_length`)
    size = 7
    for sigma in (5.0, 7.0):
        s = np.full((1, 3), sigma, "float32")
        phi = to_numpy(gaussian_derivative_basis_1d(sampling_grid((size,)), s, None, 2, "discrete"))[0]
        for p, expected in enumerate(numpy_kernels(centred(size), sigma, 2, "discrete")):
            close(phi[:, p], expected)


# --- the layers ---------------------------------------------------------------

FROZEN = {1: dict(trainable_offset=False), 2: dict(trainable_offset=False, trainable_theta=False),
          3: dict(trainable_offset=False, trainable_rotation=False)}
LAYERS = {  # its own table (not layer_kinds.KINDS): each Gaussian class with its rank
    "1d": (lambda **kw: GaussianDerivativeConv1D(4, 9, order=3, num_bases=2, **kw), (2, 20, 3), 1),
    "2d": (lambda **kw: GaussianDerivativeConv2D(4, 5, order=2, num_bases=2, **kw), (2, 11, 10, 3), 2),
    "3d": (lambda **kw: GaussianDerivativeConv3D(4, 3, order=2, num_bases=2, **kw), (1, 6, 7, 5, 2), 3),
    "depthwise": (lambda **kw: GaussianDerivativeDepthwiseConv2D(7, depth_multiplier=2, num_bases=2, **kw), (2, 12, 12, 4), 2),
}


def make_layer(kind, discretization, **kwargs):
    make, shape, rank = LAYERS[kind]
    frozen = FROZEN[rank] if discretization == "discrete" else {}
    return make(discretization=discretization, **frozen, **kwargs), shape


@pytest.mark.parametrize("kind", LAYERS)
def test_layers_fold_save_and_keep_their_discretization(kind, tmp_path):
    # One model with a layer of each discretisation side by side: one fold, one save, one load.
    layers, shape = zip(*(make_layer(kind, d, bias_initializer="random_normal", name=d) for d in DISCRETIZATIONS))
    x = images(shape[0])
    inputs = keras.Input(shape[0][1:])
    model = keras.Model(inputs, [layer(inputs) for layer in layers])
    expected = [to_numpy(y) for y in model(x)]
    assert {g.name for g in layers[-1].geometry} == {"sigma"}  # "discrete": σ only
    for got, want in zip(fold(model)(x), expected):
        np.testing.assert_allclose(to_numpy(got), want, atol=2e-5)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    for layer in layers:
        again = loaded.get_layer(layer.name)
        assert again.discretization == layer.discretization == layer.name
        np.testing.assert_allclose(to_numpy(again.basis()), to_numpy(layer.basis()), atol=1e-7)
    for got, want in zip(loaded(x), expected):
        np.testing.assert_allclose(to_numpy(got), want, atol=1e-6)


def test_default_is_the_sampled_basis():
    a = GaussianDerivativeConv2D(4, 5, order=2)
    b = GaussianDerivativeConv2D(4, 5, order=2, discretization="sampled")
    a.build((None, 8, 8, 1))
    b.build((None, 8, 8, 1))
    b.set_weights(a.get_weights())
    assert a.discretization == "sampled"
    np.testing.assert_array_equal(to_numpy(a.basis()), to_numpy(b.basis()))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(discretization="gaussian"), r"`discretization` must be one of .*Received: discretization='gaussian'"),
        (dict(discretization="discrete", trainable_offset=True), r"discretization='discrete'.*trainable_offset=True"),
        (dict(discretization="discrete", trainable_theta=True), r"discretization='discrete'.*trainable_theta=True"),
        (dict(discretization="discrete", offset_initializer="random_normal"), r"offset_initializer='random_normal'"),
        (dict(discretization="discrete", kernel_size=4), r"kernel_size=\(4, 4\), discretization='discrete'"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    kwargs = {"kernel_size": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        GaussianDerivativeConv2D(4, **kwargs)


def test_the_discrete_basis_function_refuses_a_shift_or_a_rotation():
    sigma = np.ones((1, 6, 2), "float32")
    with pytest.raises(ValueError, match="offset=None and theta=None"):
        gaussian_derivative_basis(sampling_grid((5, 5)), sigma, np.zeros((1, 6, 2)), np.zeros((1, 6)), 2, "discrete")
    with pytest.raises(ValueError, match=r"kernel_size=\(4, 5\)"):
        gaussian_derivative_basis(sampling_grid((4, 5)), sigma, None, None, 2, "discrete")
