"""Graph operations in one training step of a structured layer, against its stock twin (TensorFlow).

On a GPU each operation is a kernel launch, and on an eager backend (PyTorch) each is a
Python dispatch: the op count is the fixed cost a layer pays at every step, whatever the
size of its input. Counted: every operation of the `tf.function` graph of
forward + mean-square loss + gradient of the trainable weights (constants, variable
reads and identities included), for 'same' layers on 32 × 8 × 8 × 32 (1-D: 32 × 8 × 32,
3-D: 4 × 8³ × 32), k = 7, B = 4, K = 2, every path.

Run: `python benchmarks/count_ops.py [--json PATH]` (TensorFlow only: graphs are its own).
"""

import argparse
import json
import os

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_gaussconv import (  # noqa: E402
    GaborConv2D,
    GaussianDerivativeConv1D,
    GaussianDerivativeConv2D,
    GaussianDerivativeConv3D,
    GaussianDerivativeDepthwiseConv2D,
)

STRUCTURED = dict(num_bases=4, order=2, padding="same")
IMAGES, SIGNALS, VOLUMES = (32, 8, 8, 32), (32, 8, 32), (4, 8, 8, 8, 32)
CASES = {
    "GaussianDerivativeConv2D, kernel path": (lambda: GaussianDerivativeConv2D(32, 7, implementation="kernel", **STRUCTURED), IMAGES),
    "GaussianDerivativeConv2D, basis path": (lambda: GaussianDerivativeConv2D(32, 7, implementation="basis", **STRUCTURED), IMAGES),
    "GaussianDerivativeConv2D, FFT path": (lambda: GaussianDerivativeConv2D(32, 7, implementation="fft", **STRUCTURED), IMAGES),
    "GaussianDerivativeConv2D, separable, kernel path": (
        lambda: GaussianDerivativeConv2D(32, 7, separable=True, implementation="kernel", **STRUCTURED), IMAGES),
    "GaborConv2D (N = 6), kernel path": (
        lambda: GaborConv2D(32, 7, num_bases=4, num_kernels=6, padding="same", implementation="kernel"), IMAGES),
    "Conv2D": (lambda: keras.layers.Conv2D(32, 7, padding="same"), IMAGES),
    "GaussianDerivativeConv1D, kernel path": (lambda: GaussianDerivativeConv1D(32, 7, implementation="kernel", **STRUCTURED), SIGNALS),
    "Conv1D": (lambda: keras.layers.Conv1D(32, 7, padding="same"), SIGNALS),
    "GaussianDerivativeConv3D, kernel path": (lambda: GaussianDerivativeConv3D(32, 7, implementation="kernel", **STRUCTURED), VOLUMES),
    "Conv3D": (lambda: keras.layers.Conv3D(32, 7, padding="same"), VOLUMES),
    "GaussianDerivativeDepthwiseConv2D": (lambda: GaussianDerivativeDepthwiseConv2D(7, **STRUCTURED), IMAGES),
    "DepthwiseConv2D": (lambda: keras.layers.DepthwiseConv2D(7, padding="same"), IMAGES),
}


def training_step_ops(layer, shape):
    """The number of operations in the graph of one training step of `layer` on `shape`."""
    x = tf.random.normal(shape)
    layer.build(shape)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(x, training=True)))
        return tape.gradient(loss, layer.trainable_variables)

    return len(step.get_concrete_function(x).graph.get_operations())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the counts here")
    args = parser.parse_args()
    counts = {name: training_step_ops(make(), shape) for name, (make, shape) in CASES.items()}
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}\n")
    print("| layer (k = 7, B = 4, K = 2) | graph ops of a training step |\n|---|---|")
    for name, count in counts.items():
        print(f"| {name} | {count} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"tensorflow": tf.__version__, "keras": keras.__version__, "ops": counts}, f, indent=1)


if __name__ == "__main__":
    main()
