"""`keras-gaussconv unet`: classical vs Gaussian-derivative U-net vs Otsu on nuclei, with one fair protocol."""

import functools
import time
from pathlib import Path

import keras
import numpy as np

from keras_gaussconv.baselines import haematoxylin_otsu
from keras_gaussconv.datasets import SPLITS, load_nuclei, load_synthetic_nuclei
from keras_gaussconv.models import gaussian_unet, unet
from keras_gaussconv.utils import count_parameters
from keras_gaussconv_cli.experiments.protocol import (
    EpochTimer,
    check_scale,
    mean_std,
    reset,
    score_panel,
    segmentation_metrics,
    settings_json,
    write_results,
)

# The U-net comparison (`nuclei_demo`). Per data set and network: the
# learning rate is chosen on validation (seed 0) from the grid, then every seed
# trains at it; each run keeps its best-on-validation weights (early stopping).
NUCLEI_SETTINGS = {
    "full": dict(size=64, train=128, validation=64, test=128, ihc_stride=32, depth=3, epochs=30,
                 patience=8, learning_rates=(3e-3, 1e-2), seeds=(0, 1, 2)),
    "quick": dict(size=64, train=64, validation=32, test=64, ihc_stride=32, depth=2, epochs=8,
                  patience=8, learning_rates=(3e-3, 1e-2), seeds=(0, 1, 2)),
    "smoke": dict(size=32, train=16, validation=8, test=8, ihc_stride=32, depth=1, epochs=2,
                  patience=2, learning_rates=(3e-3, 1e-2), seeds=(0, 1)),
}
UNET_BATCH = 8
# Batch normalisation's moving statistics track the last ~10 steps: these runs are a few
# hundred steps, and with Keras' default 0.99 the inference-mode statistics lag behind
# the weights (validation Dice jumps between epochs; the classical U-net suffered most).
UNET_MOMENTUM = 0.9
SEGMENTATION_NETWORKS = {"classical": unet, "gaussian": gaussian_unet}
METRICS = ("dice", "iou", "pixel_accuracy", "object_f1")


def segmentation_data(name, settings):
    """`{split: (images, masks, instances)}` of "synthetic" or "ihc" at `settings`' sizes.

    The IHC set has no instance annotation: its instances are the connected
    components of the pseudo ground-truth mask.
    """
    from scipy import ndimage

    if name == "synthetic":
        return {
            split: load_synthetic_nuclei(split, settings[split], settings["size"]) for split in SPLITS
        }
    data = {}
    for split in SPLITS:
        stride = settings["ihc_stride"] if split == "train" else None  # overlap only inside the train region
        images, masks = load_nuclei(split, settings["size"], stride)
        instances = np.stack([ndimage.label(m[..., 0])[0] for m in masks])
        data[split] = images, masks, instances
    return data


def train_run(model, weights, data, learning_rate, settings, seed=0):
    """One training run: returns its validation Dice per epoch, seconds per epoch and
    the best-on-validation weights (which the model holds afterwards).

    `seed` seeds the run's shuffling (and any dropout), so a run does not depend on the random
    state the runs before it left."""
    reset(model, weights, learning_rate)
    keras.utils.set_random_seed(seed)
    (x, y, _), (x_val, y_val, _) = data["train"], data["validation"]
    stopper = keras.callbacks.EarlyStopping(
        "val_iou", mode="max", patience=settings["patience"], restore_best_weights=True
    )
    timer = EpochTimer()
    history = model.fit(
        x, y, batch_size=UNET_BATCH, epochs=settings["epochs"], validation_data=(x_val, y_val),
        callbacks=[stopper, timer], verbose=0,
    )
    model.set_weights(stopper.best_weights)  # restored already by recent Keras; not by every 3.x
    iou = np.array(history.history["val_iou"])
    return {"val_dice": (2 * iou / (1 + iou)).tolist(), "epoch_seconds": timer.seconds}


