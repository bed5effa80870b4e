"""Speed and memory of the 1-D, 3-D and depthwise structured layers, as ratios to their stock twins.

The protocol of `bench_layers.py` (same `Contender`: a one-layer model compiled
with Keras' defaults, timed through `train_on_batch` / `predict_on_batch`,
interleaved rounds, median), on four families:

* 1-D: `GaussianDerivativeConv1D` (K = 3) and `GaborConv1D` (N = 8) against
  `Conv1D`, 16 × 1024 samples, 32 → 64 channels, k ∈ {7, 31, 101};
* 3-D: `GaussianDerivativeConv3D` (K = 2, N = 10) against `Conv3D`,
  4 × 16³ voxels, 16 → 32 channels, k ∈ {3, 5, 7};
* depthwise: `GaussianDerivativeDepthwiseConv2D` (K = 2) against
  `DepthwiseConv2D`, 16 × 32 × 32 × 64, multiplier 1, k ∈ {7, 15, 31}
  (ConvNeXt-style large kernels);
* convnext: a whole ConvNeXt-style block (`keras_gaussconv.models.apply_convnext_block`:
  depthwise k×k, LayerNorm, 1×1 to 4C, GELU, 1×1 back, residual) with either
  depthwise convolution, same input, k ∈ {7, 31}.

'same' padding throughout; every path, `auto` and the folded layers. Memory
(JAX runs only): the MiB of XLA's buffer plan for one jitted forward + backward
pass (`Contender.planned_memory`), deterministic where resident-memory deltas
drown in allocator caches at these sizes.

Run: `KERAS_BACKEND=jax python benchmarks/bench_ranks.py [--family 3d] [--json PATH]`;
`python benchmarks/bench_ranks.py --table PATH` prints a saved run's table again.
"""

import argparse
import json
import os
import platform
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench_layers import Contender, backend_version, time_interleaved  # noqa: E402
from keras_gaussconv import (  # noqa: E402
    GaborConv1D,
    GaussianDerivativeConv1D,
    GaussianDerivativeConv3D,
    GaussianDerivativeDepthwiseConv2D,
    structured_layers,
)
from keras_gaussconv.export import fold  # noqa: E402
from keras_gaussconv.models import apply_convnext_block  # noqa: E402

PATHS = ("kernel", "basis", "fft", "auto")


def _point(family, layer, kernel_size, separable, stock, make):
    return dict(family=family, layer=layer, kernel_size=kernel_size, separable=separable, stock=stock, make=make)


def grid():
    """Every benchmark point: its stock twin and a maker of the structured layer for a path."""
    points = []
    for k in (7, 31, 101):
        for separable in (False, True):
            points.append(_point("1d", "GaussianDerivativeConv1D", k, separable, lambda k=k: keras.layers.Conv1D(64, k, padding="same"),
                                 lambda path, k=k, s=separable: GaussianDerivativeConv1D(64, k, order=3, separable=s, padding="same", implementation=path)))
        points.append(_point("1d", "GaborConv1D", k, False, lambda k=k: keras.layers.Conv1D(64, k, padding="same"),
                             lambda path, k=k: GaborConv1D(64, k, num_kernels=8, padding="same", implementation=path)))
    for k in (3, 5, 7):
        for separable in (False, True):
            points.append(_point("3d", "GaussianDerivativeConv3D", k, separable, lambda k=k: keras.layers.Conv3D(32, k, padding="same"),
                                 lambda path, k=k, s=separable: GaussianDerivativeConv3D(32, k, order=2, separable=s, padding="same", implementation=path)))
    for k in (7, 15, 31):
        points.append(_point("depthwise", "GaussianDerivativeDepthwiseConv2D", k, False,
                             lambda k=k: keras.layers.DepthwiseConv2D(k, padding="same"),
                             lambda path, k=k: GaussianDerivativeDepthwiseConv2D(k, order=2, padding="same", implementation=path)))
    for k in (7, 31):
        points.append(_point("convnext", "ConvNeXt block", k, False, lambda k=k: convnext_block(k, False),
                             lambda path, k=k: convnext_block(k, True, path)))
    return points


INPUTS = {
    "1d": ((16, 1024, 32), 64), "3d": ((4, 16, 16, 16, 16), 32), "depthwise": ((16, 32, 32, 64), 64),
    "convnext": ((16, 32, 32, 64), 64),
}


def convnext_block(kernel_size, structured, implementation="auto"):
    inputs = keras.Input(INPUTS["convnext"][0][1:])
    return keras.Model(inputs, apply_convnext_block(inputs, kernel_size, structured, implementation=implementation))


