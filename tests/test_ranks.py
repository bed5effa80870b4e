"""1-D and 3-D bases and layers: independent NumPy/SciPy references, path agreement, gradients, fold, saving."""

import math

import keras
import numpy as np
import pytest
from keras import ops
from scipy.spatial.transform import Rotation

from helpers import (
    FLOAT64_BASIS_ROUNDING,
    assert_gradients_match_numpy_finite_differences,
    centred,
    gradients,
    numpy_gaussian_derivative,
    numpy_layer,
    outputs_and_gradients,
    rng,
    to_numpy,
)
from keras_gaussconv import GaborConv1D, GaussianDerivativeConv1D, GaussianDerivativeConv3D
from keras_gaussconv.bases import (
    derivative_orders,
    gabor_basis_1d,
    gaussian_derivative_basis,
    gaussian_derivative_basis_1d,
    gaussian_derivative_basis_3d,
    num_gaussian_derivatives,
    rotation_matrix,
    sampling_grid,
)
from keras_gaussconv.ops import PATHS, cheapest
from keras_gaussconv.folding import separable_fold_is_cheaper

pytestmark = pytest.mark.core


# --- bases -----------------------------------------------------------------


def test_orders_in_every_rank():
    for rank in (1, 2, 3):
        for order in range(5):
            orders = derivative_orders(order, rank)
            # every tuple of r non-negative orders of total <= K, once, by total then first axes
            expected = sorted(
                (t for t in np.ndindex(*(order + 1,) * rank) if sum(t) <= order), key=lambda t: (sum(t), t)
            )
            assert orders == [tuple(int(v) for v in t) for t in expected]
            assert len(orders) == num_gaussian_derivatives(order, rank) == math.comb(order + rank, rank)


@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("order", [0, 2, 4])
def test_basis_1d_matches_numpy(size, order):
    sigma = rng().uniform(0.6, 2.5, (2, order + 1)).astype("float32")
    offset = rng().uniform(-1, 1, (2, order + 1)).astype("float32")
    ours = to_numpy(gaussian_derivative_basis_1d(sampling_grid((size,)), sigma, offset, order))
    x = centred(size)
    expected = np.stack(
        [np.stack([numpy_gaussian_derivative(x - offset[b, p], sigma[b, p], p) for p in range(order + 1)], -1) for b in range(2)]
    )
    assert ours.shape == (2, size, order + 1)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6)


def numpy_basis_3d(size, sigma, offset, rotation, order):
    """φ[b, n] = Π_a G_{p_a}(u_a - μ_a, σ_a), u = Rᵀ (x, y, z), R from SciPy's rotation vectors."""
    z, y, x = np.meshgrid(*(centred(k) for k in size), indexing="ij")
    points = np.stack([x, y, z], -1)
    orders = derivative_orders(order, 3)
    out = np.zeros((sigma.shape[0], *size, len(orders)))
    for b in range(sigma.shape[0]):
        for n, p in enumerate(orders):
            u = points @ Rotation.from_rotvec(rotation[b, n].astype("float64")).as_matrix() - offset[b, n]
            out[b, ..., n] = np.prod([numpy_gaussian_derivative(u[..., a], sigma[b, n, a], p[a]) for a in range(3)], axis=0)
    return out


@pytest.mark.parametrize("size,order", [((5, 5, 5), 2), ((4, 6, 3), 3), ((7, 6, 8), 1)])
def test_basis_3d_matches_numpy(size, order):
    n = num_gaussian_derivatives(order, 3)
    sigma = rng().uniform(0.6, 2.0, (2, n, 3)).astype("float32")
    offset = rng().uniform(-1, 1, (2, n, 3)).astype("float32")
    rotation = rng().uniform(-2, 2, (2, n, 3)).astype("float32")
    ours = to_numpy(gaussian_derivative_basis_3d(sampling_grid(size), sigma, offset, rotation, order))
    assert ours.shape == (2, *size, n)
    np.testing.assert_allclose(ours, numpy_basis_3d(size, sigma, offset, rotation, order), rtol=1e-4, atol=2e-6)


