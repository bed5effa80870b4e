"""Data sets for the demo and examples: bundled with dependencies, so they work offline.

* `load_digits`: scikit-learn's handwritten digits (1,797 images of 8×8).
* `load_nuclei`: scikit-image's `immunohistochemistry` image cut into patches,
  with nuclei masks derived by colour deconvolution — pseudo ground truth.
* `load_fashion_mnist`: Fashion-MNIST through `keras.datasets` (needs the network
  the first time).

These need the `examples` extra (`pip install "keras-gaussconv[examples]"`).
"""

import numpy as np


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


def load_nuclei(patch_size=128, stride=64):
    """Patches of scikit-image's `immunohistochemistry` image with pseudo ground-truth masks.

    The 512×512 RGB image is cut into `patch_size` patches every `stride`
    pixels; masks come from `nuclei_mask` (colour deconvolution, threshold,
    morphology) — derived, not annotated by hand.

    Returns:
        `(images, masks)`: float32 (n, patch_size, patch_size, 3) in [0, 1] and
        float32 (n, patch_size, patch_size, 1) in {0, 1}; with the defaults n = 49.
    """
    data = _require("skimage.data", "scikit-image")
    rgb = data.immunohistochemistry()
    mask = nuclei_mask(rgb)
    image = rgb.astype("float32") / 255.0
    corners = range(0, rgb.shape[0] - patch_size + 1, stride)
    images = np.stack([image[r : r + patch_size, c : c + patch_size] for r in corners for c in corners])
    masks = np.stack([mask[r : r + patch_size, c : c + patch_size] for r in corners for c in corners])
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
