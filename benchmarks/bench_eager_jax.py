"""Eager calls of a structured layer on JAX: its convolution as one compiled program against op by op.

Outside `jit` (a notebook's `layer(x)`, `predict` aside, the tests) JAX compiles every operation of
a new shape as a program of its own. A layer's eager call runs its convolution through
`keras_gaussconv.ops.compiled.compiled_convolve` (one program per path, combination and shape) on the basis and FFT paths, which this
measures on all three;
the other contender calls `keras_gaussconv.ops.paths.convolve` directly, operation by operation
(what a call did before). Both get the same basis (already computed) and weights. For each
path and each new input size: the first call (compilation included) and the median of 5 repeats.
2 × n × n × 8 → 16 channels, k = 7, B = 2, 'same' padding.

Run: `KERAS_BACKEND=jax python benchmarks/bench_eager_jax.py`.
"""

import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_gaussconv import GaussianDerivativeConv2D  # noqa: E402
from keras_gaussconv.ops import compiled, paths  # noqa: E402


def seconds(function):
    start = time.perf_counter()
    np.asarray(function())  # a host copy: the work is done
    return time.perf_counter() - start


def main():
    if keras.backend.backend() != "jax":
        raise SystemExit("bench_eager_jax.py measures JAX's eager calls: run it with KERAS_BACKEND=jax")
    layer = GaussianDerivativeConv2D(16, 7, num_bases=2, padding="same")
    layer.build((None, None, None, 8))
    phi = layer.basis()
    weights = tuple(w.value for w in layer.combination_weights())
    jitted = compiled.compiled_convolve(phi, "fft")  # the program the basis and FFT paths' eager calls run
    print(f"JAX {__import__('jax').__version__}, Keras {keras.__version__}\n")
    print("| path | input | first call, compiled / op by op | later calls, compiled / op by op |\n|---|---|---|---|")
    for path in ("kernel", "basis", "fft"):
        for size in (24, 32, 40):
            static = dict(combination=layer.combination, path=path, spec=layer.spec)
            calls = {
                "compiled": lambda x: jitted(x, phi, weights, **static),
                "op by op": lambda x: paths.convolve(x, phi, weights, **static),
            }
            first, later = {}, {}
            for name, call in calls.items():  # each on an input size it has not seen
                x = np.random.default_rng(size).normal(size=(2, size + (name == "op by op"), size, 8)).astype("float32")
                first[name] = seconds(lambda: call(x))
                later[name] = statistics.median(seconds(lambda: call(x)) for _ in range(5))
            print(f"| {path} | 2×{size}×{size}×8 | {first['compiled'] * 1e3:.0f} / {first['op by op'] * 1e3:.0f} ms | "
                  f"{later['compiled'] * 1e3:.1f} / {later['op by op'] * 1e3:.1f} ms |", flush=True)


if __name__ == "__main__":
    main()
