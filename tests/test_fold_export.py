"""fold(): stock Keras layers with the same outputs; SavedModel and TFLite exports."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from helpers import images, rng, to_numpy
from keras_gaussconv import ConvNormAct, DisplacedGaussianConv2D, GaborConv2D, GaussianDerivativeConv2D, rfnn_conv2d
from keras_gaussconv.export import export_saved_model, export_tflite, fold
from keras_gaussconv.layers import BasisConv2D

pytestmark = pytest.mark.core  # CI runs these under TensorFlow and JAX

IMAGES = (4, 32, 32, 3)  # the default input shape of this module's tests


def every_layer_model():
    """A functional model with every structured layer type, a nested Sequential and batch norm."""
    inner = keras.Sequential(
        [keras.Input((16, 16, 8)), GaborConv2D(8, 5, num_kernels=3, padding="same", name="gabor"), keras.layers.ReLU()],
        name="inner",
    )
    inputs = keras.Input((32, 32, 3))
    h = GaussianDerivativeConv2D(8, 7, num_bases=2, padding="same", activation="relu", name="full")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = inner(h)
    h = GaussianDerivativeConv2D(32, 9, order=1, num_bases=2, separable=True, strides=2, padding="same", name="separable")(h)
    h = keras.layers.BatchNormalization(name="norm")(h)
    h = DisplacedGaussianConv2D(8, 5, num_units=4, num_bases=2, name="dau")(h)
    h = rfnn_conv2d(8, 3, padding="same", name="rfnn")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(h))
    # Non-trivial batch-norm statistics, so that copying them is tested too.
    model.get_layer("norm").set_weights([rng().normal(size=32) for _ in range(2)] + [rng().normal(size=32), rng().uniform(0.5, 2, 32)])
    return model



def all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def test_fold_matches_and_contains_only_stock_layers():
    model = every_layer_model()
    x = images(IMAGES)
    folded = fold(model)
    # Outputs of this random network reach ~50 and sums of such terms round off by ~eps times the
    # terms, so an output that cancels to ~0.1 keeps their absolute error (2.3e-5 measured on one
    # CPU): the absolute tolerance is relative to the output scale, as for the reloaded model below.
    expected = to_numpy(model(x))
    np.testing.assert_allclose(to_numpy(folded(x)), expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    modules = {type(layer).__module__ for layer in all_layers(folded)}
    assert all(m.startswith("keras.") for m in modules), modules
    names = {layer.name for layer in all_layers(folded)}
    assert {"full", "gabor", "separable", "separable_depthwise", "dau", "rfnn", "norm", "head"} <= names


def test_folded_model_is_independent_of_the_original():
    model = every_layer_model()
    x = images(IMAGES)
    folded = fold(model)
    before = to_numpy(folded(x))
    model.get_layer("head").set_weights([w * 0 for w in model.get_layer("head").get_weights()])
    np.testing.assert_array_equal(to_numpy(folded(x)), before)


def test_folded_model_reloads_without_the_package(tmp_path):
    model = every_layer_model()
    x = images(IMAGES)
    path = tmp_path / "folded.keras"
    fold(model).save(path)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(
        f"""
        import os, sys
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import keras, numpy as np
        model = keras.models.load_model({str(path)!r})
        np.save({str(tmp_path / "y.npy")!r}, keras.ops.convert_to_numpy(model(np.load({str(tmp_path / "x.npy")!r}))))
        assert not any(name.startswith("keras_gaussconv") for name in sys.modules), "package was imported"
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)
    expected = to_numpy(model(x))  # outputs up to ~240: float32 rounding is relative to that scale
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize(
    "kwargs,expected",
    [
        (dict(separable=False), ["Conv2D"]),
        (dict(separable=True), ["Conv2D", "DepthwiseConv2D", "Conv2D"]),
        (dict(separable=True, kernel_size=1), ["Conv2D"]),  # 1×1: one Conv2D is cheaper
        (dict(separable=True, order=2, num_bases=4), ["Conv2D"]),  # 24 basis channels: too many
    ],
)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_layer_fold(kwargs, expected, data_format):
    args = dict(filters=32, kernel_size=9, order=1, num_bases=2, padding="same", strides=2,
                activation="relu", bias_initializer="random_normal", data_format=data_format)
    args.update(kwargs)
    layer = GaussianDerivativeConv2D(**args)
    # C ≠ H ≠ W, so that a wrong layout anywhere changes the result or fails.
    x = images((2, 16, 13, 11)) if data_format == "channels_first" else images((2, 13, 11, 16))
    y = to_numpy(layer(x))
    parts = layer.fold()
    if data_format == "channels_first":  # channels_last convolutions between two transposes
        expected = ["Permute", *expected, "Permute"]
    assert [type(p).__name__ for p in parts] == expected
    z = x
    for part in parts:
        z = part(z)
    # Outputs reach ~10 here: float32 round-off is relative.
    np.testing.assert_allclose(to_numpy(z), y, rtol=1e-5, atol=1e-5)


def channels_first_model():
    """channels_first layers of every fold form: one Conv2D, 1×1 → depthwise → 1×1, ConvNormAct."""
    inputs = keras.Input((5, 20, 12))  # C ≠ H ≠ W
    h = GaussianDerivativeConv2D(8, 5, num_bases=2, padding="same", activation="relu", data_format="channels_first", name="full")(inputs)
    conv = GaussianDerivativeConv2D(
        32, 9, order=1, num_bases=2, separable=True, strides=2, padding="same", use_bias=False, data_format="channels_first"
    )
    h = ConvNormAct(conv, norm="batch", name="block")(h)
    h = GaborConv2D(4, 3, num_kernels=3, data_format="channels_first", name="gabor")(h)
    model = keras.Model(inputs, h)
    norm = model.get_layer("block").normalization
    norm.set_weights([rng().normal(size=32) for _ in range(3)] + [rng().uniform(0.5, 2, 32)])
    return model


