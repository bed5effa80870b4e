"""Models saved by keras-gaussconv 0.2.0 load and give the outputs they gave then.

`tests/data/compat_v0_2_0.keras` holds what 0.2.0 added since 0.1.0's file
(`test_reliability.py`): the 1-D and 3-D layers, the depthwise layer, Gabor in 1-D, a separable
3-D layer and `channels_first`; `compat_v0_2_0.npz` its inputs and outputs, saved by 0.2.0 under
TensorFlow (`python tests/test_compat_0_2_0.py DIR` with 0.2.0 installed writes them).
"""

import sys
from pathlib import Path

import keras
import numpy as np
import pytest

DATA = Path(__file__).resolve().parent / "data"
MODEL, ARRAYS = DATA / "compat_v0_2_0.keras", DATA / "compat_v0_2_0.npz"
pytestmark = pytest.mark.core

INPUTS = {"signal": (20, 2), "image": (12, 12, 4), "volume": (6, 6, 6, 1)}


def compat_model():
    """Every layer kind 0.2.0 added, one output per input rank."""
    from keras_gaussconv import (
        ConvNormAct,
        GaborConv1D,
        GaussianDerivativeConv1D,
        GaussianDerivativeConv2D,
        GaussianDerivativeConv3D,
        GaussianDerivativeDepthwiseConv2D,
    )

    keras.utils.set_random_seed(0)
    inputs = {name: keras.Input(shape, name=name) for name, shape in INPUTS.items()}
    signal = GaussianDerivativeConv1D(4, 7, order=3, num_bases=2, padding="same", activation="relu", name="g1d")(
        inputs["signal"]
    )
    signal = GaborConv1D(3, 9, num_kernels=2, name="gabor1d")(signal)
    image = ConvNormAct(GaussianDerivativeDepthwiseConv2D(5, depth_multiplier=2, num_bases=2, padding="same"),
                        norm="batch", name="depthwise")(inputs["image"])
    image = keras.layers.Permute((3, 1, 2))(image)
    image = GaussianDerivativeConv2D(4, 3, order=1, data_format="channels_first", name="first")(image)
    volume = GaussianDerivativeConv3D(2, 3, order=2, num_bases=2, separable=True, padding="same", name="g3d")(
        inputs["volume"]
    )
    return keras.Model(inputs, [signal, image, volume], name="compat_0_2_0")


def test_models_saved_by_0_2_0_still_load_and_agree():
    import keras_gaussconv  # noqa: F401  (registers the layers)

    if not MODEL.exists() or not ARRAYS.exists():
        pytest.fail(f"{MODEL} and {ARRAYS} must stay committed (regenerate only for a new compat file)")
    arrays = np.load(ARRAYS)
    model = keras.models.load_model(MODEL)
    outputs = model({name: arrays[name] for name in INPUTS})
    for index, output in enumerate(outputs):
        expected = arrays[f"output{index}"]
        # Saved under TensorFlow by 0.2.0; every backend's convolutions sum in their own order.
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(output), expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max()
        )


if __name__ == "__main__":  # with keras-gaussconv 0.2.0 importable: writes the files into sys.argv[1]
    import keras_gaussconv

    assert keras_gaussconv.__version__ == "0.2.0", keras_gaussconv.__version__
    target = Path(sys.argv[1])
    model = compat_model()
    draw = np.random.default_rng(0)
    data = {name: draw.normal(size=(2, *shape)).astype("float32") for name, shape in INPUTS.items()}
    outputs = [keras.ops.convert_to_numpy(y) for y in model(data)]
    model.save(target / MODEL.name)
    np.savez(target / ARRAYS.name, **data, **{f"output{i}": y for i, y in enumerate(outputs)})
    print(keras_gaussconv.__file__, [y.shape for y in outputs])
