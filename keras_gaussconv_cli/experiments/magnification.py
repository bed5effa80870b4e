"""`keras-gaussconv magnification`: U-nets trained at one magnification, segmenting at others."""

import functools
import time
from pathlib import Path

import numpy as np

from keras_gaussconv.bases.gaussian import DISCRETIZATIONS
from keras_gaussconv.baselines import haematoxylin_otsu
from keras_gaussconv.datasets import load_synthetic_nuclei
from keras_gaussconv.layers.validation import check_choice, check_positive_int
from keras_gaussconv.models import gaussian_unet, scale_channel_unet, unet
from keras_gaussconv.models.unet import SCALE_WINDOW
from keras_gaussconv_cli.experiments.protocol import (
    check_networks,
    check_scale,
    mean_std,
    score_panel,
    segmentation_metrics,
    settings_json,
    write_results,
)
from keras_gaussconv_cli.experiments.segmentation import (
    UNET_MOMENTUM,
    predict_masks,
    run_cells,
    segmentation_networks,
    tuned_runs,
)

# Train on rendered slides at magnification 1 (or 1–2), test at 0.5 … 2.83 on slides of the
# test split (never a training slide). The protocol is `segmentation_experiment`'s: per
# network the learning rate best on validation (seed 0, validation at the training
# magnifications only), then every seed; the scale-jittered stock U-net is trained on slides
# spread over the test range, the practitioner's baseline that does see the test scales.
# The stock U-net trained at each test magnification alone ("own scale") says what this budget
# reaches there when training sees that magnification: the reference a network trained at 1
# is measured against (small nuclei lose Dice at their boundaries whatever the network).
# Test images are larger than training ones (`test_size`) so that nuclei at 2.83 fit. The three
# scale-channel U-nets have the octave channels 0.5, 1, 2: one rescales its filters (its training
# step costs 5–7× the stock U-net's on JAX with three channels), two the image (one shared
# U-net on the image resized by 2, 1 and ½: 5.25× the pixels), pooling every channel or those
# that `ImageScale` selects per slide (`scale_window`). The Gaussian layers are the
# discrete analogue by default: sampled kernels of σ·s ≈ ½ lost 0.13–0.20 Dice at ×0.5 and ×2.
MAGNIFICATIONS = tuple(2 ** (k / 2) for k in range(-2, 4))  # 0.5, 0.71, 1, 1.41, 2, 2.83
MAGNIFICATION_SETTINGS = {
    "full": dict(size=64, test_size=96, train=128, validation=32, test=32, depth=2, epochs=20, patience=6,
                 learning_rates=(3e-3, 1e-2), seeds=(0, 1, 2), channels=(0.5, 1.0, 2.0),
                 magnifications=MAGNIFICATIONS, training=("1", "1-2"), discretization="discrete",
                 scale_window=SCALE_WINDOW),
    "quick": dict(size=64, test_size=64, train=64, validation=32, test=32, depth=2, epochs=10, patience=10,
                  learning_rates=(1e-2,), seeds=(0,), channels=(0.5, 1.0, 2.0),
                  magnifications=MAGNIFICATIONS[:5], training=("1",), discretization="discrete",
                  scale_window=SCALE_WINDOW),
    "smoke": dict(size=32, test_size=48, train=8, validation=8, test=4, depth=1, epochs=1, patience=1,
                  learning_rates=(1e-2,), seeds=(0,), channels=(1.0, 2.0),
                  magnifications=(0.5, 1.0, 2.0), training=("1",), discretization="discrete",
                  scale_window=SCALE_WINDOW),
}
# The training ranges by name: their magnifications, drawn in equal shares.
MAGNIFICATION_TRAINING = {"1": (1.0,), "1-2": (1.0, 2**0.5, 2.0)}
MAGNIFICATION_NETWORKS = {
    "stock": "stock U-net (5×5 `Conv2D`)", "gaussian": "Gaussian-derivative U-net",
    "scale_channels": "scale-channel U-net", "image_channels": "scale-channel U-net, image rescaled",
    "image_selection": "scale-channel U-net, image rescaled, channels selected by the image's scale",
    "jittered": "stock U-net, scale jittering over the test range",
    "own_scale": "stock U-net trained at the test magnification",
}
# The scale-channel U-nets, each held to the references below.
SCALE_CHANNEL_NETWORKS = ("scale_channels", "image_channels", "image_selection")
# The stock U-nets trained other than at the training range, the references the others are held to.
REFERENCES = {"jittered": "the jittered stock U-net", "own_scale": "the stock U-net trained at the test magnification"}
MAGNIFICATION_METRICS = ("dice", "object_f1")