def predict_masks(model, images):
    """Binary masks (float32, threshold 0.5) of `model`'s per-pixel probabilities for `images`."""
    return (keras.ops.convert_to_numpy(model.predict(images, batch_size=64, verbose=0)) > 0.5).astype("float32")


def segmentation_networks(input_shape, settings, builders=None):
    """`{name: (compiled model, {seed: initial weights})}` for the networks compared.

    `builders`: `{name: input_shape → model}`; default `SEGMENTATION_NETWORKS` with one
    output class, `settings["depth"]` and `UNET_MOMENTUM`. One compiled model per network
    serves every run (and data set of that input shape): runs differ in the weights and
    optimizer state `reset` gives it.
    """
    if builders is None:
        builders = {name: functools.partial(builder, num_classes=1, depth=settings["depth"], momentum=UNET_MOMENTUM)
                    for name, builder in SEGMENTATION_NETWORKS.items()}
    networks = {}
    for name, builder in builders.items():
        def build(seed):
            keras.utils.set_random_seed(seed)
            return builder(input_shape)

        model = build(0)
        model.compile(keras.optimizers.Adam(), "binary_crossentropy",
                      metrics=[keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.5, name="iou")])
        networks[name] = model, {seed: build(seed).get_weights() for seed in settings["seeds"]}
    return networks


def segmentation_experiment(data, settings, networks=None, verbose=1, baseline=haematoxylin_otsu):
    """Both U-nets and the Otsu baseline on one data set (`segmentation_data`), with the fair protocol.

    For each network: the learning rate with the best validation Dice (seed 0)
    from `settings["learning_rates"]`, then every seed at that rate; Adam,
    binary cross-entropy, batch 8, batch-norm momentum 0.9, at most `epochs` epochs, early stopping on
    validation IoU (`patience`) keeping the best epoch's weights. Test metrics
    (`segmentation_metrics`) per seed; seconds per epoch (validation included)
    is the median over that network's runs, measured here beside the other's.

    Args:
        data: `{split: (images, masks, instances)}`.
        settings: as `NUCLEI_SETTINGS`.
        networks: from `segmentation_networks` (default: built here).
        baseline: the non-learned method, images → masks (reported as "otsu").

    Returns:
        A dictionary per method ("otsu", "classical", "gaussian"), and the
        seed-0 test predictions of each for pictures.
    """
    images, masks, instances = data["test"]
    val_images, val_masks, val_instances = data["validation"]
    otsu = baseline(images)
    results = {"otsu": {
        "test": segmentation_metrics(masks, otsu, instances),
        "val_dice": segmentation_metrics(val_masks, baseline(val_images), val_instances)["dice"],
    }}
    predictions = {"otsu": otsu}
    networks = networks or segmentation_networks(images.shape[1:], settings)
    for name, (model, initial) in networks.items():
        results[name], seeds_predictions = tuned_runs(model, initial, data, settings, lambda m: predict_masks(m, images),
                                                      verbose, f"{name} U-net")
        predictions[name] = seeds_predictions[0]
        tests = [segmentation_metrics(masks, p, instances) for p in seeds_predictions]
        results[name]["test"] = {m: [t[m] for t in tests] for m in METRICS}
    return results, predictions


