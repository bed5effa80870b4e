"""Why a Gaussian U-net learned slower than a classical one on a small data set, measured.

The setting of issue 20: `unet` and `gaussian_unet((64, 64, 3), 1)`, 36 training images of
`load_synthetic_nuclei`, Adam 2e-3, batch 6, 25 epochs, seed 0; test Dice on 12 held-out
images against the Otsu baseline.

* Default: both builders with their defaults; the Gaussian U-net trains with a
  `GeometryMonitor` (gradient norms on 6 training images), whose history is written as
  JSON and drawn with `plot_geometry`.
* `--study`: the same setting for several Gaussian variants over `--seeds` (test Dice,
  final training loss, how far the kernels and σ moved), each variant made from the
  builder's model by swapping its layers (`variant_model`).
* `--initial-models DIR`: the default run from the models saved in DIR (saved there on the
  first run), unshuffled, so that two backends train the same networks from the same weights.

Run: `python examples/geometry_monitor.py [--study [--variants ...]] [--seeds 0 1 2] [--initial-models DIR] [--output-dir docs]`
(about a minute; `--study` about 40 s per run on a 2-core CPU).
"""

import argparse
import json
import math
from pathlib import Path

import keras
import numpy as np
from keras import ops

from keras_gaussconv import ConvNormAct, GaussianDerivativeConv2D, GeometryMonitor
from keras_gaussconv.datasets import haematoxylin_otsu, load_synthetic_nuclei
from keras_gaussconv.models import gaussian_unet, unet
from keras_gaussconv.plotting import plot_geometry

SHAPE = (64, 64, 3)


def dice(masks, predicted):
    """Pooled Dice of binary masks: 2|A ∩ B| / (|A| + |B|)."""
    masks, predicted = masks > 0.5, predicted > 0.5
    return 2 * np.logical_and(masks, predicted).sum() / (masks.sum() + predicted.sum())


class LogSigma(GaussianDerivativeConv2D):
    """Experiment only: the `sigma` weight holds log σ (Adam then changes σ by a factor ~e^lr per step)."""

    def __init__(self, *args, **kwargs):
        kwargs["sigma_initializer"] = keras.initializers.RandomUniform(math.log(0.5), math.log(2.0))
        super().__init__(*args, **kwargs)
        self.geometry[0] = type(self.geometry[0])("sigma", self.geometry[0].shape, self.geometry[0].initializer)

    def bounded_sigma(self, sigma):
        return ops.maximum(ops.exp(sigma), self.min_sigma)

    def sigma_values(self):
        return np.exp(ops.convert_to_numpy(self.sigma))


class FastGeometry(GaussianDerivativeConv2D):
    """Experiment only: σ, μ, θ stored divided by `FACTOR` (a learning-rate factor under Adam)."""

    FACTOR = 10.0

    def __init__(self, *args, **kwargs):
        f = self.FACTOR
        uniform = keras.initializers.RandomUniform
        kwargs.update(
            sigma_initializer=uniform(0.5 / f, 2.0 / f), offset_initializer=uniform(-1.0 / f, 1.0 / f),
            theta_initializer=uniform(-math.pi / f, math.pi / f), min_sigma=kwargs.get("min_sigma", 0.2) / f,
        )
        super().__init__(*args, **kwargs)

    def compute_basis(self, sigma, offset, theta=None, rotation=None):
        f = self.FACTOR
        return super().compute_basis(sigma * f, offset * f, theta * f)

    def bounded_sigma(self, sigma):
        return ops.maximum(sigma, self.min_sigma * self.FACTOR)  # σ in pixels, bound in stored units

    def sigma_values(self):
        return self.FACTOR * ops.convert_to_numpy(self.sigma)


