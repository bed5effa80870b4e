"""Operations in one training step of a structured layer, against its stock twin.

On a GPU each operation is a kernel launch, and on an eager backend (PyTorch) each is a
Python dispatch: the op count is the fixed cost a layer pays at every step, whatever the
size of its input. Counted for forward + mean-square loss + gradient of the trainable
weights, 'same' layers on 32 × 8 × 8 × 32 (1-D: 32 × 8 × 32, 3-D: 4 × 8³ × 32),
k = 7, B = 4, K = 2, every path:

* TensorFlow (default): every operation of the `tf.function` graph (constants, variable
  reads and identities included);
* PyTorch (`KERAS_BACKEND=torch`): every ATen operator the step dispatches, forward and
  backward, as `torch.profiler` records them (views included; operators that another
  operator calls inside itself are not counted again), and every ATen call at the
  dispatcher, those nested ones included (an einsum's permutes, copies and batched
  product: what the first count hides inside one operator).

Run: `[KERAS_BACKEND=torch] python benchmarks/count_ops.py [--json PATH]`.
"""

import argparse
import importlib
import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from keras import ops  # noqa: E402

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


def _graph_ops(layer, shape):
    """Operations in the `tf.function` graph of one training step of `layer` on `shape`."""
    import tensorflow as tf

    x = tf.random.normal(shape)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(x, training=True)))
        return tape.gradient(loss, layer.trainable_variables)

    return len(step.get_concrete_function(x).graph.get_operations())


def dispatched_ops(layer, shape):
    """`(operators, calls)` of one eager training step of `layer` on `shape` (PyTorch), from one profile:
    the ATen operators it dispatches, and every ATen call, those an operator makes inside itself included."""
    import torch
    from torch.profiler import profile

    layer.build(shape)
    x = torch.randn(shape)

    def step():
        loss = ops.mean(ops.square(layer(x, training=True)))
        torch.autograd.grad(loss, [v.value for v in layer.trainable_variables])

    step()  # the first call's one-off work (dtype lookups, caches) is not a step's
    with profile() as prof:
        step()

    def nested(event):
        parent = event.cpu_parent
        while parent is not None:
            if parent.name.startswith("aten::"):
                return True
            parent = parent.cpu_parent
        return False

    calls = [e for e in prof.events() if e.name.startswith("aten::")]
    return sum(1 for e in calls if not nested(e)), len(calls)


def training_step_ops(layer, shape):
    """The number of operations in one training step of `layer` on `shape` (module docstring; PyTorch:
    the operators dispatched)."""
    if keras.backend.backend() == "torch":
        return dispatched_ops(layer, shape)[0]
    layer.build(shape)
    return _graph_ops(layer, shape)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the counts here")
    args = parser.parse_args()
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "torch"):
        raise SystemExit(f"count_ops.py counts TensorFlow graphs and PyTorch dispatches, not {backend}'s")
    version = importlib.import_module(backend).__version__
    print(f"{backend} {version}, Keras {keras.__version__}\n")
    result = {backend: version, "keras": keras.__version__}
    if backend == "tensorflow":
        counts = result["ops"] = {name: training_step_ops(make(), shape) for name, (make, shape) in CASES.items()}
        print("| layer (k = 7, B = 4, K = 2) | graph ops in a training step |\n|---|---|")
        print("\n".join(f"| {name} | {count} |" for name, count in counts.items()))
    else:
        pairs = {name: dispatched_ops(make(), shape) for name, (make, shape) in CASES.items()}
        result["ops"] = {name: operators for name, (operators, _) in pairs.items()}
        result["every_aten_call"] = {name: calls for name, (_, calls) in pairs.items()}
        print("| layer (k = 7, B = 4, K = 2) | ATen ops dispatched in a training step | every ATen call |\n|---|---|---|")
        print("\n".join(f"| {name} | {operators} | {calls} |" for name, (operators, calls) in pairs.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
