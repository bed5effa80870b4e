"""Learn an oriented edge filter with one GaussianDerivativeConv2D (offline, scikit-image data).

The target is scikit-image's vertical Sobel response of the bundled `camera`
image; a single-filter layer learns σ, μ, θ and the combination weights to
reproduce it. Run: `python examples/quickstart.py`.
"""

import keras
import numpy as np
from skimage import data, filters, transform

from keras_gaussconv import GaussianDerivativeConv2D


def main():
    keras.utils.set_random_seed(0)
    image = transform.resize(data.camera(), (64, 64), anti_aliasing=True).astype("float32")
    target = filters.sobel_v(image).astype("float32")
    x, y = image[None, :, :, None], target[None, :, :, None]

    model = keras.Sequential([keras.Input((64, 64, 1))])
    model.add(GaussianDerivativeConv2D(1, 7, order=2, padding="same", use_bias=False))
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=300, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    layer = model.layers[0]
    print(f"MSE before {before:.2e}, after {after:.2e} ({before / after:.0f}x lower)")
    print("learned sigma (N, 2):\n", np.array2string(np.asarray(layer.sigma)[0], precision=2))
    print("learned theta (N,):", np.array2string(np.asarray(layer.theta)[0], precision=2))


if __name__ == "__main__":
    main()