@pytest.mark.parametrize("rank", [1, 3])
def test_gradients_match_finite_differences_of_the_numpy_formulas(rank, float64):
    # Σ φ · w in float64 (small σ included) against central differences of the NumPy bases:
    # checks the analytic gradient (heat equation for σ) in 1-D and 3-D, as test_discretizations does in 2-D.
    size = (7,) if rank == 1 else (5, 4, 5)
    make_layer = GaussianDerivativeConv1D if rank == 1 else GaussianDerivativeConv3D
    layer = make_layer(2, size, order=3 if rank == 1 else 2, num_bases=2, dtype="float64")
    layer.build((None, *[9] * rank, 1))
    layer.sigma.assign(np.random.default_rng(5).uniform(0.25, 2.5, layer.sigma.shape))
    weights = np.random.default_rng(3).normal(size=(2, *size, layer.num_kernels))
    geometry = [getattr(layer, g.name) for g in layer.geometry]
    assert len(geometry) == (2 if rank == 1 else 3)

    def reference(values):
        if rank == 3:
            return numpy_basis_3d(size, *values, layer.order)
        sigma, offset = values
        x = centred(size[0])
        return np.stack([np.stack([numpy_gaussian_derivative(x - offset[b, p], sigma[b, p], p) for p in range(layer.order + 1)], -1)
                         for b in range(2)])

    expected = reference([to_numpy(v) for v in geometry])  # the forward pass first: the same function is differentiated
    np.testing.assert_allclose(to_numpy(layer.basis()), expected, rtol=0, atol=FLOAT64_BASIS_ROUNDING * np.abs(expected).max())
    assert_gradients_match_numpy_finite_differences(
        lambda: ops.sum(ops.multiply(layer.basis(), weights)),
        lambda values: float(np.sum(reference(values) * weights)), geometry,
    )


def test_3d_rotation_about_z_is_the_2d_orientation():
    # ω = (0, 0, θ) turns (x, y) as the 2-D θ: kernels without a z derivative are the
    # 2-D kernel times G_0 along z.
    order = 2
    orders3, orders2 = derivative_orders(order, 3), derivative_orders(order, 2)
    n3, n2 = len(orders3), len(orders2)
    theta = rng().uniform(-3, 3, (1, n3)).astype("float32")
    sigma = rng().uniform(0.7, 2, (1, n3, 3)).astype("float32")
    offset = rng().uniform(-1, 1, (1, n3, 3)).astype("float32")
    rotation = np.stack([0 * theta, 0 * theta, theta], -1)
    phi3 = to_numpy(gaussian_derivative_basis_3d(sampling_grid((5, 6, 7)), sigma, offset, rotation, order))
    for n, (p, q, r) in enumerate(orders3):
        if r:
            continue
        m = orders2.index((p, q))
        params = (sigma[:, [n] * n2, :2], offset[:, [n] * n2, :2], theta[:, [n] * n2])
        phi2 = to_numpy(gaussian_derivative_basis(sampling_grid((6, 7)), *params, order))[0, ..., m]
        along_z = numpy_gaussian_derivative(centred(5) - offset[0, n, 2], sigma[0, n, 2], 0)
        np.testing.assert_allclose(phi3[0, ..., n], along_z[:, None, None] * phi2, rtol=1e-4, atol=1e-6)


def test_rotation_matrix_matches_scipy():
    vectors = np.concatenate([
        rng().uniform(-3, 3, (20, 3)), np.zeros((1, 3)), [[1e-5, -2e-5, 3e-6], [0, 0, math.pi], [2.0, 0, 0]]
    ]).astype("float32")
    expected = Rotation.from_rotvec(vectors.astype("float64")).as_matrix()
    np.testing.assert_allclose(to_numpy(rotation_matrix(keras.ops.convert_to_tensor(vectors))), expected, atol=2e-6)


def test_rotation_gradient_at_identity_is_the_cross_product_generator():
    # dR/dω_k at ω = 0 is [e_k]×, so d Σ R⊙W / dω_k = Σ [e_k]× ⊙ W: finite, exact.
    weights = rng().normal(size=(3, 3)).astype("float32")
    omega = keras.Variable(np.zeros((1, 3), "float32"))
    (grad,) = gradients(lambda: keras.ops.sum(keras.ops.multiply(rotation_matrix(omega.value), weights)), [omega])
    generators = np.array([[[0, 0, 0], [0, 0, -1], [0, 1, 0]], [[0, 0, 1], [0, 0, 0], [-1, 0, 0]], [[0, -1, 0], [1, 0, 0], [0, 0, 0]]])
    np.testing.assert_allclose(grad[0], (generators * weights).sum(axis=(1, 2)), atol=1e-6)


@pytest.mark.parametrize("size", [15, 16])
@pytest.mark.parametrize("normalize", [False, True])
def test_gabor_1d_matches_numpy(size, normalize):
    shape = (2, 3)
    sigma, offset = rng().uniform(1, 4, shape), rng().uniform(-2, 2, shape)
    frequency, phase = rng().uniform(0.02, 0.45, shape), rng().uniform(-3, 3, shape)
    params = [p.astype("float32") for p in (sigma, offset, frequency, phase)]
    ours = to_numpy(gabor_basis_1d(sampling_grid((size,)), *params, normalize=normalize))
    y = centred(size)[None, :, None] - offset[:, None, :]
    expected = np.exp(-(y**2) / (2 * sigma[:, None] ** 2)) * np.cos(2 * np.pi * frequency[:, None] * y + phase[:, None])
    if normalize:
        expected /= np.sqrt(2 * np.pi) * sigma[:, None]
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6)