# name: (description, builder, layer class, layer arguments replaced)
VARIANTS = {
    "classical": ("classical U-net (5×5 Conv2D)", unet, None, {}),
    "reference_basis": ("Gaussian, normalize_basis=False (0.2.0's kernels)", gaussian_unet, None, {"normalize_basis": False}),
    "reference_basis_small_init": (
        "Gaussian, normalize_basis=False, coefficients N(0, 0.06²)", gaussian_unet, None,
        {"normalize_basis": False, "coefficients_initializer": {"class_name": "RandomNormal", "config": {"stddev": 0.06}}},
    ),
    "normalized_basis": ("Gaussian, normalize_basis=True (the builder's default)", gaussian_unet, None, {}),
    "normalized_log_sigma": ("Gaussian, normalize_basis=True, σ trained as log σ", gaussian_unet, LogSigma, {}),
    "normalized_fast_geometry": (
        "Gaussian, normalize_basis=True, σ, μ, θ stored ÷10 (10× their Adam steps)", gaussian_unet, FastGeometry, {},
    ),
}


def rebuild_gaussian_layers(model, overrides=None, layer_class=None):
    """`model` with the convolution of every `ConvNormAct` holding a `GaussianDerivativeConv2D` rebuilt
    from its config, updated with `overrides`, as `layer_class` (default the same class)."""

    def swap(layer):
        config = layer.get_config()
        if isinstance(layer, ConvNormAct) and isinstance(layer.conv, GaussianDerivativeConv2D):
            conv = layer.conv.get_config()
            conv.update(overrides or {})
            config["conv"] = (layer_class or GaussianDerivativeConv2D).from_config(conv)
            return ConvNormAct(**config)
        return type(layer).from_config(config)

    return keras.models.clone_model(model, clone_function=swap)


def variant_model(name):
    """The builder's U-net with each Gaussian layer rebuilt from its config as the variant says."""
    _, builder, layer_class, overrides = VARIANTS[name]
    model = builder(SHAPE, 1)
    if layer_class is None and not overrides:
        return model
    return rebuild_gaussian_layers(model, overrides, layer_class)


def kernels(model):
    """Each convolution's dense kernel (structured or stock), as NumPy."""
    found = []
    for layer in model._flatten_layers():
        if isinstance(layer, (GaussianDerivativeConv2D, keras.layers.Conv2D)) and layer.name != "segmentation":
            found.append(ops.convert_to_numpy(layer.kernel))
    return found


def sigmas(model):
    found = [layer for layer in model._flatten_layers() if isinstance(layer, GaussianDerivativeConv2D)]
    return [layer.sigma_values() if hasattr(layer, "sigma_values") else ops.convert_to_numpy(layer.sigma) for layer in found]


def train(model, data, epochs, batch, learning_rate, callbacks=(), shuffle=True):
    (x, y), (x_test, y_test) = data
    model.compile(keras.optimizers.Adam(learning_rate), "binary_crossentropy")
    history = model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=list(callbacks), shuffle=shuffle)
    predicted = ops.convert_to_numpy(model.predict(x_test, verbose=0))
    return float(dice(y_test, predicted)), float(history.history["loss"][-1])


def load(train_count, test_count, seed):
    x, y, _ = load_synthetic_nuclei("train", count=train_count, size=SHAPE[0], seed=seed)
    x_test, y_test, _ = load_synthetic_nuclei("test", count=test_count, size=SHAPE[0], seed=seed)
    return (x, y), (x_test, y_test)


def run(epochs=25, train_count=36, test_count=12, learning_rate=2e-3, batch=6, seed=0, initial_models=None):
    """Both builders' defaults; the Gaussian U-net with a `GeometryMonitor`. Test Dice and its history.

    With `initial_models` (a folder), each network starts from `{name}.keras` there (saved on
    the first run) and trains without shuffling: every backend then takes the same steps from
    the same weights, up to round-off."""
    data = load(train_count, test_count, seed)
    results = {"otsu": float(dice(data[1][1], haematoxylin_otsu(data[1][0])))}
    monitor = GeometryMonitor(data=(data[0][0][:batch], data[0][1][:batch]))
    for name, build in (("classical", unet), ("gaussian", gaussian_unet)):
        keras.utils.set_random_seed(seed)
        path = None if initial_models is None else Path(initial_models) / f"{name}.keras"
        if path is not None and path.exists():
            model = keras.saving.load_model(path)
        else:
            model = build(SHAPE, 1)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                model.save(path)
        callbacks = [monitor] if name == "gaussian" else []
        results[name] = train(model, data, epochs, batch, learning_rate, callbacks, shuffle=initial_models is None)[0]
    return results, monitor.history