# What `magnification_demo` writes into its output directory.
RESULTS = "magnification_results"  # magnification_results.md (the tables) and magnification_results.json
PICTURES = {"dice": "magnification_dice.png"}
OUTPUTS = (f"{RESULTS}.md", f"{RESULTS}.json", *PICTURES.values())


def key(magnification):
    """A magnification as the results' key: 3 significant digits ("0.707", "1", "2.83")."""
    return f"{magnification:.3g}"


def slides(split, count, size, magnifications):
    """`(images, masks, instances)`: `count` slides of `split` in equal shares at `magnifications`,
    share j from data-set seed j (no slide twice; test slides never in training: another split)."""
    shares = np.array_split(np.arange(count), len(magnifications))
    parts = [load_synthetic_nuclei(split, len(share), size, seed, m)
             for seed, (share, m) in enumerate(zip(shares, magnifications)) if len(share)]
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))


def magnification_builders(settings):
    """`{name: input_shape → model}`: the stock, Gaussian and the two scale-channel U-nets of `settings`
    (the Gaussian ones with `settings["discretization"]`)."""
    common = dict(num_classes=1, depth=settings["depth"], momentum=UNET_MOMENTUM)
    gaussian = dict(common, discretization=settings["discretization"])
    return {
        "stock": functools.partial(unet, **common), "gaussian": functools.partial(gaussian_unet, **gaussian),
        "scale_channels": functools.partial(scale_channel_unet, scales=settings["channels"], **gaussian),
        "image_channels": functools.partial(scale_channel_unet, scales=settings["channels"], rescale="image",
                                            scale_window=None, **gaussian),
        "image_selection": functools.partial(scale_channel_unet, scales=settings["channels"], rescale="image",
                                             scale_window=settings["scale_window"], **gaussian),
    }


def magnification_networks(settings, names=tuple(MAGNIFICATION_NETWORKS)):
    """`{name: (compiled model, {seed: initial weights}, test model)}`: the `magnification_builders` networks
    among `names` (the stock one also for "jittered" or "own_scale") for training slides, and for test
    slides the same network (its weights copied in before each test); "jittered" is the stock U-net's.
    The input size is fixed: the scale-channel layers' execution path (FFT for their large kernels)
    and FFT lengths are chosen for it at build."""
    size, test_size = settings["size"], settings["test_size"]
    wanted = {*names, *(("stock",) if REFERENCES.keys() & {*names} else ())}
    builders = {name: build for name, build in magnification_builders(settings).items() if name in wanted}
    networks = segmentation_networks((size, size, 3), settings, builders)
    for name, (model, initial) in networks.items():
        test_model = model if test_size == size else builders[name]((test_size, test_size, 3))
        networks[name] = model, initial, test_model
    return {**networks, "jittered": networks["stock"]} if "stock" in networks else networks


def _training_data(magnifications, settings):
    return {split: slides(split, settings[split], settings["size"], magnifications) for split in ("train", "validation")}


def _own_scale(networks, tests, settings, verbose):
    """The stock U-net trained at each test magnification alone and tested there: `{"runs": {m: its
    tuned_runs summary}, "test": {m: metrics at m}}`."""
    runs = {}
    for m in settings["magnifications"]:
        data, test = _training_data((m,), settings), {key(m): tests[key(m)]}
        runs[key(m)] = _tested(*networks["stock"], data, test, settings, verbose, f"stock U-net, trained at {key(m)}")
    return {"runs": runs, "test": {m: r["test"][m] for m, r in runs.items()}}


def _tested(model, initial, test_model, data, tests, settings, verbose, label):
    """`tuned_runs` of one network, with its test metrics per magnification and seed."""
    def evaluate(trained):
        test_model.set_weights(trained.get_weights())
        return {m: segmentation_metrics(masks, predict_masks(test_model, images), instances)
                for m, (images, masks, instances) in tests.items()}

    summary, evaluations = tuned_runs(model, initial, data, settings, evaluate, verbose, label)
    summary["test"] = {m: {metric: [e[m][metric] for e in evaluations] for metric in MAGNIFICATION_METRICS}
                       for m in tests}
    return summary


