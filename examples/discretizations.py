"""The four discretisations, and kernels as large as the input, measured.

* `digits`: the digits demo's network (`comparison_net("gaussian")`, bias-only
  normalisation, 5×5 kernels) with each discretisation, n = 100 and 500 training images,
  300 steps (the demo's `--quick` protocol), 3 seeds: test accuracy and the distribution of
  the learned σ. The continuous discretisations run twice: with their offsets and
  orientations trained, and frozen at 0 as the discrete analogue needs them. Draws one
  learned filter of each (`discretization_filters.png`).
* `unet`: `gaussian_unet` with each discretisation in the small-data setting of
  `geometry_monitor.py` (36 images, Adam 2e-3, batch 6, 25 epochs), 3 seeds: test Dice.
* `tones`: the tone-burst classifier of `gabor_filterbank_1d.py` with a
  `GaussianDerivativeConv1D(8, 63, order=4, num_bases=2)` front end under each
  discretisation, 512 train / 512 test signals, 15 epochs, 3 seeds: test accuracy and σ.
* `receptive`: a task whose receptive field is larger than a fixed kernel. Each 32×32 image
  holds one bright dot; a pixel's label is 1 within distance R = 10 of it (exact labels; the
  dots' positions of train and test are disjoint). One `GaussianDerivativeConv2D(1, k,
  order=0, normalize_basis=True)` (centred: offsets frozen at 0) with a sigmoid can solve it
  exactly when its support reaches R: a Gaussian blur is monotone in the distance. k = 7 and 15 against `kernel_size=None`, 3 seeds: test Dice.

Run: `python examples/discretizations.py [--experiment digits unet receptive] [--output-dir docs]`
(about 15 minutes in all on a 2-core CPU).
"""

import argparse
import json
import sys
from pathlib import Path

import keras
import numpy as np
from keras import ops

from keras_gaussconv import GaussianDerivativeConv1D, GaussianDerivativeConv2D
from keras_gaussconv.bases import DISCRETIZATIONS
from keras_gaussconv.datasets import load_digits, load_synthetic_nuclei, load_tone_bursts
from keras_gaussconv.models import comparison_net, gaussian_unet
from keras_gaussconv.plotting import subplots
from keras_gaussconv_cli.experiments import BATCH, DEMO_NETWORK, batches, mean_std, subset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gabor_filterbank_1d import classifier  # noqa: E402  (the tone-burst classifier)
from geometry_monitor import dice, rebuild_gaussian_layers  # noqa: E402

SEEDS = (0, 1, 2)
FROZEN = dict(trainable_offset=False, trainable_theta=False)


def gaussian_layers(model):
    return [layer for layer in model._flatten_layers() if isinstance(layer, GaussianDerivativeConv2D)]


def sigma_statistics(model):
    """Median, 10th percentile and the shares below 1 pixel and at the bound of all σ used."""
    sigma = np.concatenate([
        np.maximum(ops.convert_to_numpy(layer.sigma), layer.min_sigma).ravel() for layer in gaussian_layers(model)
    ])
    return {"median": float(np.median(sigma)), "p10": float(np.percentile(sigma, 10)),
            "below_1": float(np.mean(sigma < 1.0)), "at_min": float(np.mean(sigma <= 0.2 + 1e-3))}


def digits_configurations():
    """(name, discretization, frozen offsets and θ): the continuous ones both ways, the discrete one frozen."""
    rows = [(d, d, False) for d in DISCRETIZATIONS if d != "discrete"]
    return rows + [(f"{d}, μ = θ = 0", d, True) for d in DISCRETIZATIONS]


