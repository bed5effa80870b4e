"""Fashion-MNIST with the paper's small-data protocol: free-form vs Gaussian-derivative networks.

Training-set sizes 1000 … 60000, cosine learning-rate decay, batch 32 (as in
Penaud--Polge et al. 2022); `comparison_net` of each layer type. Needs the
network once (keras.datasets caches Fashion-MNIST in ~/.keras/datasets); prints
a clear error without it — the offline equivalent is `keras-gaussconv demo`.

Run: `python examples/fashion_mnist.py [--sizes 1000 5000] [--epochs 30] [--layers free_form gaussian]`
"""

import argparse

import keras
import numpy as np

from keras_gaussconv.datasets import load_fashion_mnist
from keras_gaussconv.models import LAYER_TYPES, comparison_net


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000, 10000, 60000])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--layers", nargs="+", default=["free_form", "rfnn", "gaussian", "gaussian_separable"],
                        choices=LAYER_TYPES)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    except RuntimeError as error:
        raise SystemExit(str(error)) from None
    rng = np.random.default_rng(args.seed)
    print("| layer | params | " + " | ".join(f"n = {n}" for n in args.sizes) + " |")
    for layer_type in args.layers:
        row = []
        for size in args.sizes:
            keras.utils.set_random_seed(args.seed)
            chosen = rng.permutation(len(x_train))[:size]
            model = comparison_net(layer_type, (28, 28, 1), 10)
            steps = args.epochs * -(-size // 32)
            schedule = keras.optimizers.schedules.CosineDecay(3e-3, decay_steps=steps)
            model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
            model.fit(x_train[chosen], y_train[chosen], batch_size=32, epochs=args.epochs, verbose=2)
            row.append(model.evaluate(x_test, y_test, verbose=0)[1])
        params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        print(f"| {layer_type} | {params:,} | " + " | ".join(f"{100 * a:.1f}" for a in row) + " |", flush=True)


if __name__ == "__main__":
    main()
