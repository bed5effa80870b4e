"""Picks one backend's `auto` prices (`keras_gaussconv.layers.basis_conv.PRICES`) from measured times.

Reads the JSON of `benchmarks/bench_layers.py` (run on that backend) and tries
every price combination of a grid: for each grid point the cost model chooses a
path, and its regret is the chosen path's measured training step over the
fastest path's. Prints the prices with the smallest worst regret (then the
smallest mean, then the closest to the current prices), and the current
prices' regrets for comparison.

Run: `KERAS_BACKEND=jax python benchmarks/fit_prices.py results-jax.json`.
"""

import argparse
import itertools
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_gaussconv import GaussianDerivativeConv2D  # noqa: E402
from keras_gaussconv.layers.basis_conv import PRICES  # noqa: E402

BATCH_INPUT = (16, 32, 32, 32)  # bench_layers.py's input
CANDIDATES = {
    "full_basis": (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32),
    "depthwise": (1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32),
    "fft_full": (2, 3, 4, 6, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48, 64),
    "fft_separable": (1, 2, 3, 4, 6, 8, 12, 16, 20, 24, 28, 32, 40, 48, 64),
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="JSON written by bench_layers.py --json on this backend")
    args = parser.parse_args()
    data = json.load(open(args.results))
    backend = keras.backend.backend()
    if backend not in data["machine"]:
        parser.error(f"{args.results} was measured on {data['machine']}, not on the {backend} backend")
    layers, times = [], []
    for r in data["results"]:
        layer = GaussianDerivativeConv2D(
            64, r["kernel_size"], order=r["order"], num_bases=r["num_bases"], separable=r["separable"], padding="same"
        )
        layer.build(BATCH_INPUT)
        layers.append(layer)
        times.append({path: r["seconds"][path]["train"] for path in PATHS})
    current = PRICES.get(backend, PRICES["tensorflow"])

    def score(prices):
        r = regrets(layers, times, prices)
        distance = sum(abs(np.log(prices[k] / current[k])) for k in prices)
        return (round(r.max(), 3), round(r.mean(), 4), distance)

    best = min(
        (dict(zip(CANDIDATES, values)) for values in itertools.product(*CANDIDATES.values())), key=score
    )
    for label, prices in (("current", current), ("best", best)):
        r = regrets(layers, times, prices)
        print(f"{label}: {prices}: worst regret {100 * (r.max() - 1):+.0f} %, mean {100 * (r.mean() - 1):+.1f} %")
        for regret, point, layer, seconds in zip(r, data["results"], layers, times):
            if regret > 1.05:
                costs = layer.path_costs(prices)
                ms = ", ".join(f"{path} {1000 * t:.1f}" for path, t in seconds.items())
                print(f"  k={point['kernel_size']} B={point['num_bases']} K={point['order']} "
                      f"{'sep' if point['separable'] else 'full'}: picks {min(costs, key=costs.get)} "
                      f"(+{100 * (regret - 1):.0f} %); measured ms: {ms}")


if __name__ == "__main__":
    main()
