"""One backend's GPU benchmarks in one process, each written as JSON as soon as it is done.

In order (the most telling first, so a run cut short by a time limit keeps it):

1. whole networks, structured against stock (`bench_networks.py`): train step, first
   step, inference;
2. the fixed-cost layer grid (`bench_layers.py --small`) without the folded/reference
   extras' memory plans;
3. operation counts: PyTorch — ATen operators of one eager layer training step
   (`count_ops.py`); JAX — XLA kernels of the U-net's compiled training step
   (`count_xla.py`).

Each part writes OUT/{networks,small,counts}-BACKEND.json. The backend must see a GPU;
`--dry-run` runs the same parts on whatever device there is with the smallest shapes (a
check that the script works, as the test suite does; its numbers mean nothing).

Run by `benchmarks/gpu.sh`; alone: `KERAS_BACKEND=torch python benchmarks/gpu_run.py --out DIR`.
"""

import argparse
import dataclasses
import json
import os
import sys
import time

START = time.perf_counter()

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402

import bench_layers  # noqa: E402
import bench_networks  # noqa: E402
from keras_gaussconv.export import fold  # noqa: E402
from keras_gaussconv import GaussianDerivativeConv2D  # noqa: E402

DRY_NETWORKS = {  # the dry run's stand-in for bench_networks.NETWORKS: the smallest network that folds
    "one layer 8×8 (dry run)": (lambda: keras.Sequential([keras.Input((8, 8, 1)), GaussianDerivativeConv2D(2, 3)]), 1),
}


def devices():
    """The accelerators the backend sees, by name ([] on a CPU-only machine)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def write(out, part, payload):
    path = os.path.join(out, f"{part}-{keras.backend.backend()}.json")
    with open(path, "w") as f:
        json.dump({"backend": keras.backend.backend(), "version": bench_networks.backend_version(),
                   "keras": keras.__version__, **payload}, f, indent=1)
    print(f"wrote {path} ({time.perf_counter() - START:.0f} s since the start)", flush=True)


def networks(out, repeats, dry_run):
    table = DRY_NETWORKS if dry_run else bench_networks.NETWORKS
    results = []
    for name, (build, batch) in table.items():
        results.append(bench_networks.run_network(name, build, batch, repeats, warmup=1 if dry_run else 2, sgd=not dry_run))
        write(out, "networks", {"repeats": repeats, "results": results})  # after each: a cut-short run keeps it
    print(bench_networks.table(results), flush=True)


def small_layers(out, repeats, dry_run):
    shape = dataclasses.replace(bench_layers.SMALL, batch=2, size=8, channels=4, filters=4) if dry_run else None
    shapes = [shape] if dry_run else [dataclasses.replace(bench_layers.SMALL, size=size) for size in (8, 16)]
    grid = [(3, 1, 2, False)] if dry_run else [(k, b, 2, s) for k in (3, 7) for b in (1, 4) for s in (False, True)]
    results = []
    for shape in shapes:
        for point in grid:
            results.append(bench_layers.run_point(*point, repeats=repeats, warmup=1, memory=False, shape=shape))
    write(out, "small", {"repeats": repeats, "results": results})
    print(bench_layers.markdown(results), flush=True)


def counts(out, dry_run):
    if keras.backend.backend() == "torch":
        import count_ops

        smallest = ("GaussianDerivativeConv2D, kernel path", "Conv2D")
        cases = {name: count_ops.CASES[name] for name in smallest} if dry_run else count_ops.CASES
        payload = {"aten_ops": {name: count_ops.training_step_ops(make(), shape) for name, (make, shape) in cases.items()}}
    else:
        import count_xla

        table = DRY_NETWORKS if dry_run else {k: v for k, v in count_xla.NETWORKS.items() if "U-net" in k}
        payload = {"xla_kernels": {}}
        for name, (build, batch) in table.items():
            model = build()
            payload["xla_kernels"][name] = {"structured": count_xla.count(model, batch),
                                            "stock": count_xla.count(fold(model), batch)}
    write(out, "counts", payload)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the JSON files")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--dry-run", action="store_true", help="smallest shapes, any device (a check of the script)")
    args = parser.parse_args()
    found = devices()
    print(f"{bench_networks.backend_version()}, Keras {keras.__version__}: GPUs {found or 'none'}", flush=True)
    if not found and not args.dry_run:
        sys.exit(f"gpu_run.py: the {keras.backend.backend()} backend sees no GPU (CPU numbers under GPU "
                 "names would mislead); --dry-run runs on the CPU")
    os.makedirs(args.out, exist_ok=True)
    keras.utils.set_random_seed(0)
    networks(args.out, args.repeats, args.dry_run)
    small_layers(args.out, args.repeats, args.dry_run)
    counts(args.out, args.dry_run)


if __name__ == "__main__":
    main()
