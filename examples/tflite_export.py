"""Train a small Gaussian-derivative classifier, fold it and export it to TFLite (offline).

The folded model contains only stock Keras layers; the TFLite model runs in the
LiteRT interpreter (or `tf.lite.Interpreter`) and gives the Keras outputs.

Run: `python examples/tflite_export.py [--output-dir DIR]`
"""

import argparse
from pathlib import Path

import keras
import numpy as np

from keras_gaussconv.datasets import load_digits
from keras_gaussconv.export import export_tflite
from keras_gaussconv.models import comparison_net


def interpreter(path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=str(path))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=".")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_digits()
    model = comparison_net("gaussian", x_train.shape[1:], 10, filters=(8, 16, 16, 32), kernel_size=5)
    model.compile(keras.optimizers.Adam(5e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=10, batch_size=32, verbose=2)
    path = Path(args.output_dir) / "digits_gaussian.tflite"
    export_tflite(model, path)
    lite = interpreter(path)
    index = lite.get_input_details()[0]["index"]
    lite.resize_tensor_input(index, x_test.shape)
    lite.allocate_tensors()
    lite.set_tensor(index, x_test)
    lite.invoke()
    probabilities = lite.get_tensor(lite.get_output_details()[0]["index"])
    keras_probabilities = np.asarray(model.predict(x_test, verbose=0))
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    print(f"TFLite test accuracy {np.mean(probabilities.argmax(1) == y_test):.3f}; "
          f"max |TFLite - Keras| = {np.abs(probabilities - keras_probabilities).max():.2e}")


if __name__ == "__main__":
    main()
