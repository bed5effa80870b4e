"""What the scale experiment's networks cost: each one's training step against the stock CNN's.

`keras-gaussconv scales` trains the stock CNN (3×3 `Conv2D`, 2×2 max pooling), the one-channel
Gaussian derivative network, Lindeberg's scale-channel network (channels 0.5 … 4, filters
rescaled, no subsampling), the stock CNN behind `SizeNormalization` and `size_normalized_network`
(`scale_network`, the full run's settings). Each is timed here on the training canvas, batch 32 of
32 × 32 × 1 images, compiled with Keras' defaults (Adam, mean-square loss) and timed through Keras'
trainer, interleaved round by round, median of `--repeats` rounds (`bench_networks.NetworkContender`);
the first training step (trace + compile) of each is measured once. An epoch of the experiment is
39 such steps.

Run: `[KERAS_BACKEND=jax] python benchmarks/bench_scale_networks.py [--repeats 5] [--json PATH]`.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench_layers import backend_version  # noqa: E402
from bench_networks import time_models, write_json  # noqa: E402
from keras_gaussconv_cli.experiments.scales import SCALE_NETWORKS, SCALE_SETTINGS, scale_network  # noqa: E402

SHAPE = (32, 32, 32, 1)


def run(repeats):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=SHAPE).astype("float32")
    built = {kind: scale_network(kind, SHAPE[1], SCALE_SETTINGS["full"]) for kind in SCALE_NETWORKS}
    y = rng.uniform(size=(SHAPE[0], 10)).astype("float32")
    return {"shape": SHAPE, **time_models(built, x, y, repeats)}


def table(result):
    """Markdown: each network's step and epoch, against the stock CNN's."""
    t, first, params = result["train_s"], result["first_step_s"], result["parameters"]
    lines = ["| network | trainable parameters | train step | epoch (39 steps) | / stock CNN | first step |",
             "|---|---|---|---|---|---|"]
    for name, seconds in t.items():
        lines.append(f"| {name} | {params[name]:,} | {seconds * 1e3:.1f} ms | {39 * seconds:.1f} s | "
                     f"{seconds / t['cnn']:.2f}× | {first[name]:.2f} s |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    args = parser.parse_args()
    result = run(args.repeats)
    print(f"{backend_version()}, Keras {keras.__version__}\n\n{table(result)}")
    if args.json:
        write_json(args.json, args.repeats, result)


if __name__ == "__main__":
    main()
