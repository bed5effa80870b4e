"""How well two size estimates follow a digit's magnification: `ImageScale` against `SizeNormalization`'s moments.

For the same test digits of `load_rescaled_digits` at ×1 and at each test scale s, each
estimate's change in octaves should be log₂ s. Printed: the mean over digits of
|change − log₂ s| per scale. `ImageScale` is the centroid over σ of the scale-normalised
Laplacian's energy; `SizeNormalization` the log₂ RMS radius of the intensity. Offline, about a
minute on a 2-core CPU. Run: `python examples/scale_estimates.py`.
"""

import argparse

import keras
import numpy as np

from keras_gaussconv import ImageScale, SizeNormalization
from keras_gaussconv.datasets import load_rescaled_digits

SCALES = tuple(2 ** (k / 4) for k in range(-4, 9))


def estimates(images):
    """`{name: (count,) octaves}` of both estimates for `images` (count, n, n, 1)."""
    image_scale, size = ImageScale(), SizeNormalization(8)
    image_scale.build(images.shape)
    batches = [images[i : i + 128] for i in range(0, len(images), 128)]
    return {
        "ImageScale": np.concatenate([keras.ops.convert_to_numpy(image_scale.centroids(b)) for b in batches]),
        "SizeNormalization": np.concatenate([keras.ops.convert_to_numpy(size.log_sizes(b)[0])[:, 0] for b in batches]),
    }


def covariance_errors(count=270, scales=SCALES):
    """`{name: {scale: mean |estimate(s) − estimate(1) − log₂ s|}}` over the same `count` test digits."""
    at = {s: estimates(load_rescaled_digits("test", s, count=count, size=max(32, round(16 * s) + 16), seed=1000)[0])
          for s in (1.0, *scales)}
    return {name: {s: float(np.mean(np.abs(at[s][name] - at[1.0][name] - np.log2(s)))) for s in scales}
            for name in at[1.0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=270, help="test digits per scale")
    args = parser.parse_args()
    errors = covariance_errors(args.count)
    print("| estimate | " + " | ".join(f"×{s:.3g}" for s in SCALES) + " |\n|---|" + "---|" * len(SCALES))
    for name, by_scale in errors.items():
        print(f"| {name} | " + " | ".join(f"{e:.2f}" for e in by_scale.values()) + " |")


if __name__ == "__main__":
    main()
