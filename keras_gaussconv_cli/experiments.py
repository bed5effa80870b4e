"""The experiments behind `keras-gaussconv demo` and `keras-gaussconv unet`."""

import json
import time
from pathlib import Path

import keras
import numpy as np

from keras_gaussconv.datasets import (
    SPLITS,
    haematoxylin_otsu,
    load_digits,
    load_nuclei,
    load_synthetic_nuclei,
    load_synthetic_nuclei_3d,
    otsu_threshold,
)
from keras_gaussconv.models import comparison_net, gaussian_unet, unet
from keras_gaussconv.utils import count_parameters

DEMO_LAYER_TYPES = ("free_form", "rfnn", "dau", "gaussian", "gaussian_separable", "gabor")
# Run scales of the demos: "full" (the README's numbers), "quick" (minutes),
# "smoke" (seconds: checks the pipeline end to end; its numbers mean little).
SCALES = ("full", "quick", "smoke")
DEMO_SETTINGS = {
    "full": dict(sizes=(50, 100, 200, 500, 1257), seeds=(0, 1, 2), steps=600, learning_rate=5e-3),
    "quick": dict(sizes=(100, 400), seeds=(0, 1, 2), steps=300, learning_rate=5e-3),
    "smoke": dict(sizes=(200,), seeds=(0, 1), steps=60, learning_rate=5e-3),
}
DEMO_NETWORK = dict(filters=(8, 16, 16, 32), kernel_size=5, order=2, num_bases=2)
BATCH = 32


