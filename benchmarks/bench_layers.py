"""Speed and memory of the structured layers, as ratios to a plain `keras.layers.Conv2D`.

Runs on the Keras backend of `KERAS_BACKEND` (TensorFlow, JAX or PyTorch): every
contender is a one-layer model compiled with Keras' defaults for that backend
(TensorFlow: a graph function, no XLA on a CPU; JAX: `jax.jit`; PyTorch: eager)
and timed through Keras' own trainer, so each backend's gradient machinery runs
the step and a stock `Conv2D` of the same backend is the baseline. Every
contender is timed in the same process, interleaved round by round (these
machines are noisy), median over `--repeats` rounds after warm-up:

* a training step (`train_on_batch`: forward, backward, SGD update);
* inference (`predict_on_batch`) for `Conv2D`, `auto` and the folded layer;
* on JAX, the MiB of XLA's buffer plan for one forward + backward pass
  (`Contender.planned_memory`: the compiler's accounting, the same on every run;
  other backends have no such plan, and a process' resident memory is blurred
  by allocator caches at these sizes).

Grid: kernel 3, 7, 15, 31; 32 → 64 channels; 32×32 input; batch 16;
B ∈ {1, 4}; K ∈ {2, 3}; full and separable. `--small`: the fixed cost's grid,
32 → 32 channels, batch 32, 8×8 and 16×16 inputs, kernel 3 and 7 (where the
kernel no longer fits in the input only 'same' padding makes sense, as here).
Contenders: every
implementation, `auto`, the folded layers, and for separable layers the
reference's algorithm (B full convolutions F_in → N, then 1×1), written with
`keras.ops`.

Run: `KERAS_BACKEND=jax python benchmarks/bench_layers.py [--quick | --small] [--json PATH]`
(default backend: TensorFlow).
"""

import argparse
import dataclasses
import itertools
import json
import os
import platform
import random
import statistics
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# The reference contender reuses a layer's weights but not its bias.
warnings.filterwarnings("ignore", message="Gradients do not exist")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from keras_gaussconv import GaussianDerivativeConv2D  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Shape:
    """Input batch × size × size × channels and output channels of one grid point."""

    batch: int = 16
    size: int = 32
    channels: int = 32
    filters: int = 64


DEFAULT, SMALL = Shape(), Shape(batch=32, channels=32, filters=32)


def result_shape(result):
    """The `Shape` a result was measured at (runs before it was recorded: the default)."""
    return Shape(**result["shape"]) if "shape" in result else DEFAULT
PATHS = ("kernel", "basis", "fft", "auto")


