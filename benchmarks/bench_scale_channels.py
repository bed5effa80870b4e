"""One scale-channel layer against the stock convolutions it stands for: what S channels cost today.

`ScaleChannels(GaussianDerivativeConv2D(F, k))` with S channels evaluates its basis at S scales and
applies each with the one kernel size k, which must hold the largest channel (±4σ·s_max), so
every channel pays the largest channel's kernel. Its stock counterpart is S `Conv2D(F, k)` on the
same input, one per channel, concatenated. Both are one-layer models compiled with Keras'
defaults and timed through Keras' trainer (Adam, mean-square loss), interleaved round by round,
median of `--repeats` rounds (`bench_networks.NetworkContender`). Also: the structured layer
at S = 1 (its own cost without channels), and the path `auto` picks.

Settings: 2 × 32 × 32 × 4 → 8 channels, order 2, σ = 1, scale-normalised; S = 4 (octaves
0.5 … 4, k = 33) and S = 8 (half octaves 0.5 … 5.7, k = 47).

Run: `[KERAS_BACKEND=jax] python benchmarks/bench_scale_channels.py [--repeats 5] [--json PATH]`.
"""

import argparse
import json
import math
import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench_layers import backend_version, time_interleaved  # noqa: E402
from bench_networks import NetworkContender  # noqa: E402
from keras_gaussconv import GaussianDerivativeConv2D, ScaleChannels  # noqa: E402

SHAPE, FILTERS, SIGMA = (2, 32, 32, 4), 8, 1.0
CHANNELS = {4: tuple(2.0**k for k in range(-1, 3)), 8: tuple(2 ** (k / 2) for k in range(-2, 6))}


def kernel_size(scales):
    """±4σ·s at the largest channel."""
    return 2 * math.ceil(4 * SIGMA * max(scales)) + 1


def structured(scales, k):
    conv = GaussianDerivativeConv2D(FILTERS, k, padding="same", scale_normalized=True,
                                    sigma_initializer=keras.initializers.Constant(SIGMA))
    inputs = keras.Input(SHAPE[1:])
    return keras.Model(inputs, ScaleChannels(conv, scales=scales)(inputs)), conv


def stock(count, k):
    inputs = keras.Input(SHAPE[1:])
    outputs = [keras.layers.Conv2D(FILTERS, k, padding="same")(inputs) for _ in range(count)]
    return keras.Model(inputs, keras.layers.Concatenate()(outputs) if count > 1 else outputs[0])


def run(count, repeats):
    scales = CHANNELS[count]
    k = kernel_size(scales)
    rng = np.random.default_rng(0)
    x = rng.normal(size=SHAPE).astype("float32")
    channels, conv = structured(scales, k)
    models = {"scale channels": channels, f"{count} × Conv2D": stock(count, k),
              "one channel": structured((1.0,), k)[0], "Conv2D": stock(1, k)}
    contenders = []
    for name, model in models.items():
        y = rng.normal(size=(SHAPE[0], *model.output_shape[1:])).astype("float32")
        contenders.append(NetworkContender(name, model, x, y))
    time_interleaved([(c, ("train",)) for c in contenders], repeats, warmup=2)
    return {"channels": count, "scales": scales, "kernel_size": k, "auto_path": conv.execution_path,
            "train_s": {c.name: statistics.median(c.times["train"]) for c in contenders}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    results = [run(count, args.repeats) for count in CHANNELS]
    print(f"{backend_version()}, Keras {keras.__version__}\n")
    print("| S | k | auto → | train step: S channels / S × Conv2D | one channel / Conv2D | S channels / one channel |")
    print("|---|---|---|---|---|---|")
    for r in results:
        t = r["train_s"]
        stock_name = f"{r['channels']} × Conv2D"
        print(f"| {r['channels']} | {r['kernel_size']} | {r['auto_path']} | "
              f"{t['scale channels'] * 1e3:.1f} / {t[stock_name] * 1e3:.1f} ms = **{t['scale channels'] / t[stock_name]:.2f}×** | "
              f"{t['one channel'] / t['Conv2D']:.2f}× | {t['scale channels'] / t['one channel']:.2f}× |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"version": backend_version(), "keras": keras.__version__, "repeats": args.repeats,
                       "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
