"""The pure basis functions against an independent NumPy evaluation and known properties."""

import numpy as np
import keras
import pytest
from keras import ops
from numpy.polynomial.hermite import hermval

from helpers import gradients, numpy_gaussian_derivative, to_numpy

from keras_gaussconv.bases import (
    derivative_orders,
    gaussian_derivative,
    gaussian_derivative_basis,
    hermite_polynomials,
    num_gaussian_derivatives,
    sampling_grid,
)

pytestmark = pytest.mark.core  # CI runs these under TensorFlow and JAX


def np_basis(sigma, offset, theta, order, kernel_size):
    """Loop-by-loop float64 evaluation of docs/math.md."""
    kh, kw = kernel_size
    rows, cols = np.mgrid[0:kh, 0:kw].astype("float64")
    x, y = cols - (kw - 1) / 2, rows - (kh - 1) / 2
    orders = [(p, i - p) for i in range(order + 1) for p in range(i + 1)]
    out = np.zeros((sigma.shape[0], kh, kw, len(orders)))
    for b in range(sigma.shape[0]):
        for n, (p, q) in enumerate(orders):
            t = theta[b, n]
            u = x * np.cos(t) + y * np.sin(t) - offset[b, n, 0]
            v = -x * np.sin(t) + y * np.cos(t) - offset[b, n, 1]
            out[b, :, :, n] = numpy_gaussian_derivative(u, sigma[b, n, 0], p) * numpy_gaussian_derivative(
                v, sigma[b, n, 1], q
            )
    return out


def random_params(num_bases, order, seed, sigma_range=(0.5, 2.0)):
    rng = np.random.default_rng(seed)
    n = num_gaussian_derivatives(order)
    sigma = rng.uniform(*sigma_range, (num_bases, n, 2)).astype("float32")
    offset = rng.uniform(-1, 1, (num_bases, n, 2)).astype("float32")
    theta = rng.uniform(-np.pi, np.pi, (num_bases, n)).astype("float32")
    return sigma, offset, theta


def test_orders_and_count():
    assert derivative_orders(2) == [(0, 0), (0, 1), (1, 0), (0, 2), (1, 1), (2, 0)]
    assert [num_gaussian_derivatives(k) for k in range(5)] == [1, 3, 6, 10, 15]


@pytest.mark.parametrize("kernel_size", [(7, 7), (6, 6), (5, 8), (1, 1), (2, 3)])
def test_sampling_grid(kernel_size):
    x, y = (to_numpy(t) for t in sampling_grid(kernel_size))
    kh, kw = kernel_size
    assert x.shape == y.shape == (kh, kw)
    np.testing.assert_array_equal(x[0], np.arange(kw) - (kw - 1) / 2)
    np.testing.assert_array_equal(y[:, 0], np.arange(kh) - (kh - 1) / 2)


def test_hermite_polynomials_match_numpy():
    z = np.linspace(-3, 3, 41).astype("float32")
    polys = hermite_polynomials(ops.convert_to_tensor(z), 6)
    for p, h in enumerate(polys):
        coef = np.zeros(p + 1)
        coef[p] = 1
        np.testing.assert_allclose(to_numpy(h), hermval(z.astype("float64"), coef), rtol=2e-5, atol=1e-3)


def test_hermite_gradient_finite_at_zero():
    z = keras.Variable(np.zeros(3, "float32"))
    (grad,) = gradients(lambda: sum(ops.sum(h) for h in hermite_polynomials(z.value, 4)), [z])
    # d/dz Σ H_p at 0 = H_1' + H_3'(0) = 2 - 12.
    np.testing.assert_allclose(grad, -10.0)


@pytest.mark.parametrize("order", range(7))
@pytest.mark.parametrize("sigma", [0.4, 1.0, 2.5])
def test_gaussian_derivative_1d(order, sigma):
    x = np.linspace(-6, 6, 49).astype("float32")
    ours = to_numpy(gaussian_derivative(ops.convert_to_tensor(x), sigma, order))
    ref = numpy_gaussian_derivative(x.astype("float64"), sigma, order)
    np.testing.assert_allclose(ours, ref, atol=2e-5 * np.abs(ref).max() + 1e-7, rtol=1e-4)


@pytest.mark.parametrize("order", range(7))
@pytest.mark.parametrize("kernel_size", [(9, 9), (8, 8), (7, 10)])
@pytest.mark.parametrize("seed", [0, 1])
def test_basis_matches_numpy(order, kernel_size, seed):
    sigma, offset, theta = random_params(2, order, seed)
    ours = to_numpy(
        gaussian_derivative_basis(sampling_grid(kernel_size), sigma, offset, theta, order)
    )
    ref = np_basis(sigma, offset, theta, order, kernel_size)
    assert ours.shape == ref.shape == (2, *kernel_size, num_gaussian_derivatives(order))
    scale = np.abs(ref).max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(ours, ref, atol=1e-5 * scale.max() + 1e-7, rtol=1e-4)