def study(names=tuple(VARIANTS), seeds=(0, 1, 2), epochs=25, train_count=36, test_count=12, learning_rate=2e-3, batch=6):
    """Per variant and seed: test Dice, final loss, relative kernel change ‖W − W₀‖/‖W₀‖ and σ drift (pixels)."""
    rows = {name: [] for name in names}
    otsu = []
    for seed in seeds:
        data = load(train_count, test_count, seed)
        otsu.append(float(dice(data[1][1], haematoxylin_otsu(data[1][0]))))
        for name in names:
            keras.utils.set_random_seed(seed)
            model = variant_model(name)
            model.build((None, *SHAPE))
            start_kernels, start_sigmas = kernels(model), sigmas(model)
            test_dice, loss = train(model, data, epochs, batch, learning_rate)
            change = [np.linalg.norm(w - w0) / np.linalg.norm(w0) for w, w0 in zip(kernels(model), start_kernels)]
            drift = [np.mean(np.abs(s - s0)) for s, s0 in zip(sigmas(model), start_sigmas)]
            rows[name].append({
                "seed": seed, "dice": test_dice, "loss": loss, "kernel_change": float(np.mean(change)),
                "sigma_drift": float(np.mean(drift)) if drift else None,
            })
            print(name, rows[name][-1], flush=True)
    return {"otsu": otsu, "runs": rows}


def study_table(results):
    """Markdown: mean ± std over seeds per variant."""

    def cell(values, digits=3):
        values = [v for v in values if v is not None]
        return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}" if values else "–"

    lines = [
        "| variant | test Dice | Dice, seed 0 | final training loss | ‖W − W₀‖ / ‖W₀‖ | σ drift (pixels) |",
        "|---|---|---|---|---|---|",
        f"| Otsu threshold | {cell(results['otsu'])} | {results['otsu'][0]:.3f} | – | – | – |",
    ]
    for name, runs in results["runs"].items():
        column = {key: [run[key] for run in runs] for key in runs[0]}
        lines.append(
            f"| {VARIANTS[name][0]} | {cell(column['dice'])} | {column['dice'][0]:.3f} | {cell(column['loss'])} | "
            f"{cell(column['kernel_change'], 2)} | {cell(column['sigma_drift'])} |"
        )
    return "\n".join(lines)


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
    parser.add_argument("--study", action="store_true", help="compare the variants over --seeds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), help="of --study")
    parser.add_argument("--output-dir", default="keras-gaussconv-results")
    parser.add_argument("--initial-models", help="a folder: start both networks from the models saved there (or save them)")
    args = parser.parse_args()
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    if args.study:
        results = study(tuple(args.variants), seeds=tuple(args.seeds), epochs=args.epochs)
        (output / "geometry_study.json").write_text(json.dumps(results, indent=1))
        print(study_table(results))
        print(f"wrote {output / 'geometry_study.json'}")
        return
    results, history = run(args.epochs, initial_models=args.initial_models)
    print("test Dice:", {name: round(value, 3) for name, value in results.items()})
    table = summary(history)
    for group, row in table.items():
        print(group, {name: np.round(value, 5).tolist() for name, value in row.items()})
    (output / "geometry_unet.json").write_text(json.dumps({"dice": results, "summary": table, "history": history}, indent=1))
    plot_geometry(history, output / "geometry_unet.png")
    print(f"wrote {output / 'geometry_unet.json'} and {output / 'geometry_unet.png'}")


if __name__ == "__main__":
    main()
