"""Data sets for the demo and examples: bundled with dependencies, so they work offline.

* `load_digits`: scikit-learn's handwritten digits (1,797 images of 8×8).
* `load_rescaled_digits`: those digits magnified to a scale (16·s pixels) at random
  positions on a canvas, train and test from disjoint digit images (scale generalisation).
* `load_rescaled_fashion_mnist`: Fashion-MNIST drawn the same way (needs the network once).
* `load_rescaled_shapes`: ten shapes drawn at a scale from their continuous definition
  (never resampled), at random rotations and positions: scale generalisation with exact labels.
* `load_synthetic_nuclei`: histology-like images rendered with exact nuclei masks
  and instance labels (train, validation and test drawn from disjoint seeds).
* `load_nuclei`: scikit-image's `immunohistochemistry` image cut into patches of
  disjoint train, validation and test regions, with nuclei masks derived by
  colour deconvolution — pseudo ground truth.
* `load_fashion_mnist`: Fashion-MNIST through `keras.datasets` (needs the network
  the first time).

The renderers of the synthetic sets are in `keras_gaussconv.rendering`, the non-learned
baselines (Otsu) in `keras_gaussconv.baselines`.

These need the `examples` extra (`pip install "keras-gaussconv[examples]"`).
"""

import numbers

import numpy as np

from keras_gaussconv.baselines import haematoxylin_otsu, otsu_threshold  # noqa: F401  (importable here, as before)
from keras_gaussconv.layers.validation import check_positive_int
from keras_gaussconv.rendering import SHAPES, render_shape, render_synthetic_nuclei, render_synthetic_nuclei_3d
from keras_gaussconv.utils import require


def load_digits(size=16, test_fraction=0.3, seed=0):
    """scikit-learn's bundled handwritten digits, split into train and test.

    The 8×8 images (values 0–16) are scaled to [0, 1] and, for `size` != 8,
    resized with anti-aliasing to `size`×`size` so that 5×5 and 7×7 kernels
    fit (no information is added).

    Args:
        size: side of the returned images.
        test_fraction: share of the 1,797 images held out, stratified by class.
        seed: of the split.

    Returns:
        `((x_train, y_train), (x_test, y_test))`, x float32 of shape
        (n, size, size, 1) in [0, 1], y int64 labels 0–9.
    """
    sk_datasets = require("sklearn.datasets", "scikit-learn")
    model_selection = require("sklearn.model_selection", "scikit-learn")
    digits = sk_datasets.load_digits()
    images = digits.images.astype("float32") / 16.0
    if size != 8:
        transform = require("skimage.transform", "scikit-image")
        images = np.stack([transform.resize(img, (size, size), anti_aliasing=True) for img in images])
    images = np.clip(images, 0.0, 1.0).astype("float32")[..., None]
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        images, digits.target.astype("int64"), test_size=test_fraction, random_state=seed,
        stratify=digits.target,
    )
    return (x_train, y_train), (x_test, y_test)


DIGIT_SIDE = 16  # pixels of a scale-1 digit in `load_rescaled_digits`


def load_rescaled_digits(split="train", scale=1.0, count=None, size=72, seed=0):
    """scikit-learn's digits magnified to a scale, at random positions on a canvas: scale generalisation.

    Scale s draws each 8×8 digit as a `round(16·s)`-pixel square (bilinear,
    anti-aliased when it shrinks), at a uniformly random integer position
    inside a `size`×`size` zero canvas (default 72: room for scale 4, a
    64-pixel digit). "train" and "test" are `load_digits`' stratified split
    of the 1,797 source images (1,257 / 540), so no test digit is ever seen
    in training, at any scale.

    Args:
        split: "train" or "test".
        scale: s > 0; the digit's side, round(16·s), must fit in `size`.
        count: images to return; None: every source image of the split once.
            More than the split holds cycles through it again (new positions).
        size: side of the canvas.
        seed: of the order of the images and of their positions.

    Returns:
        `(images, labels)`: float32 `(count, size, size, 1)` in [0, 1], int64 labels 0–9.
    """
    _check_train_test(split)
    (x_train, y_train), (x_test, y_test) = load_digits(size=8)
    return _rescaled(x_train, y_train, x_test, y_test, split, scale, count, size, seed)


