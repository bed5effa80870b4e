"""Mixed precision, determinism, numerical range, long-term saving compatibility."""

import os

import keras
import numpy as np
import pytest
from keras import ops

from helpers import DATA, gradients, images, rng, to_numpy

from keras_gaussconv import ConvNormAct, DisplacedGaussianConv2D, GaborConv2D, GaussianDerivativeConv2D, rfnn_conv2d
from keras_gaussconv.bases import gaussian_derivative_basis, num_gaussian_derivatives, sampling_grid

pytestmark = pytest.mark.core  # CI runs these under TensorFlow and JAX



class float32_policy:
    """Temporarily the float32 policy (to build a reference layer)."""

    def __enter__(self):
        self.previous = keras.mixed_precision.dtype_policy().name
        keras.mixed_precision.set_dtype_policy("float32")

    def __exit__(self, *exc):
        keras.mixed_precision.set_dtype_policy(self.previous)


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_dtype_policy(request.param)
    yield request.param
    keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"], indirect=True)
@pytest.mark.parametrize("implementation", ["kernel", "basis", "fft"])
@pytest.mark.parametrize("separable", [False, True])
def test_mixed_precision(policy, implementation, separable):
    compute = policy.split("_")[1]
    layer = GaussianDerivativeConv2D(8, 5, num_bases=2, separable=separable, padding="same", implementation=implementation)
    x = images((4, 12, 12, 3))
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == compute
    for w in layer.weights:
        assert w.dtype == "float32", w.name
    assert keras.backend.standardize_dtype(layer.basis().dtype) == "float32"
    # Agrees with the float32 computation to half-precision round-off.
    with float32_policy():
        reference = GaussianDerivativeConv2D(8, 5, num_bases=2, separable=separable, padding="same", implementation=implementation)
        reference.build(x.shape)
    reference.set_weights(layer.get_weights())
    expected = to_numpy(reference(x))
    tolerance = 2e-2 if compute == "bfloat16" else 3e-3
    np.testing.assert_allclose(to_numpy(ops.cast(out, "float32")), expected, atol=tolerance * np.abs(expected).max())


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"], indirect=True)
def test_mixed_precision_fit_stays_finite(policy):
    inputs = keras.Input((16, 16, 1))
    x = ConvNormAct(GaussianDerivativeConv2D(8, 5, padding="same", use_bias=False), norm="batch")(inputs)
    x = GaborConv2D(8, 5, num_kernels=4, padding="same", activation="relu")(x)
    x = DisplacedGaussianConv2D(8, 3, padding="same", separable=True, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax", dtype="float32")(x)
    model = keras.Model(inputs, outputs)
    optimizer = keras.optimizers.Adam(1e-2)
    if policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer, "sparse_categorical_crossentropy")
    history = model.fit(images((32, 16, 16, 1)), rng().integers(0, 3, 32), epochs=3, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    for w in model.weights:
        assert np.all(np.isfinite(to_numpy(w))), w.path


def build_model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((12, 12, 2)),
        GaussianDerivativeConv2D(4, 5, num_bases=2),
        GaborConv2D(4, 3, num_kernels=3),
        DisplacedGaussianConv2D(4, 3, separable=True),
    ])
    return model


def test_same_seed_same_weights_and_outputs():
    x = images((2, 12, 12, 2))
    a, b, c = build_model(7), build_model(7), build_model(8)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(to_numpy(a(x)), to_numpy(b(x)))
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights()))


@pytest.mark.parametrize("order", [8, 10])
@pytest.mark.parametrize("sigma", [0.2, 1.0, 5.0, 50.0])
def test_high_orders_and_large_kernels_stay_finite(order, sigma):
    n = num_gaussian_derivatives(order)
    s = keras.Variable(np.full((1, n, 2), sigma, "float32"))
    offset = keras.Variable(np.full((1, n, 2), 0.3, "float32"))
    theta = keras.Variable(np.full((1, n), 0.4, "float32"))

    def basis():
        return gaussian_derivative_basis(sampling_grid((63, 63)), s.value, offset.value, theta.value, order)

    assert np.all(np.isfinite(to_numpy(basis())))
    for g in gradients(lambda: ops.sum(ops.square(basis())), [s, offset, theta]):
        assert np.all(np.isfinite(g))