def _subset(x, y, size, seed):
    """`size` training images drawn with equal shares of every class."""
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in range(10)]
    chosen = np.concatenate([p[: -(-size // 10)] for p in per_class])
    chosen = rng.permutation(chosen)[:size]
    return x[chosen], y[chosen]


def _batches(x, y, steps, seed):
    """`steps` full batches: shuffled passes over (x, y), so every run has the same shapes."""
    rng = np.random.default_rng(seed)
    needed = steps * BATCH
    order = np.concatenate([rng.permutation(len(x)) for _ in range(-(-needed // len(x)))])[:needed]
    return x[order], y[order]


def _initial_weights(layer_type, input_shape, seed):
    keras.utils.set_random_seed(seed)
    return comparison_net(layer_type, input_shape, 10, **DEMO_NETWORK).get_weights()


def _reset(model, weights, learning_rate=None):
    """Gives a compiled model fresh weights and a fresh optimizer (moments and step count 0),
    so one compiled model serves many runs and is traced once; `learning_rate` replaces a
    constant rate (a schedule is left as compiled)."""
    model.set_weights(weights)
    rate = model.optimizer.learning_rate  # a constant rate is itself one of the optimizer's variables
    for variable in model.optimizer.variables:
        if variable is not rate:
            variable.assign(keras.ops.zeros(variable.shape, variable.dtype))
    if learning_rate is not None:
        model.optimizer.learning_rate = learning_rate


def _settings_json(settings):
    """Settings as JSON values (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}


def _check_scale(scale):
    if scale not in SCALES:
        raise ValueError(f"`scale` must be one of {list(SCALES)}. Received: scale={scale!r}")
    return scale


def digits_demo(output_dir="keras-gaussconv-results", scale="full", layer_types=DEMO_LAYER_TYPES, verbose=1):
    """The paper's small-data experiment on scikit-learn's bundled digits.

    For every layer type, training-set size and seed: `comparison_net`
    (Table 1's bias-only normalisation) trained for a fixed number of steps
    (Adam, learning rate 5e-3 with cosine decay, batch 32), then its accuracy
    on the fixed 540-image test split; `scale` is "full", "quick" or "smoke"
    (`DEMO_SETTINGS`). One compiled model per layer type is
    re-initialised for each run (weights drawn with the run's seed, optimizer
    state zeroed), which keeps the demo fast on a CPU. Writes
    `digits_results.json`, `digits_results.md` and `digits_kernels.png` (the
    Gaussian model's first layer) and `digits_learning_curves.png`
    (`plot_learning_curves`) to `output_dir`.

    Returns:
        The results dictionary (also in the JSON).
    """
    settings = DEMO_SETTINGS[_check_scale(scale)]
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = load_digits(size=16)
    seeds = settings["seeds"]
    accuracies, parameters, kernels_model = {}, {}, None
    start = time.time()
    for kind in layer_types:
        keras.utils.set_random_seed(0)
        model = comparison_net(kind, x_train.shape[1:], 10, **DEMO_NETWORK)
        schedule = keras.optimizers.schedules.CosineDecay(settings["learning_rate"], decay_steps=settings["steps"])
        model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
        parameters[kind] = count_parameters(model)
        for size in settings["sizes"]:
            if verbose:
                print(f"{kind} ({parameters[kind]:,} trainable parameters), n = {size} training images: "
                      f"{len(seeds)} seeds × {settings['steps']} steps")
            bar = keras.utils.Progbar(len(seeds), stateful_metrics=["test accuracy"], verbose=verbose, unit_name="run")
            for done, seed in enumerate(seeds, start=1):
                _reset(model, _initial_weights(kind, x_train.shape[1:], seed))
                x, y = _batches(*_subset(x_train, y_train, size, seed), settings["steps"], seed)
                model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
                accuracy = float(model.evaluate(x_test, y_test, batch_size=540, verbose=0)[1])
                accuracies.setdefault(kind, {}).setdefault(str(size), []).append(accuracy)
                bar.update(done, values=[("test accuracy", accuracy)])
        if kind == "gaussian":
            kernels_model = model
    results = {
        "data": "scikit-learn digits resized to 16x16; 540 test images",
        "network": _settings_json(DEMO_NETWORK),
        "settings": _settings_json(settings),
        "seconds": round(time.time() - start, 1),
        "trainable_parameters": parameters,
        "accuracy": accuracies,
    }
    (output / "digits_results.json").write_text(json.dumps(results, indent=1))
    (output / "digits_results.md").write_text(f"{demo_caption(results)}\n\n{demo_table(results)}\n")
    plot_learning_curves(results, output / "digits_learning_curves.png")
    if kernels_model is not None:
        from keras_gaussconv.plotting import plot_layer

        plot_layer(kernels_model.get_layer("block1").conv, output / "digits_kernels.png")
    return results


def demo_caption(results):
    """What the demo table shows, in one sentence."""
    settings = results["settings"]
    return (
        f"Test accuracy (%) on the 540 held-out scikit-learn digits (16×16), mean ± std over "
        f"{len(settings['seeds'])} seeds, after {settings['steps']} Adam steps (batch {BATCH}) on n "
        f"training images; {results['seconds']} s in all."
    )


def demo_table(results):
    """Markdown: test accuracy (mean ± std over seeds) per layer type and training-set size."""
    sizes = list(next(iter(results["accuracy"].values())))
    lines = [
        "| layer | trainable params | " + " | ".join(f"n = {s}" for s in sizes) + " |",
        "|---|---|" + "---|" * len(sizes),
    ]
    for kind, by_size in results["accuracy"].items():
        cells = [f"{100 * np.mean(v):.1f} ± {100 * np.std(v):.1f}" for v in by_size.values()]
        lines.append(f"| {kind} | {results['trainable_parameters'][kind]:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_learning_curves(results, path):
    """Test accuracy against training-set size (log axis), mean ± std over seeds, one line per layer type."""
    from keras_gaussconv.plotting import subplots

    fig, ax = subplots(figsize=(6, 4))
    for kind, by_size in results["accuracy"].items():
        sizes = [int(n) for n in by_size]
        accuracy = np.array([100 * np.array(v) for v in by_size.values()])
        label = f"{kind} ({results['trainable_parameters'][kind]:,} params)"
        ax.errorbar(sizes, accuracy.mean(1), yerr=accuracy.std(1), capsize=3, marker="o", markersize=3, label=label)
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.set_xlabel("training images")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"digits: mean ± std over {len(results['settings']['seeds'])} seeds", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


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


def object_f1(instances, predicted):
    """F1 of detected objects: a predicted connected component matches a true
    instance when their IoU exceeds 0.5 (such matches are one-to-one).

    Args:
        instances: int (n, rows, cols), 0 for background.
        predicted: binary (n, rows, cols, 1).
    """
    from scipy import ndimage

    matched = predicted_count = true_count = 0
    for labels, mask in zip(instances, predicted[..., 0] > 0.5):
        components, count = ndimage.label(mask)
        pairs = labels.astype(np.int64) * (count + 1) + components
        joint = np.bincount(pairs.ravel(), minlength=(labels.max() + 1) * (count + 1))
        joint = joint.reshape(labels.max() + 1, count + 1)
        true_area, predicted_area = joint.sum(1)[1:], joint.sum(0)[1:]
        union = true_area[:, None] + predicted_area[None, :] - joint[1:, 1:]
        matched += int(np.sum(joint[1:, 1:] > 0.5 * union))
        predicted_count += count
        true_count += int(np.sum(true_area > 0))
    return 2 * matched / max(predicted_count + true_count, 1)


def segmentation_metrics(masks, predicted, instances):
    """Dice 2|A∩B|/(|A|+|B|), IoU |A∩B|/|A∪B| and pixel accuracy over all pixels
    of the set pooled, and `object_f1`."""
    truth, guess = masks > 0.5, predicted > 0.5
    intersection, union = np.sum(truth & guess), np.sum(truth | guess)
    return {
        "dice": float(2 * intersection / max(np.sum(truth) + np.sum(guess), 1)),
        "iou": float(intersection / max(union, 1)),
        "pixel_accuracy": float(np.mean(truth == guess)),
        "object_f1": object_f1(instances, predicted),
    }


class _EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def _train_run(model, weights, data, learning_rate, settings):
    """One training run: returns its validation Dice per epoch, seconds per epoch and
    the best-on-validation weights (which the model holds afterwards)."""
    _reset(model, weights, learning_rate)
    (x, y, _), (x_val, y_val, _) = data["train"], data["validation"]
    stopper = keras.callbacks.EarlyStopping(
        "val_iou", mode="max", patience=settings["patience"], restore_best_weights=True
    )
    timer = _EpochTimer()
    history = model.fit(
        x, y, batch_size=UNET_BATCH, epochs=settings["epochs"], validation_data=(x_val, y_val),
        callbacks=[stopper, timer], verbose=0,
    )
    model.set_weights(stopper.best_weights)  # restored already by recent Keras; not by every 3.x
    iou = np.array(history.history["val_iou"])
    return {"val_dice": (2 * iou / (1 + iou)).tolist(), "epoch_seconds": timer.seconds}


def _predict(model, images):
    return (keras.ops.convert_to_numpy(model.predict(images, batch_size=64, verbose=0)) > 0.5).astype("float32")


def segmentation_networks(input_shape, settings):
    """`{name: (compiled model, {seed: initial weights})}` for the networks compared.

    One compiled model per network serves every run (and data set of that input
    shape): runs differ in the weights and optimizer state `_reset` gives it.
    """
    networks = {}
    for name, builder in SEGMENTATION_NETWORKS.items():
        def build(seed):
            keras.utils.set_random_seed(seed)
            return builder(input_shape, 1, depth=settings["depth"], momentum=UNET_MOMENTUM)

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
        parameters = count_parameters(model)
        runs, grid, rate = {}, {}, None
        for candidate in settings["learning_rates"]:  # seed 0 chooses the learning rate
            if verbose:
                print(f"{name} U-net ({parameters:,} trainable parameters): learning rate {candidate:g}, seed 0")
            run = _train_run(model, initial[0], data, candidate, settings)
            grid[candidate] = max(run["val_dice"])
            if rate is None or grid[candidate] > grid[rate]:  # on a tie the first rate stays
                rate, runs[0], best_weights = candidate, run, model.get_weights()
        model.set_weights(best_weights)
        predictions[name] = _predict(model, images)
        tests = [segmentation_metrics(masks, predictions[name], instances)]
        for seed in settings["seeds"][1:]:
            if verbose:
                print(f"{name} U-net: learning rate {rate:g} (best on validation), seed {seed}")
            runs[seed] = _train_run(model, initial[seed], data, rate, settings)
            tests.append(segmentation_metrics(masks, _predict(model, images), instances))
        results[name] = {
            "trainable_parameters": parameters,
            "validation_dice_by_learning_rate": {f"{r:g}": round(d, 4) for r, d in grid.items()},
            "learning_rate": rate,
            "seconds_per_epoch": float(np.median([t for r in runs.values() for t in r["epoch_seconds"]])),
            "val_dice": [runs[s]["val_dice"] for s in settings["seeds"]],
            "best_epoch": [int(np.argmax(runs[s]["val_dice"])) + 1 for s in settings["seeds"]],
            "test": {m: [t[m] for t in tests] for m in METRICS},
        }
    return results, predictions


DATA_SETS = {
    "synthetic": "rendered nuclei with exact masks (keras_gaussconv.datasets.load_synthetic_nuclei)",
    "ihc": "scikit-image's IHC image, disjoint row bands, pseudo ground truth (load_nuclei)",
}


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
    settings = NUCLEI_SETTINGS[_check_scale(scale)]
    start = time.time()
    results, pictures = {"settings": _settings_json(settings)}, {}
    networks = segmentation_networks((settings["size"], settings["size"], 3), settings)
    for name, description in DATA_SETS.items():
        if verbose:
            print(f"-- {description}")
        data = segmentation_data(name, settings)
        results[name], predictions = segmentation_experiment(data, settings, networks, verbose)
        results[name]["sizes"] = {split: len(data[split][0]) for split in SPLITS}
        pictures[name] = data["test"], predictions
    results["seconds"] = round(time.time() - start, 1)
    (output / "nuclei_results.json").write_text(json.dumps(results, indent=1))
    (output / "nuclei_results.md").write_text(segmentation_table(results) + "\n")
    plot_validation_dice(results, output / "nuclei_validation_dice.png")
    plot_segmentations(pictures, output / "nuclei_predictions.png")
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
        lines += _method_rows(results[name], METHOD_NAMES) + [""]
    lines.append(f"{results['seconds']} s in all.")
    return "\n".join(lines)


def _method_rows(results, labels):
    """Table rows: trainable parameters, learning rate, s/epoch, then test metrics, mean ± std over seeds."""
    rows = []
    for method, label in labels.items():
        r = results[method]
        cells = [f"{np.mean(r['test'][m]):.3f} ± {np.std(r['test'][m]):.3f}" if method != "otsu"
                 else f"{r['test'][m]:.3f}" for m in METRICS]
        head = (["0", "–", "–"] if method == "otsu" else
                [f"{r['trainable_parameters']:,}", f"{r['learning_rate']:g}", f"{r['seconds_per_epoch']:.2f}"])
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
        ax.set_title(f"{name} ({'exact' if name == 'synthetic' else 'pseudo'} ground truth)", fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation Dice")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7, loc="lower right")
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


VOLUME_SETTINGS = {
    "full": dict(size=32, train=32, validation=16, test=32, depth=2, epochs=40, patience=8,
                 learning_rates=(3e-3, 1e-2), seeds=(0, 1, 2)),
    "quick": dict(size=32, train=24, validation=8, test=16, depth=2, epochs=8, patience=8,
                  learning_rates=(3e-3, 1e-2), seeds=(0, 1)),
    "smoke": dict(size=16, train=8, validation=4, test=4, depth=1, epochs=1, patience=1,
                  learning_rates=(1e-2,), seeds=(0,)),
}
VOLUME_METHOD_NAMES = {"otsu": "Otsu threshold", "classical": "classical 3-D U-net (5×5×5 `Conv3D`)",
                       "gaussian": "Gaussian-derivative 3-D U-net"}


def volume_demo(output_dir="keras-gaussconv-results", scale="full", verbose=1):
    """Classical vs Gaussian-derivative 3-D U-net vs Otsu on rendered microscopy volumes.

    `segmentation_experiment` (the 2-D protocol: learning rate on validation,
    seeds, early stopping, pooled test metrics, object F1 on 3-D connected
    components) on `load_synthetic_nuclei_3d` volumes with exact masks, at
    `VOLUME_SETTINGS[scale]`. Writes `volumes_results.json`,
    `volumes_results.md` (`volume_table`) and `volumes_predictions.png` to `output_dir`.
    """
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    settings = VOLUME_SETTINGS[_check_scale(scale)]
    start = time.time()
    data = {split: load_synthetic_nuclei_3d(split, settings[split], settings["size"]) for split in SPLITS}
    results, predictions = segmentation_experiment(data, settings, verbose=verbose, baseline=otsu_threshold)
    results["settings"] = _settings_json(settings)
    results["sizes"] = {split: len(data[split][0]) for split in SPLITS}
    results["seconds"] = round(time.time() - start, 1)
    (output / "volumes_results.json").write_text(json.dumps(results, indent=1))
    (output / "volumes_results.md").write_text(volume_table(results) + "\n")
    plot_volume_segmentations(data["test"], predictions, output / "volumes_predictions.png")
    return results


def volume_table(results):
    """Markdown: test metrics of the volume experiment (mean ± std over seeds)."""
    settings, sizes = results["settings"], results["sizes"]
    side = settings["size"]
    return "\n".join([
        f"Rendered volumes with exact masks (keras_gaussconv.datasets.load_synthetic_nuclei_3d): "
        f"{sizes['train']} train / {sizes['validation']} validation / {sizes['test']} test volumes of "
        f"{side}×{side}×{side}; mean ± std over {len(settings['seeds'])} seeds; metrics over voxels, "
        f"object F1 over 3-D connected components.",
        "",
        "| method | trainable params | learning rate | s / epoch | Dice | IoU | voxel accuracy | object F1 |",
        "|---|---|---|---|---|---|---|---|",
        *_method_rows(results, VOLUME_METHOD_NAMES),
        "",
        f"{results['seconds']} s in all.",
    ])


def plot_volume_segmentations(test, predictions, path, count=3):
    """The middle depth slice of `count` test volumes: data, exact mask, each method (seed 0)."""
    from keras_gaussconv.plotting import subplots

    volumes, masks, _ = test
    methods = list(VOLUME_METHOD_NAMES)
    columns = ["volume (middle slice)", "exact ground truth", *[VOLUME_METHOD_NAMES[m].split(" (")[0] for m in methods]]
    count = min(count, len(volumes))
    fig, axes = subplots(count, len(columns), figsize=(2.1 * len(columns), 2.1 * count), squeeze=False)
    middle = volumes.shape[1] // 2
    for i in range(count):
        panels = [volumes[i, middle, ..., 0], masks[i, middle, ..., 0], *[predictions[m][i, middle, ..., 0] for m in methods]]
        for ax, panel, title in zip(axes[i], panels, columns):
            ax.imshow(panel, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


# Scale generalisation (`scales_demo`): train at one scale (or a range), test over
# ×0.5 … ×4. Every network ends in class maps and a spatial maximum, so the
# canvas may grow with the digit at test time; "scale_channels" has the
# channels `channels`, "gaussian" is the same network with the one channel s = 1.
# The full run is sized for a 2-core CPU: four channels an octave apart (seven at half
# octaves cost 1.75× as much); the scale-1 range took 52 minutes on JAX there.
SCALE_SETTINGS = {
    "full": dict(
        seeds=(0, 1, 2), epochs=4, count=1257, test_count=270, filters=(8, 16, 16, 32), kernel_size=49,
        channels=(0.5, 1.0, 2.0, 4.0), learning_rates=(3e-3, 1e-2, 3e-2),
        sigma=1.0, sigma_ratio=2**0.25, discretization="discrete", scale_dropout=0.2,
        training=("1", "1-2"), test_scales=tuple(2 ** (k / 4) for k in range(-4, 9)),
    ),
    "quick": dict(
        seeds=(0,), epochs=4, count=1257, test_count=270, filters=(8, 16, 16, 32), kernel_size=49,
        channels=(0.5, 1.0, 2.0, 4.0), learning_rates=(3e-3, 1e-2, 3e-2),
        sigma=1.0, sigma_ratio=2**0.25, discretization="discrete", scale_dropout=0.2,
        training=("1",), test_scales=tuple(2 ** (k / 2) for k in range(-2, 5)),
    ),
    "smoke": dict(
        seeds=(0,), epochs=1, count=64, test_count=32, filters=(4, 4), kernel_size=9,
        channels=(0.5, 1.0, 2.0), learning_rates=(1e-2, 3e-2),
        sigma=1.0, sigma_ratio=2**0.25, discretization="discrete", scale_dropout=0.0,
        training=("1",), test_scales=(0.5, 1.0, 2.0),
    ),
}
# The training ranges by name: the digits' scales, drawn evenly.
SCALE_TRAINING = {"1": (1.0,), "1-2": tuple(2 ** (k / 4) for k in range(5))}
SCALE_NETWORKS = ("cnn", "gaussian", "scale_channels")
# The network whose learning-rate grid a network's rate comes from (its own unless listed).
RATE_FROM = {"scale_channels": "gaussian"}
SCALE_NETWORK_NAMES = {
    "cnn": "stock CNN (3×3 `Conv2D`, 2×2 max pooling)", "gaussian": "Gaussian network, one scale channel",
    "scale_channels": "scale-channel Gaussian network",
}


def stock_cnn(input_shape, num_classes, filters):
    """The baseline: 3×3 `Conv2D` → BN (momentum 0.9) → ReLU blocks, 2×2 max pooling after the first two, class maps, spatial max."""
    inputs = keras.Input(input_shape)
    x = inputs
    for block, width in enumerate(filters):
        x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = keras.layers.Activation("relu")(keras.layers.BatchNormalization(momentum=0.9)(x))  # as the builder's
        if block < 2:
            x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(num_classes, 3, padding="same")(x)
    x = keras.layers.GlobalMaxPooling2D()(x)
    return keras.Model(inputs, keras.layers.Activation("softmax")(x), name="stock_cnn")


def scale_network(kind, canvas, settings):
    """One of `SCALE_NETWORKS` for `canvas`×`canvas` digits (the weights do not depend on the canvas)."""
    from keras_gaussconv.models import gaussian_derivative_network

    shape = (canvas, canvas, 1)
    if kind == "cnn":
        return stock_cnn(shape, 10, settings["filters"])
    scales = settings["channels"] if kind == "scale_channels" else (1.0,)
    return gaussian_derivative_network(
        shape, 10, scales=scales, name=kind,
        **{k: settings[k] for k in ("filters", "kernel_size", "sigma", "sigma_ratio", "discretization", "scale_dropout")},
    )


def _canvas(scale):
    """A canvas for a 16·s-pixel digit with at least 16 pixels of room to move: never under 32."""
    return max(32, round(16 * scale) + 16)


def _rescaled(split, scales, count, seed):
    """`count` images of `split` split evenly over `scales`, on the canvas of the largest."""
    from keras_gaussconv.datasets import load_rescaled_digits

    canvas = _canvas(max(scales))
    parts = [
        load_rescaled_digits(split, s, count=-(-count // len(scales)), size=canvas, seed=seed + i)
        for i, s in enumerate(scales)
    ]
    x, y = (np.concatenate(p)[:count] for p in zip(*parts))
    order = np.random.default_rng(seed).permutation(len(x))
    return x[order], y[order]


def _train_scale_network(kind, x, y, seed, learning_rate, settings):
    """(model, final training loss): Adam with cosine decay, batch 32, `epochs` passes."""
    keras.utils.set_random_seed(seed)
    model = scale_network(kind, x.shape[1], settings)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, settings["epochs"] * (len(x) // BATCH))
    model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=BATCH, epochs=settings["epochs"], verbose=0)
    return model, history.history["loss"][-1]


def _scale_accuracies(model, kind, tests, settings, tested_networks):
    """{test scale: accuracy}, each on a network built for that scale's canvas holding `model`'s weights.

    `tested_networks` keeps those networks by (kind, canvas), so each is built once per run of the demo.
    """
    accuracies, weights = {}, model.get_weights()
    for s, (x_test, y_test) in tests.items():
        key = (kind, x_test.shape[1])
        if key not in tested_networks:
            tested_networks[key] = scale_network(kind, x_test.shape[1], settings)
        tested = tested_networks[key]
        tested.set_weights(weights)
        accuracies[f"{s:.3g}"] = float(np.mean(np.argmax(tested.predict(x_test, batch_size=64, verbose=0), -1) == y_test))
    return accuracies


def scales_demo(output_dir="keras-gaussconv-results", scale="full", training=None, verbose=1):
    """Scale generalisation: train at scale 1 (and on scales 1–2), test at scales 0.5 … 4.

    For every training range, network (`SCALE_NETWORKS`) and seed: Adam
    (cosine decay, batch 32) for `epochs` passes over `count` training digits
    of `load_rescaled_digits` drawn evenly at the range's scales; then the
    accuracy on `test_count` test digits (disjoint source images) at every
    test scale, each on a canvas with room for it (the weights are copied into
    a network built for that canvas). The learning rate of "cnn" and
    "gaussian" is the one of `learning_rates` with the lowest final training
    loss at the first seed (no test digit is looked at; that run is the first
    seed's result); "scale_channels" takes its one-channel twin's. Writes
    `scales_results.json`, `scales_results.md` and `scales_accuracy.png`.
    `training`: names of `SCALE_TRAINING` to train on (default: the
    settings', "1" and "1-2" in the full run).

    Returns:
        The results dictionary (also in the JSON).
    """
    settings = dict(SCALE_SETTINGS[_check_scale(scale)])
    if training is not None:
        if not training or not set(training) <= set(SCALE_TRAINING):
            raise ValueError(f"`training` must name ranges of {list(SCALE_TRAINING)}. Received: training={training!r}")
        settings["training"] = tuple(t for t in SCALE_TRAINING if t in training)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    start = time.time()
    accuracy, parameters, rates, tested_networks = {}, {}, {}, {}
    tests = {s: _rescaled("test", (s,), settings["test_count"], seed=1000) for s in settings["test_scales"]}
    for regime in settings["training"]:
        x, y = _rescaled("train", SCALE_TRAINING[regime], settings["count"], seed=0)
        for kind in SCALE_NETWORKS:
            tuned = RATE_FROM.get(kind, kind)
            if verbose:
                print(f"trained on scales {regime}: {SCALE_NETWORK_NAMES[kind]}, {len(settings['seeds'])} seeds")
            bar = keras.utils.Progbar(len(settings["seeds"]), verbose=verbose, unit_name="run")
            for done, seed in enumerate(settings["seeds"], start=1):
                if (regime, tuned) in rates:
                    model, _ = _train_scale_network(kind, x, y, seed, rates[regime, tuned], settings)
                else:  # the grid, at the first seed
                    runs = {r: _train_scale_network(kind, x, y, seed, r, settings) for r in settings["learning_rates"]}
                    rates[regime, kind] = min(runs, key=lambda r: runs[r][1])
                    model = runs[rates[regime, kind]][0]
                parameters[kind] = count_parameters(model)
                for s, a in _scale_accuracies(model, kind, tests, settings, tested_networks).items():
                    accuracy.setdefault(regime, {}).setdefault(kind, {}).setdefault(s, []).append(a)
                bar.update(done)
    results = {
        "data": "load_rescaled_digits: scale 1 is a 16-pixel digit; train and test from disjoint source images",
        "settings": {**_settings_json(settings), "training": {r: list(SCALE_TRAINING[r]) for r in settings["training"]}},
        "learning_rates": {regime: {k: rates[regime, RATE_FROM.get(k, k)] for k in SCALE_NETWORKS}
                           for regime in settings["training"]},
        "seconds": round(time.time() - start, 1),
        "trainable_parameters": parameters,
        "accuracy": accuracy,
    }
    (output / "scales_results.json").write_text(json.dumps(results, indent=1))
    (output / "scales_results.md").write_text(scales_table(results) + "\n")
    plot_scale_accuracy(results, output / "scales_accuracy.png")
    return results


def scales_table(results):
    """Markdown: test accuracy (%, mean ± std over seeds) per training range, network and test scale."""
    lines = []
    for regime, by_kind in results["accuracy"].items():
        scales = list(next(iter(by_kind.values())))
        lines += [
            f"Trained on scales {regime}:", "",
            "| network | params | " + " | ".join(f"×{s}" for s in scales) + " |",
            "|---|---|" + "---|" * len(scales),
        ]
        for kind, by_scale in by_kind.items():
            cells = [f"{100 * np.mean(v):.1f} ± {100 * np.std(v):.1f}" for v in by_scale.values()]
            lines.append(f"| {kind} | {results['trainable_parameters'][kind]:,} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip()


def plot_scale_accuracy(results, path):
    """Test accuracy against test scale (log₂ axis), mean ± std over seeds; one panel per training range."""
    from keras_gaussconv.plotting import subplots

    regimes = results["accuracy"]
    fig, axes = subplots(1, len(regimes), figsize=(5.5 * len(regimes), 4), squeeze=False)
    for ax, (regime, by_kind) in zip(axes[0], regimes.items()):
        for kind, by_scale in by_kind.items():
            scales = [float(s) for s in by_scale]
            acc = np.array([100 * np.array(v) for v in by_scale.values()])
            ax.errorbar(scales, acc.mean(1), yerr=acc.std(1), capsize=3, marker="o", markersize=3, label=kind)
        trained = results["settings"]["training"][regime]
        ax.axvspan(min(trained) / 1.05, max(trained) * 1.05, color="0.85", label="training scales")
        ax.set_xscale("log", base=2)
        ax.set_xticks(scales, [f"{s:.2g}" for s in scales], fontsize=7)
        ax.set_xlabel("test scale (× a 16-pixel digit)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"trained on scales {regime}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
