"""Whole networks: a structured network against the same topology made of stock layers.

The stock twin of each network is `keras_gaussconv.export.fold(model)`: every structured
layer replaced by the stock convolution of the same kernel size, strides and channels
(`Conv2D`, `Conv3D`, `DepthwiseConv2D`), every other layer the same. Networks:

* `gaussian_unet((64, 64, 3))`, batch 8 (the paper's U-net; the twin is `unet`'s
  topology with 5×5 convolutions);
* the Table-1 network `comparison_net("gaussian", (32, 32, 1), 10)`, k = 7, batch 32
  (the twin: 7×7 `Conv2D`s, equal kernel size);
* `convnext_classifier((32, 32, 3), 10)`, k = 7 depthwise, batch 32;
* the 3-D U-net `gaussian_unet((16, 16, 16, 1))`, batch 2.

Each model is compiled with Keras' defaults for the backend (Adam, mean-square loss)
and timed through Keras' trainer, the two of a pair interleaved round by round
(these machines are noisy), median of `--repeats` rounds: a training step
(`train_on_batch`), inference (`predict_on_batch`), and the first training step of
the freshly compiled model (trace + compile), measured once, after a throwaway model's first
step has paid the process' start-up. On JAX also the MiB of
XLA's buffer plan for one forward + backward pass (`Contender.planned_memory`).

`--ablate` times instead where the extra step time goes: the structured network, the same
with its geometric weights frozen, and the stock twin, with Adam and with SGD (`run_ablation`).

Run: `KERAS_BACKEND=jax python benchmarks/bench_networks.py [--json PATH] [--repeats 7] [--only "U-net 64"] [--ablate]`.
"""

import argparse
import json
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from bench_layers import Contender, backend_version, time_interleaved  # noqa: E402
from keras_gaussconv.export import fold  # noqa: E402
from keras_gaussconv.folding import inner_layers, structured_layers  # noqa: E402
from keras_gaussconv.models import comparison_net, convnext_classifier, gaussian_unet  # noqa: E402

NETWORKS = {  # name: (builder, batch)
    "U-net 64×64 (paper)": (lambda: gaussian_unet((64, 64, 3), 1), 8),
    "Table-1 network, k = 7": (lambda: comparison_net("gaussian", (32, 32, 1), 10, kernel_size=7), 32),
    "ConvNeXt classifier, k = 7": (lambda: convnext_classifier((32, 32, 3), 10, kernel_size=7), 32),
    "3-D U-net 16³": (lambda: gaussian_unet((16, 16, 16, 1), 1), 2),
}


class NetworkContender(Contender):
    """`Contender` for a whole model: compiled with Adam and a mean-square loss."""

    def __init__(self, name, model, x, y, optimizer=keras.optimizers.Adam):
        self.name, self.model = name, model
        self.model.compile(optimizer(1e-3), "mse")
        self.x, self.y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
        self.times = {"train": [], "infer": []}

    def first_step(self):
        """Seconds of the first training step: tracing and compiling included."""
        start = time.perf_counter()
        self.step("train")
        return time.perf_counter() - start


def time_models(built, x, y, repeats):
    """`{name: model}`'s first training step (each once), its median step over `repeats` interleaved
    rounds (after 2 warm-up rounds), and its trainable parameters: `{"first_step_s", "train_s", "parameters"}`."""
    first = {name: NetworkContender(name, m, x, y).first_step() for name, m in built.items()}
    contenders = [NetworkContender(name, m, x, y) for name, m in built.items()]  # compiled anew
    time_interleaved([(c, ("train",)) for c in contenders], repeats, warmup=2)
    return {
        "first_step_s": first, "train_s": {c.name: statistics.median(c.times["train"]) for c in contenders},
        "parameters": {name: int(sum(np.prod(v.shape) for v in m.trainable_variables)) for name, m in built.items()},
    }


def write_json(path, repeats, result):
    """`result` with the backend's and Keras' versions and `repeats`, as JSON at `path`."""
    with open(path, "w") as f:
        json.dump({"version": backend_version(), "keras": keras.__version__, "repeats": repeats, **result}, f, indent=1)


def run_network(name, build, batch, repeats, warmup, sgd=True):
    """Times `build()` against its stock twin (module docstring); `sgd=False` skips the SGD first step."""
    keras.utils.set_random_seed(0)
    model = build()
    stock = fold(model)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, *model.input_shape[1:])).astype("float32")
    y = rng.normal(size=(batch, *model.output_shape[1:])).astype("float32")
    # Keras' optimizers trace their update once per trainable variable: the first step with
    # plain SGD (no slots, a one-operation update) as well shows what Adam's share of it is.
    # Measured after Adam's, which stays the first compilation of each model.
    models = {"structured": model, "stock": stock}
    first = {name: NetworkContender(name, m, x, y).first_step() for name, m in models.items()}
    first_sgd = {name: NetworkContender(name, m, x, y, keras.optimizers.SGD).first_step() for name, m in models.items()
                 if sgd}
    pair = [NetworkContender(name, m, x, y) for name, m in models.items()]  # compiled anew: the warm-up traces
    time_interleaved([(c, ("train", "infer")) for c in pair], repeats, warmup)
    result = {
        "network": name, "batch": batch, "first_step_s": first, **({"first_step_sgd_s": first_sgd} if sgd else {}),
        "trainable_variables": {name: len(m.trainable_variables) for name, m in models.items()},
        "seconds": {c.name: {k: statistics.median(c.times[k]) for k in ("train", "infer")} for c in pair},
        "parameters": {c.name: int(sum(np.prod(v.shape) for v in c.model.trainable_variables)) for c in pair},
    }
    if keras.backend.backend() == "jax":
        result["planned_memory_mb"] = {c.name: c.planned_memory() for c in pair}
    return result