def digits(sizes=(100, 500), seeds=SEEDS, steps=300, learning_rate=5e-3, configurations=None):
    (x_train, y_train), (x_test, y_test) = load_digits(size=16)
    results, filters = {}, {}
    for name, discretization, frozen in configurations or digits_configurations():
        for size in sizes:
            for seed in seeds:
                keras.utils.set_random_seed(seed)
                model = comparison_net("gaussian", x_train.shape[1:], 10, **DEMO_NETWORK, discretization=discretization)
                if frozen and discretization != "discrete":  # same network, offsets and θ frozen at 0
                    model = _frozen(model)
                schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
                model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
                x, y = batches(*subset(x_train, y_train, size, seed), steps, seed)
                model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
                accuracy = float(model.evaluate(x_test, y_test, batch_size=540, verbose=0)[1])
                results.setdefault(name, {}).setdefault(str(size), []).append(
                    {"seed": seed, "accuracy": accuracy, "sigma": sigma_statistics(model)}
                )
                if seed == seeds[0] and size == sizes[-1]:
                    filters[name] = ops.convert_to_numpy(model.get_layer("block1").conv.kernel)[..., 0, 0]
                print(name, size, seed, round(accuracy, 4), flush=True)
    return results, filters


def _frozen(model):
    """The model rebuilt with every Gaussian layer's offsets and θ initialised and frozen at 0."""
    return rebuild_gaussian_layers(model, dict(FROZEN, offset_initializer="zeros", theta_initializer="zeros"))


def unet(seeds=SEEDS, epochs=25, train_count=36, test_count=12, learning_rate=2e-3, batch=6,
         discretizations=DISCRETIZATIONS):
    results = {}
    for seed in seeds:
        x, y, _ = load_synthetic_nuclei("train", count=train_count, size=64, seed=seed)
        x_test, y_test, _ = load_synthetic_nuclei("test", count=test_count, size=64, seed=seed)
        for discretization in discretizations:
            keras.utils.set_random_seed(seed)
            model = gaussian_unet((64, 64, 3), 1, discretization=discretization)
            model.compile(keras.optimizers.Adam(learning_rate), "binary_crossentropy")
            model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
            score = float(dice(y_test, ops.convert_to_numpy(model.predict(x_test, verbose=0))))
            results.setdefault(discretization, []).append({"seed": seed, "dice": score, "sigma": sigma_statistics(model)})
            print("unet", discretization, seed, round(score, 4), flush=True)
    return results


def tones(seeds=SEEDS, train_count=512, test_count=512, epochs=15, discretizations=DISCRETIZATIONS):
    (x, y), (x_test, y_test) = load_tone_bursts("train", train_count), load_tone_bursts("test", test_count)
    results = {}
    for seed in seeds:
        for discretization in discretizations:
            keras.utils.set_random_seed(seed)
            frozen = {"trainable_offset": False} if discretization == "discrete" else {}
            front = GaussianDerivativeConv1D(8, 63, order=4, num_bases=2, padding="same", use_bias=False,
                                             discretization=discretization, name="front_end", **frozen)
            model = classifier(front, x.shape[1])
            model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
            model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
            accuracy = float(model.evaluate(x_test, y_test, verbose=0)[1])
            sigma = np.maximum(ops.convert_to_numpy(front.sigma), front.min_sigma)
            results.setdefault(discretization, []).append({
                "seed": seed, "accuracy": accuracy,
                "sigma": {"median": float(np.median(sigma)), "below_1": float(np.mean(sigma < 1.0))},
            })
            print("tones", discretization, seed, round(accuracy, 4), flush=True)
    return results


def dot_images(positions, size=32, radius=10.0):
    """Images with one unit dot at each position and masks of the pixels within `radius` of it."""
    rows, cols = np.mgrid[:size, :size]
    images = np.zeros((len(positions), size, size, 1), "float32")
    masks = np.zeros_like(images)
    for i, (r, c) in enumerate(positions):
        images[i, r, c, 0] = 1.0
        masks[i, ..., 0] = (rows - r) ** 2 + (cols - c) ** 2 <= radius**2
    return images, masks