def tuned_runs(model, initial, data, settings, evaluate, verbose=1, label="U-net"):
    """One network under the fair protocol: the learning rate of `settings["learning_rates"]` with the
    best validation Dice (the first seed; a tie keeps the first), then every other seed at that rate;
    each run's shuffling seeded by its own seed (`train_run`), whatever ran before it.

    Args:
        model, initial: as `segmentation_networks` gives them.
        data: `{split: (images, masks, instances)}` with "train" and "validation".
        evaluate: the trained model → what a run reports (e.g. its test predictions).
        label: names the network in progress lines.

    Returns:
        `(summary, evaluations)`: the summary's trainable parameters, validation Dice per rate,
        chosen rate, median seconds per epoch, validation Dice curves and best epochs per seed;
        `evaluate`'s value per seed, in `settings["seeds"]` order.
    """
    parameters = count_parameters(model)
    seeds = settings["seeds"]
    runs, grid, rate = {}, {}, None
    for candidate in settings["learning_rates"]:
        if verbose:
            print(f"{label} ({parameters:,} trainable parameters): learning rate {candidate:g}, seed {seeds[0]}")
        run = train_run(model, initial[seeds[0]], data, candidate, settings, seeds[0])
        grid[candidate] = max(run["val_dice"])
        if rate is None or grid[candidate] > grid[rate]:
            rate, runs[seeds[0]], best_weights = candidate, run, model.get_weights()
    model.set_weights(best_weights)
    evaluations = [evaluate(model)]
    for seed in seeds[1:]:
        if verbose:
            print(f"{label}: learning rate {rate:g} (best on validation), seed {seed}")
        runs[seed] = train_run(model, initial[seed], data, rate, settings, seed)
        evaluations.append(evaluate(model))
    return {
        "trainable_parameters": parameters,
        "validation_dice_by_learning_rate": {f"{r:g}": round(d, 4) for r, d in grid.items()},
        "learning_rate": rate,
        "seconds_per_epoch": float(np.median([t for r in runs.values() for t in r["epoch_seconds"]])),
        "val_dice": [runs[s]["val_dice"] for s in seeds],
        "best_epoch": [int(np.argmax(runs[s]["val_dice"])) + 1 for s in seeds],
    }, evaluations


DATA_SETS = {
    "synthetic": "rendered nuclei with exact masks (keras_gaussconv.datasets.load_synthetic_nuclei)",
    "ihc": "scikit-image's IHC image, disjoint row bands, pseudo ground truth (load_nuclei)",
}


# What `nuclei_demo` writes into its output directory.
RESULTS = "nuclei_results"  # nuclei_results.md (the table) and nuclei_results.json
PICTURES = {"dice": "nuclei_validation_dice.png", "predictions": "nuclei_predictions.png"}
OUTPUTS = (f"{RESULTS}.md", f"{RESULTS}.json", *PICTURES.values())


def nuclei_demo(output_dir="keras-gaussconv-results", scale="full", verbose=1):
    """Classical vs Gaussian-derivative U-net vs Otsu, on synthetic nuclei and on the IHC image.

    `segmentation_experiment` on each data set of `DATA_SETS`; `scale` is
    "full", "quick" or "smoke" (`NUCLEI_SETTINGS`). Writes `nuclei_results.json`,
    `nuclei_results.md` (`segmentation_table`), `nuclei_validation_dice.png`
    and `nuclei_predictions.png` to `output_dir`.

    Returns:
        The results dictionary: per data set, per method.
    """
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    settings = NUCLEI_SETTINGS[check_scale(scale)]
    start = time.time()
    results, pictures = {"settings": settings_json(settings)}, {}
    networks = segmentation_networks((settings["size"], settings["size"], 3), settings)
    for name, description in DATA_SETS.items():
        if verbose:
            print(f"-- {description}")
        data = segmentation_data(name, settings)
        results[name], predictions = segmentation_experiment(data, settings, networks, verbose)
        results[name]["sizes"] = {split: len(data[split][0]) for split in SPLITS}
        pictures[name] = data["test"], predictions
    results["seconds"] = round(time.time() - start, 1)
    write_results(output, RESULTS, results, segmentation_table(results))
    plot_validation_dice(results, output / PICTURES["dice"])
    plot_segmentations(pictures, output / PICTURES["predictions"])
    return results


METHOD_NAMES = {"otsu": "Otsu on haematoxylin", "classical": "classical U-net (5×5 `Conv2D`)",
                "gaussian": "Gaussian-derivative U-net"}


