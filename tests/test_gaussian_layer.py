"""GaussianDerivativeConv2D as a Keras layer: shapes, paths, errors, training, saving."""

import numpy as np
import pytest
import keras
from keras import ops

from helpers import gradients, images, rng, to_numpy
from keras_gaussconv import GaussianDerivativeConv2D, MinValue
from keras_gaussconv.bases import gaussian_derivative_basis, sampling_grid

pytestmark = pytest.mark.core  # CI runs these under TensorFlow and JAX

IMAGES = (2, 12, 12, 3)  # the default input shape of this module's tests



# --- shapes and paths ---------------------------------------------------------


def test_weights_names_and_shapes():
    full = GaussianDerivativeConv2D(8, 5, order=3, num_bases=2)
    full.build((None, 9, 9, 3))
    assert {w.name: tuple(w.shape) for w in full.weights} == {
        "sigma": (2, 10, 2),
        "offset": (2, 10, 2),
        "theta": (2, 10),
        "coefficients": (2, 3, 4, 10),
        "bias": (8,),
    }
    sep = GaussianDerivativeConv2D(8, 5, order=1, num_bases=4, separable=True, use_bias=False)
    sep.build((None, 9, 9, 3))
    assert {w.name: tuple(w.shape) for w in sep.weights} == {
        "sigma": (4, 3, 2),
        "offset": (4, 3, 2),
        "theta": (4, 3),
        "coefficients_in": (4, 3, 3),
        "coefficients_out": (4, 3, 2),
    }


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("separable", [False, True])
def test_auto_costs_do_not_depend_on_the_data_format(padding, separable):
    # C ≠ H ≠ W, so a shape read in the wrong layout changes the costs or fails.
    args = dict(filters=8, kernel_size=5, num_bases=2, separable=separable, padding=padding, strides=(1, 2))
    last = GaussianDerivativeConv2D(**args)
    first = GaussianDerivativeConv2D(**args, data_format="channels_first")
    last.build((None, 32, 24, 3))
    first.build((None, 3, 32, 24))
    assert first.path_costs() == last.path_costs()
    assert first.execution_path == last.execution_path
    x = rng().normal(size=(2, 3, 32, 24)).astype("float32")
    assert first(x).shape == (2, 8, 28 if padding == "valid" else 32, 10 if padding == "valid" else 12)


def test_bias_and_activation():
    x = images(IMAGES)
    layer = GaussianDerivativeConv2D(4, 3, activation="relu", bias_initializer="ones")
    no_act = GaussianDerivativeConv2D(4, 3, bias_initializer="ones")
    layer.build(x.shape)
    no_act.build(x.shape)
    no_act.set_weights(layer.get_weights())
    np.testing.assert_allclose(to_numpy(layer(x)), np.maximum(to_numpy(no_act(x)), 0), atol=1e-6)


