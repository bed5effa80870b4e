"""Cost of each discretisation relative to "sampled", and of `kernel_size=None`, on one backend.

The layer of `bench_layers.py` (16×32×32×32 → 64, order 2, B = 4, full combination) with
each `discretization` ("discrete" with its offsets and orientations frozen at 0, so also
"sampled" frozen the same way as its baseline), on the kernel path (auto's choice at k = 7)
and the FFT path at k = 15; and `kernel_size=None` (63×63 kernels on 32×32 inputs, FFT
path) against k = 15. Training steps through Keras' trainer (`bench_layers.Contender`),
every contender interleaved round by round in one process, median of `--repeats` rounds;
ratios to the stock `Conv2D` of the same kernel size measured in the same run.

Run: `KERAS_BACKEND=jax python benchmarks/bench_discretizations.py [--json PATH]`
(about a minute per backend).
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_layers import BATCH, F_IN, F_OUT, SIZE, Contender, backend_version, time_interleaved  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_gaussconv import GaussianDerivativeConv2D  # noqa: E402
from keras_gaussconv.bases import DISCRETIZATIONS  # noqa: E402

FROZEN = dict(trainable_offset=False, trainable_theta=False)


def layer(kernel, implementation, discretization="sampled", frozen=False):
    return GaussianDerivativeConv2D(
        F_OUT, kernel, order=2, num_bases=4, padding="same", implementation=implementation,
        discretization=discretization, **(FROZEN if frozen else {}),
    )


def contenders(kernel, implementation):
    """Conv2D, each discretisation, and "sampled" frozen as "discrete" is (its fair baseline)."""
    entries = [("Conv2D", keras.layers.Conv2D(F_OUT, kernel, padding="same"))]
    entries += [(d, layer(kernel, implementation, d, frozen=d == "discrete")) for d in DISCRETIZATIONS]
    entries.append(("sampled, μ = θ = 0", layer(kernel, implementation, frozen=True)))
    if implementation == "fft":
        entries.append(("kernel_size=None", layer(None, "fft")))
    return entries


def run(kernel, implementation, repeats):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, SIZE, SIZE, F_IN)).astype("float32")
    y = rng.normal(size=(BATCH, SIZE, SIZE, F_OUT)).astype("float32")
    timed = [(Contender(name, entry, x, y), ("train",)) for name, entry in contenders(kernel, implementation)]
    time_interleaved(timed, repeats, warmup=2)
    medians = {c.name: statistics.median(c.times["train"]) for c, _ in timed}
    return {"kernel_size": kernel, "implementation": implementation, "seconds": medians}


def markdown(results):
    names = list(dict.fromkeys(name for result in results for name in result["seconds"]))
    lines = ["| k, path | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for result in results:
        seconds = result["seconds"]
        cells = [f"{seconds['Conv2D'] * 1e3:.1f} ms"] + [
            f"{seconds[name] / seconds['Conv2D']:.2f}× ({seconds[name] / seconds['sampled']:.2f}×)"
            if name in seconds else "–"
            for name in names[1:]
        ]
        lines.append(f"| {result['kernel_size']}, {result['implementation']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds (default 10)")
    parser.add_argument("--table", metavar="JSON", nargs="+", help="only print the tables of earlier --json files")
    args = parser.parse_args()
    if args.table:
        for path in args.table:
            saved = json.loads(Path(path).read_text())
            print(f"### {saved['backend']}\n\n{markdown(saved['results'])}\n")
        return
    keras.utils.set_random_seed(0)
    results = [run(7, "kernel", args.repeats), run(15, "fft", args.repeats)]
    print(f"{backend_version()}; training step: Conv2D's time, then each contender / Conv2D "
          "(and / sampled in parentheses)")
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"backend": backend_version(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