def magnification_demo(output_dir="keras-gaussconv-results", scale="full", discretization=None, networks=None,
                       test_size=None, verbose=1):
    """Stock, Gaussian and scale-channel U-nets trained at magnification 1 (and 1–2), tested at others.

    `scale` is "full", "quick" or "smoke" (`MAGNIFICATION_SETTINGS`); `discretization`, of the
    Gaussian layers of the Gaussian U-nets, replaces the settings' ("discrete"); `networks`, names
    of `MAGNIFICATION_NETWORKS`, runs only those (default all; the protocol is seeded, so a
    network's results do not depend on which others ran); `test_size`, the test slides' side, replaces the
    settings' (96 in the full run; a multiple of `slide_step(settings)`). Writes
    `magnification_results.json`, `magnification_results.md` (`magnification_table`) and
    `magnification_dice.png` (`plot_magnification_dice`) to `output_dir`.

    Returns:
        The results: "otsu" (test metrics per magnification), "jittered" (the scale-jittered
        stock U-net), "own_scale" (the stock U-net trained at each test magnification alone:
        "runs" per magnification, "test" at its own) and per training range each network's
        `tuned_runs` summary with "test" `{magnification: {metric: [per seed]}}`.
    """
    settings = MAGNIFICATION_SETTINGS[check_scale(scale)]
    names = check_networks(networks, tuple(MAGNIFICATION_NETWORKS))
    if discretization is not None:
        settings = {**settings, "discretization": check_choice("discretization", discretization, DISCRETIZATIONS)}
    if test_size is not None:
        settings = {**settings, "test_size": check_test_size(test_size, settings)}
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    start = time.time()
    tests = {key(m): slides("test", settings["test"], settings["test_size"], (m,)) for m in settings["magnifications"]}
    results = {"settings": settings_json(settings), "otsu": {
        m: segmentation_metrics(masks, haematoxylin_otsu(images), instances) for m, (images, masks, instances) in tests.items()
    }, "training": {}}
    networks = magnification_networks(settings, names)
    for training in settings["training"]:
        data = _training_data(MAGNIFICATION_TRAINING[training], settings)
        results["training"][training] = {
            name: _tested(*networks[name], data, tests, settings, verbose, f"{name} U-net, trained at {training}")
            for name in names if name not in REFERENCES
        }
    if "jittered" in names:
        jitter = _training_data(settings["magnifications"], settings)
        results["jittered"] = _tested(*networks["jittered"], jitter, tests, settings, verbose, "scale-jittered stock U-net")
    if "own_scale" in names:
        results["own_scale"] = _own_scale(networks, tests, settings, verbose)
    results["seconds"] = round(time.time() - start, 1)
    write_results(output, RESULTS, results, magnification_table(results))
    plot_magnification_dice(results, output / PICTURES["dice"])
    return results


def slide_step(settings):
    """What a test slide's side must be a multiple of: every pooling of the U-net on the image resized by
    the coarsest channel's 1/s (`scale_channel_unet(rescale="image")`)."""
    return int(2 ** settings["depth"] * max(settings["channels"]))


def check_test_size(test_size, settings):
    """`test_size` as an int, a multiple of `slide_step(settings)`, else ValueError naming it."""
    step = slide_step(settings)
    if check_positive_int("test_size", test_size) % step:
        raise ValueError(f"`test_size` must be a multiple of {step} (2**depth pixels in the coarsest channel, "
                         f"where the image is resized by 1/{max(settings['channels']):g}). Received: test_size={test_size!r}")
    return int(test_size)


def _methods(results, training):
    """`{name: summary}` of the networks compared at one training range, then the jittered and (its
    "test" only) the own-scale stock U-net, each where it ran."""
    return {**results["training"][training], **{name: results[name] for name in REFERENCES if name in results}}


