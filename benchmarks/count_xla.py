"""XLA kernels in one compiled training step: a structured network against its stock twin.

On a GPU, XLA runs a compiled program as a sequence of kernels: each fusion, each custom
call (cuDNN convolutions, cuBLAS products, FFTs) and each operation left unfused is one
launch. This script counts them in the optimised HLO of one training step (forward,
mean-square loss, gradient of every trainable weight; no optimizer update, which adds the
same elementwise work per variable to both), compiled by XLA on the machine it runs on:

* JAX (`KERAS_BACKEND=jax`): `jax.jit(jax.grad(loss))`, Keras' default there;
* TensorFlow (default): a `tf.function(jit_compile=True)`, what Keras compiles on a
  TensorFlow GPU (`jit_compile="auto"`).

On a CPU the numbers are a proxy for a GPU's: XLA:CPU and XLA:GPU fuse by similar rules,
but a CPU convolution is an Eigen call rather than a cuDNN custom call. The structured
network's extra kernels are its basis programs (one fused group per layer is the ideal).
Networks: the paper's U-net `gaussian_unet((64, 64, 3))` and the Table-1 network, against
`keras_gaussconv.export.fold` of each (the same topology with stock convolutions).

Run: `[KERAS_BACKEND=jax] python benchmarks/count_xla.py [--json PATH]`.
"""

import argparse
import collections
import json
import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench_layers import compiled_jax_step  # noqa: E402
from keras_gaussconv.export import fold  # noqa: E402
from keras_gaussconv.models import comparison_net, gaussian_unet  # noqa: E402

NETWORKS = {  # name: (builder, batch)
    "U-net 64×64 (paper)": (lambda: gaussian_unet((64, 64, 3), 1), 8),
    "Table-1 network, k = 7": (lambda: comparison_net("gaussian", (32, 32, 1), 10, kernel_size=7), 32),
}
# Instructions that launch nothing: arguments, results, layout-only views, literals.
FREE = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast"}


def kernels(hlo_text):
    """Opcode → count of the launched instructions of the ENTRY computation of an optimised HLO module.

    Everything XLA fused lives in a `fusion` instruction's own computation, so the entry's
    instructions (less `FREE` ones) are the kernels the program launches in sequence.
    """
    entry = re.search(r"^ENTRY [^\n]*\{\n(.*?)^\}", hlo_text, re.S | re.M)
    if entry is None:
        raise ValueError("no ENTRY computation in the HLO text")
    counts = collections.Counter()
    for line in entry.group(1).splitlines():
        # `name = type[shape]{layout} opcode(operands), attributes`; tuple types hold spaces and parentheses.
        match = re.match(r"\s*(?:ROOT )?\S+ = .*?\s([a-z][a-z0-9-]*)\(", line)
        if match and match.group(1) not in FREE:
            counts[match.group(1)] += 1
    return counts


def _loss_inputs(model, batch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, *model.input_shape[1:])).astype("float32")
    y = rng.normal(size=(batch, *model.output_shape[1:])).astype("float32")
    return x, y


def optimized_hlo(model, batch):
    """The optimised HLO text of one training step of `model` (module docstring)."""
    x, y = _loss_inputs(model, batch)
    if keras.backend.backend() == "jax":
        return compiled_jax_step(model, x, y).as_text()
    import tensorflow as tf

    @tf.function(jit_compile=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        return tape.gradient(loss, model.trainable_variables)

    return step.experimental_get_compiler_ir(tf.constant(x), tf.constant(y))(stage="optimized_hlo")


def count(model, batch):
    counts = kernels(optimized_hlo(model, batch))
    return {"kernels": sum(counts.values()), "fusion": counts["fusion"], "custom-call": counts["custom-call"],
            "convolution": counts["convolution"], "by_opcode": dict(counts.most_common())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the counts here")
    args = parser.parse_args()
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise SystemExit(f"count_xla.py counts XLA programs (JAX, TensorFlow), not {backend}'s")
    version = __import__(backend).__version__
    results = {}
    for name, (build, batch) in NETWORKS.items():
        keras.utils.set_random_seed(0)
        model = build()
        results[name] = {"structured": count(model, batch), "stock": count(fold(model), batch)}
    print(f"{backend} {version}, Keras {keras.__version__}, XLA on {keras.config.backend()}'s default device\n")
    print("| network | XLA kernels, structured / stock | fusions | custom calls | convolutions |\n|---|---|---|---|---|")
    for name, pair in results.items():
        s, t = pair["structured"], pair["stock"]
        print(f"| {name} | {s['kernels']} / {t['kernels']} = {s['kernels'] / t['kernels']:.2f}× | "
              f"{s['fusion']} / {t['fusion']} | {s['custom-call']} / {t['custom-call']} | "
              f"{s['convolution']} / {t['convolution']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({backend: version, "keras": keras.__version__, "networks": results}, f, indent=1)


if __name__ == "__main__":
    main()
