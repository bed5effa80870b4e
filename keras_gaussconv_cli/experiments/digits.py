"""`keras-gaussconv demo`: the paper's small-data comparison on scikit-learn's bundled digits."""

import time
from pathlib import Path

import keras
import numpy as np

from keras_gaussconv.datasets import load_digits
from keras_gaussconv.models import comparison_net
from keras_gaussconv.utils import count_parameters
from keras_gaussconv_cli.experiments.protocol import (
    BATCH,
    batches,
    check_scale,
    mean_std,
    reset,
    settings_json,
    subset,
    write_results,
)

DEMO_LAYER_TYPES = ("free_form", "rfnn", "dau", "gaussian", "gaussian_separable", "gabor")
DEMO_SETTINGS = {
    "full": dict(sizes=(50, 100, 200, 500, 1257), seeds=(0, 1, 2), steps=600, learning_rate=5e-3),
    "quick": dict(sizes=(100, 400), seeds=(0, 1, 2), steps=300, learning_rate=5e-3),
    "smoke": dict(sizes=(200,), seeds=(0, 1), steps=60, learning_rate=5e-3),
}
DEMO_NETWORK = dict(filters=(8, 16, 16, 32), kernel_size=5, order=2, num_bases=2)
# What `digits_demo` writes into its output directory.
RESULTS = "digits_results"  # digits_results.md (the table) and digits_results.json
PICTURES = {"kernels": "digits_kernels.png", "curves": "digits_learning_curves.png"}
OUTPUTS = (f"{RESULTS}.md", f"{RESULTS}.json", *PICTURES.values())


def _initial_weights(layer_type, input_shape, seed):
    keras.utils.set_random_seed(seed)
    return comparison_net(layer_type, input_shape, 10, **DEMO_NETWORK).get_weights()


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
    settings = DEMO_SETTINGS[check_scale(scale)]
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
                reset(model, _initial_weights(kind, x_train.shape[1:], seed))
                x, y = batches(*subset(x_train, y_train, size, seed), settings["steps"], seed)
                model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
                accuracy = float(model.evaluate(x_test, y_test, batch_size=540, verbose=0)[1])
                accuracies.setdefault(kind, {}).setdefault(str(size), []).append(accuracy)
                bar.update(done, values=[("test accuracy", accuracy)])
        if kind == "gaussian":
            kernels_model = model
    results = {
        "data": "scikit-learn digits resized to 16x16; 540 test images",
        "network": settings_json(DEMO_NETWORK),
        "settings": settings_json(settings),
        "seconds": round(time.time() - start, 1),
        "trainable_parameters": parameters,
        "accuracy": accuracies,
    }
    write_results(output, RESULTS, results, f"{demo_caption(results)}\n\n{demo_table(results)}")
    plot_learning_curves(results, output / PICTURES["curves"])
    if kernels_model is not None:
        from keras_gaussconv.plotting import plot_layer

        plot_layer(kernels_model.get_layer("block1").conv, output / PICTURES["kernels"])
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
        cells = [mean_std(v, 100) for v in by_size.values()]
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
