"""Which form should a folded channels_first layer take? Inference time of the two forms.

`fold()` of a channels_first layer could give a stock `Conv2D(data_format="channels_first")`
(runs on TensorFlow's CPU only through oneDNN) or channels_last convolutions between two
`Permute` layers (runs everywhere). This times both, interleaved in one process, on the
folded layers of a full and a separable `GaussianDerivativeConv2D`, and prints the ratio
permute / native (below 1: the portable form is also faster).

Run: `python benchmarks/bench_fold_layout.py` (TensorFlow; oneDNN must be on for the native form).
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["KERAS_BACKEND"] = "tensorflow"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_gaussconv import GaussianDerivativeConv2D  # noqa: E402

ROUNDS, REPEATS = 10, 5
SHAPE = (16, 32, 32, 32)  # batch, channels, rows, cols


def native(parts):
    """The same stock layers, channels_first, without the Permutes."""
    layers = []
    for part in parts:
        if isinstance(part, keras.layers.Permute):
            continue
        config = {**part.get_config(), "data_format": "channels_first"}
        copy = type(part).from_config(config)
        copy.build((None, part.input.shape[-1], None, None))
        copy.set_weights(part.get_weights())
        layers.append(copy)
    return layers


def timed(function, x):
    start = time.perf_counter()
    for _ in range(REPEATS):
        function(x).numpy()
    return (time.perf_counter() - start) / REPEATS


def main():
    x = np.random.default_rng(0).normal(size=SHAPE).astype("float32")
    print(f"input {SHAPE} (NCHW), {keras.backend.backend()}, TensorFlow {tf.__version__}")
    print("| layer | folded parts | permute ms | native ms | permute / native |\n|---|---|---|---|---|")
    for name, kwargs in (
        ("full k=7", dict(kernel_size=7, num_bases=2)),
        ("separable k=15", dict(kernel_size=15, order=1, num_bases=2, separable=True)),
    ):
        layer = GaussianDerivativeConv2D(64, padding="same", data_format="channels_first", **kwargs)
        layer.build(SHAPE)
        permuted = keras.Sequential([keras.Input(SHAPE[1:]), *layer.fold()])
        plain = keras.Sequential([keras.Input(SHAPE[1:]), *native(permuted.layers)])
        forms = {"permute": tf.function(permuted), "native": tf.function(plain)}
        np.testing.assert_allclose(forms["permute"](x).numpy(), forms["native"](x).numpy(), rtol=1e-4, atol=1e-4)
        times = {key: [] for key in forms}
        for _ in range(2):  # warm-up
            for key, function in forms.items():
                timed(function, x)
        for _ in range(ROUNDS):
            for key, function in forms.items():
                times[key].append(timed(function, x))
        p, n = (1e3 * np.median(times[key]) for key in ("permute", "native"))
        parts = " → ".join(type(layer).__name__ for layer in permuted.layers)
        print(f"| {name} | {parts} | {p:.1f} | {n:.1f} | {p / n:.2f} |")


if __name__ == "__main__":
    main()
