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

from keras_gaussconv.layers.basis_conv import BasisConv
from keras_gaussconv.layers.conv_norm_act import ConvNormAct
from keras_gaussconv.layers.scale_channels import ScaleChannels, ScalePooling

# Layers of this package that fold themselves into stock Keras layers.
FOLDABLE = (BasisConv, ConvNormAct, ScaleChannels, ScalePooling)


def _folded_layer(layer, tolerance=None):
    """The stock layer (or a Sequential of them, named like `layer`) replacing `layer`."""
    parts = layer.fold(tolerance)
    if len(parts) == 1:
        return parts[0]
    return keras.Sequential(parts, name=layer.name)


def fold(model, tolerance=None):
    """A new model with the same inputs and outputs, made of stock Keras layers only.

    Every `BasisConv` and `ConvNormAct` (also inside nested
    Sequential/functional models) is replaced by its `fold()`: a `Conv2D`, or
    a `Sequential` of stock layers (1×1 → depthwise → 1×1 for a separable
    layer; convolution, `BatchNormalization`, `Activation` for a wrapper). Every other
    layer is cloned with its weights copied, so the result is independent of
    `model`.

    Args:
        model: a built Sequential or functional Keras model.
        tolerance: None (kernels kept whole) or a relative tolerance with which
            each structured layer crops its kernels (`BasisConv.fold`), e.g.
            to fold `kernel_size=None` layers into small stock kernels.

    Returns:
        The folded `keras.Model`; its outputs equal `model`'s up to float32
        round-off (within `tolerance` per layer when given).

    Examples:
        >>> model = keras.Sequential([keras.Input((16, 16, 3)), GaussianDerivativeConv2D(4, 5)])
        >>> folded = fold(model)  # folded.save(path) loads without keras_gaussconv
        >>> [type(layer).__name__ for layer in folded.layers]
        ['Conv2D']
    """
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(f"`model` must be a built Keras model. Received: model={model!r}")
    # Keras exports no `Functional` class; a functional model is one in its MRO.
    if not any(cls.__name__ in ("Sequential", "Functional") for cls in type(model).__mro__):
        raise ValueError(
            "`fold` needs a Sequential or functional model (a subclassed model "
            "has no graph to rewrite); fold its layers with `layer.fold()`. "
            f"Received: model of type {type(model).__name__}"
        )
    copies = []

    def clone(layer):
        if isinstance(layer, FOLDABLE):
            return _folded_layer(layer, tolerance)
        new = layer.__class__.from_config(layer.get_config())
        copies.append((layer, new))
        return new

    folded = keras.models.clone_model(model, clone_function=clone, recursive=True)
    for original, new in copies:
        if original.weights:
            new.set_weights(original.get_weights())
    # A model Keras made but never called refuses `export(format="onnx")`; one symbolic
    # call on fresh inputs of the model's shapes marks it called and computes nothing.
    inputs = [keras.Input(batch_shape=t.shape, dtype=t.dtype) for t in folded.inputs]
    folded(inputs[0] if len(inputs) == 1 else inputs)
    return folded


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
