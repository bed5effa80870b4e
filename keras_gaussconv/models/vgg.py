"""Keras Applications VGG16 with a structured first layer (transfer learning)."""

import keras

from keras_gaussconv.layers.gaussian_derivative_conv import GaussianDerivativeConv2D


def _vgg16(weights, include_top, input_shape, classes):
    """Keras' VGG16; a failed ImageNet download says what to do instead."""
    try:
        return keras.applications.VGG16(weights=weights, include_top=include_top, input_shape=input_shape, classes=classes)
    except Exception as error:  # Keras raises a bare Exception for a failed download
        if weights != "imagenet" or "URL fetch failure" not in str(error):
            raise
        raise ConnectionError(
            "weights='imagenet' needs a one-time download of the ImageNet VGG16 weights, which "
            f"failed ({str(error).splitlines()[0]}). Pass weights=None for random weights, or "
            "weights='PATH' to a local copy of the Keras VGG16 weights file "
            "(vgg16_weights_tf_dim_ordering_tf_kernels.h5, or ..._notop.h5 with include_top=False)."
        ) from None


def gaussian_vgg16(
    weights="imagenet",
    include_top=True,
    input_shape=None,
    classes=1000,
    freeze_base=True,
    kernel_size=3,
    order=2,
    num_bases=4,
):
    """`keras.applications.VGG16` whose `block1_conv1` is a `GaussianDerivativeConv2D`.

    The structured layer has 64 filters, 'same' padding and ReLU like the
    layer it replaces; every other layer keeps its (e.g. ImageNet) weights,
    and with `freeze_base=True` all of them are frozen so that only
    `block1_conv1` trains — the paper's transfer-learning setup.

    Args:
        weights: None, "imagenet" (downloaded once by Keras; without network a
            `ConnectionError` says so) or a weights file path.
        include_top: as `keras.applications.VGG16`.
        input_shape: as `keras.applications.VGG16`.
        classes: as `keras.applications.VGG16`.
        freeze_base: freeze every layer but `block1_conv1`.
        kernel_size: of the structured first layer.
        order: of the structured first layer.
        num_bases: of the structured first layer.

    Returns:
        A functional `keras.Model` named "gaussian_vgg16".
    """
    base = _vgg16(weights, include_top, input_shape, classes)
    copies = []

    def clone(layer):
        if layer.name == "block1_conv1":
            return GaussianDerivativeConv2D(
                64, kernel_size, order=order, num_bases=num_bases, padding="same",
                activation="relu", name="block1_conv1",
            )
        new = layer.__class__.from_config(layer.get_config())
        copies.append((layer, new))
        return new

    model = keras.models.clone_model(base, clone_function=clone)
    for original, new in copies:
        if original.weights:
            new.set_weights(original.get_weights())
        new.trainable = not freeze_base
    model.get_layer("block1_conv1").trainable = True
    model.name = "gaussian_vgg16"
    return model
