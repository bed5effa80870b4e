"""The experiments behind `keras-gaussconv demo` and `keras-gaussconv unet`."""

import json
import time
from pathlib import Path

import keras
import numpy as np

from keras_gaussconv.datasets import load_digits, load_nuclei
from keras_gaussconv.layers.basis_conv import BasisConv2D
from keras_gaussconv.layers.conv_norm_act import ConvNormAct
from keras_gaussconv.models import comparison_net, gaussian_unet, unet

DEMO_LAYER_TYPES = ("free_form", "rfnn", "dau", "gaussian", "gaussian_separable", "gabor")
# Run scales of the demos: "full" (the README's numbers), "quick" (minutes),
# "smoke" (seconds: checks the pipeline end to end; its numbers mean little).
SCALES = ("full", "quick", "smoke")
DEMO_SETTINGS = {
    "full": dict(sizes=(50, 100, 200, 500, 1257), seeds=(0, 1, 2), steps=600, learning_rate=5e-3),
    "quick": dict(sizes=(100, 400), seeds=(0, 1, 2), steps=300, learning_rate=5e-3),
    "smoke": dict(sizes=(200,), seeds=(0, 1), steps=60, learning_rate=5e-3),
}
NUCLEI_SETTINGS = {
    "full": dict(patch=128, epochs=40, depth=3),
    "quick": dict(patch=64, epochs=5, depth=3),
    "smoke": dict(patch=32, epochs=1, depth=1),
}
DEMO_NETWORK = dict(filters=(8, 16, 16, 32), kernel_size=5, order=2, num_bases=2)
BATCH = 32


def trainable_parameters(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


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
    Gaussian model's first layer) to `output_dir`.

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
        parameters[kind] = trainable_parameters(model)
        for size in settings["sizes"]:
            if verbose:
                print(f"{kind} ({parameters[kind]:,} trainable parameters), n = {size} training images: "
                      f"{len(seeds)} seeds × {settings['steps']} steps")
            bar = keras.utils.Progbar(len(seeds), stateful_metrics=["test accuracy"], verbose=verbose, unit_name="run")
            for done, seed in enumerate(seeds, start=1):
                model.set_weights(_initial_weights(kind, x_train.shape[1:], seed))
                for variable in model.optimizer.variables:  # a fresh Adam: moments and step 0
                    variable.assign(keras.ops.zeros(variable.shape, variable.dtype))
                x, y = _batches(*_subset(x_train, y_train, size, seed), settings["steps"], seed)
                model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
                accuracy = float(model.evaluate(x_test, y_test, batch_size=540, verbose=0)[1])
                accuracies.setdefault(kind, {}).setdefault(str(size), []).append(accuracy)
                bar.update(done, values=[("test accuracy", accuracy)])
        if kind == "gaussian":
            kernels_model = model
    results = {
        "data": "scikit-learn digits resized to 16x16; 540 test images",
        "network": {k: list(v) if isinstance(v, tuple) else v for k, v in DEMO_NETWORK.items()},
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
        "seconds": round(time.time() - start, 1),
        "trainable_parameters": parameters,
        "accuracy": accuracies,
    }
    (output / "digits_results.json").write_text(json.dumps(results, indent=1))
    (output / "digits_results.md").write_text(f"{demo_caption(results)}\n\n{demo_table(results)}\n")
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


def dice(y_true, y_pred):
    """Dice coefficient 2|A∩B| / (|A| + |B|) of two binary masks."""
    intersection = np.sum(y_true * y_pred)
    return float(2 * intersection / (np.sum(y_true) + np.sum(y_pred) + 1e-9))


def nuclei_demo(output_dir="keras-gaussconv-results", scale="full", verbose=1):
    """Classical vs Gaussian-derivative U-net on scikit-image's IHC nuclei patches.

    Patches are split 80/20 (fixed seed); both networks share the topology
    and training (Adam, binary cross-entropy); `scale` is "full", "quick" or
    "smoke" (`NUCLEI_SETTINGS`: patch size, epochs, U-net depth). Writes `nuclei_results.json`
    and `nuclei_predictions.png` (image, mask, both predictions).

    Returns:
        The results dictionary.
    """
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    settings = NUCLEI_SETTINGS[_check_scale(scale)]
    patch, epochs = settings["patch"], settings["epochs"]
    images, masks = load_nuclei(patch_size=patch, stride=patch // 2)
    order = np.random.default_rng(0).permutation(len(images))
    split = int(0.8 * len(images))
    train, test = order[:split], order[split:]
    results, predictions = {}, {}
    for name, builder in (("classical", unet), ("gaussian", gaussian_unet)):
        keras.utils.set_random_seed(0)
        model = builder(images.shape[1:], 1, depth=settings["depth"])
        model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy")
        if verbose:
            print(f"{name} U-net ({trainable_parameters(model):,} trainable parameters): {epochs} epochs "
                  f"on {len(train)} patches of {patch}×{patch}")
        model.fit(images[train], masks[train], batch_size=8, epochs=epochs, verbose=verbose and 2)
        predicted = (np.asarray(model.predict(images[test], verbose=0)) > 0.5).astype("float32")
        predictions[name] = predicted
        results[name] = {
            "trainable_parameters": trainable_parameters(model),
            "pixel_accuracy": float(np.mean(predicted == masks[test])),
            "dice": dice(masks[test], predicted),
        }
    results["data"] = f"skimage immunohistochemistry, {len(images)} patches of {patch}x{patch}, pseudo ground truth"
    (output / "nuclei_results.json").write_text(json.dumps(results, indent=1))
    _plot_predictions(images[test], masks[test], predictions, output / "nuclei_predictions.png")
    return results


def _plot_predictions(images, masks, predictions, path, count=3):
    from keras_gaussconv.plotting import _pyplot

    plt = _pyplot()
    columns = ["image", "mask (pseudo ground truth)", *[f"{k} U-net" for k in predictions]]
    fig, axes = plt.subplots(count, len(columns), figsize=(2.6 * len(columns), 2.6 * count), squeeze=False)
    for row in range(min(count, len(images))):
        panels = [images[row], masks[row, ..., 0], *[p[row, ..., 0] for p in predictions.values()]]
        for ax, panel, title in zip(axes[row], panels, columns):
            ax.imshow(panel, cmap=None if panel.ndim == 3 else "gray")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def structured_layers(layer):
    """Every `BasisConv2D` in a layer or model: nested models and `ConvNormAct` wrappers included."""
    if isinstance(layer, BasisConv2D):
        return [layer]
    if isinstance(layer, ConvNormAct):
        return structured_layers(layer.conv)
    if isinstance(layer, keras.Model):
        return [found for inner in layer.layers for found in structured_layers(inner)]
    return []
