"""A learnable Gabor filter bank as the front end of a signal classifier (offline, exact labels).

Task (`keras_gaussconv.datasets.load_tone_bursts`): which of four frequency
bands holds a tone burst, among equally strong distractor bursts in other
bands and white noise. Front ends, with the same network behind them
(square → mean over time → log → dense softmax) and the same budget (Adam,
epochs, batch, learning rate) and seeds:

* `GaborConv1D(8, 63, num_kernels=8)`: 8 kernels with trainable σ, μ,
  centre frequency and phase, combined into 8 filters (96 parameters);
* `Conv1D(8, 63)`: 8 free filters (504 parameters).

Prints test accuracy (mean ± std over seeds) and draws the Gabor front
end's frequency responses before and after training (seed 0), class bands
dashed, distractor bands dotted.

Run: `python examples/gabor_filterbank_1d.py [--quick | --smoke] [--output PATH]`
"""

import argparse

import keras
import numpy as np

from keras_gaussconv import GaborConv1D, count_parameters
from keras_gaussconv.datasets import DISTRACTOR_FREQUENCIES, TONE_FREQUENCIES, load_tone_bursts

SETTINGS = {
    "full": dict(train=1024, test=1024, epochs=30, seeds=(0, 1, 2)),
    "quick": dict(train=512, test=512, epochs=15, seeds=(0, 1)),
    "smoke": dict(train=64, test=64, epochs=2, seeds=(0,)),
}
FRONT_ENDS = {
    "gabor": lambda: GaborConv1D(8, 63, num_kernels=8, padding="same", use_bias=False, name="front_end"),
    "conv1d": lambda: keras.layers.Conv1D(8, 63, padding="same", use_bias=False, name="front_end"),
}


def classifier(front_end, length):
    inputs = keras.Input((length, 1))
    energy = keras.ops.square(front_end(inputs))
    features = keras.layers.Lambda(lambda e: keras.ops.log(keras.ops.mean(e, axis=1) + 1e-3))(energy)
    outputs = keras.layers.Dense(len(TONE_FREQUENCIES), activation="softmax")(features)
    return keras.Model(inputs, outputs)


def frequency_responses(layer, samples=512):
    """|FFT| of each output filter of the front end (its dense kernel), frequencies in cycles/sample."""
    kernel = keras.ops.convert_to_numpy(layer.kernel)[:, 0, :]  # (k, filters)
    return np.fft.rfftfreq(samples), np.abs(np.fft.rfft(kernel, n=samples, axis=0))


def run(settings, verbose=0):
    (x, y), (x_test, y_test) = (load_tone_bursts(split, settings[split]) for split in ("train", "test"))
    results, pictures = {}, {}
    for name, make in FRONT_ENDS.items():
        accuracies = []
        for seed in settings["seeds"]:
            keras.utils.set_random_seed(seed)
            model = classifier(make(), x.shape[1])
            model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
            if name == "gabor" and seed == settings["seeds"][0]:
                pictures["before"] = frequency_responses(model.get_layer("front_end"))
            model.fit(x, y, batch_size=32, epochs=settings["epochs"], verbose=verbose)
            accuracies.append(float(model.evaluate(x_test, y_test, verbose=0)[1]))
            if name == "gabor" and seed == settings["seeds"][0]:
                pictures["after"] = frequency_responses(model.get_layer("front_end"))
        results[name] = {"accuracy": accuracies, "parameters": count_parameters(model.get_layer("front_end"))}
    return results, pictures


def plot(pictures, path):
    from keras_gaussconv.plotting import subplots

    fig, axes = subplots(1, 2, figsize=(9, 3), sharey=True)
    for ax, (title, (frequencies, responses)) in zip(axes, pictures.items()):
        ax.plot(frequencies, responses / responses.max(), linewidth=1)
        for f in TONE_FREQUENCIES:
            ax.axvline(f, color="k", linestyle="--", linewidth=0.8)
        for f in DISTRACTOR_FREQUENCIES:
            ax.axvline(f, color="r", linestyle=":", linewidth=0.8)
        ax.set_title(f"GaborConv1D front end, {title} training", fontsize=9)
        ax.set_xlabel("frequency (cycles / sample)")
    axes[0].set_ylabel("|response| (normalised)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--quick", action="store_const", dest="scale", const="quick", default="full")
    scale.add_argument("--smoke", action="store_const", dest="scale", const="smoke")
    parser.add_argument("--output", default="gabor_filterbank_1d.png", help="the frequency-response picture")
    args = parser.parse_args()
    results, pictures = run(SETTINGS[args.scale])
    print(f"| front end | parameters | test accuracy ({len(SETTINGS[args.scale]['seeds'])} seeds) |\n|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['parameters']} | {np.mean(r['accuracy']):.3f} ± {np.std(r['accuracy']):.3f} |")
    plot(pictures, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
