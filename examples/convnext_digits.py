"""ConvNeXt-style classifiers with stock or Gaussian-derivative depthwise convolutions (offline).

Two-stage ConvNeXt-style networks (`keras_gaussconv.models.convnext_classifier`:
2×2 stride-2 downsampling, then a block: depthwise k×k, LayerNorm, 1×1 to 4C,
GELU, 1×1 back, residual) on scikit-learn's bundled digits at 32×32, the
depthwise convolutions either `DepthwiseConv2D` or
`GaussianDerivativeDepthwiseConv2D` (order 2: 6 coefficients per channel
instead of k²). Same budget, learning rate and seeds for both; prints test
accuracy (mean ± std over seeds) and trainable parameters at k = 7 and 31.
Speed: `benchmarks/bench_ranks.py --family convnext`.

Run: `python examples/convnext_digits.py [--quick | --smoke]`
"""

import argparse

import keras
import numpy as np

from keras_gaussconv import count_parameters
from keras_gaussconv.datasets import load_digits
from keras_gaussconv.models import convnext_classifier

SETTINGS = {
    "full": dict(epochs=30, seeds=(0, 1, 2), kernel_sizes=(7, 31)),
    "quick": dict(epochs=10, seeds=(0, 1), kernel_sizes=(7,)),
    "smoke": dict(epochs=1, seeds=(0,), kernel_sizes=(7,), train=256),
}


def run(settings, verbose=0):
    (x, y), (x_test, y_test) = load_digits(size=32)
    x, y = x[: settings.get("train")], y[: settings.get("train")]  # all of them unless limited
    rows = []
    for kernel_size in settings["kernel_sizes"]:
        for structured in (False, True):
            accuracies = []
            for seed in settings["seeds"]:
                keras.utils.set_random_seed(seed)
                model = convnext_classifier(x.shape[1:], 10, kernel_size=kernel_size, structured=structured)
                model.compile(keras.optimizers.AdamW(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
                model.fit(x, y, batch_size=32, epochs=settings["epochs"], verbose=verbose)
                accuracies.append(float(model.evaluate(x_test, y_test, verbose=0)[1]))
            rows.append(dict(kernel_size=kernel_size, structured=structured, accuracy=accuracies,
                             parameters=count_parameters(model)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--quick", action="store_const", dest="scale", const="quick", default="full")
    scale.add_argument("--smoke", action="store_const", dest="scale", const="smoke")
    args = parser.parse_args()
    rows = run(SETTINGS[args.scale])
    print(f"| depthwise convolution | k | trainable parameters | test accuracy ({len(SETTINGS[args.scale]['seeds'])} seeds) |")
    print("|---|---|---|---|")
    for r in rows:
        name = "GaussianDerivativeDepthwiseConv2D" if r["structured"] else "DepthwiseConv2D"
        print(f"| {name} | {r['kernel_size']} | {r['parameters']:,} | {np.mean(r['accuracy']):.3f} ± {np.std(r['accuracy']):.3f} |")


if __name__ == "__main__":
    main()
