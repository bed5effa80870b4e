"""Training on two CPU devices: tf.distribute.MirroredStrategy over two logical devices, and
keras.distribution.DataParallel on JAX with two host devices. Each runs in a subprocess: the
devices must be configured before the framework initialises."""

import importlib.util
import os
import subprocess
import sys
import textwrap

import keras
import pytest

# Each setup defines `scope` (where the model is built) and `replicas(weight)` (its copies).
MIRRORED = textwrap.dedent(
    """
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    scope = strategy.scope()

    def replicas(weight):
        return [np.asarray(v) for v in weight.value.values]
    """
)
DATA_PARALLEL = textwrap.dedent(
    """
    import contextlib
    import keras
    import numpy as np
    devices = keras.distribution.list_devices("cpu")
    assert len(devices) == 2, devices
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    scope = contextlib.nullcontext()

    def replicas(weight):
        return [np.asarray(shard.data) for shard in weight.value.addressable_shards]
    """
)
TRAIN = textwrap.dedent(
    """
    import keras
    import numpy as np
    from keras_gaussconv import ConvNormAct, GaborConv2D, GaussianDerivativeConv2D

    keras.utils.set_random_seed(0)
    with scope:
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
    before = keras.ops.convert_to_numpy(layer.sigma).copy()
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    for weight in (layer.sigma, layer.theta, model.get_layer("gabor").theta):
        copies = replicas(weight)
        assert len(copies) == 2, len(copies)
        assert all(c.shape == tuple(weight.shape) for c in copies)  # replicated, not split
        np.testing.assert_array_equal(copies[0], copies[1])
    assert not np.allclose(keras.ops.convert_to_numpy(layer.sigma), before)
    print("ok")
    """
)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute needs the TensorFlow backend")
def test_mirrored_strategy_two_cpu_replicas():
    run(MIRRORED + TRAIN, KERAS_BACKEND="tensorflow")


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs JAX (pip install '.[jax]')")
def test_data_parallel_two_jax_host_devices():
    run(DATA_PARALLEL + TRAIN, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2")


def run(script, **environment):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **environment}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