@pytest.mark.parametrize("order", [4, 6, 8, 10])
def test_high_order_accuracy_against_float64(order):
    from test_bases import np_basis

    n = num_gaussian_derivatives(order)
    rng = np.random.default_rng(order)
    sigma = rng.uniform(0.5, 3.0, (1, n, 2)).astype("float32")
    offset = rng.uniform(-1, 1, (1, n, 2)).astype("float32")
    theta = rng.uniform(-3, 3, (1, n)).astype("float32")
    ours = to_numpy(gaussian_derivative_basis(sampling_grid((31, 31)), sigma, offset, theta, order))
    reference = np_basis(sigma.astype("float64"), offset.astype("float64"), theta.astype("float64"), order, (31, 31))
    scale = np.abs(reference).max(axis=(1, 2), keepdims=True)
    relative = np.abs(ours - reference).max(axis=(1, 2), keepdims=True) / scale
    # Measured ≤ 1e-6 (benchmarks/accuracy.py, in the README): float32 round-off.
    assert relative.max() < 5e-6, relative.max()


COMPAT_MODEL = DATA / "compat_v0_1_0.keras"
COMPAT_ARRAYS = DATA / "compat_v0_1_0.npz"


def compat_model():
    """Every structured layer type; saved once by version 0.1.0 into tests/data."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = GaussianDerivativeConv2D(8, 5, order=2, num_bases=2, padding="same", activation="relu", name="gaussian")(inputs)
    x = GaussianDerivativeConv2D(8, 5, order=1, num_bases=2, separable=True, padding="same", name="separable")(x)
    x = ConvNormAct(GaborConv2D(8, 5, num_kernels=4, padding="same", use_bias=False), norm="bias_only", name="gabor")(x)
    x = DisplacedGaussianConv2D(8, 3, num_units=3, padding="same", name="dau")(x)
    x = rfnn_conv2d(4, 3, padding="same", name="rfnn")(x)
    return keras.Model(inputs, x, name="compat")


def test_models_saved_by_0_1_0_still_load_and_agree():
    if not COMPAT_MODEL.exists():
        pytest.fail(f"{COMPAT_MODEL} is missing: it must stay committed (regenerate only for a new compat file)")
    arrays = np.load(COMPAT_ARRAYS)
    model = keras.models.load_model(COMPAT_MODEL)
    expected = arrays["output"]
    # Saved under TensorFlow; the kernels are now computed by another recurrence and every
    # backend's convolutions sum in its own order: float32 round-off at the output's scale
    # (max |y| = 84: 8.4e-5; a cancelling output keeps its terms' round-off, measured 2.2e-5).
    atol = 1e-6 * np.abs(expected).max()
    np.testing.assert_allclose(to_numpy(model(arrays["input"])), expected, rtol=1e-5, atol=atol)


def test_save_reload_and_continue_training(tmp_path):
    x, y = images((16, 16, 16, 3)), images((16, 16, 16, 4))
    model = compat_model()
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-5, atol=1e-6, err_msg=a.path)


if __name__ == "__main__":  # writes the compatibility files (once per compat version)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    DATA.mkdir(exist_ok=True)
    model = compat_model()
    sample = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
    model.save(COMPAT_MODEL)
    np.savez(COMPAT_ARRAYS, input=sample, output=to_numpy(model(sample)))
    print(f"wrote {COMPAT_MODEL} and {COMPAT_ARRAYS}")


@pytest.mark.parametrize(
    "dtype,geometry,compute", [("float16", "float32", "float16"), ("bfloat16", "float32", "bfloat16"),
                               ("mixed_float16", "float32", "float16"), ("float32", "float32", "float32")],
)
def test_geometric_weights_are_at_least_float32(dtype, geometry, compute):
    # σ at the bound and a 31×31 kernel: H_4 passes float16's range 11σ from the centre, where
    # the Gaussian is 0 already: a float16 basis was inf · 0 = NaN there.
    layer = GaussianDerivativeConv2D(4, 31, order=4, padding="same", dtype=dtype,
                                     sigma_initializer=keras.initializers.Constant(0.2))
    x = images((1, 16, 16, 2))
    out = layer(x)
    assert layer.geometry_dtype == geometry
    assert {w.name: w.dtype for w in layer.weights if w.name in ("sigma", "offset", "theta")} == dict.fromkeys(
        ("sigma", "offset", "theta"), geometry
    )
    assert keras.backend.standardize_dtype(layer.basis().dtype) == geometry
    assert keras.backend.standardize_dtype(out.dtype) == compute
    assert np.isfinite(to_numpy(ops.cast(out, "float32"))).all()


def test_float64_layers_keep_float64_geometry(float64):
    layer = GaussianDerivativeConv2D(4, 5, dtype="float64")
    layer.build((None, 8, 8, 2))
    assert layer.geometry_dtype == "float64" == layer.sigma.dtype
