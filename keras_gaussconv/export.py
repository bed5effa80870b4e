"""Fold trained models into stock Keras layers, and export them (SavedModel, TFLite, ONNX).

Every structured layer is linear in its input, so once trained it is a plain
convolution with constant weights. `fold` returns a model made only of stock
Keras layers: it reloads with `keras.models.load_model` without this package
and serves at the cost of a plain CNN. The exports fold first. SavedModel and
TFLite run on the TensorFlow and JAX backends (Keras cannot export a
PyTorch-backend model to TensorFlow's formats); ONNX on all three (the `onnx`
extra).
"""

import tempfile
from pathlib import Path

import keras

from keras_gaussconv.folding import fold

__all__ = ["check_export_backend", "export_onnx", "export_saved_model", "export_tflite", "fold"]


def check_export_backend():
    """Raises `RuntimeError` naming the alternatives when the backend cannot export to TensorFlow formats."""
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise RuntimeError(
            f"SavedModel and TFLite export need the TensorFlow or JAX backend; Keras cannot export a "
            f"{backend}-backend model to them. Instead: fold(model) gives stock layers (save them with "
            f".save('folded.keras')); or save the model as .keras and export it under TensorFlow: "
            f"KERAS_BACKEND=tensorflow keras-gaussconv export MODEL.keras --saved-model DIR --tflite FILE"
        )


def export_saved_model(model, path):
    """Folds `model` and writes a TensorFlow SavedModel (`model.export`) to `path`.

    The SavedModel serves the folded model's `serve` endpoint; load it with
    `tf.saved_model.load(path)`, no Keras or keras_gaussconv needed.

    Returns:
        The folded model.

    Raises:
        RuntimeError: on the PyTorch backend (`check_export_backend`).
    """
    check_export_backend()
    folded = fold(model)
    folded.export(str(path), format="tf_saved_model", verbose=False)
    return folded


def export_tflite(model, path, quantize=None):
    """Folds `model` and writes a TensorFlow Lite flatbuffer to `path`.

    Args:
        model: a built Sequential or functional model.
        path: the `.tflite` file to write.
        quantize: `None` (float32) or `"dynamic"` (weights stored as int8,
            dynamic-range quantisation).

    Returns:
        The folded model.

    Raises:
        RuntimeError: on the PyTorch backend (`check_export_backend`).
    """
    if quantize not in (None, "dynamic"):
        raise ValueError(f"`quantize` must be None or 'dynamic'. Received: quantize={quantize!r}")
    check_export_backend()
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as saved_model:
        folded = export_saved_model(model, saved_model)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        if quantize == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        Path(path).write_bytes(converter.convert())
    return folded


def export_onnx(model, path, opset_version=None):
    """Folds `model` and writes an ONNX file (`model.export(format="onnx")`) to `path`.

    Works on every backend (Keras converts with tf2onnx, jax2onnx or
    torch.onnx: `pip install 'keras-gaussconv[onnx]'`). Folding first
    also exports layers on the FFT path, which has no ONNX operators; run the
    file with `onnxruntime.InferenceSession(path)`.

    Returns:
        The folded model.
    """
    folded = fold(model)
    folded.export(str(path), format="onnx", verbose=False, opset_version=opset_version)
    return folded
