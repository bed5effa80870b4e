"""What scale channels cost a U-net: the scale-channel U-net's training step against the Gaussian and the stock U-net.

`scale_channel_unet` evaluates every structured layer at S scales (`ScaleChannels`) with one set
of weights; its question is what a user pays for that against `gaussian_unet` (one channel) and
the stock `unet` of the same depth and width, what `scaled_kernels=True` (each channel's
kernels cropped to its own σ·sᵢ) saves, and what rescaling the image instead costs
(`rescale="image"`, with its default 9-tap and with 5-tap kernels, and with the channels selected
per image by `ImageScale`: `scale_window`; `--scales` powers of 2). The models, batch 8 of 64 × 64 × 3 images,
are compiled with Keras' defaults (Adam, mean-square loss) and timed through Keras' trainer,
interleaved round by round, median of `--repeats` rounds (`bench_networks.NetworkContender`);
the first training step (trace + compile) of each is measured once. Channels: `--scales`
(default 0.5 1 2, the builder's default).

Run: `[KERAS_BACKEND=jax] python benchmarks/bench_scale_unet.py [--repeats 5] [--json PATH]`.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench_layers import backend_version  # noqa: E402
from bench_networks import time_models, write_json  # noqa: E402
from keras_gaussconv.models import gaussian_unet, scale_channel_unet, unet  # noqa: E402

SHAPE, DEPTH, FILTERS = (8, 64, 64, 3), 2, 8


def models(scales):
    """The U-nets of one depth and width, by name: in scale channels (every channel the largest's
    kernel size, or each its own: `scaled_kernels`), in one channel, stock."""
    keras.utils.set_random_seed(0)
    common = dict(base_filters=FILTERS, depth=DEPTH)
    return {
        f"scale-channel U-net, S = {len(scales)}": scale_channel_unet(SHAPE[1:], 1, scales=scales, **common),
        f"scale-channel U-net, S = {len(scales)}, scaled kernels": scale_channel_unet(
            SHAPE[1:], 1, scales=scales, scaled_kernels=True, **common),
        f"scale-channel U-net, S = {len(scales)}, image rescaled": scale_channel_unet(
            SHAPE[1:], 1, scales=scales, rescale="image", scale_window=None, **common),
        f"scale-channel U-net, S = {len(scales)}, image rescaled, channels selected": scale_channel_unet(
            SHAPE[1:], 1, scales=scales, rescale="image", **common),  # the default window
        f"scale-channel U-net, S = {len(scales)}, image rescaled, 5 taps": scale_channel_unet(
            SHAPE[1:], 1, scales=scales, rescale="image", scale_window=None, kernel_size=5, **common),
        "Gaussian U-net": gaussian_unet(SHAPE[1:], 1, **common),
        "stock U-net": unet(SHAPE[1:], 1, **common),
    }


def run(scales, repeats):
    rng = np.random.default_rng(0)
    x = rng.normal(size=SHAPE).astype("float32")
    y = rng.uniform(size=(*SHAPE[:-1], 1)).astype("float32")
    built = models(scales)
    return {"scales": list(scales), "shape": SHAPE, "depth": DEPTH, "base_filters": FILTERS,
            **time_models(built, x, y, repeats)}


def table(result):
    """Markdown: each U-net's step, against the stock and the Gaussian U-net."""
    t, first, params = result["train_s"], result["first_step_s"], result["parameters"]
    stock, gaussian = t["stock U-net"], t["Gaussian U-net"]
    lines = ["| model | trainable parameters | train step | / stock | / Gaussian U-net | first step |",
             "|---|---|---|---|---|---|"]
    for name, seconds in t.items():
        lines.append(f"| {name} | {params[name]:,} | {seconds * 1e3:.1f} ms | {seconds / stock:.2f}× | "
                     f"{seconds / gaussian:.2f}× | {first[name]:.2f} s |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.5, 1.0, 2.0], help="the channels' scales")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    args = parser.parse_args()
    result = run(tuple(args.scales), args.repeats)
    print(f"{backend_version()}, Keras {keras.__version__}\n\n{table(result)}")
    if args.json:
        write_json(args.json, args.repeats, result)


if __name__ == "__main__":
    main()