def load_rescaled_fashion_mnist(split="train", scale=1.0, count=None, size=72, seed=0):
    """Fashion-MNIST (`load_fashion_mnist`: needs the network once) as `load_rescaled_digits` draws
    the digits: each 28×28 image a round(16·s)-pixel square at a random position.

    Args and returns as `load_rescaled_digits`'; train and test are Fashion-MNIST's own
    (60,000 / 10,000 images).

    Raises:
        RuntimeError: when Fashion-MNIST is not cached and cannot be downloaded.
    """
    _check_train_test(split)
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    return _rescaled(x_train, y_train, x_test, y_test, split, scale, count, size, seed)


def _check_train_test(split):
    """The index of `split` in ("train", "test"), else ValueError naming it."""
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be one of ['train', 'test']. Received: split={split!r}")
    return ("train", "test").index(split)


def _rescaled(x_train, y_train, x_test, y_test, split, scale, count, size, seed):
    """`count` images of a split's sources, each resized to round(16·s) pixels (bilinear, anti-aliased
    when it shrinks) at a uniformly random integer position of a zero `size`² canvas."""
    real = isinstance(scale, numbers.Real) and not isinstance(scale, bool)  # NumPy scalars too
    side = round(DIGIT_SIDE * float(scale)) if real and scale > 0 else 0
    if side < 1 or side > size:
        raise ValueError(
            f"`scale` must be positive and its {DIGIT_SIDE}·scale-pixel image must fit the size×size canvas. "
            f"Received: scale={scale!r}, size={size!r}"
        )
    transform = require("skimage.transform", "scikit-image")
    sources, labels = (x_train, y_train) if split == "train" else (x_test, y_test)
    rng = np.random.default_rng(seed)
    count = len(sources) if count is None else check_positive_int("count", count)
    order = np.concatenate([rng.permutation(len(sources)) for _ in range(-(-count // len(sources)))])[:count]
    resized = {}  # each source image resized once
    images = np.zeros((count, size, size, 1), "float32")
    for i, j in enumerate(order):
        if j not in resized:
            resized[j] = transform.resize(sources[j, :, :, 0], (side, side), order=1,
                                          anti_aliasing=side < sources.shape[1])
        top, left = rng.integers(0, size - side + 1, size=2)
        images[i, top : top + side, left : left + side, 0] = resized[j]
    return np.clip(images, 0.0, 1.0), labels[order]


def load_rescaled_shapes(split="train", scale=1.0, count=1000, size=72, seed=0):
    """Ten shapes (`rendering.SHAPES`) drawn at a scale from their continuous definition: scale generalisation.

    Scale s draws a 16·s-pixel shape (`render_shape`: radius 8·s, random rotation and centre,
    each pixel its exact-edge coverage), so every scale is rendered, never resampled, and no
    resampling artefact favours one. Labels cycle through the ten classes (balanced), in a
    random order. "train" and "test" draw from different random streams (`seed` and split).

    Args:
        split: "train" or "test".
        scale: s > 0; the 16·s-pixel shape must fit in `size`.
        count: images to return.
        size: side of the canvas.
        seed: of the labels, rotations and positions.

    Returns:
        `(images, labels)`: float32 `(count, size, size, 1)` in [0, 1], int64 labels 0–9.
    """
    count = check_positive_int("count", count)
    rng = np.random.default_rng([seed, _check_train_test(split)])
    labels = rng.permutation(np.arange(count) % len(SHAPES)).astype("int64")
    images = np.stack([render_shape(rng, label, scale, size) for label in labels])
    return images[..., None], labels


SPLITS = ("train", "validation", "test")


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {list(SPLITS)}. Received: split={split!r}")
    return split


def load_synthetic_nuclei(split="train", count=100, size=64, seed=0, magnification=1.0):
    """Rendered histology-like images with exact nuclei masks (`render_synthetic_nuclei`).

    Image i of a split is rendered from `numpy.random.default_rng([seed, s, i])`
    with s the split's index in `SPLITS`, so splits never share an image and
    a split's first images do not depend on `count`.

    Args:
        split: "train", "validation" or "test".
        count: number of images.
        size: their side in pixels.
        seed: of the whole data set.
        magnification: the objective's, m > 0 (`render_synthetic_nuclei`):
            every length m times today's (1), the same pixel size. Image i of a
            split is drawn from the same generator at every m (the same slide
            statistics, not the same slide: counts depend on m).

    Returns:
        `(images, masks, instances)`: float32 (count, size, size, 3) in [0, 1],
        float32 (count, size, size, 1) in {0, 1} (nuclei), int32
        (count, size, size) instance labels (0 background).
    """
    s = SPLITS.index(_check_split(split))
    rendered = [render_synthetic_nuclei(np.random.default_rng([seed, s, i]), size, magnification) for i in range(count)]
    images = np.stack([image for image, _, _ in rendered])
    instances = np.stack([labels for _, labels, _ in rendered])
    return images, (instances > 0)[..., None].astype("float32"), instances


def load_synthetic_nuclei_3d(split="train", count=32, size=32, seed=0):
    """Rendered microscopy volumes with exact nuclei masks (`render_synthetic_nuclei_3d`).

    Volume i of a split is rendered from `numpy.random.default_rng([seed, 3, s, i])`
    (s the split's index in `SPLITS`), so splits never share a volume, the first
    volumes do not depend on `count`, and no 2-D image shares a generator state.

    Returns:
        `(volumes, masks, instances)`: float32 (count, size, size, size, 1) in
        [0, 1], float32 masks of the same shape in {0, 1}, int32 (count, size,
        size, size) instance labels.
    """
    s = SPLITS.index(_check_split(split))
    rendered = [render_synthetic_nuclei_3d(np.random.default_rng([seed, 3, s, i]), size) for i in range(count)]
    volumes = np.stack([volume for volume, _, _ in rendered])
    instances = np.stack([labels for _, labels, _ in rendered])
    return volumes, (instances > 0)[..., None].astype("float32"), instances


TONE_FREQUENCIES = (0.06, 0.12, 0.2, 0.3)  # cycles per sample, one per class
DISTRACTOR_FREQUENCIES = (0.09, 0.16, 0.25, 0.38)  # between and beyond the classes' bands


def render_tone_burst(rng, label, length=256):
    """One signal of class `label`: a tone burst at `TONE_FREQUENCIES[label]` among distractors.

    The burst: a Gaussian-windowed cosine (window σ 12–30 samples, anywhere,
    random phase, frequency within ±3 % of the class's). Distractors: one or
    two bursts just as strong at `DISTRACTOR_FREQUENCIES`, and white noise
    (σ 0.3) — so a detector of energy alone cannot tell the class; a filter
    tuned to the class's band can.

    Returns:
        float32 (length, 1).
    """
    t = np.arange(length)

    def burst(frequency):
        centre, width = rng.uniform(0.15, 0.85) * length, rng.uniform(12, 30)
        window = np.exp(-0.5 * ((t - centre) / width) ** 2)
        return rng.uniform(0.7, 1.3) * window * np.cos(2 * np.pi * frequency * t + rng.uniform(0, 2 * np.pi))

    signal = burst(TONE_FREQUENCIES[label] * rng.uniform(0.97, 1.03))
    for frequency in rng.choice(DISTRACTOR_FREQUENCIES, size=rng.integers(1, 3), replace=False):
        signal = signal + burst(frequency)
    signal = signal + rng.normal(0, 0.3, length)
    return signal[:, None].astype("float32")


def load_tone_bursts(split="train", count=512, length=256, seed=0):
    """Signals labelled by the frequency band of their tone burst (`render_tone_burst`): exact labels.

    Signal i of a split has class i mod 4 (balanced) and is rendered from
    `numpy.random.default_rng([seed, 1, s, i])` (s the split's index in `SPLITS`):
    splits never share a signal.

    Returns:
        `(signals, labels)`: float32 (count, length, 1), int32 (count,).
    """
    s = SPLITS.index(_check_split(split))
    labels = np.arange(count) % len(TONE_FREQUENCIES)
    signals = np.stack([render_tone_burst(np.random.default_rng([seed, 1, s, i]), labels[i], length) for i in range(count)])
    return signals, labels.astype("int32")


def nuclei_mask(rgb):
    """Pseudo ground-truth nuclei mask of an IHC image (haematoxylin-stained nuclei).

    Colour deconvolution (`skimage.color.rgb2hed`), the haematoxylin channel
    smoothed and thresholded with Otsu's method, then morphological opening
    and removal of objects under 30 pixels.

    Returns:
        Boolean array of the image's rows × cols.
    """
    color = require("skimage.color", "scikit-image")
    filters = require("skimage.filters", "scikit-image")
    morphology = require("skimage.morphology", "scikit-image")
    from scipy import ndimage

    haematoxylin = filters.gaussian(color.rgb2hed(rgb)[..., 0], sigma=1.0)
    mask = haematoxylin > filters.threshold_otsu(haematoxylin)
    mask = ndimage.binary_opening(mask, structure=morphology.disk(2))
    labels, _ = ndimage.label(mask)
    sizes = np.bincount(labels.ravel())
    return mask & (sizes[labels] >= 30)


# Disjoint bands of rows of the 512×512 image: half for training, a quarter each
# for validation and test.
NUCLEI_REGIONS = {"train": (0, 256), "validation": (256, 384), "test": (384, 512)}


def nuclei_patch_corners(split, patch_size=64, stride=None):
    """Top-left corners `(row, col)` of `load_nuclei`'s patches of one split.

    Patches lie entirely inside the split's band of rows (`NUCLEI_REGIONS`),
    every `stride` pixels (default: `patch_size`, no overlap).
    """
    first, last = NUCLEI_REGIONS[_check_split(split)]
    stride = stride or patch_size
    if not 0 < patch_size <= last - first or stride < 1:
        raise ValueError(
            f"`patch_size` must be in [1, {last - first}] and `stride` positive. "
            f"Received: patch_size={patch_size}, stride={stride}"
        )
    return [(r, c) for r in range(first, last - patch_size + 1, stride) for c in range(0, 512 - patch_size + 1, stride)]


def load_nuclei(split=None, patch_size=64, stride=None):
    """Patches of scikit-image's `immunohistochemistry` image with pseudo ground-truth masks.

    The 512×512 RGB image is divided into bands of rows (`NUCLEI_REGIONS`):
    train, validation and test patches come from disjoint regions, cut every
    `stride` pixels (default `patch_size`). Masks come from `nuclei_mask`
    (colour deconvolution, threshold, morphology) applied to each region on
    its own — derived, not annotated by hand.

    Args:
        split: "train", "validation", "test", or None for all three.
        patch_size: side of the patches.
        stride: distance between patches (default: `patch_size`).

    Returns:
        `(images, masks)`: float32 (n, patch_size, patch_size, 3) in [0, 1] and
        float32 (n, patch_size, patch_size, 1) in {0, 1}; with the defaults
        32 train, 16 validation and 16 test patches.
    """
    if split is None:
        parts = [load_nuclei(s, patch_size, stride) for s in SPLITS]
        return tuple(np.concatenate(arrays) for arrays in zip(*parts))
    data = require("skimage.data", "scikit-image")
    corners = nuclei_patch_corners(split, patch_size, stride)
    first, last = NUCLEI_REGIONS[split]
    rgb = data.immunohistochemistry()
    image = rgb.astype("float32") / 255.0
    mask = np.zeros(rgb.shape[:2], bool)
    mask[first:last] = nuclei_mask(rgb[first:last])
    images = np.stack([image[r : r + patch_size, c : c + patch_size] for r, c in corners])
    masks = np.stack([mask[r : r + patch_size, c : c + patch_size] for r, c in corners])
    return images, masks[..., None].astype("float32")


def load_fashion_mnist():
    """Fashion-MNIST via `keras.datasets` (downloaded once, then cached by Keras).

    Returns:
        `((x_train, y_train), (x_test, y_test))`, x float32 (n, 28, 28, 1) in [0, 1].

    Raises:
        RuntimeError: when it is not cached and cannot be downloaded.
    """
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    except Exception as error:  # urllib, HTTP and socket errors all mean "no data"
        raise RuntimeError(
            "Fashion-MNIST could not be downloaded (no network?). It is fetched once by "
            "keras.datasets.fashion_mnist.load_data() into ~/.keras/datasets; the offline "
            f"alternative is keras_gaussconv.datasets.load_digits(). Cause: {error}"
        ) from error
    scale = lambda x: (x.astype("float32") / 255.0)[..., None]  # noqa: E731
    return (scale(x_train), y_train.astype("int64")), (scale(x_test), y_test.astype("int64"))
