"""How far σ, μ, θ and the coefficients move while a Gaussian U-net trains (GeometryMonitor).

The setting of issue 20: `unet` and `gaussian_unet((64, 64, 3), 1)` with the builders'
defaults, 36 training images of `load_synthetic_nuclei`, Adam 2e-3, batch 6, 25 epochs,
seed 0; test Dice on 12 held-out images against the Otsu baseline. The Gaussian U-net
trains with a `GeometryMonitor` (gradient norms on 6 training images); its history is
written as JSON and drawn with `plot_geometry`.

Run: `python examples/geometry_monitor.py [--epochs 25] [--momentum 0.9] [--output-dir docs]`
(about 3 minutes on a 2-core CPU).
"""

import argparse
import json
from pathlib import Path

import keras
import numpy as np

from keras_gaussconv import GeometryMonitor
from keras_gaussconv.datasets import haematoxylin_otsu, load_synthetic_nuclei
from keras_gaussconv.models import gaussian_unet, unet
from keras_gaussconv.plotting import plot_geometry


def dice(masks, predicted):
    """Pooled Dice of binary masks: 2|A ∩ B| / (|A| + |B|)."""
    masks, predicted = masks > 0.5, predicted > 0.5
    return 2 * np.logical_and(masks, predicted).sum() / (masks.sum() + predicted.sum())


def run(epochs=25, train=36, test=12, learning_rate=2e-3, batch=6, seed=0, momentum=None):
    x, y, _ = load_synthetic_nuclei("train", count=train, size=64, seed=seed)
    x_test, y_test, _ = load_synthetic_nuclei("test", count=test, size=64, seed=seed)
    results = {"otsu": float(dice(y_test, haematoxylin_otsu(x_test)))}
    monitor = None
    for name, build in (("classical", unet), ("gaussian", gaussian_unet)):
        keras.utils.set_random_seed(seed)
        # momentum None: the builders' default batch-norm momentum
        model = build((64, 64, 3), 1) if momentum is None else build((64, 64, 3), 1, momentum=momentum)
        model.compile(keras.optimizers.Adam(learning_rate), "binary_crossentropy")
        callbacks = []
        if name == "gaussian":
            monitor = GeometryMonitor(data=(x[:batch], y[:batch]))
            callbacks = [monitor]
        model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=callbacks)
        predicted = keras.ops.convert_to_numpy(model.predict(x_test, verbose=0))
        results[name] = float(dice(y_test, predicted))
    return results, monitor.history


def summary(history):
    """Per weight group, over all layers: how far it moved in total and its mean value before and after."""
    rows = {}
    for key, values in history.items():
        layer, group, statistic = key.split("/")
        rows.setdefault(group, {}).setdefault(statistic, []).append(values)
    table = {}
    for group, statistics in rows.items():
        steps = np.array(statistics["step"])  # (layers, epochs + 1)
        table[group] = {
            "mean step per epoch": float(steps[:, 1:].mean()),
            "drift from the initial values at the end": float(np.mean(np.array(statistics["drift"])[:, -1])),
            "mean |value| before": float(np.mean(np.abs(np.array(statistics["mean"])[:, 0]))),
            "std before": float(np.mean(np.array(statistics["std"])[:, 0])),
            "gradient norm, first epoch / last": [float(np.mean(np.array(statistics["grad_norm"])[:, i])) for i in (1, -1)],
        }
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--momentum", type=float, help="batch-norm momentum of both U-nets (default: the builders')")
    parser.add_argument("--output-dir", default="keras-gaussconv-results")
    args = parser.parse_args()
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    results, history = run(args.epochs, momentum=args.momentum)
    print("test Dice:", {name: round(value, 3) for name, value in results.items()})
    table = summary(history)
    for group, row in table.items():
        print(group, {name: np.round(value, 5).tolist() for name, value in row.items()})
    stem = "geometry_unet" if args.momentum is None else f"geometry_unet_momentum{args.momentum:g}"
    (output / f"{stem}.json").write_text(json.dumps({"dice": results, "summary": table, "history": history}, indent=1))
    plot_geometry(history, output / f"{stem}.png")
    print(f"wrote {output / (stem + '.json')} and {output / (stem + '.png')}")


if __name__ == "__main__":
    main()
