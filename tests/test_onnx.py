"""ONNX export (`model.export(format="onnx")` and `export.export_onnx`), checked in onnxruntime.

Keras exports with tf2onnx (TensorFlow), jax2onnx (JAX) or torch.onnx (PyTorch): the `onnx`
extra installs them. Structured layers export as they are on their kernel and basis paths;
a folded model is stock layers only and always exports.
"""

import keras
import numpy as np
import onnxruntime
import pytest

from helpers import images, to_numpy
from keras_gaussconv import ConvNormAct, GaussianDerivativeConv1D, GaussianDerivativeConv2D
from keras_gaussconv import GaussianDerivativeDepthwiseConv2D
from keras_gaussconv.export import export_onnx, fold

pytestmark = pytest.mark.core


def run_onnx(path, x):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def model_2d(implementation):
    inputs = keras.Input((16, 16, 3))
    x = GaussianDerivativeConv2D(6, 5, num_bases=2, padding="same", implementation=implementation)(inputs)
    x = ConvNormAct(GaussianDerivativeConv2D(4, 3, separable=True, use_bias=False, implementation=implementation))(x)
    x = GaussianDerivativeDepthwiseConv2D(3, depth_multiplier=2, implementation=implementation)(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


@pytest.mark.parametrize("implementation", ["kernel", "basis"])
def test_structured_and_folded_models_export_and_agree_in_onnxruntime(implementation, tmp_path):
    model = model_2d(implementation)
    x = images((2, 16, 16, 3))
    expected = to_numpy(model(x))
    model.export(tmp_path / "structured.onnx", format="onnx", verbose=False)
    np.testing.assert_allclose(run_onnx(tmp_path / "structured.onnx", x), expected, atol=1e-5)
    # A folded model never called by the user exports too.
    folded = fold(model)
    folded.export(tmp_path / "folded.onnx", format="onnx", verbose=False)
    np.testing.assert_allclose(run_onnx(tmp_path / "folded.onnx", x), expected, atol=1e-5)


def test_export_onnx_folds_first_so_fft_layers_export(tmp_path):
    # The FFT path has no ONNX operators on any backend; its folded convolution has.
    model = keras.Sequential([keras.Input((40, 2)), GaussianDerivativeConv1D(4, 15, padding="same", implementation="fft")])
    x = images((3, 40, 2))
    folded = export_onnx(model, tmp_path / "m.onnx")
    assert [type(layer).__name__ for layer in folded.layers] == ["Conv1D"]
    np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", x), to_numpy(model(x)), atol=1e-5)