def contenders(point):
    shape, out_channels = INPUTS[point["family"]]
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    y = np.random.default_rng(1).normal(size=(*shape[:-1], out_channels)).astype("float32")
    base = point["make"]("auto")
    base.build(x.shape)
    entries = [("stock", point["stock"](), ("train", "infer"))]
    for path in PATHS:
        layer = point["make"](path)
        layer.build(x.shape)
        layer.set_weights(base.get_weights())
        entries.append((path, layer, ("train", "infer") if path == "auto" else ("train",)))
    if isinstance(base, keras.Model):  # a block: fold the model, report its structured layer's path
        folded, chosen = fold(base), structured_layers(base)[0].execution_path
    else:
        parts, chosen = base.fold(), base.execution_path
        folded = parts[0] if len(parts) == 1 else keras.Sequential(parts)
    entries.append(("folded", folded, ("infer",)))
    return [(Contender(name, layer, x, y), kinds) for name, layer, kinds in entries], chosen


def run_point(point, repeats, warmup, memory):
    timed, chosen = contenders(point)
    time_interleaved(timed, repeats, warmup)
    result = {key: point[key] for key in ("family", "layer", "kernel_size", "separable")}
    result.update(auto_path=chosen, seconds={}, memory_mb={})
    for contender, kinds in timed:
        result["seconds"][contender.name] = {k: statistics.median(contender.times[k]) for k in kinds}
        if memory and "train" in kinds and contender.name != "auto":
            result["memory_mb"][contender.name] = contender.planned_memory()
    if memory:
        result["memory_mb"]["auto"] = result["memory_mb"][chosen]
    return result


def markdown(results):
    lines = [
        "| layer | k | comb. | auto → | train: kernel | basis | fft | auto | infer: auto | folded | stock train ms | XLA MiB stock / auto |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r["seconds"]
        q = {name: {kind: t / s["stock"][kind] for kind, t in times.items()} for name, times in s.items()}
        memory = f"{r['memory_mb']['stock']:.0f} / {r['memory_mb']['auto']:.0f}" if r["memory_mb"] else "–"
        lines.append(
            f"| {r['layer']} | {r['kernel_size']} | {'sep' if r['separable'] else 'full'} | {r['auto_path']} | "
            f"{q['kernel']['train']:.2f} | {q['basis']['train']:.2f} | {q['fft']['train']:.2f} | **{q['auto']['train']:.2f}** | "
            f"{q['auto']['infer']:.2f} | {q['folded']['infer']:.2f} | {1000 * s['stock']['train']:.1f} | {memory} |"
        )
    return "\n".join(lines)


def summary(results):
    """The issue's targets against these results (training-step ratios to the stock twin)."""
    def ratio(r, name):
        return r["seconds"][name]["train"] / r["seconds"]["stock"]["train"]

    lines = []
    for r in results:
        point = f"{r['layer']} k={r['kernel_size']} {'sep' if r['separable'] else 'full'}"
        target = {("3d", 5): 1.2, ("depthwise", 31): 0.5}.get((r["family"], r["kernel_size"]), 1.2 if r["family"] == "1d" else None)
        if target is not None and not (r["family"] == "3d" and r["separable"]):
            lines.append(f"- {point}: auto {ratio(r, 'auto'):.2f}× (target ≤ {target})")
    for label, timed in (("auto as timed", lambda r: "auto"), ("the path auto chose, as timed", lambda r: r["auto_path"])):
        worst = max((ratio(r, timed(r)) / min(ratio(r, p) for p in ("kernel", "basis", "fft")), r["layer"], r["kernel_size"], r["separable"]) for r in results)
        lines.append(f"- {label} vs the best single path: at worst {100 * (worst[0] - 1):+.0f} % ({worst[1]} k={worst[2]} separable={worst[3]}; target ≤ +10 %)")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=sorted(INPUTS), action="append", help="only these families (repeatable)")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory plan (measured on JAX only)")
    parser.add_argument("--table", metavar="PATH", help="only print the table and targets of a saved --json run")
    args = parser.parse_args()
    if args.table:
        with open(args.table) as saved:
            data = json.load(saved)
        print(f"{data['machine']}; median of {data['repeats']} interleaved rounds.\n\n{markdown(data['results'])}\n\nTargets:\n{summary(data['results'])}")
        return
    memory = not args.no_memory and keras.backend.backend() == "jax"
    keras.utils.set_random_seed(0)
    results = []
    for point in grid():
        if args.family and point["family"] not in args.family:
            continue
        result = run_point(point, args.repeats, warmup=2, memory=memory)
        results.append(result)
        s = result["seconds"]
        print(f"{point['layer']} k={point['kernel_size']} {'sep ' if point['separable'] else 'full'} auto→{result['auto_path']:6s} "
              + " ".join(f"{n}={t.get('train', t.get('infer')) / s['stock'][next(iter(t))]:.2f}" for n, t in s.items()), flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {backend_version()}, Keras {keras.__version__}"
    print(f"\nRatios to the stock layer on the same input; median of {args.repeats} interleaved rounds. {machine}.\n")
    print(markdown(results))
    print("\nTargets:\n" + summary(results))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": machine, "repeats": args.repeats, "results": results}, out, indent=1)


if __name__ == "__main__":
    main()
