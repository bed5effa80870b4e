"""`plot_layer`: every structured layer of every rank draws its basis and filters, without pyplot."""

import matplotlib
import numpy as np
import pytest

from helpers import to_numpy
from keras_gaussconv import (
    DisplacedGaussianConv2D,
    GaborConv1D,
    GaborConv2D,
    GaussianDerivativeConv1D,
    GaussianDerivativeConv2D,
    GaussianDerivativeConv3D,
    GaussianDerivativeDepthwiseConv2D,
)
from keras_gaussconv.plotting import plot_layer

pytestmark = pytest.mark.core

LAYERS = {  # layer, input shape, number of filters the last row shows (its own table: the rows it checks)
    "gaussian1d": (lambda: GaussianDerivativeConv1D(4, 9, order=2, num_bases=2), (None, 20, 2), 4),
    "gabor1d": (lambda: GaborConv1D(6, 15, num_kernels=3), (None, 30, 1), 6),
    "gaussian2d": (lambda: GaussianDerivativeConv2D(10, 7, order=2, num_bases=2), (None, 12, 12, 3), 8),
    "separable": (lambda: GaussianDerivativeConv2D(4, 5, order=1, separable=True), (None, 12, 12, 3), 4),
    "gabor2d": (lambda: GaborConv2D(4, 7, num_kernels=5), (None, 12, 12, 1), 4),
    "displaced": (lambda: DisplacedGaussianConv2D(4, 7, num_units=3), (None, 12, 12, 1), 4),
    "gaussian3d": (lambda: GaussianDerivativeConv3D(3, 5, order=1), (None, 8, 8, 8, 2), 3),
    "depthwise": (lambda: GaussianDerivativeDepthwiseConv2D(7, depth_multiplier=2, num_bases=3), (None, 12, 12, 6), 6),
}


def drawn(ax):
    """What one axis shows: a curve's y values or an image's array."""
    if ax.images:
        return np.asarray(ax.images[0].get_array())
    return np.asarray(ax.lines[0].get_ydata())


@pytest.mark.parametrize("kind", LAYERS)
def test_every_layer_draws_its_basis_and_filters(kind):
    make, shape, count = LAYERS[kind]
    layer = make()
    layer.build(shape)
    figure = plot_layer(layer)  # no path: nothing written (the PNG is checked below)
    basis = to_numpy(layer.basis())  # (B, *k, N)
    kernel = to_numpy(layer.kernel)
    middle = (lambda a: a[a.shape[0] // 2]) if layer.rank == 3 else (lambda a: a)  # 3-D: central depth slice
    b_count, n = basis.shape[0], basis.shape[-1]
    columns = max(n, count)
    axes = figure.axes
    assert len(axes) == (b_count + 1) * columns
    for b in range(b_count):
        for k in range(n):
            np.testing.assert_allclose(drawn(axes[b * columns + k]), middle(basis[b])[..., k], rtol=1e-6)
    filters = kernel[..., :count, 0] if kind == "depthwise" else kernel[..., 0, :count]
    for c in range(count):
        np.testing.assert_allclose(drawn(axes[b_count * columns + c]), middle(filters)[..., c], rtol=1e-6)


def test_drawing_leaves_the_users_matplotlib_backend_alone(tmp_path):
    previous = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        layer = GaussianDerivativeConv2D(4, 5)
        layer.build((None, 9, 9, 1))
        plot_layer(layer, tmp_path / "k.png")
        assert matplotlib.get_backend() == "svg"
        assert (tmp_path / "k.png").read_bytes().startswith(b"\x89PNG")
    finally:
        matplotlib.use(previous)


def test_an_unbuilt_layer_is_refused():
    with pytest.raises(ValueError, match="must be a built keras_gaussconv layer"):
        plot_layer(GaussianDerivativeConv2D(4, 5))
