"""What each choice of the size-normalised network buys: one row per choice, the 13-scale curve's summary.

Each row trains one network of `keras-gaussconv scales` at ×1 only with one setting changed
(`scales_demo(..., overrides=...)`: the same protocol, learning rate from the grid by training
loss, the same seeds) and reports the test accuracy's mean over the test scales, the worst scale
and the spread (best − worst), each from the per-scale means over seeds. Offline; the full study
(3 seeds, 13 scales, six rows) took 12 minutes on a 2-core CPU shared with a test run, `--quick`
(one seed, seven scales) less. Run: `python examples/scale_study.py [--quick] [--dataset shapes] [--rows 0 2]`.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from keras_gaussconv_cli.experiments.scales import scales_demo

ROWS = {
    "size-normalised Gaussian network (the defaults)": ("size_normalized", {}),
    "trained 4 epochs instead of 8": ("size_normalized", {"epochs": 4}),
    "normalised to half the training size": ("size_normalized", {"normalized_scales": (0.5,)}),
    "three channels a quarter octave apart, max-pooled": (
        "size_normalized", {"normalized_scales": (2**-0.25, 1.0, 2**0.25)}),
    "discrete analogue instead of sampled kernels": ("size_normalized", {"normalized_discretization": "discrete"}),
    "stock CNN behind the same SizeNormalization": ("cnn_size_normalized", {}),
}


def study(output_dir, scale="full", dataset="digits", rows=ROWS):
    """`{row: {"accuracy": {test scale: mean %}, "mean", "worst", "spread"}}`, also written as JSON."""
    results = {}
    for i, (row, (kind, overrides)) in enumerate(rows.items()):
        run = scales_demo(Path(output_dir) / f"row{i}", scale, training=["1"], verbose=0, dataset=dataset,
                          networks=[kind], overrides=overrides)
        curve = {s: 100 * float(np.mean(v)) for s, v in run["accuracy"]["1"][kind].items()}
        values = list(curve.values())
        results[row] = {"accuracy": curve, "mean": float(np.mean(values)), "worst": min(values),
                        "spread": max(values) - min(values), "seeds": len(run["settings"]["seeds"])}
        print(f"| {row} | {results[row]['mean']:.1f} | {results[row]['worst']:.1f} | {results[row]['spread']:.1f} |",
              flush=True)
    Path(output_dir, "scale_study.json").write_text(json.dumps({"dataset": dataset, "rows": results}, indent=1))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="scale", const="quick", default="full")
    size.add_argument("--smoke", action="store_const", dest="scale", const="smoke")
    parser.add_argument("--dataset", default="digits", choices=["digits", "shapes"])
    parser.add_argument("--output-dir", default="scale-study")
    parser.add_argument("--rows", type=int, nargs="+", help="only these rows, by position in `ROWS` (default: all)")
    args = parser.parse_args()
    rows = ROWS if args.rows is None else {name: ROWS[name] for i, name in enumerate(ROWS) if i in args.rows}
    print("| choice | mean % | worst % | spread (points) |\n|---|---|---|---|")
    study(args.output_dir, args.scale, args.dataset, rows)


if __name__ == "__main__":
    main()