def test_order_zero_sums_to_one():
    sigma = np.full((1, 1, 2), 1.5, "float32")
    zeros = np.zeros((1, 1, 2), "float32")
    basis = gaussian_derivative_basis(sampling_grid((15, 15)), sigma, zeros, zeros[..., 0], 0)
    assert float(ops.sum(basis)) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("kernel_size", [(11, 11), (10, 10), (9, 12)])
def test_odd_orders_are_antisymmetric(kernel_size):
    order = 4
    n = num_gaussian_derivatives(order)
    sigma = np.random.default_rng(3).uniform(0.6, 2.0, (1, n, 2)).astype("float32")
    zeros = np.zeros((1, n), "float32")
    basis = to_numpy(
        gaussian_derivative_basis(
            sampling_grid(kernel_size), sigma, np.zeros((1, n, 2), "float32"), zeros, order
        )
    )[0]
    flipped = basis[::-1, ::-1]  # point reflection (x, y) → (-x, -y)
    for n_, (p, q) in enumerate(derivative_orders(order)):
        sign = -1 if (p + q) % 2 else 1
        np.testing.assert_allclose(flipped[..., n_], sign * basis[..., n_], atol=1e-7)
        if p % 2:  # odd in x alone: mirror across the vertical axis flips the sign
            np.testing.assert_allclose(basis[:, ::-1, n_], -basis[:, :, n_], atol=1e-7)


def test_quarter_turn_rotates_the_kernel():
    order = 3
    n = num_gaussian_derivatives(order)
    rng = np.random.default_rng(5)
    sigma = rng.uniform(0.6, 2.0, (1, n, 2)).astype("float32")
    offset = rng.uniform(-1, 1, (1, n, 2)).astype("float32")
    grid = sampling_grid((9, 9))
    upright = to_numpy(gaussian_derivative_basis(grid, sigma, offset, np.zeros((1, n), "float32"), order))
    turned = to_numpy(
        gaussian_derivative_basis(grid, sigma, offset, np.full((1, n), np.pi / 2, "float32"), order)
    )
    # θ = π/2: u = y, v = -x, so φ_turned(x, y) = φ_upright(y, -x), i.e.
    # turned[r, c] = upright[kw - 1 - c, r]: a quarter turn (clockwise on screen,
    # where rows grow downwards) of the [row, col] array.
    np.testing.assert_allclose(turned[0], np.rot90(upright[0], k=-1, axes=(0, 1)), atol=1e-6)


def test_no_python_loop_over_bases_needed_for_many_bases():
    sigma, offset, theta = random_params(16, 2, 9)
    basis = gaussian_derivative_basis(sampling_grid((5, 5)), sigma, offset, theta, 2)
    ref = np_basis(sigma, offset, theta, 2, (5, 5))
    np.testing.assert_allclose(to_numpy(basis), ref, atol=1e-5)


def test_the_basis_takes_keras_variables_as_their_values():
    # The public bases on every backend, gradients recorded (PyTorch's path through its custom
    # gradient): variables give what their values give.
    n = num_gaussian_derivatives(2)
    rng = np.random.default_rng(1)
    values = [rng.uniform(0.8, 1.5, (2, n, 2)), rng.uniform(-0.5, 0.5, (2, n, 2)), rng.uniform(-1, 1, (2, n))]
    variables = [keras.Variable(v.astype("float32")) for v in values]
    grid = sampling_grid((5, 5))
    expected = to_numpy(gaussian_derivative_basis(grid, *[ops.convert_to_tensor(v, "float32") for v in values], 2))
    np.testing.assert_array_equal(to_numpy(gaussian_derivative_basis(grid, *variables, 2)), expected)


def test_basis_gradients_finite_at_zero_offset_and_angle():
    order = 3
    n = num_gaussian_derivatives(order)
    sigma = keras.Variable(np.ones((2, n, 2), "float32"))
    offset = keras.Variable(np.zeros((2, n, 2), "float32"))
    theta = keras.Variable(np.zeros((2, n), "float32"))
    weights = np.random.default_rng(0).normal(size=(2, 7, 7, n)).astype("float32")

    def loss():
        basis = gaussian_derivative_basis(sampling_grid((7, 7)), sigma.value, offset.value, theta.value, order)
        return ops.sum(ops.multiply(basis, weights))

    for g in gradients(loss, [sigma, offset, theta]):
        assert np.all(np.isfinite(g))
        assert np.abs(g).max() > 0
