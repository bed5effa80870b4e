"""ConvNormAct: the three normalisation modes, training flag, saving, folding."""

import json

import keras
import numpy as np
import pytest

from helpers import images, to_numpy
from keras_gaussconv import ConvNormAct, GaussianDerivativeConv2D
from keras_gaussconv.export import fold

pytestmark = pytest.mark.core  # CI runs these under TensorFlow and JAX

IMAGES = (8, 12, 12, 3)  # the default input shape of this module's tests



def block(norm, **kwargs):
    return ConvNormAct(GaussianDerivativeConv2D(6, 5, num_bases=2, padding="same", use_bias=False), norm=norm, **kwargs)


def test_bias_only_has_exactly_f_out_trainable_parameters_and_fixed_statistics():
    layer = block("bias_only")
    model = keras.Sequential([keras.Input((12, 12, 3)), layer])
    norm = layer.normalization
    norm_trainable = [w for w in norm.weights if w.trainable]
    assert [tuple(w.shape) for w in norm_trainable] == [(6,)]  # β only
    assert sum(int(np.prod(w.shape)) for w in norm.trainable_weights) == 6
    frozen = [to_numpy(w).copy() for w in norm.non_trainable_weights]
    model.compile(keras.optimizers.Adam(0.05), "mse")
    model.fit(images(IMAGES), images((8, 12, 12, 6)), epochs=3, verbose=0)
    for w, before in zip(norm.non_trainable_weights, frozen):
        np.testing.assert_array_equal(to_numpy(w), before)  # mean 0, variance 1 stay
    np.testing.assert_array_equal(frozen[0], 0.0)
    np.testing.assert_array_equal(frozen[1], 1.0)
    # y = relu(conv(x) / sqrt(1 + eps) + beta), in training and inference alike.
    x = images((2, 12, 12, 3))
    beta = to_numpy(norm.beta)
    expected = np.maximum(to_numpy(layer.conv(x)) / np.sqrt(1 + layer.epsilon) + beta, 0)
    np.testing.assert_allclose(to_numpy(layer(x, training=True)), expected, atol=1e-5)
    np.testing.assert_allclose(to_numpy(layer(x, training=False)), expected, atol=1e-5)


@pytest.mark.parametrize("momentum", [0.99, 0.9])
def test_batch_mode_matches_conv_then_batch_normalization(momentum):
    x = images(IMAGES)
    layer = block("batch", activation=None, momentum=momentum)
    layer.build(x.shape)
    reference = keras.layers.BatchNormalization(epsilon=layer.epsilon, momentum=momentum)
    conv_out = layer.conv(x)
    reference.build(conv_out.shape)
    reference.set_weights(layer.normalization.get_weights())
    for training in (True, False):
        np.testing.assert_allclose(
            to_numpy(layer(x, training=training)), to_numpy(reference(conv_out, training=training)), atol=1e-5
        )
    # training=True updated the moving statistics of both identically: from 0, by (1 - momentum)·batch mean.
    moving_mean = keras.ops.convert_to_numpy(layer.normalization.moving_mean)
    np.testing.assert_allclose(moving_mean, keras.ops.convert_to_numpy(reference.moving_mean), atol=1e-6)
    batch_mean = keras.ops.convert_to_numpy(conv_out).mean(axis=(0, 1, 2))
    np.testing.assert_allclose(moving_mean, (1 - momentum) * batch_mean, rtol=1e-4, atol=1e-6)
    assert layer.get_config()["momentum"] == momentum


@pytest.mark.parametrize("momentum", [1.0, -0.1, 1.5])
def test_momentum_outside_unit_interval_is_refused(momentum):
    with pytest.raises(ValueError, match=f"momentum={momentum}"):
        block("batch", momentum=momentum)


def test_no_norm_is_conv_then_activation():
    x = images(IMAGES)
    layer = block(None, activation="tanh")
    np.testing.assert_allclose(to_numpy(layer(x)), np.tanh(to_numpy(layer.conv(x))), atol=1e-6)
    assert layer.normalization is None


@pytest.mark.parametrize("norm", ["batch", "bias_only", None])
def test_save_load_and_fold(norm, tmp_path):
    model = keras.Sequential([keras.Input((12, 12, 3)), block(norm, name="cna")])
    model.compile("adam", "mse")
    model.fit(images(IMAGES), images((8, 12, 12, 6)), epochs=1, verbose=0)
    x = images((2, 12, 12, 3))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), atol=1e-6)
    as_json = lambda layer: json.loads(json.dumps(layer.get_config()))  # noqa: E731  (tuples vs lists)
    assert as_json(loaded.get_layer("cna")) == as_json(model.get_layer("cna"))
    folded = fold(model)
    np.testing.assert_allclose(to_numpy(folded(x)), to_numpy(model(x)), atol=1e-5)


def test_wraps_a_plain_conv2d_too():
    x = images(IMAGES)
    layer = ConvNormAct(keras.layers.Conv2D(4, 3, use_bias=False), norm="bias_only")
    assert layer(x).shape == (8, 10, 10, 4)
    assert sum(int(np.prod(w.shape)) for w in layer.normalization.trainable_weights) == 4
    parts = layer.fold()
    z = x
    for part in parts:
        z = part(z)
    np.testing.assert_allclose(to_numpy(z), to_numpy(layer(x)), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs,message",
    [(dict(norm="layer"), "Received: norm='layer'"), (dict(conv="conv"), "Received: conv='conv'")],
)
def test_bad_arguments(kwargs, message):
    args = dict(conv=keras.layers.Conv2D(4, 3), norm="batch")
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        ConvNormAct(**args)


@pytest.mark.parametrize("norm", ["batch", "bias_only", None])
def test_one_dtype_policy_for_the_block(norm):
    x = images((2, 12, 12, 3))
    # dtype= on the block: the wrapped convolution computes in it too.
    wrapped = block(norm, dtype="mixed_float16")
    declared = wrapped.compute_output_spec(keras.KerasTensor(x.shape)).dtype
    assert declared == wrapped.conv.compute_dtype == keras.backend.standardize_dtype(wrapped(x).dtype) == "float16"
    assert wrapped.conv.sigma.dtype == "float32"  # geometric weights stay float32
    clone = ConvNormAct.from_config(wrapped.get_config())
    assert clone.dtype_policy.name == clone.conv.dtype_policy.name == "mixed_float16"
    # No dtype on the block: it takes the convolution's policy.
    conv = GaussianDerivativeConv2D(6, 5, padding="same", use_bias=False, dtype="mixed_bfloat16")
    inherited = ConvNormAct(conv, norm=norm)
    assert inherited.dtype_policy.name == "mixed_bfloat16"
    assert keras.backend.standardize_dtype(inherited(x).dtype) == "bfloat16"


@pytest.mark.parametrize("norm", ["batch", None])
def test_fold_keeps_the_block_dtype_policy_on_every_part(norm):
    wrapped = block(norm, dtype="mixed_float16")
    wrapped.build((None, 12, 12, 3))
    parts = wrapped.fold()
    assert isinstance(parts[-1], keras.layers.Activation)
    assert [part.dtype_policy.name for part in parts] == ["mixed_float16"] * len(parts)
    x = images((2, 12, 12, 3))
    y = x
    for part in parts:
        y = part(y)
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    np.testing.assert_allclose(to_numpy(y).astype("float32"), to_numpy(wrapped(x)).astype("float32"), atol=1e-2)
