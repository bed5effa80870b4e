"""GaussianDerivativeConv2D as a Keras layer: shapes, paths, errors, training, saving."""

import numpy as np
import pytest
import keras
from keras import ops

from conftest import gradients
from keras_gaussconv import GaussianDerivativeConv2D

RNG = np.random.default_rng(0)


def images(shape=(2, 12, 12, 3)):
    return RNG.normal(size=shape).astype("float32")


# --- shapes and paths ---------------------------------------------------------


@pytest.mark.parametrize("kernel_size", [3, 4, (5, 2), (1, 6)])
@pytest.mark.parametrize("strides,dilation_rate", [(1, 1), (2, 1), ((1, 3), 1), (1, 2)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_output_shape_matches_conv2d(kernel_size, strides, dilation_rate, padding):
    x = images((1, 13, 11, 2))
    kwargs = dict(kernel_size=kernel_size, strides=strides, padding=padding, dilation_rate=dilation_rate)
    expected = keras.layers.Conv2D(6, **kwargs)(x).shape
    layer = GaussianDerivativeConv2D(6, num_bases=3, **kwargs)
    assert layer.compute_output_shape(x.shape) == expected
    assert layer(x).shape == expected
    assert tuple(layer.basis().shape) == (3, *layer.kernel_size, 6)


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


def numpy_layer(layer, x):
    """Independent evaluation of eq. (3)/(4): correlate each basis kernel with each input channel."""
    from scipy.signal import correlate2d

    phi = np.asarray(layer.basis()).astype("float64")
    b_count, kh, kw, n = phi.shape
    per = layer.filters // layer.num_bases
    sh, sw = layer.strides
    if layer.padding == "same":
        ph, pw = kh - 1, kw - 1
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    # responses[z, b, h, w, i, n] = (φ[b, n] ⋆ x[z, ..., i])[h, w]
    responses = np.array(
        [
            [
                [[correlate2d(img[..., i], phi[b, ..., k], mode="valid") for k in range(n)] for i in range(x.shape[-1])]
                for b in range(b_count)
            ]
            for img in x
        ]
    ).transpose(0, 1, 4, 5, 2, 3)
    responses = responses[:, :, ::sh, ::sw]
    if layer.separable:
        beta = np.asarray(layer.coefficients_in)
        lam = np.asarray(layer.coefficients_out)
        out = np.einsum("zbhwin,bin,bnj->zhwbj", responses, beta, lam)
    else:
        omega = np.asarray(layer.coefficients)
        out = np.einsum("zbhwin,bijn->zhwbj", responses, omega)
    out = out.reshape(out.shape[:3] + (b_count * per,))
    return out + (np.asarray(layer.bias) if layer.use_bias else 0)


@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("kernel_size,strides,padding", [(5, 1, "same"), (4, 2, "same"), ((3, 6), 1, "valid"), (5, 2, "valid")])
def test_layer_matches_numpy_correlation(separable, kernel_size, strides, padding):
    x = images((2, 11, 12, 3))
    layer = GaussianDerivativeConv2D(
        6, kernel_size, order=2, num_bases=3, separable=separable, strides=strides, padding=padding,
        bias_initializer="random_normal",
    )
    out = np.asarray(layer(x))
    np.testing.assert_allclose(out, numpy_layer(layer, x.astype("float64")), atol=1e-5)


@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("num_bases", [1, 3])
@pytest.mark.parametrize(
    "kernel_size,strides,dilation_rate,padding",
    [(5, 1, 1, "same"), (4, 2, 1, "valid"), (3, 1, 2, "same"), ((5, 4), 2, 1, "same"), (6, 1, 2, "valid")],
)
def test_paths_agree(separable, num_bases, kernel_size, strides, dilation_rate, padding):
    x = images((2, 13, 12, 4))
    kwargs = dict(
        order=2, num_bases=num_bases, separable=separable, strides=strides,
        dilation_rate=dilation_rate, padding=padding, bias_initializer="random_normal",
    )
    kernel = GaussianDerivativeConv2D(6, kernel_size, implementation="kernel", **kwargs)
    basis = GaussianDerivativeConv2D(6, kernel_size, implementation="basis", **kwargs)
    kernel.build(x.shape)
    basis.build(x.shape)
    basis.set_weights(kernel.get_weights())
    np.testing.assert_allclose(np.asarray(kernel(x)), np.asarray(basis(x)), atol=1e-5)
    target = images(kernel.compute_output_shape(x.shape))
    grads = [
        gradients(lambda: ops.sum(layer(x) * target), layer.trainable_weights) for layer in (kernel, basis)
    ]
    for gk, gb in zip(*grads):
        np.testing.assert_allclose(gk, gb, rtol=1e-4, atol=1e-4 * np.abs(gk).max())


def test_auto_picks_cheapest_path():
    big = GaussianDerivativeConv2D(64, 15, order=2, num_bases=1)
    big.build((None, 32, 32, 32))
    costs = big.path_costs()
    assert costs["basis"] < costs["kernel"] and big._path == "basis"
    small = GaussianDerivativeConv2D(64, 3, order=3, num_bases=4)
    small.build((None, 32, 32, 32))
    assert small._path == "kernel"


def test_channels_first_matches_channels_last():
    x = images((2, 10, 9, 3))
    last = GaussianDerivativeConv2D(4, (5, 3), num_bases=2, strides=2, padding="same")
    first = GaussianDerivativeConv2D(4, (5, 3), num_bases=2, strides=2, padding="same", data_format="channels_first")
    last.build(x.shape)
    first.build((2, 3, 10, 9))
    first.set_weights(last.get_weights())
    out = np.asarray(first(np.transpose(x, (0, 3, 1, 2))))
    assert out.shape == first.compute_output_shape((2, 3, 10, 9))
    np.testing.assert_allclose(np.transpose(out, (0, 2, 3, 1)), np.asarray(last(x)), atol=1e-6)


def test_bias_and_activation():
    x = images()
    layer = GaussianDerivativeConv2D(4, 3, activation="relu", bias_initializer="ones")
    no_act = GaussianDerivativeConv2D(4, 3, bias_initializer="ones")
    layer.build(x.shape)
    no_act.build(x.shape)
    no_act.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(layer(x)), np.maximum(np.asarray(no_act(x)), 0), atol=1e-6)


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
    x = images()
    layer = GaussianDerivativeConv2D(4, 7, order=4, num_bases=2, padding="same")
    layer.build(x.shape)
    layer.sigma.assign(np.zeros(layer.sigma.shape, "float32"))
    assert np.all(np.isfinite(np.asarray(layer(x))))


@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("random_init", [True, False])
def test_gradients_finite_and_nonzero(separable, random_init):
    x = images()
    init = {} if random_init else dict(
        sigma_initializer=keras.initializers.Constant(1.0),
        offset_initializer="zeros",
        theta_initializer="zeros",
    )
    layer = GaussianDerivativeConv2D(4, 5, order=2, num_bases=2, separable=separable, **init)
    layer.build(x.shape)
    target = images(layer.compute_output_shape(x.shape))
    grads = gradients(lambda: ops.mean(ops.square(layer(x) - target)), layer.trainable_weights)
    names = [w.name for w in layer.trainable_weights]
    assert {"sigma", "offset", "theta"} <= set(names)
    for name, g in zip(names, grads):
        assert np.all(np.isfinite(g)), name
        assert np.abs(g).max() > 0, name


def test_sigma_stays_above_min_after_huge_step():
    x = images()
    model = keras.Sequential([keras.Input(x.shape[1:]), GaussianDerivativeConv2D(4, 5, min_sigma=0.3)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e6), loss="mse")
    model.fit(x, images(model.output_shape[:0] + (2, 8, 8, 4)), epochs=1, verbose=0)
    sigma = np.asarray(model.layers[0].sigma)
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
    before = {name: np.asarray(getattr(layer, name)).copy() for name in ("sigma", "offset", "theta")}
    model.fit(images((16, 12, 12, 3)), RNG.normal(size=(16, 2)), epochs=2, batch_size=8, verbose=0)
    for name, value in before.items():
        changed = not np.allclose(np.asarray(getattr(layer, name)), value)
        assert changed == (name not in frozen), name


def test_layer_trainable_false_freezes_everything():
    layer = GaussianDerivativeConv2D(4, 3, trainable=False)
    layer.build((None, 8, 8, 2))
    assert layer.trainable_weights == []


def test_save_load_round_trip(tmp_path):
    model = small_model(separable=True, activation="relu", min_sigma=0.25, implementation="basis")
    x = images((3, 12, 12, 3))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(loaded(x)))
    layer = loaded.get_layer("gauss")
    assert isinstance(layer, GaussianDerivativeConv2D)
    assert layer.get_config() == model.get_layer("gauss").get_config()


def test_config_round_trip_keeps_every_argument():
    layer = GaussianDerivativeConv2D(
        6, (4, 5), order=3, num_bases=3, separable=True, strides=(2, 1), padding="same",
        data_format="channels_first", activation="tanh", use_bias=False,
        coefficients_initializer="glorot_uniform", coefficients_regularizer="l2",
        sigma_initializer=keras.initializers.Constant(1.5), trainable_theta=False,
        min_sigma=0.1, implementation="kernel", name="custom", dtype="float64",
    )
    clone = GaussianDerivativeConv2D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.name == "custom" and clone.kernel_size == (4, 5) and clone.dtype == "float64"


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