def receptive(seeds=SEEDS, sizes=(7, 15, None), epochs=60, learning_rate=0.05):
    """Test Dice of one order-0 Gaussian layer + sigmoid per kernel size, and its learned σ."""
    results = {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        positions = np.stack(np.unravel_index(rng.permutation(32 * 32)[:400], (32, 32)), axis=1)
        (x, y), (x_test, y_test) = dot_images(positions[:300]), dot_images(positions[300:])  # disjoint dots
        for k in sizes:
            keras.utils.set_random_seed(seed)
            layer = GaussianDerivativeConv2D(1, k, order=0, padding="same", activation="sigmoid", normalize_basis=True,
                                             offset_initializer="zeros", trainable_offset=False, trainable_theta=False)
            model = keras.Sequential([keras.Input((32, 32, 1)), layer])
            model.compile(keras.optimizers.Adam(learning_rate), "binary_crossentropy")
            model.fit(x, y, batch_size=30, epochs=epochs, verbose=0)
            score = float(dice(y_test, ops.convert_to_numpy(model.predict(x_test, verbose=0))))
            sigma = float(np.mean(ops.convert_to_numpy(layer.sigma)))
            results.setdefault(str(k), []).append({"seed": seed, "dice": score, "sigma": sigma})
            print("receptive", k, seed, round(score, 4), round(sigma, 2), flush=True)
    return results


def _cell(values, digits=3, scale=1.0):
    return mean_std(values, scale, digits)


def tables(results):
    """Markdown tables of whatever experiments `results` holds."""
    out = []
    if "digits" in results:
        sizes = list(next(iter(results["digits"].values())))
        head = " | ".join(f"n = {s}" for s in sizes)
        out += [f"| discretisation | {head} | σ median (n = {sizes[-1]}) | σ < 1 px | σ at min_sigma |",
                "|---|" + "---|" * (len(sizes) + 3)]
        for name, by_size in results["digits"].items():
            cells = " | ".join(_cell([r["accuracy"] for r in by_size[s]], 1, 100) for s in sizes)
            last = by_size[sizes[-1]]
            sigma = {key: np.mean([r["sigma"][key] for r in last]) for key in ("median", "below_1", "at_min")}
            out.append(f"| {name} | {cells} | {sigma['median']:.2f} | {100 * sigma['below_1']:.0f} % | "
                       f"{100 * sigma['at_min']:.0f} % |")
        out.append("")
    def sigma_cells(runs):  # mean over seeds of the σ median and of the share below one pixel
        return (f"{np.mean([r['sigma']['median'] for r in runs]):.2f} | "
                f"{100 * np.mean([r['sigma']['below_1'] for r in runs]):.0f} % |")

    if "unet" in results:
        out += ["| discretisation | test Dice | Dice, seed 0 | σ median | σ < 1 px |", "|---|---|---|---|---|"]
        for name, runs in results["unet"].items():
            out.append(f"| {name} | {_cell([r['dice'] for r in runs])} | {runs[0]['dice']:.3f} | {sigma_cells(runs)}")
        out.append("")
    if "tones" in results:
        out += ["| discretisation | test accuracy (%) | σ median | σ < 1 px |", "|---|---|---|---|"]
        for name, runs in results["tones"].items():
            out.append(f"| {name} | {_cell([r['accuracy'] for r in runs], 1, 100)} | {sigma_cells(runs)}")
        out.append("")
    if "receptive" in results:
        out += ["| kernel size | test Dice | learned σ (mean) |", "|---|---|---|"]
        for k, runs in results["receptive"].items():
            label = "None (63×63, the whole input)" if k == "None" else f"{k}×{k}"
            out.append(f"| {label} | {_cell([r['dice'] for r in runs])} | {_cell([r['sigma'] for r in runs], 2)} |")
    return "\n".join(out)


def plot_filters(filters, path):
    """One learned block1 filter (output 0, input 0) per discretisation."""
    figure, axes = subplots(1, len(filters), figsize=(2.2 * len(filters), 2.6))
    for ax, (name, kernel) in zip(np.atleast_1d(axes), filters.items()):
        limit = np.abs(kernel).max()
        ax.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", nargs="+", choices=("digits", "unet", "tones", "receptive"),
                        default=["digits", "unet", "tones", "receptive"])
    parser.add_argument("--output-dir", default="keras-gaussconv-results")
    args = parser.parse_args()
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    results = {}
    if "digits" in args.experiment:
        results["digits"], filters = digits()
        plot_filters(filters, output / "discretization_filters.png")
    if "unet" in args.experiment:
        results["unet"] = unet()
    if "tones" in args.experiment:
        results["tones"] = tones()
    if "receptive" in args.experiment:
        results["receptive"] = receptive()
    (output / "discretization_results.json").write_text(json.dumps(results, indent=1))
    print(tables(results))


if __name__ == "__main__":
    main()
