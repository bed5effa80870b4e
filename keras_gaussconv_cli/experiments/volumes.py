"""`keras-gaussconv unet --volumes`: classical vs Gaussian-derivative 3-D U-net vs Otsu on rendered volumes."""

import time
from pathlib import Path

from keras_gaussconv.baselines import otsu_threshold
from keras_gaussconv.datasets import SPLITS, load_synthetic_nuclei_3d
from keras_gaussconv_cli.experiments.protocol import check_scale, settings_json, write_results
from keras_gaussconv_cli.experiments.segmentation import method_rows, segmentation_experiment

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


# What `volume_demo` writes into its output directory.
RESULTS = "volumes_results"  # volumes_results.md (the table) and volumes_results.json
PICTURES = {"predictions": "volumes_predictions.png"}
OUTPUTS = (f"{RESULTS}.md", f"{RESULTS}.json", *PICTURES.values())


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
    settings = VOLUME_SETTINGS[check_scale(scale)]
    start = time.time()
    data = {split: load_synthetic_nuclei_3d(split, settings[split], settings["size"]) for split in SPLITS}
    results, predictions = segmentation_experiment(data, settings, verbose=verbose, baseline=otsu_threshold)
    results["settings"] = settings_json(settings)
    results["sizes"] = {split: len(data[split][0]) for split in SPLITS}
    results["seconds"] = round(time.time() - start, 1)
    write_results(output, RESULTS, results, volume_table(results))
    plot_volume_segmentations(data["test"], predictions, output / PICTURES["predictions"])
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
        *method_rows(results, VOLUME_METHOD_NAMES),
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