def segmentation_table(results):
    """Markdown: per data set, test metrics (mean ± std over seeds) of every method."""
    settings = results["settings"]
    lines = []
    for name, description in DATA_SETS.items():
        sizes = results[name]["sizes"]
        lines += [
            f"**{name}**: {description}; {sizes['train']} train / {sizes['validation']} validation / "
            f"{sizes['test']} test images of {settings['size']}×{settings['size']}; mean ± std over "
            f"{len(settings['seeds'])} seeds.",
            "",
            "| method | trainable params | learning rate | s / epoch | Dice | IoU | pixel accuracy | object F1 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += method_rows(results[name], METHOD_NAMES) + [""]
    lines.append(f"{results['seconds']} s in all.")
    return "\n".join(lines)


def run_cells(summary):
    """A network's first table cells from its `tuned_runs` summary: trainable parameters, learning rate, s/epoch."""
    return [f"{summary['trainable_parameters']:,}", f"{summary['learning_rate']:g}", f"{summary['seconds_per_epoch']:.2f}"]


def method_rows(results, labels):
    """Table rows: trainable parameters, learning rate, s/epoch, then test metrics, mean ± std over seeds."""
    rows = []
    for method, label in labels.items():
        r = results[method]
        cells = [mean_std(r["test"][m], digits=3) if method != "otsu"
                 else f"{r['test'][m]:.3f}" for m in METRICS]
        head = ["0", "–", "–"] if method == "otsu" else run_cells(r)
        rows.append(f"| {label} | " + " | ".join(head + cells) + " |")
    return rows


def plot_validation_dice(results, path):
    """Validation Dice per epoch, mean over seeds with a ±std band, per network and data set."""
    from keras_gaussconv.plotting import subplots

    fig, axes = subplots(1, len(DATA_SETS), figsize=(5 * len(DATA_SETS), 3.4), squeeze=False)
    for ax, name in zip(axes[0], DATA_SETS):
        for method, colour in (("classical", "tab:orange"), ("gaussian", "tab:blue")):
            r = results[name][method]
            curves = np.full((len(r["val_dice"]), max(map(len, r["val_dice"]))), np.nan)
            for row, curve in zip(curves, r["val_dice"]):  # early stopping: runs differ in length
                row[: len(curve)] = curve
            mean, std = np.nanmean(curves, 0), np.nanstd(curves, 0)
            epochs = np.arange(1, len(mean) + 1)
            ax.plot(epochs, mean, color=colour, label=f"{METHOD_NAMES[method].split(' (')[0]} (lr {r['learning_rate']:g})")
            ax.fill_between(epochs, mean - std, mean + std, color=colour, alpha=0.25)
        ax.axhline(results[name]["otsu"]["val_dice"], color="gray", linestyle="--", label="Otsu on haematoxylin")
        truth = "exact" if name == "synthetic" else "pseudo"
        score_panel(ax, f"{name} ({truth} ground truth)", "epoch", "validation Dice", "lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plot_segmentations(pictures, path, count=3):
    """Test images, their ground truth and each method's prediction (seed 0), `count` rows per data set."""
    from keras_gaussconv.plotting import subplots

    methods = list(METHOD_NAMES)
    columns = ["image", "ground truth", *[METHOD_NAMES[m].split(" (")[0] for m in methods]]
    rows = count * len(pictures)
    fig, axes = subplots(rows, len(columns), figsize=(2.1 * len(columns), 2.1 * rows), squeeze=False)
    for block, (name, ((images, masks, _), predictions)) in enumerate(pictures.items()):
        for i in range(min(count, len(images))):
            row = axes[block * count + i]
            panels = [images[i], masks[i, ..., 0], *[predictions[m][i, ..., 0] for m in methods]]
            for ax, panel, title in zip(row, panels, columns):
                ax.imshow(panel, cmap=None if panel.ndim == 3 else "gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    truth = "exact" if name == "synthetic" else "pseudo"
                    ax.set_title(f"{name}: {title}" if title == "image" else
                                 f"{truth} ground truth" if title == "ground truth" else title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
