"""`GeometryMonitor`: the geometric weights move during `fit` on every backend, and the monitor
records their values, steps and gradient norms exactly."""

import keras
import numpy as np
import pytest

from helpers import gradients, images, rng, to_numpy
from keras_gaussconv import ConvNormAct, GaborConv1D, GaussianDerivativeConv2D, GeometryMonitor
from keras_gaussconv.plotting import plot_geometry

pytestmark = pytest.mark.core


def small_model():
    model = keras.Sequential([
        keras.Input((12, 12, 2)),
        ConvNormAct(GaussianDerivativeConv2D(4, 5, order=1, num_bases=2, padding="same", use_bias=False, name="gauss"),
                    name="block"),
        GaussianDerivativeConv2D(3, 3, order=1, separable=True, name="sep"),
        keras.layers.GlobalAveragePooling2D(),
    ])
    model.compile(keras.optimizers.Adam(0.05), "mse")
    return model


def test_geometry_moves_during_fit_and_the_monitor_records_it(tmp_path):
    model = small_model()
    x, y = images((16, 12, 12, 2)), rng().normal(size=(16, 3)).astype("float32")
    initial = {v.path: to_numpy(v).copy() for v in model.weights}
    batch = (x[:4], y[:4])
    monitor = GeometryMonitor(data=batch)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[monitor])
    gauss, sep = model.get_layer("block").conv, model.get_layer("sep")
    # σ, μ and θ of both layers changed.
    for layer in (gauss, sep):
        for weight in (layer.sigma, layer.offset, layer.theta):
            assert not np.allclose(to_numpy(weight), initial[weight.path]), weight.path
    expected_keys = {f"{layer}/{group}/{statistic}" for layer in ("gauss", "sep")
                     for group in ("sigma", "offset", "theta", "coefficients")
                     for statistic in GeometryMonitor.STATISTICS}
    assert set(monitor.history) == expected_keys
    assert all(len(values) == 4 for values in monitor.history.values())  # before training + 3 epochs
    # The last entries are the statistics of the trained weights...
    sigma = to_numpy(gauss.sigma)
    assert monitor.history["gauss/sigma/mean"][-1] == pytest.approx(sigma.mean(), rel=1e-6)
    assert monitor.history["gauss/sigma/max"][-1] == pytest.approx(sigma.max(), rel=1e-6)
    assert monitor.history["gauss/sigma/mean"][0] == pytest.approx(initial[gauss.sigma.path].mean(), rel=1e-6)
    coefficients = np.concatenate([to_numpy(sep.coefficients_in).ravel(), to_numpy(sep.coefficients_out).ravel()])
    assert monitor.history["sep/coefficients/std"][-1] == pytest.approx(coefficients.std(), rel=1e-5)
    # ...the drift is the distance from the initial values, the steps add up to at least
    # that (triangle inequality) and are > 0...
    steps = monitor.history["gauss/theta/step"]
    assert steps[0] == 0.0 and all(s > 0 for s in steps[1:])
    movement = np.abs(to_numpy(gauss.theta) - initial[gauss.theta.path]).mean()
    assert monitor.history["gauss/theta/drift"][-1] == pytest.approx(movement, rel=1e-5)
    assert monitor.history["gauss/theta/drift"][0] == 0.0
    assert sum(steps) >= movement * (1 - 1e-6)
    # ...and the gradient norm is that of the compiled loss on the monitored batch.
    def loss():
        return keras.ops.mean(keras.ops.square(model(batch[0], training=False) - keras.ops.convert_to_tensor(batch[1])))

    grads = gradients(loss, [gauss.sigma, sep.offset])
    assert monitor.history["gauss/sigma/grad_norm"][-1] == pytest.approx(np.linalg.norm(grads[0]), rel=1e-4)
    assert monitor.history["sep/offset/grad_norm"][-1] == pytest.approx(np.linalg.norm(grads[1]), rel=1e-4)
    figure = plot_geometry(monitor.history, tmp_path / "geometry.png")
    assert (tmp_path / "geometry.png").read_bytes().startswith(b"\x89PNG")
    assert len(figure.axes) == 4 * 4
    np.testing.assert_allclose(figure.axes[0].lines[0].get_ydata(), monitor.history["gauss/sigma/mean"])


def test_groups_frozen_weights_and_other_ranks():
    model = keras.Sequential([keras.Input((32, 1)), GaborConv1D(4, 9, num_kernels=3, trainable_phase=False, name="g"),
                              keras.layers.GlobalAveragePooling1D()])
    model.compile(keras.optimizers.Adam(0.05), "mse")
    monitor = GeometryMonitor(data=(images((4, 32, 1)), np.ones((4, 4), "float32")), groups=["frequency", "phase"])
    model.fit(images((8, 32, 1)), np.ones((8, 4), "float32"), epochs=2, verbose=0, callbacks=[monitor])
    assert {key.rsplit("/", 1)[0] for key in monitor.history} == {"g/frequency", "g/phase"}
    assert monitor.history["g/phase/step"] == [0.0, 0.0, 0.0]  # frozen: never moves, no gradient
    assert monitor.history["g/phase/grad_norm"] == [0.0, 0.0, 0.0]
    assert monitor.history["g/frequency/step"][-1] > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="groups=\\[\\]"):
        GeometryMonitor(groups=[])
    with pytest.raises(ValueError, match="`data` must be an `\\(x, y\\)` pair"):
        GeometryMonitor(data=np.zeros(3))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="has none"):
        model.fit(np.zeros((2, 4)), np.zeros((2, 1)), verbose=0, callbacks=[GeometryMonitor()])
    with pytest.raises(ValueError, match="'layer/group/statistic' keys"):
        plot_geometry({"loss": [1.0]})
