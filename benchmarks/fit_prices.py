"""Picks one backend's `auto` prices (`keras_gaussconv.ops.costs`) from measured times.

Reads the JSON of `benchmarks/bench_layers.py` (2-D layers) or of
`benchmarks/bench_ranks.py` (`--rank 1`, `3`, or `2` for its depthwise layers),
run on that backend, and tries every price combination of a grid: for each
point the cost model chooses a path, and its regret is the chosen path's
measured training step over the fastest path's. Prints the prices with the
smallest worst regret (then the smallest mean, then the closest to the
current prices), and the current prices' regrets for comparison.

Two stages: the prices per multiply-add from the points at the default size
(32 × 32, where a path's fixed cost is a small share of its step), then, with
those prices, the paths' fixed costs per step ("fixed_*") from every point
given, the small inputs of `bench_layers.py --small` included.

Run: `KERAS_BACKEND=jax python benchmarks/fit_prices.py results-jax.json small-jax.json`
or `KERAS_BACKEND=jax python benchmarks/fit_prices.py ranks-jax.json --rank 3`.
"""

import argparse
import itertools
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench_layers import DEFAULT, result_shape  # noqa: E402
from keras_gaussconv import GaussianDerivativeConv2D  # noqa: E402
from keras_gaussconv.ops.costs import backend_prices, cheapest  # noqa: E402

CANDIDATES = {
    "full_basis": (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32, 64),
    "depthwise": (1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256, 512),
    "fft_full": (2, 3, 4, 6, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48, 64, 96, 128),
    "fft_separable": (1, 2, 3, 4, 6, 8, 12, 16, 20, 24, 28, 32, 40, 48, 64, 96, 128),
    "pointwise": (1, 1.5, 2, 3),
}
# Fixed costs per step in dense multiply-adds; only their differences matter, so the smallest is 0.
FIXED_CANDIDATES = (0, 1e5, 3e5, 1e6, 3e6, 1e7, 3e7, 1e8, 3e8, 1e9)
PATHS = ("kernel", "basis", "fft")


def regrets(layers, times, prices):
    """Measured time of the path the cost model picks over the fastest path's, per grid point."""
    out = []
    for layer, seconds in zip(layers, times):
        out.append(seconds[cheapest(layer.path_costs(prices))] / min(seconds.values()))
    return np.array(out)


def measured_layers(data, rank):
    """The built `auto` layer of each measured point of `rank`, its paths' training-step times and its name."""
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
            points.append(f"{shape.size}×{shape.size} k={r['kernel_size']} B={r['num_bases']} K={r['order']} "
                          f"{'sep' if r['separable'] else 'full'}")
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


def report(label, prices, layers, times, names):
    """Prints the regrets of `prices`: worst and mean, and each point they miss by more than 5 %."""
    r = regrets(layers, times, prices)
    print(f"{label}: {prices}: worst regret {100 * (r.max() - 1):+.0f} %, mean {100 * (r.mean() - 1):+.1f} %")
    for regret, name, layer, seconds in zip(r, names, layers, times):
        if regret > 1.05:
            ms = ", ".join(f"{path} {1000 * t:.1f}" for path, t in seconds.items())
            print(f"  {name}: picks {cheapest(layer.path_costs(prices))} (+{100 * (regret - 1):.0f} %); measured ms: {ms}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="JSON of bench_layers.py or bench_ranks.py --json on this backend")
    parser.add_argument("--rank", type=int, default=2, choices=(1, 2, 3), help="the layers' rank (default 2)")
    args = parser.parse_args()
    backend = keras.backend.backend()
    layers, times, names = [], [], []
    for path in args.results:
        data = json.load(open(path))
        if backend not in data["machine"]:
            parser.error(f"{path} was measured on {data['machine']}, not on the {backend} backend")
        for found, into in zip(measured_layers(data, args.rank), (layers, times, names)):
            into.extend(found)
    if not layers:
        parser.error(f"{' '.join(args.results)} hold no layer of rank {args.rank}")
    current = backend_prices(backend, args.rank)
    # Stage 1: the prices per multiply-add, at the default size (every point where there is none).
    default = [i for i, layer in enumerate(layers) if layer.input_spatial_shape[0] in (None, DEFAULT.size)]
    default = default if args.rank == 2 and default else range(len(layers))
    subset = [layers[i] for i in default], [times[i] for i in default]

    def score(prices, points=subset):
        r = regrets(*points, prices)
        distance = sum(abs(np.log((prices[k] + 1e5) / (current.get(k, 1.0) + 1e5))) if k.startswith("fixed_")
                       else abs(np.log(prices[k] / current.get(k, 1.0))) for k in prices)
        return (round(r.max(), 3), round(r.mean(), 4), distance)

    best = min(
        (dict(zip(CANDIDATES, values)) for values in itertools.product(*CANDIDATES.values())), key=score
    )
    # Stage 2: the fixed costs per step, from every point, with those prices.
    fixed = (
        dict(zip((f"fixed_{p}" for p in PATHS), values))
        for values in itertools.product(FIXED_CANDIDATES, repeat=len(PATHS)) if min(values) == 0
    )
    best = min(({**best, **f} for f in fixed), key=lambda prices: score(prices, (layers, times)))
    for label, prices in (("current", current), ("best", best)):
        report(label, prices, layers, times, names)


if __name__ == "__main__":
    main()