def magnification_table(results):
    """Markdown: per training range, each method's test Dice and object F1 at every magnification
    (mean ± std over seeds), and the changes the experiment is about."""
    settings = results["settings"]
    magnifications = list(results["otsu"])
    header = "| method | params | lr | s / epoch | " + " | ".join(f"×{m}" for m in magnifications) + " |"
    rule = "|---" * (4 + len(magnifications)) + "|"
    lines = []
    for training in settings["training"]:
        methods = _methods(results, training)
        for metric, title in (("dice", "Dice"), ("object_f1", "object F1")):
            lines += [f"**Trained at magnification {training}**: test {title} ({settings['test']} test slides of "
                      f"{settings['test_size']}² per magnification; mean ± std over {_seeds(settings)}; Gaussian "
                      f"layers {settings['discretization']}).",
                      "", header, rule]
            lines += [f"| Otsu on haematoxylin | 0 | – | – | "
                      + " | ".join(f"{results['otsu'][m][metric]:.3f}" for m in magnifications) + " |"]
            for name, r in methods.items():
                cells = [mean_std(r["test"][m][metric], digits=3) for m in magnifications]
                lines.append(f"| {MAGNIFICATION_NETWORKS[name]} | " + " | ".join(_cells(r) + cells) + " |")
            lines.append("")
        lines += [_changes(methods, magnifications), ""]
    lines.append(f"{results['seconds']} s in all.")
    return "\n".join(lines)


def _cells(summary):
    """`run_cells`; for the own-scale runs, their parameters, learning rates and median s/epoch."""
    if "runs" not in summary:
        return run_cells(summary)
    runs = list(summary["runs"].values())
    rates = sorted({r["learning_rate"] for r in runs})
    return [f"{runs[0]['trainable_parameters']:,}", "–".join(f"{r:g}" for r in rates),
            f"{np.median([r['seconds_per_epoch'] for r in runs]):.2f}"]


def _seeds(settings):
    count = len(settings["seeds"])
    return f"{count} seed{'s' * (count > 1)}"


def _changes(methods, magnifications):
    """One line: each network's largest Dice change from ×1 over ×0.5 … ×2 (the own-scale U-net's:
    what the magnification itself costs), and each scale-channel U-net's largest shortfall against
    the jittered and the own-scale stock U-nets (those that ran)."""
    within = [m for m in magnifications if 0.5 <= float(m) <= 2]
    mean = {name: {m: float(np.mean(r["test"][m]["dice"])) for m in within} for name, r in methods.items()}
    drops = ", ".join(f"{name} {min(d[m] - d['1'] for m in within):+.3f}" for name, d in mean.items() if name != "jittered")
    parts = [f"Largest Dice change from ×1 over ×0.5 … ×2 (means over seeds): {drops}"]
    for ours in SCALE_CHANNEL_NETWORKS:
        gaps = [f"against {label}: {max(mean[other][m] - mean[ours][m] for m in within):+.3f}"
                for other, label in REFERENCES.items() if ours in mean and other in mean]
        if gaps:
            parts.append(f"the {MAGNIFICATION_NETWORKS[ours]}'s largest shortfall " + ", ".join(gaps))
    return "; ".join(parts) + "."


def plot_magnification_dice(results, path):
    """Test Dice against magnification (log axis), mean over seeds with a ±std band, per training range."""
    from keras_gaussconv.plotting import subplots

    trainings = results["settings"]["training"]
    fig, axes = subplots(1, len(trainings), figsize=(5.2 * len(trainings), 3.6), squeeze=False)
    magnifications = list(results["otsu"])
    x = [float(m) for m in magnifications]
    colours = {"stock": "tab:orange", "gaussian": "tab:blue", "scale_channels": "tab:green", "image_channels": "tab:red",
               "image_selection": "tab:brown", "jittered": "tab:purple", "own_scale": "black"}
    for ax, training in zip(axes[0], trainings):
        for name, r in _methods(results, training).items():
            dice = np.array([r["test"][m]["dice"] for m in magnifications])
            mean, std = dice.mean(1), dice.std(1)
            ax.plot(x, mean, "o-", color=colours[name], label=MAGNIFICATION_NETWORKS[name].replace("`", ""), ms=4)
            ax.fill_between(x, mean - std, mean + std, color=colours[name], alpha=0.2)
        ax.plot(x, [results["otsu"][m]["dice"] for m in magnifications], "--", color="gray", label="Otsu on haematoxylin")
        trained = MAGNIFICATION_TRAINING[training]
        ax.axvspan(min(trained) / 1.05, max(trained) * 1.05, color="gray", alpha=0.12)
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [f"×{m}" for m in magnifications])
        score_panel(ax, f"trained at magnification {training} (shaded)", "test magnification", "test Dice", "lower center")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