def frozen_geometry(model):
    """`model` with its structured layers' geometric weights (σ, μ, θ, …) made non-trainable, in place."""
    for found in structured_layers(model):  # a wrapper (`ConvNormAct`, `ScaleChannels`) holds the layer
        for layer in (found, *inner_layers(found)):
            for weight in getattr(layer, "geometry", ()):
                getattr(layer, weight.name).trainable = False
    return model


def run_ablation(name, build, batch, repeats, warmup):
    """Where a network's extra step time goes: the structured network, the same with its geometric
    weights frozen (the basis still computed, no gradient towards the geometry, no optimizer slots
    for it) and the stock twin, interleaved, with Adam and with SGD (one operation per variable)."""
    keras.utils.set_random_seed(0)
    model = build()
    models = {"structured": model, "stock": fold(model)}
    keras.utils.set_random_seed(0)
    models["frozen geometry"] = frozen_geometry(build())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, *model.input_shape[1:])).astype("float32")
    y = rng.normal(size=(batch, *model.output_shape[1:])).astype("float32")
    result = {"network": name, "batch": batch, "seconds": {}}
    for optimizer in (keras.optimizers.Adam, keras.optimizers.SGD):
        contenders = [NetworkContender(n, m, x, y, optimizer) for n, m in models.items()]
        time_interleaved([(c, ("train",)) for c in contenders], repeats, warmup)
        result["seconds"][optimizer.__name__] = {c.name: statistics.median(c.times["train"]) for c in contenders}
    return result


def ablation_table(results):
    """Markdown: per network and optimizer, the structured and frozen-geometry steps against the stock one."""
    lines = ["| network | optimizer | structured / stock | frozen geometry / stock |", "|---|---|---|---|"]
    for r in results:
        for optimizer, s in r["seconds"].items():
            lines.append(f"| {r['network']} | {optimizer} | {s['structured'] * 1e3:.1f} / {s['stock'] * 1e3:.1f} ms = "
                         f"**{s['structured'] / s['stock']:.3f}×** | {s['frozen geometry'] / s['stock']:.3f}× |")
    return "\n".join(lines)


def table(results):
    """Markdown: structured / stock ratios per network (< 1: the structured network is cheaper)."""
    jax = "planned_memory_mb" in results[0]
    sgd = "first_step_sgd_s" in results[0]  # runs before it was recorded have Adam's first step only
    lines = [
        "| network | train step (structured / stock) | first step |"
        + (" first step, SGD | trainable variables |" if sgd else "")
        + " inference |" + (" XLA memory plan |" if jax else ""),
        "|---|---|---|" + ("---|---|" if sgd else "") + "---|" + ("---|" if jax else ""),
    ]

    def seconds(pair):
        return f"{pair['structured']:.2f} / {pair['stock']:.2f} s = {pair['structured'] / pair['stock']:.2f}×"

    for r in results:
        s = r["seconds"]
        cells = [
            f"{s['structured']['train'] * 1e3:.1f} / {s['stock']['train'] * 1e3:.1f} ms = "
            f"**{s['structured']['train'] / s['stock']['train']:.2f}×**",
            seconds(r["first_step_s"]),
        ]
        if sgd:
            v = r["trainable_variables"]
            cells += [seconds(r["first_step_sgd_s"]), f"{v['structured']} / {v['stock']}"]
        cells.append(f"{s['structured']['infer'] / s['stock']['infer']:.2f}×")
        if jax:
            m = r["planned_memory_mb"]
            cells.append(f"{m['structured']:.1f} / {m['stock']:.1f} MiB")
        lines.append(f"| {r['network']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--table", metavar="PATH", help="print the table of a saved run and exit")
    parser.add_argument("--only", metavar="TEXT", help="time only the networks whose name contains TEXT")
    parser.add_argument("--ablate", action="store_true",
                        help="time the train step with the geometric weights frozen too, with Adam and SGD (`run_ablation`)")
    args = parser.parse_args()
    chosen = {name: value for name, value in NETWORKS.items() if args.only is None or args.only in name}
    if not chosen:
        parser.error(f"--only {args.only!r} names none of {list(NETWORKS)}")
    if args.table:
        with open(args.table) as f:
            saved = json.load(f)
        print((ablation_table if saved.get("ablation") else table)(saved["results"]))
        return
    # The process' one-time start-up (the backend's first compiled step) paid before any first step is timed.
    warm = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1, 3)])
    NetworkContender("warm-up", warm, np.zeros((1, 8, 8, 1), "float32"), np.zeros((1, 6, 6, 1), "float32")).first_step()
    results = []
    for name, (build, batch) in chosen.items():
        run = run_ablation if args.ablate else run_network
        results.append(run(name, build, batch, args.repeats, warmup=2))
        print(f"{name}: done", flush=True)
    print(f"\n{backend_version()}, Keras {keras.__version__}, {platform.processor() or platform.machine()}\n")
    print((ablation_table if args.ablate else table)(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": keras.backend.backend(), "version": backend_version(), "keras": keras.__version__,
                       "repeats": args.repeats, "ablation": args.ablate, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