# --- layers ----------------------------------------------------------------

LAYERS = {  # its own table (not layer_kinds.KINDS): the 1-D and 3-D classes against their stock layers
    "gaussian1d": (GaussianDerivativeConv1D, dict(order=3), 1),
    "gabor1d": (GaborConv1D, dict(num_kernels=4), 1),
    "gaussian3d": (GaussianDerivativeConv3D, dict(order=2), 3),
}
STOCK = {1: keras.layers.Conv1D, 3: keras.layers.Conv3D}
SPATIAL = {1: (23,), 3: (7, 8, 6)}


def make(kind, filters, kernel_size, **kwargs):
    cls, own, _ = LAYERS[kind]
    return cls(filters, kernel_size, **own, **kwargs)


def signals(kind, channels, batch=2, channels_first=False):
    rank = LAYERS[kind][2]
    shape = (batch, channels, *SPATIAL[rank]) if channels_first else (batch, *SPATIAL[rank], channels)
    return rng().normal(size=shape).astype("float32")


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("kernel_size,strides,padding", [(3, 1, "same"), (4, 2, "valid"), (5, 2, "same")])
def test_layer_matches_numpy_correlation(kind, separable, kernel_size, strides, padding):
    x = signals(kind, 2)
    layer = make(kind, 4, kernel_size, num_bases=2, separable=separable, strides=strides, padding=padding,
                 bias_initializer="random_normal")
    np.testing.assert_allclose(to_numpy(layer(x)), numpy_layer(layer, x.astype("float64")), atol=2e-5)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize(
    "kernel_size,strides,dilation_rate,padding",
    [(3, 1, 1, "same"), (4, 2, 1, "valid"), (3, 1, 2, "valid"), (2, 3, 1, "same"), (5, 1, 2, "same")],
)
def test_output_shape_matches_the_stock_layer(kind, kernel_size, strides, dilation_rate, padding):
    x = signals(kind, 3, batch=1)
    args = dict(strides=strides, dilation_rate=dilation_rate, padding=padding)
    stock = STOCK[LAYERS[kind][2]](5, kernel_size, **args)
    layer = make(kind, 5, kernel_size, **args)
    expected = stock.compute_output_shape(x.shape)
    assert layer.compute_output_shape(x.shape) == expected
    # the call itself, traced symbolically (no kernels compiled): the same shape
    assert tuple(layer(keras.KerasTensor(x.shape)).shape) == tuple(expected)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize(
    "kernel_size,strides,dilation_rate,padding,data_format",
    [(3, 1, 1, "same", "channels_last"), (4, 2, 1, "valid", "channels_first"), (3, 1, 2, "same", "channels_first")],
)
def test_paths_agree(kind, separable, kernel_size, strides, dilation_rate, padding, data_format):
    channels_first = data_format == "channels_first"
    x = signals(kind, 3, channels_first=channels_first)
    kwargs = dict(num_bases=2, separable=separable, strides=strides, dilation_rate=dilation_rate,
                  padding=padding, data_format=data_format, bias_initializer="random_normal")
    layers = [make(kind, 4, kernel_size, implementation=path, **kwargs) for path in PATHS]
    for layer in layers:
        layer.build(x.shape)
        layer.set_weights(layers[0].get_weights())
    target = rng().normal(size=layers[0].compute_output_shape(x.shape)).astype("float32")
    (reference, reference_grads), *others = outputs_and_gradients(layers, x, target)
    for layer, (out, grads) in zip(layers[1:], others):
        assert layer.execution_path == layer.implementation
        np.testing.assert_allclose(out, reference, atol=3e-5, err_msg=layer.implementation)
        for g_ref, g in zip(reference_grads, grads):
            assert np.all(np.isfinite(g))
            np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-4 * np.abs(g_ref).max(), err_msg=layer.implementation)


