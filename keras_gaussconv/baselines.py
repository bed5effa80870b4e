"""The non-learned baselines the segmentation experiments compare against: Otsu's threshold."""

import numpy as np

from keras_gaussconv.utils import require


def haematoxylin_otsu(images):
    """The non-learned baseline: Otsu's threshold on each image's haematoxylin channel.

    `skimage.color.rgb2hed` (colour deconvolution with the standard stain
    vectors), then `skimage.filters.threshold_otsu` per image.

    Returns:
        float32 masks (n, rows, cols, 1) in {0, 1}.
    """
    color = require("skimage.color", "scikit-image")
    filters = require("skimage.filters", "scikit-image")
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
    filters = require("skimage.filters", "scikit-image")
    return np.stack([volume > filters.threshold_otsu(volume) for volume in volumes]).astype("float32")
