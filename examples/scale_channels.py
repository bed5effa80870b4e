"""Train a scale-channel Gaussian derivative network on 16-pixel digits, test it on digits 8 to 64 pixels tall.

Every layer runs in the scale channels s = 0.5, 1, 2, 4 with one set of
weights (`ScaleChannels`); magnifying a digit m times moves its response from
channel s to channel m·s, and the maximum over the channels ends the network,
so the accuracy should hold at sizes never seen in training. The network ends
in a spatial maximum and its weights do not depend on the canvas, so a copy
built for a larger canvas tests the larger digits. Offline (scikit-learn's
digits); a few minutes on a 2-core CPU. Run: `python examples/scale_channels.py`.
The full comparison, with a stock CNN and three seeds: `keras-gaussconv scales --network cnn
--network scale_channels` (`keras-gaussconv scales` alone runs the size-normalised networks instead).
"""

import argparse

import keras
import numpy as np

from keras_gaussconv.datasets import load_rescaled_digits
from keras_gaussconv.models import gaussian_derivative_network

CHANNELS = (0.5, 1.0, 2.0, 4.0)


def network(canvas):
    return gaussian_derivative_network(
        (canvas, canvas, 1), 10, scales=CHANNELS, filters=(8, 16, 16, 32), kernel_size=49,
        sigma_ratio=2**0.25, discretization="discrete", scale_dropout=0.2,
    )


def main(epochs=4, count=1257, test_count=270):
    keras.utils.set_random_seed(0)
    x, y = load_rescaled_digits("train", scale=1.0, count=count, size=32)
    model = network(32)
    steps = epochs * (count // 32)
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(0.02, steps)),
                  "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=2)
    for scale in (0.5, 0.71, 1.0, 1.41, 2.0, 2.83, 4.0):
        canvas = max(32, round(16 * scale) + 16)
        x_test, y_test = load_rescaled_digits("test", scale=scale, count=test_count, size=canvas, seed=1)
        tested = network(canvas)
        tested.set_weights(model.get_weights())
        accuracy = np.mean(np.argmax(tested.predict(x_test, verbose=0), axis=-1) == y_test)
        print(f"test scale ×{scale:<4} ({round(16 * scale):2d}-pixel digits): accuracy {100 * accuracy:.1f} %")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    main(parser.parse_args().epochs)