def test_channels_first_model_folds_and_exports(tmp_path):
    import tensorflow as tf

    model = channels_first_model()
    x = images((2, 5, 20, 12))
    expected = ops.convert_to_numpy(model(x))
    folded = fold(model)
    np.testing.assert_allclose(ops.convert_to_numpy(folded(x)), expected, rtol=1e-5, atol=1e-5)
    convolutions = [layer for layer in all_layers(folded) if isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D)]
    assert len(convolutions) == 5 and {layer.data_format for layer in convolutions} == {"channels_last"}
    if exported(export_saved_model, model, tmp_path / "saved"):
        restored = tf.saved_model.load(str(tmp_path / "saved"))
        np.testing.assert_allclose(ops.convert_to_numpy(restored.serve(x)), expected, rtol=1e-5, atol=1e-5)
    if exported(export_tflite, model, tmp_path / "model.tflite"):
        np.testing.assert_allclose(run_tflite(tmp_path / "model.tflite", x), expected, rtol=1e-4, atol=1e-4)


def test_channels_first_folds_run_without_onednn():
    # TensorFlow's CPU kernels run a channels_first Conv2D only through oneDNN (absent
    # on some CPUs, or turned off): rerun this module's channels_first tests without it
    # (on JAX too: the SavedModel and TFLite exports run on TensorFlow's kernels).
    # Elsewhere the layers and folds compute on XLA or PyTorch: only the exports run
    # TensorFlow's kernels, so only the export test is rerun there.
    tensorflow = keras.backend.backend() == "tensorflow"
    selection = "channels_first and not onednn" if tensorflow else "channels_first_model_folds_and_exports"
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
               __file__, "-k", selection]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert int(re.search(r"(\d+) passed", result.stdout).group(1)) >= (5 if tensorflow else 1), result.stdout[-3000:]


def test_fold_errors():
    with pytest.raises(ValueError, match="must be built before `fold\\(\\)`"):
        GaussianDerivativeConv2D(4, 3).fold()

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = GaussianDerivativeConv2D(4, 3)

        def call(self, x):
            return self.conv(x)

    net = Net()
    net(images((1, 8, 8, 3)))
    with pytest.raises(ValueError, match="Received: model of type Net"):
        fold(net)


def exported(export, model, path, **kwargs):
    """Runs `export`; on PyTorch, where Keras cannot export to TensorFlow's formats, checks
    that it refuses with the one error naming the alternatives instead, and returns False."""
    if keras.backend.backend() != "torch":
        export(model, path, **kwargs)
        return True
    with pytest.raises(RuntimeError, match="need the TensorFlow or JAX backend.*fold\\(model\\).*KERAS_BACKEND=tensorflow"):
        export(model, path, **kwargs)
    assert not Path(path).exists()
    return False


def test_export_refusal_on_torch_names_the_alternatives(monkeypatch, tmp_path):
    # Checked on every backend: what a PyTorch user sees, without a torch-backend model.
    # The refusal comes before any folding: one small structured model shows it.
    model = keras.Sequential([keras.Input((8, 8, 1)), GaussianDerivativeConv2D(2, 3)])
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    for export in (export_saved_model, export_tflite):
        with pytest.raises(RuntimeError) as error:
            export(model, tmp_path / "out")
        message = str(error.value)
        assert "\n" not in message and "torch-backend model" in message
        assert all(part in message for part in ("fold(model)", ".keras", "KERAS_BACKEND=tensorflow keras-gaussconv export"))


def test_saved_model_matches(tmp_path):
    import tensorflow as tf

    model = every_layer_model()
    x = images(IMAGES)
    if not exported(export_saved_model, model, tmp_path / "saved"):
        return
    restored = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_allclose(to_numpy(restored.serve(x)), to_numpy(model(x)), rtol=1e-5, atol=1e-5)


def run_tflite(path, x):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # LiteRT has no wheel for this platform: TensorFlow's interpreter
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_path=str(path))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_tflite_matches(tmp_path):
    model = every_layer_model()
    x = images(IMAGES)
    if not exported(export_tflite, model, tmp_path / "model.tflite"):
        return
    np.testing.assert_allclose(run_tflite(tmp_path / "model.tflite", x), to_numpy(model(x)), rtol=1e-4, atol=1e-4)


def test_tflite_dynamic_quantisation(tmp_path):
    model = every_layer_model()
    x = images(IMAGES)
    if not exported(export_tflite, model, tmp_path / "float.tflite"):
        return
    export_tflite(model, tmp_path / "dynamic.tflite", quantize="dynamic")
    assert (tmp_path / "dynamic.tflite").stat().st_size < (tmp_path / "float.tflite").stat().st_size
    expected = to_numpy(model(x))
    error = np.abs(run_tflite(tmp_path / "dynamic.tflite", x) - expected).max()
    assert error < 0.05 * np.abs(expected).max() + 1e-3


def test_export_rejects_unknown_quantisation(tmp_path):
    with pytest.raises(ValueError, match="Received: quantize='int4'"):
        export_tflite(every_layer_model(), tmp_path / "m.tflite", quantize="int4")


def test_every_structured_layer_is_a_basis_conv():
    assert all(isinstance(layer, BasisConv2D) for layer in all_layers(every_layer_model())
               if type(layer).__module__.startswith("keras_gaussconv"))
