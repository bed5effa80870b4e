"""Data sets for the demo and examples: bundled with dependencies, so they work offline.

* `load_digits`: scikit-learn's handwritten digits (1,797 images of 8×8).
* `load_rescaled_digits`: those digits magnified to a scale (16·s pixels) at random
  positions on a canvas, train and test from disjoint digit images (scale generalisation).
* `load_synthetic_nuclei`: histology-like images rendered with exact nuclei masks
  and instance labels (train, validation and test drawn from disjoint seeds).
* `load_nuclei`: scikit-image's `immunohistochemistry` image cut into patches of
  disjoint train, validation and test regions, with nuclei masks derived by
  colour deconvolution — pseudo ground truth.
* `load_fashion_mnist`: Fashion-MNIST through `keras.datasets` (needs the network
  the first time).

These need the `examples` extra (`pip install "keras-gaussconv[examples]"`).
"""

import numbers

import numpy as np

from keras_gaussconv.layers.validation import check_positive_int


def _require(module, package):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as error:
        raise ImportError(
            f"{package} is needed for this data set: pip install 'keras-gaussconv[examples]'"
        ) from error


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
    sk_datasets = _require("sklearn.datasets", "scikit-learn")
    model_selection = _require("sklearn.model_selection", "scikit-learn")
    digits = sk_datasets.load_digits()
    images = digits.images.astype("float32") / 16.0
    if size != 8:
        transform = _require("skimage.transform", "scikit-image")
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
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be one of ['train', 'test']. Received: split={split!r}")
    real = isinstance(scale, numbers.Real) and not isinstance(scale, bool)  # NumPy scalars too
    side = round(DIGIT_SIDE * float(scale)) if real and scale > 0 else 0
    if side < 1 or side > size:
        raise ValueError(
            f"`scale` must be positive and its {DIGIT_SIDE}·scale-pixel digit must fit the size×size canvas. "
            f"Received: scale={scale!r}, size={size!r}"
        )
    transform = _require("skimage.transform", "scikit-image")
    (x_train, y_train), (x_test, y_test) = load_digits(size=8)
    sources, labels = (x_train, y_train) if split == "train" else (x_test, y_test)
    rng = np.random.default_rng(seed)
    count = len(sources) if count is None else check_positive_int("count", count)
    order = np.concatenate([rng.permutation(len(sources)) for _ in range(-(-count // len(sources)))])[:count]
    digits = {}  # each source image resized once
    images = np.zeros((count, size, size, 1), "float32")
    for i, j in enumerate(order):
        if j not in digits:
            digits[j] = transform.resize(sources[j, :, :, 0], (side, side), order=1, anti_aliasing=side < 8)
        top, left = rng.integers(0, size - side + 1, size=2)
        images[i, top : top + side, left : left + side, 0] = digits[j]
    return np.clip(images, 0.0, 1.0), labels[order]


SPLITS = ("train", "validation", "test")


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {list(SPLITS)}. Received: split={split!r}")
    return split


def _smooth_noise(rng, shape, sigma):
    """Gaussian-filtered white noise scaled to unit standard deviation."""
    filters = _require("skimage.filters", "scikit-image")
    noise = filters.gaussian(rng.standard_normal(shape), sigma=sigma)
    return noise / (noise.std() + 1e-12)


def render_synthetic_nuclei(rng, size=64):
    """One histology-like RGB image with exactly known nuclei (haematoxylin, DAB counterstain).

    Nuclei are ellipses (semi-axes 3–7 px, axis ratio 0.5–1, any orientation),
    half of them in clusters, so they touch and overlap; each is drawn with
    `skimage.draw.ellipse` over the earlier ones. Their haematoxylin density
    varies 7-fold between nuclei, with chromatin texture and, for some, a dark
    envelope. Not nuclei, but stained alike: haematoxylin fibres and debris,
    DAB-stained membranes around half the nuclei, smooth background staining.
    Concentrations become RGB through `skimage.color.combine_stains` with stain
    vectors perturbed per image (slides differ), then optical blur (σ = 0.7 px),
    an illumination ramp (±10–30 %) and sensor noise (σ = 0.015).

    Args:
        rng: a `numpy.random.Generator`; the image is a function of its state.
        size: side of the square image in pixels.

    Returns:
        `(image, instances, ellipses)`: float32 (size, size, 3) in [0, 1];
        int32 (size, size) with 0 for background and k where the k-th ellipse
        is on top (ellipses hidden by later ones leave no pixel); float64
        (count, 5) rows `(row, col, row_radius, col_radius, rotation)` as
        `skimage.draw.ellipse` takes them.
    """
    color = _require("skimage.color", "scikit-image")
    draw = _require("skimage.draw", "scikit-image")
    filters = _require("skimage.filters", "scikit-image")
    shape = (size, size)
    count = rng.poisson(size * size / 180)
    clusters = rng.uniform(0, size, (max(1, count // 6), 2))
    centres = [
        clusters[rng.integers(len(clusters))] + rng.normal(0, 6, 2) if rng.random() < 0.5
        else rng.uniform(-3, size + 3, 2)
        for _ in range(count)
    ]
    radii = [(a, a * rng.uniform(0.5, 1.0)) for a in rng.uniform(3.0, 7.0, count)]
    ellipses = np.array([(r, c, a, b, rng.uniform(0, np.pi)) for (r, c), (a, b) in zip(centres, radii)])
    ellipses = ellipses.reshape(count, 5)

    haematoxylin = 0.008 + 0.02 * rng.uniform() * np.clip(_smooth_noise(rng, shape, size / 8), 0, None)
    dab = 0.03 * rng.uniform() * np.clip(_smooth_noise(rng, shape, size / 10), 0, None)
    for r, c, a, b, rotation in ellipses:  # membranes first: the nuclei lie on top
        if rng.random() < 0.5:
            grow = rng.uniform(2, 4)
            rows, cols = draw.ellipse(r, c, a + grow, b + grow, shape, rotation)
            dab[rows, cols] += rng.uniform(0.03, 0.12)
    chromatin = _smooth_noise(rng, shape, 1.0)
    instances = np.zeros(shape, np.int32)
    for k, (r, c, a, b, rotation) in enumerate(ellipses, start=1):
        rows, cols = draw.ellipse(r, c, a, b, shape, rotation)
        instances[rows, cols] = k
        # squared elliptic radius: 0 at the centre, 1 at the envelope
        u = (rows - r) * np.cos(rotation) + (cols - c) * np.sin(rotation)
        v = (rows - r) * np.sin(rotation) - (cols - c) * np.cos(rotation)
        envelope = 1 + rng.uniform(0, 1.2) * ((u / a) ** 2 + (v / b) ** 2) ** 2
        haematoxylin[rows, cols] = rng.uniform(0.015, 0.1) * envelope * (1 + 0.3 * chromatin[rows, cols])
        dab[rows, cols] *= 0.3
    background = instances == 0
    for _ in range(rng.poisson(3)):  # fibres
        points = rng.uniform(0, size, (3, 2)).astype(int)
        rows, cols = draw.bezier_curve(*points[0], *points[1], *points[2], 1, shape)
        fibre = np.zeros(shape)
        fibre[rows, cols] = rng.uniform(0.04, 0.1)
        fibre = 4 * filters.gaussian(fibre, rng.uniform(0.7, 1.5))
        haematoxylin = np.where(background, np.maximum(haematoxylin, fibre), haematoxylin)
    for _ in range(rng.poisson(size * size / 600)):  # debris
        rows, cols = draw.disk(rng.uniform(0, size, 2), rng.uniform(0.8, 1.8), shape=shape)
        outside = background[rows, cols]
        haematoxylin[rows[outside], cols[outside]] = rng.uniform(0.05, 0.11)

    stains = np.stack([haematoxylin, np.full(shape, 0.01), dab], axis=-1)
    vectors = color.rgb_from_hed + rng.normal(0, 0.06, (3, 3))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rgb = filters.gaussian(color.combine_stains(stains, vectors), sigma=0.7, channel_axis=-1)
    rows, cols = np.mgrid[0:size, 0:size] / size - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    ramp = rows * np.cos(angle) + cols * np.sin(angle)
    rgb = rgb * (1 + rng.uniform(0.2, 0.6) * ramp)[..., None] * rng.uniform(0.85, 1.0)
    rgb = rgb + rng.normal(0, 0.015, rgb.shape)
    return np.clip(rgb, 0, 1).astype("float32"), instances, ellipses


def load_synthetic_nuclei(split="train", count=100, size=64, seed=0):
    """Rendered histology-like images with exact nuclei masks (`render_synthetic_nuclei`).

    Image i of a split is rendered from `numpy.random.default_rng([seed, s, i])`
    with s the split's index in `SPLITS`, so splits never share an image and
    a split's first images do not depend on `count`.

    Args:
        split: "train", "validation" or "test".
        count: number of images.
        size: their side in pixels.
        seed: of the whole data set.

    Returns:
        `(images, masks, instances)`: float32 (count, size, size, 3) in [0, 1],
        float32 (count, size, size, 1) in {0, 1} (nuclei), int32
        (count, size, size) instance labels (0 background).
    """
    s = SPLITS.index(_check_split(split))
    rendered = [render_synthetic_nuclei(np.random.default_rng([seed, s, i]), size) for i in range(count)]
    images = np.stack([image for image, _, _ in rendered])
    instances = np.stack([labels for _, labels, _ in rendered])
    return images, (instances > 0)[..., None].astype("float32"), instances


def _random_rotation(rng):
    """A rotation matrix drawn uniformly from SO(3) (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def render_synthetic_nuclei_3d(rng, size=32):
    """One fluorescence-microscopy-like volume (a nuclear stain) with exactly known nuclei.

    Nuclei are ellipsoids (semi-axes 2.5–5 voxels, axis ratios 0.5–1, any
    orientation), half of them in clusters, so they touch and overlap; a
    voxel belongs to the last-drawn ellipsoid that contains its centre. Their
    brightness varies 5-fold, with chromatin texture and, for some, a bright
    rim. Not nuclei: out-of-focus haze, dim cytoplasm shells around half the
    nuclei, bright debris specks. Then the microscope: blur twice as long
    along depth as across (σ = 1.2 / 0.6 voxels), a brightness ramp and
    Poisson-Gaussian noise.

    Args:
        rng: a `numpy.random.Generator`; the volume is a function of its state.
        size: side of the cubic volume in voxels.

    Returns:
        `(volume, instances, ellipsoids)`: float32 (size, size, size, 1) in
        [0, 1]; int32 (size, size, size), 0 background, k where the k-th
        ellipsoid is on top; float64 (count, 15) rows (centre (3), semi-axes
        (3), rotation matrix (9, row-major)); a voxel p is inside when
        Σ_a ((Rᵀ(p − c))_a / semi_a)² <= 1.
    """
    filters = _require("skimage.filters", "scikit-image")
    shape = (size, size, size)
    count = max(1, rng.poisson(size**3 / 700))
    clusters = rng.uniform(0, size, (max(1, count // 5), 3))
    centres = [
        clusters[rng.integers(len(clusters))] + rng.normal(0, 4, 3) if rng.random() < 0.5
        else rng.uniform(-2, size + 2, 3)
        for _ in range(count)
    ]
    grid = np.stack(np.meshgrid(*(np.arange(size),) * 3, indexing="ij"), -1).astype(float)
    instances = np.zeros(shape, np.int32)
    signal = 0.12 * np.clip(_smooth_noise(rng, shape, size / 6), 0, None) + 0.04  # haze
    chromatin = _smooth_noise(rng, shape, 1.0)
    ellipsoids = []
    for k, centre in enumerate(centres, start=1):
        semi = rng.uniform(2.5, 5.0) * np.array([1.0, rng.uniform(0.5, 1.0), rng.uniform(0.5, 1.0)])
        rotation = _random_rotation(rng)
        radius2 = np.sum(((grid - centre) @ rotation / semi) ** 2, axis=-1)
        if rng.random() < 0.5:  # cytoplasm shell, dim, under the nuclei
            shell = (radius2 > 1.0) & (radius2 <= rng.uniform(2.0, 3.5)) & (instances == 0)
            signal[shell] = np.maximum(signal[shell], rng.uniform(0.12, 0.3))
        inside = radius2 <= 1.0
        instances[inside] = k
        rim = rng.uniform(0, 0.8)
        signal[inside] = rng.uniform(0.2, 1.0) * (1 + rim * radius2[inside] ** 2) * (1 + 0.25 * chromatin[inside])
        ellipsoids.append(np.concatenate([centre, semi, rotation.ravel()]))
    background = instances == 0
    for _ in range(rng.poisson(size**3 / 2000)):  # debris specks
        spot = np.sum((grid - rng.uniform(0, size, 3)) ** 2, axis=-1) <= rng.uniform(0.5, 1.5) ** 2
        signal[spot & background] = rng.uniform(0.4, 1.0)
    volume = filters.gaussian(signal, sigma=(1.2, 0.6, 0.6))
    ramp = (grid @ rng.normal(size=3)) / (size * 3)
    volume = volume * (1 + np.clip(ramp, -0.5, 0.5)) * rng.uniform(0.7, 1.0)
    photons = rng.uniform(150, 400)
    volume = rng.poisson(np.clip(volume, 0, None) * photons) / photons + rng.normal(0, 0.02, shape)
    return np.clip(volume, 0, 1)[..., None].astype("float32"), instances, np.array(ellipsoids).reshape(-1, 15)


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


def haematoxylin_otsu(images):
    """The non-learned baseline: Otsu's threshold on each image's haematoxylin channel.

    `skimage.color.rgb2hed` (colour deconvolution with the standard stain
    vectors), then `skimage.filters.threshold_otsu` per image.

    Returns:
        float32 masks (n, rows, cols, 1) in {0, 1}.
    """
    color = _require("skimage.color", "scikit-image")
    filters = _require("skimage.filters", "scikit-image")
    masks = []
    for image in images:
        haematoxylin = color.rgb2hed(image)[..., 0]
        masks.append(haematoxylin > filters.threshold_otsu(haematoxylin))
    return np.stack(masks)[..., None].astype("float32")


def otsu_threshold(volumes):
    """The non-learned baseline for one-channel data: Otsu's threshold on each image or volume.

    Returns:
        float32 masks shaped like `volumes` (the channel axis of size 1 kept), in {0, 1}.
    """
    filters = _require("skimage.filters", "scikit-image")
    return np.stack([volume > filters.threshold_otsu(volume) for volume in volumes]).astype("float32")


def nuclei_mask(rgb):
    """Pseudo ground-truth nuclei mask of an IHC image (haematoxylin-stained nuclei).

    Colour deconvolution (`skimage.color.rgb2hed`), the haematoxylin channel
    smoothed and thresholded with Otsu's method, then morphological opening
    and removal of objects under 30 pixels.

    Returns:
        Boolean array of the image's rows × cols.
    """
    color = _require("skimage.color", "scikit-image")
    filters = _require("skimage.filters", "scikit-image")
    morphology = _require("skimage.morphology", "scikit-image")
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
    data = _require("skimage.data", "scikit-image")
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
