"""Training under tf.distribute.MirroredStrategy on two logical CPU devices (in a subprocess:
logical devices must be configured before TensorFlow initialises)."""

import subprocess
import sys
import textwrap

import keras
import pytest

SCRIPT = textwrap.dedent(
    """
    import os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    from keras_gaussconv import ConvNormAct, GaborConv2D, GaussianDerivativeConv2D

    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = keras.Sequential([
            keras.Input((16, 16, 1)),
            ConvNormAct(GaussianDerivativeConv2D(8, 5, num_bases=2, padding="same", use_bias=False), name="gauss"),
            GaborConv2D(8, 5, num_kernels=4, separable=True, padding="same", activation="relu", name="gabor"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ])
        model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 16, 16, 1)).astype("float32"), rng.integers(0, 3, 64)
    layer = model.get_layer("gauss").conv
    before = np.asarray(layer.sigma).copy()
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    for weight in (layer.sigma, layer.theta, model.get_layer("gabor").theta):
        replicas = [np.asarray(v) for v in weight.value.values]
        assert len(replicas) == 2, len(replicas)
        np.testing.assert_array_equal(replicas[0], replicas[1])
    assert not np.allclose(np.asarray(layer.sigma), before)
    print("ok")
    """
)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute needs the TensorFlow backend")
def test_mirrored_strategy_two_cpu_replicas():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