def test_gradients_of_every_geometric_weight_finite_at_zero_rotation_and_offset():
    layer = GaussianDerivativeConv3D(4, 5, order=3, rotation_initializer="zeros", offset_initializer="zeros", padding="same")
    x = signals("gaussian3d", 2)
    layer.build(x.shape)
    grads = gradients(lambda: keras.ops.sum(keras.ops.square(layer(x))), layer.trainable_weights)
    names = [w.name for w in layer.trainable_weights]
    assert names == ["sigma", "offset", "rotation", "coefficients", "bias"]
    for name, g in zip(names, grads):
        assert np.all(np.isfinite(g)) and np.abs(g).max() > 0, name


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_fold_into_stock_layers(kind, separable, data_format):
    x = signals(kind, 6, channels_first=data_format == "channels_first")
    layer = make(kind, 8, 5, num_bases=2, separable=separable, padding="same", data_format=data_format,
                 activation="relu", bias_initializer="random_normal")
    expected = to_numpy(layer(x))
    parts = layer.fold()
    folded = keras.Sequential(parts)
    np.testing.assert_allclose(to_numpy(folded(x)), expected, rtol=1e-4, atol=1e-4)
    stock = {type(p).__name__ for p in parts}
    rank = layer.rank
    assert stock <= {f"Conv{rank}D", f"DepthwiseConv{rank}D", "Permute"}
    # 1×1 → depthwise → 1×1 only where Keras has the depthwise layer and it is cheaper.
    assert (f"DepthwiseConv{rank}D" in stock) == separable_fold_is_cheaper(layer)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("separable", [False, True])
def test_save_load_round_trip(kind, separable, tmp_path):
    rank = LAYERS[kind][2]
    model = keras.Sequential([
        keras.Input((*SPATIAL[rank], 3)),
        make(kind, 4, 3, num_bases=2, separable=separable, padding="same", activation="relu",
             min_sigma=0.25, name="structured"),
        getattr(keras.layers, f"GlobalAveragePooling{rank}D")(),
    ])
    x = signals(kind, 3)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))
    original, layer = model.get_layer("structured"), loaded.get_layer("structured")
    assert type(layer) is type(original) and layer.get_config() == original.get_config()
    assert [w.name for w in layer.weights] == [w.name for w in original.weights]


@pytest.mark.parametrize("kind", LAYERS)
def test_keras_layer_contract(kind):
    # Keras' own layer test: config and serialisation round trips, symbolic and eager
    # calls, a training step, mixed precision.
    from keras.src.testing import TestCase

    rank = LAYERS[kind][2]
    cls, own, _ = LAYERS[kind]
    num_geometric = {"gaussian1d": 2, "gabor1d": 4, "gaussian3d": 3}[kind]
    case = TestCase()
    case.run_layer_test(
        cls,
        init_kwargs=dict(filters=4, kernel_size=3, num_bases=2, separable=True, padding="same", **own),
        input_shape=(2, *SPATIAL[rank], 3),
        expected_output_shape=(2, *SPATIAL[rank], 4),
        expected_num_trainable_weights=num_geometric + 3,
        expected_num_non_trainable_weights=0,
    )


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("separable", [False, True])
def test_auto_runs_the_cheapest_path(kind, separable):
    layer = make(kind, 8, 7, num_bases=2, separable=separable, padding="same")
    layer.build(signals(kind, 4).shape)
    assert layer.execution_path == cheapest(layer.path_costs()) and set(layer.path_costs()) == set(PATHS)


@pytest.mark.parametrize("kind", LAYERS)
def test_kernel_property_is_the_dense_kernel(kind):
    x = signals(kind, 3)
    layer = make(kind, 4, 3, num_bases=2, use_bias=False)
    with pytest.raises(ValueError, match="must be built"):
        layer.kernel
    y = layer(x)
    kernel = layer.kernel
    assert tuple(kernel.shape) == (*layer.kernel_size, 3, 4)
    stock = STOCK[layer.rank](4, 3, use_bias=False)
    stock.build(x.shape)
    stock.set_weights([to_numpy(kernel)])
    np.testing.assert_allclose(to_numpy(stock(x)), to_numpy(y), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "make_layer,shape,message",
    [
        (lambda: GaussianDerivativeConv1D(4, 3), (2, 9, 9, 3), r"rank 3 \(batch, steps, channels.*Received: input_shape=\(2, 9, 9, 3\)"),
        (lambda: GaussianDerivativeConv3D(4, 3), (2, 9, 9, 3), r"rank 5.*Received: input_shape=\(2, 9, 9, 3\)"),
        (lambda: GaussianDerivativeConv3D(4, (3, 3)), None, r"tuple of 3 positive integers. Received: kernel_size=\(3, 3\)"),
        (lambda: GaborConv1D(4, 3, strides=(1, 2)), None, r"Received: strides=\(1, 2\)"),
        (lambda: GaussianDerivativeConv1D(4, 9), (2, 5, 3), r"must fit in the input.*kernel_size=\(9,\)"),
    ],
)
def test_bad_input_names_the_argument(make_layer, shape, message):
    with pytest.raises(ValueError, match=message):
        make_layer().build(shape)