class ReferenceSeparable(keras.layers.Layer):
    """The reference's separable algorithm on a separable layer's weights.

    For each basis b: a full convolution F_in → N with kernels β[b, i, n] φ[b, n],
    then a 1×1 convolution N → F_out/B with λ[b]; outputs concatenated.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def call(self, x):
        layer = self.layer
        phi = layer.basis()
        outputs = []
        for b in range(layer.num_bases):
            kernel = phi[b][:, :, None, :] * layer.coefficients_in[b][None, None]
            y = ops.conv(x, kernel, strides=layer.strides, padding=layer.padding)
            outputs.append(ops.matmul(y, layer.coefficients_out[b]))
        return ops.concatenate(outputs, axis=-1)


class Contender:
    """One model (a single layer), compiled with Keras' defaults, timed through Keras' trainer."""

    def __init__(self, name, layer, x, y):
        self.name = name
        inputs = keras.Input(x.shape[1:], batch_size=x.shape[0])
        self.model = keras.Model(inputs, layer(inputs))
        self.model.compile(keras.optimizers.SGD(1e-4), "mse")
        self.x, self.y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
        self.times = {"train": [], "infer": []}

    def step(self, kind):
        # Both return host values, so the work is done when they return.
        if kind == "train":
            self.model.train_on_batch(self.x, self.y)
        else:
            self.model.predict_on_batch(self.x)

    def planned_memory(self):
        """MiB of XLA's buffer plan for one jitted forward + backward pass (JAX only).

        Temporaries (activations kept for the backward pass, spectra,
        responses) plus the gradients: the compiler's own accounting, so the
        same on every run, unlike a process' resident memory, which allocator
        caches blur at these sizes.
        """
        stats = compiled_jax_step(self.model, self.x, self.y).memory_analysis()
        return (stats.temp_size_in_bytes + stats.output_size_in_bytes) / 2**20

    def time(self, kind):
        start = time.perf_counter()
        self.step(kind)
        self.times[kind].append(time.perf_counter() - start)


def compiled_jax_step(model, x, y):
    """XLA's compiled forward + mean-square loss + gradient of `model`'s trainable weights (JAX only)."""
    import jax

    frozen = [v.value for v in model.non_trainable_variables]

    def loss(trainable, x, y):
        out, _ = model.stateless_call(trainable, frozen, x, training=True)
        return jax.numpy.mean(jax.numpy.square(out - y))

    trainable = [v.value for v in model.trainable_variables]
    return jax.jit(jax.grad(loss)).lower(trainable, x, y).compile()


def structured(filters, kernel, num_bases, order, separable, implementation):
    return GaussianDerivativeConv2D(
        filters, kernel, order=order, num_bases=num_bases, separable=separable,
        padding="same", implementation=implementation,
    )


def contenders_for(kernel, num_bases, order, separable, x, filters):
    """(name, layer, timed kinds) of one grid point; the structured layers share weights."""
    y = np.random.default_rng(1).normal(size=(*x.shape[:-1], filters)).astype("float32")
    base = structured(filters, kernel, num_bases, order, separable, "auto")
    base.build(x.shape)
    chosen = base.execution_path
    entries = [("Conv2D", keras.layers.Conv2D(filters, kernel, padding="same"), ("train", "infer"))]
    for path in PATHS:
        layer = structured(filters, kernel, num_bases, order, separable, path)
        layer.build(x.shape)
        layer.set_weights(base.get_weights())
        entries.append((path, layer, ("train", "infer") if path == "auto" else ("train",)))
    folded = base.fold()
    entries.append(("folded", folded[0] if len(folded) == 1 else keras.Sequential(folded), ("infer",)))
    if separable:
        entries.append(("reference", ReferenceSeparable(base), ("train",)))
    return [(Contender(name, layer, x, y), kinds) for name, layer, kinds in entries], chosen


def time_interleaved(contenders, repeats, warmup):
    """Times every `(contender, kinds)` `repeats` rounds after `warmup` untimed ones, round by round.

    Each round runs the contenders in a new (seeded) order: a step that follows a
    memory-heavy one (an FFT path's spectra) pays its cache misses, which a fixed order
    would charge to the same contender every round.
    """
    for _ in range(warmup):
        for contender, kinds in contenders:
            for kind in kinds:
                contender.time(kind)
    for contender, _ in contenders:
        contender.times = {"train": [], "infer": []}
    order = random.Random(0)
    for _ in range(repeats):  # interleaved: each round times every contender once
        for contender, kinds in order.sample(contenders, len(contenders)):
            for kind in kinds:
                contender.time(kind)


def run_point(kernel, num_bases, order, separable, repeats, warmup, memory=True, shape=DEFAULT):
    x = np.random.default_rng(0).normal(size=(shape.batch, shape.size, shape.size, shape.channels)).astype("float32")
    contenders, chosen = contenders_for(kernel, num_bases, order, separable, x, shape.filters)
    time_interleaved(contenders, repeats, warmup)
    result = {
        "kernel_size": kernel, "num_bases": num_bases, "order": order, "separable": separable,
        "shape": dataclasses.asdict(shape), "auto_path": chosen, "seconds": {}, "memory_mb": {},
    }
    for contender, kinds in contenders:
        result["seconds"][contender.name] = {k: statistics.median(contender.times[k]) for k in kinds}
        # `auto` runs the path it chose: its memory is that path's.
        if "train" in kinds and memory and contender.name != "auto":
            result["memory_mb"][contender.name] = contender.planned_memory()
    if memory:
        result["memory_mb"]["auto"] = result["memory_mb"][chosen]
    return result


def ratios(result):
    """Training and inference time of each contender over Conv2D's."""
    base = result["seconds"]["Conv2D"]
    return {
        name: {kind: seconds / base[kind] for kind, seconds in times.items()}
        for name, times in result["seconds"].items()
    }


def shape_text(result):
    """`batch×size×size×channels → filters` of a result."""
    s = result_shape(result)
    return f"{s.batch}×{s.size}×{s.size}×{s.channels} → {s.filters}"


def markdown(results):
    header = (
        "| input | k | B | K | comb. | auto → | train: kernel | basis | fft | auto | reference | "
        "infer: auto | folded | Conv2D train ms | XLA plan MiB Conv2D / auto |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for r in results:
        q = ratios(r)
        ref = f"{q['reference']['train']:.2f}" if "reference" in q else "–"
        rows.append(
            f"| {shape_text(r)} | {r['kernel_size']} | {r['num_bases']} | {r['order']} | "
            f"{'sep' if r['separable'] else 'full'} | {r['auto_path']} | "
            f"{q['kernel']['train']:.2f} | {q['basis']['train']:.2f} | {q['fft']['train']:.2f} | "
            f"**{q['auto']['train']:.2f}** | {ref} | {q['auto']['infer']:.2f} | {q['folded']['infer']:.2f} | "
            f"{1000 * r['seconds']['Conv2D']['train']:.1f} | "
            + (f"{r['memory_mb']['Conv2D']:.1f} / {r['memory_mb']['auto']:.1f} |" if r["memory_mb"] else "– |")
        )
    table = header + "\n".join(rows)
    names = ("Conv2D", "kernel", "basis", "fft", "auto", "reference")
    if any(r["memory_mb"] for r in results):
        table += (
            "\n\nXLA's buffer plan for one forward + backward pass (MiB):\n\n| input | k | B | K | comb. | "
            + " | ".join(names) + " |\n|---|---|---|---|---|" + "---|" * len(names) + "\n"
            + "\n".join(
                f"| {shape_text(r)} | {r['kernel_size']} | {r['num_bases']} | {r['order']} | {'sep' if r['separable'] else 'full'} | "
                + " | ".join(f"{r['memory_mb'][n]:.1f}" if n in r["memory_mb"] else "–" for n in names) + " |"
                for r in results
            )
        )
    return table


def summary(results):
    """The issue's targets, checked against these results (training-step ratios)."""
    lines = []
    small = {result_shape(r).size: ratios(r) for r in results if result_shape(r).size < DEFAULT.size
             and (r["kernel_size"], r["num_bases"], r["order"], r["separable"]) == (7, 4, 2, False)}
    for size, q in sorted(small.items()):
        lines.append(f"- full, auto, k=7, B=4, K=2 on {size}×{size}: {q['auto']['train']:.2f}× Conv2D (target ≤ 1.15)")
    by_point = {
        (r["kernel_size"], r["num_bases"], r["order"], r["separable"], result_shape(r).size): ratios(r)
        for r in results
    }

    def train(point, name):
        return by_point[point][name]["train"] if point in by_point else None

    point = (7, 4, 3, False, 32)
    if point in by_point:
        lines.append(f"- full, auto, k=7, B=4, K=3: {train(point, 'auto'):.2f}× Conv2D (target ≤ 1.15)")
    for k, target in ((15, 0.8), (31, 0.5)):
        if (k, 1, 2, False, 32) in by_point:
            lines.append(f"- full, auto, B=1, K=2, k={k}: {train((k, 1, 2, False, 32), 'auto'):.2f}× Conv2D (target ≤ {target})")
    for k, target in ((7, 2), (15, 5), (31, 20)):
        speedups = [
            f"B={b} K={o}: {train((k, b, o, True, 32), 'reference') / train((k, b, o, True, 32), 'auto'):.1f}×"
            for b in (1, 4) for o in (2, 3) if (k, b, o, True, 32) in by_point
        ]
        if speedups:
            lines.append(f"- separable, auto vs the reference's algorithm, k={k} (target ≥ {target}×): " + ", ".join(speedups))
    worst = max(
        (q["auto"]["train"] / min(q[p]["train"] for p in ("kernel", "basis", "fft")), point)
        for point, q in by_point.items()
    )
    lines.append(f"- auto vs the best single path: at worst {100 * (worst[0] - 1):+.0f} % (k, B, K, separable, size = {worst[1]}; target ≤ +10 %)")
    folded = max((q["folded"]["infer"], point) for point, q in by_point.items())
    lines.append(f"- folded inference: at worst {folded[0]:.2f}× Conv2D at {folded[1]} (target ≤ 1.05)")
    return "\n".join(lines)


def backend_version():
    name = keras.backend.backend()  # the backend's module has the same name
    return f"{name} {__import__(name).__version__}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small subset (about two minutes)")
    parser.add_argument("--small", action="store_true", help="the fixed cost's grid: 8×8 and 16×16 inputs")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds (default 10)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory plan (measured on JAX only)")
    args = parser.parse_args()
    shapes = [DEFAULT]
    if args.quick:
        grid = [(7, 4, 3, False), (15, 1, 2, False), (15, 4, 2, True)]
    elif args.small:
        grid = list(itertools.product((3, 7), (1, 4), (2,), (False, True)))
        shapes = [dataclasses.replace(SMALL, size=size) for size in (8, 16)]
    else:
        grid = list(itertools.product((3, 7, 15, 31), (1, 4), (2, 3), (False, True)))
    repeats = args.repeats
    keras.utils.set_random_seed(0)
    results = []
    memory = not args.no_memory and keras.backend.backend() == "jax"
    for shape, point in itertools.product(shapes, grid):
        result = run_point(*point, repeats=repeats, warmup=2, memory=memory, shape=shape)
        results.append(result)
        q = ratios(result)
        print(
            f"{shape_text(result)} k={point[0]:2d} B={point[1]} K={point[2]} {'sep ' if point[3] else 'full'} "
            f"auto→{result['auto_path']:6s} " + " ".join(f"{n}={v.get('train', v.get('infer')):.2f}" for n, v in q.items()),
            flush=True,
        )
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {backend_version()}, Keras {keras.__version__}"
    print(f"\nTimes are ratios to keras.layers.Conv2D(filters, k, padding='same') on the same input "
          f"(the input column); median of {repeats} interleaved rounds. {machine}.\n")
    print(markdown(results))
    print("\nTargets:\n" + summary(results))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": machine, "repeats": repeats, "results": results}, out, indent=1)


if __name__ == "__main__":
    main()
