"""Picks one backend's `auto` prices (`keras_gaussconv.ops.costs`) from measured times.

Reads the JSON of `benchmarks/bench_layers.py` (2-D layers) or of
`benchmarks/bench_ranks.py` (`--rank 1`, `3`, or `2` for its depthwise layers),
run on that backend, and tries every price combination of a grid: for each
point the cost model chooses a path, and its regret is the chosen path's
measured training step over the fastest path's. Prints the prices with the
smallest worst regret (then the smallest mean, then the closest to the
current prices), and the current prices' regrets for comparison.

Run: `KERAS_BACKEND=jax python benchmarks/fit_prices.py results-jax.json`
or `KERAS_BACKEND=jax python benchmarks/fit_prices.py ranks-jax.json --rank 3`.
"""

import argparse
import itertools
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench_layers import result_shape  # noqa: E402
from keras_gaussconv import GaussianDerivativeConv2D  # noqa: E402
from keras_gaussconv.ops.costs import backend_prices  # noqa: E402

CANDIDATES = {
    "full_basis": (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32, 64),
    "depthwise": (1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256, 512),
    "fft_full": (2, 3, 4, 6, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48, 64, 96, 128),
    "fft_separable": (1, 2, 3, 4, 6, 8, 12, 16, 20, 24, 28, 32, 40, 48, 64, 96, 128),
    "pointwise": (1, 1.5, 2, 3),
}
PATHS = ("kernel", "basis", "fft")


def regrets(layers, times, prices):
    """Measured time of the path the cost model picks over the fastest path's, per grid point."""
    out = []
    for layer, seconds in zip(layers, times):
        costs = layer.path_costs(prices)
        chosen = min(costs, key=costs.get)
        out.append(seconds[chosen] / min(seconds.values()))
    return np.array(out)


def measured_layers(data, rank):
    """The built `auto` layer of each measured point of `rank`, and its paths' training-step times."""
    layers, times, points = [], [], []
    if "family" not in data["results"][0]:  # bench_layers.py: 2-D Gaussian layers
        for r in data["results"] if rank == 2 else []:
            shape = result_shape(r)
            layer = GaussianDerivativeConv2D(
                shape.filters, r["kernel_size"], order=r["order"], num_bases=r["num_bases"],
                separable=r["separable"], padding="same",
            )
            layer.build((shape.batch, shape.size, shape.size, shape.channels))
            layers.append(layer)
            times.append({path: r["seconds"][path]["train"] for path in PATHS})
            points.append(f"k={r['kernel_size']} B={r['num_bases']} K={r['order']} {'sep' if r['separable'] else 'full'}")
        return layers, times, points
    from bench_ranks import INPUTS, grid

    makers = {(p["layer"], p["kernel_size"], p["separable"]): p for p in grid()}
    for r in data["results"]:
        point = makers[(r["layer"], r["kernel_size"], r["separable"])]
        if point["family"] == "convnext":  # whole blocks: their depthwise layers are fitted on their own
            continue
        layer = point["make"]("auto")
        layer.build(INPUTS[point["family"]][0])
        if layer.rank != rank:
            continue
        layers.append(layer)
        times.append({path: r["seconds"][path]["train"] for path in PATHS})
        points.append(f"{r['layer']} k={r['kernel_size']} {'sep' if r['separable'] else 'full'}")
    return layers, times, points


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="JSON written by bench_layers.py or bench_ranks.py --json on this backend")
    parser.add_argument("--rank", type=int, default=2, choices=(1, 2, 3), help="the layers' rank (default 2)")
    args = parser.parse_args()
    data = json.load(open(args.results))
    backend = keras.backend.backend()
    if backend not in data["machine"]:
        parser.error(f"{args.results} was measured on {data['machine']}, not on the {backend} backend")
    layers, times, names = measured_layers(data, args.rank)
    if not layers:
        parser.error(f"{args.results} holds no layer of rank {args.rank}")
    current = backend_prices(backend, args.rank)

    def score(prices):
        r = regrets(layers, times, prices)
        distance = sum(abs(np.log(prices[k] / current.get(k, 1.0))) for k in prices)
        return (round(r.max(), 3), round(r.mean(), 4), distance)

    best = min(
        (dict(zip(CANDIDATES, values)) for values in itertools.product(*CANDIDATES.values())), key=score
    )
    for label, prices in (("current", current), ("best", best)):
        r = regrets(layers, times, prices)
        print(f"{label}: {prices}: worst regret {100 * (r.max() - 1):+.0f} %, mean {100 * (r.mean() - 1):+.1f} %")
        for regret, name, layer, seconds in zip(r, names, layers, times):
            if regret > 1.05:
                costs = layer.path_costs(prices)
                ms = ", ".join(f"{path} {1000 * t:.1f}" for path, t in seconds.items())
                print(f"  {name}: picks {min(costs, key=costs.get)} (+{100 * (regret - 1):.0f} %); measured ms: {ms}")


if __name__ == "__main__":
    main()