# --- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(filters=10, num_bases=4), "Received: filters=10, num_bases=4"),
        (dict(filters=0), "Received: filters=0"),
        (dict(order=-1), "Received: order=-1"),
        (dict(order=1.5), "Received: order=1.5"),
        (dict(kernel_size=0), "Received: kernel_size=0"),
        (dict(kernel_size=(3, -1)), r"Received: kernel_size=\(3, -1\)"),
        (dict(kernel_size=(3, 3, 3)), r"Received: kernel_size=\(3, 3, 3\)"),
        (dict(padding="causal"), "Received: padding='causal'"),
        (dict(strides=2, dilation_rate=2), "Received: strides=2, dilation_rate=2"),
        (dict(min_sigma=0), "Received: min_sigma=0"),
        (dict(min_sigma=-0.5), "Received: min_sigma=-0.5"),
        (dict(num_bases=0), "Received: num_bases=0"),
        (dict(data_format="NHWC"), "Received: data_format='NHWC'"),
        (dict(implementation="cuda"), "Received: implementation='cuda'"),
        (dict(separable="yes"), "Received: separable='yes'"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = dict(filters=8, kernel_size=3, num_bases=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        GaussianDerivativeConv2D(**args)


@pytest.mark.parametrize("shape", [(2, 8, 3), (2, 8, 8, 8, 3)])
def test_input_not_rank_4(shape):
    with pytest.raises(ValueError, match=r"rank 4.*Received: input_shape="):
        GaussianDerivativeConv2D(4, 3)(np.zeros(shape, "float32"))


def test_kernel_larger_than_valid_input():
    with pytest.raises(ValueError, match=r"Received: kernel_size=\(7, 7\)"):
        GaussianDerivativeConv2D(4, 7).build((None, 5, 5, 3))


def test_unknown_channel_count():
    with pytest.raises(ValueError, match="channel dimension"):
        GaussianDerivativeConv2D(4, 3).build((None, 5, 5, None))


# --- numerics -----------------------------------------------------------------


def test_zero_sigma_gives_finite_output():
    x = images(IMAGES)
    layer = GaussianDerivativeConv2D(4, 7, order=4, num_bases=2, padding="same")
    layer.build(x.shape)
    layer.sigma.assign(np.zeros(layer.sigma.shape, "float32"))
    assert np.all(np.isfinite(to_numpy(layer(x))))


@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("random_init", [True, False])
def test_gradients_finite_and_nonzero(separable, random_init):
    x = images(IMAGES)
    init = {} if random_init else dict(
        sigma_initializer=keras.initializers.Constant(1.0),
        offset_initializer="zeros",
        theta_initializer="zeros",
    )
    layer = GaussianDerivativeConv2D(4, 5, order=2, num_bases=2, separable=separable, **init)
    layer.build(x.shape)
    target = images(layer.compute_output_shape(x.shape))
    grads = gradients(lambda: ops.mean(ops.square(ops.subtract(layer(x), target))), layer.trainable_weights)
    names = [w.name for w in layer.trainable_weights]
    assert {"sigma", "offset", "theta"} <= set(names)
    for name, g in zip(names, grads):
        assert np.all(np.isfinite(g)), name
        assert np.abs(g).max() > 0, name


def test_sigma_stays_above_min_after_huge_step():
    x = images(IMAGES)
    model = keras.Sequential([keras.Input(x.shape[1:]), GaussianDerivativeConv2D(4, 5, min_sigma=0.3)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e6), loss="mse")
    model.fit(x, images(model.output_shape[:0] + (2, 8, 8, 4)), epochs=1, verbose=0)
    sigma = to_numpy(model.layers[0].sigma)
    assert sigma.min() >= 0.3 - 1e-7
    assert np.isfinite(sigma).all()


# --- Keras behaviour ----------------------------------------------------------


def small_model(**layer_kwargs):
    model = keras.Sequential([keras.Input((12, 12, 3))])
    model.add(GaussianDerivativeConv2D(4, 5, order=2, num_bases=2, padding="same", name="gauss", **layer_kwargs))
    model.add(keras.layers.GlobalAveragePooling2D())
    model.add(keras.layers.Dense(2))
    return model


@pytest.mark.parametrize("frozen", [(), ("sigma",), ("offset", "theta"), ("sigma", "offset", "theta")])
def test_fit_trains_exactly_the_trainable_geometry(frozen):
    model = small_model(**{f"trainable_{name}": False for name in frozen})
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    layer = model.get_layer("gauss")
    before = {name: to_numpy(getattr(layer, name)).copy() for name in ("sigma", "offset", "theta")}
    model.fit(images((16, 12, 12, 3)), rng().normal(size=(16, 2)), epochs=2, batch_size=8, verbose=0)
    for name, value in before.items():
        changed = not np.allclose(to_numpy(getattr(layer, name)), value)
        assert changed == (name not in frozen), name


def test_layer_trainable_false_freezes_everything():
    layer = GaussianDerivativeConv2D(4, 3, trainable=False)
    layer.build((None, 8, 8, 2))
    assert layer.trainable_weights == []


def test_config_keeps_gaussian_arguments():
    layer = GaussianDerivativeConv2D(
        6, 5, order=3, num_bases=3, sigma_initializer=keras.initializers.Constant(1.5),
        trainable_theta=False, min_sigma=0.1,
    )
    config = layer.get_config()
    assert (config["order"], config["min_sigma"], config["trainable_theta"]) == (3, 0.1, False)
    clone = GaussianDerivativeConv2D.from_config(config)
    clone.build((None, 8, 8, 1))
    np.testing.assert_allclose(to_numpy(clone.sigma), 1.5)
    assert clone.get_config() == config


def test_functional_and_subclassed_models():
    inputs = keras.Input((10, 10, 3))
    outputs = GaussianDerivativeConv2D(4, 3, padding="same")(inputs)
    functional = keras.Model(inputs, outputs)

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = GaussianDerivativeConv2D(4, 3, padding="same")

        def call(self, x):
            return self.conv(x)

    net = Net()
    x = images((2, 10, 10, 3))
    assert functional(x).shape == net(x).shape == (2, 10, 10, 4)
    assert len(net.trainable_weights) == 5


def test_fft_needs_known_spatial_size():
    with pytest.raises(ValueError, match=r"implementation='fft' needs.*Received: input_shape=\(None, None, None, 3\)"):
        GaussianDerivativeConv2D(4, 5, implementation="fft").build((None, None, None, 3))


@pytest.mark.parametrize("size", [1, 7, 16, 17, 23, 46, 97])
def test_fft_length_is_smooth_and_minimal(size):
    from keras_gaussconv.layers.fft_conv import fft_length

    def smooth(n):
        for p in (2, 3, 5):
            while n % p == 0:
                n //= p
        return n == 1

    length = fft_length(size)
    assert length >= size and smooth(length)
    assert not any(smooth(m) for m in range(size, length))


@pytest.mark.parametrize("seed", [3, None])
def test_a_seeded_initializer_draws_each_weight_afresh(seed):
    # β (1, 6, 6) and λ (1, 6, 6) have one shape: one shared draw would make them equal.
    def make():
        layer = GaussianDerivativeConv2D(
            6, 3, order=2, separable=True, coefficients_initializer=keras.initializers.GlorotUniform(seed=seed)
        )
        layer.build((None, 8, 8, 6))
        return to_numpy(layer.coefficients_in), to_numpy(layer.coefficients_out)

    beta, lam = make()
    assert beta.shape == lam.shape == (1, 6, 6)
    assert not np.allclose(beta, lam)
    if seed is not None:  # still deterministic: the same seed gives the same pair
        again = make()
        np.testing.assert_array_equal(again[0], beta)
        np.testing.assert_array_equal(again[1], lam)
        # and the first weight is what the user's initializer itself draws
        np.testing.assert_array_equal(beta, to_numpy(keras.initializers.GlorotUniform(seed=seed)((1, 6, 6))))


@pytest.mark.parametrize("normalize_basis", [False, True])
def test_a_float64_layer_stays_float64_through_its_bounds(normalize_basis, float64):
    # Keras' `maximum` rounds float64 to float32 on PyTorch; the σ bound, the energy floor
    # of `normalize_basis` and the MinValue constraint must not: the layer's basis equals the basis
    # function's on the same values to float64 round-off (float32 rounding would leave ~1e-7).
    layer = GaussianDerivativeConv2D(2, 7, order=2, num_bases=2, normalize_basis=normalize_basis, dtype="float64")
    layer.build((None, 9, 9, 1))
    sigma = rng().uniform(0.3, 2.0, layer.sigma.shape)
    layer.sigma.assign(sigma)
    values = [ops.convert_to_tensor(to_numpy(v)) for v in (layer.sigma, layer.offset, layer.theta)]
    expected = to_numpy(gaussian_derivative_basis(sampling_grid((7, 7), "float64"), *values, 2))
    if normalize_basis:
        expected = expected * np.sqrt(49 / 6 / np.sum(expected**2, axis=(1, 2), keepdims=True))
    phi = to_numpy(layer.basis())
    assert phi.dtype == np.float64
    np.testing.assert_allclose(phi, expected, rtol=0, atol=1e-13)
    constrained = to_numpy(MinValue(0.5)(ops.convert_to_tensor(sigma)))
    assert constrained.dtype == np.float64 and np.array_equal(constrained, np.maximum(sigma, 0.5))
