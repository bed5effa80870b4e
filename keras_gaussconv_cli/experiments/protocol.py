"""The protocol pieces every experiment shares: run sizes, data draws, fresh runs, metrics, tables.

Public, so that the examples use the same protocol as `keras-gaussconv`'s experiments.
"""

import json
import time

import keras
import numpy as np

# Run scales of the experiments: "full" (the documentation's numbers), "quick" (minutes),
# "smoke" (seconds: checks the pipeline end to end; its numbers mean little).
SCALES = ("full", "quick", "smoke")
BATCH = 32


def check_scale(scale):
    """`scale` if it is one of `SCALES`, else ValueError naming it."""
    if scale not in SCALES:
        raise ValueError(f"`scale` must be one of {list(SCALES)}. Received: scale={scale!r}")
    return scale


def check_networks(networks, known, default=None):
    """`networks` (None: `default`, or all of `known`) as names of `known` in its order, else ValueError naming it."""
    if networks is None:
        networks = known if default is None else default
    if isinstance(networks, str) or not networks or any(n not in known for n in networks):
        raise ValueError(f"`networks` must be a non-empty list of {list(known)}. Received: networks={networks!r}")
    return tuple(n for n in known if n in networks)


def settings_json(settings):
    """Settings as JSON values (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}


def write_results(output, name, results, table):
    """Writes `{name}.json` (the results) and `{name}.md` (the table) into the directory `output`."""
    (output / f"{name}.json").write_text(json.dumps(results, indent=1))
    (output / f"{name}.md").write_text(table + "\n")


def mean_std(values, scale=1.0, digits=1):
    """"mean ± std" of `values` × `scale`, e.g. accuracies in percent: `mean_std(a, 100)`."""
    values = scale * np.asarray(values, dtype="float64")
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def subset(x, y, size, seed):
    """`size` training images drawn with equal shares of every class."""
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in range(10)]
    chosen = np.concatenate([p[: -(-size // 10)] for p in per_class])
    chosen = rng.permutation(chosen)[:size]
    return x[chosen], y[chosen]


def batches(x, y, steps, seed):
    """`steps` full batches: shuffled passes over (x, y), so every run has the same shapes."""
    rng = np.random.default_rng(seed)
    needed = steps * BATCH
    order = np.concatenate([rng.permutation(len(x)) for _ in range(-(-needed // len(x)))])[:needed]
    return x[order], y[order]


def reset(model, weights, learning_rate=None):
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


class EpochTimer(keras.callbacks.Callback):
    """Seconds per epoch of a `fit`, in `seconds`."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


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


def score_panel(ax, title, xlabel, ylabel, legend_loc):
    """Labels one panel of scores in [0, 1] (Dice) the way the segmentation experiments' plots do."""
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc=legend_loc)
