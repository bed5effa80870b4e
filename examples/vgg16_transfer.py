"""Transfer learning: VGG16 (ImageNet) with a trainable Gaussian-derivative first layer.

Only `block1_conv1`, now a `GaussianDerivativeConv2D`, and a new classifier
head train; the rest of VGG16 keeps its ImageNet weights, frozen (the paper's
setup). Images come from a directory with one sub-folder per class
(`keras.utils.image_dataset_from_directory`).

Run: `python examples/vgg16_transfer.py DATA_DIR [--epochs 5]`
     `python examples/vgg16_transfer.py --smoke`  (random weights, generated images, offline)
"""

import argparse
import tempfile
from pathlib import Path

import keras
import numpy as np

from keras_gaussconv.models import gaussian_vgg16


def generated_images(root, classes=2, per_class=8, size=64):
    """A tiny image folder: bright vertical vs horizontal stripes."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = Path(root) / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            stripes = (np.arange(size) // 4 % 2).astype("float32")
            image = np.tile(stripes[None, :] if c == 0 else stripes[:, None], (size, 1) if c == 0 else (1, size))
            image = np.clip(image[..., None] * 200 + rng.normal(0, 20, (size, size, 3)), 0, 255).astype("uint8")
            keras.utils.save_img(folder / f"{i}.png", image)
    return root


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", help="folder with one sub-folder of images per class")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--smoke", action="store_true", help="weights=None, generated images, 1 epoch")
    args = parser.parse_args()
    if not args.smoke and not args.data_dir:
        parser.error("give DATA_DIR or --smoke")
    size = 64 if args.smoke else args.size
    data_dir = generated_images(tempfile.mkdtemp()) if args.smoke else args.data_dir
    train = keras.utils.image_dataset_from_directory(data_dir, image_size=(size, size), batch_size=8)
    num_classes = len(train.class_names)
    base = gaussian_vgg16(weights=None if args.smoke else "imagenet", include_top=False, input_shape=(size, size, 3))
    inputs = keras.Input((size, size, 3))
    x = keras.applications.vgg16.preprocess_input(inputs)
    x = keras.layers.GlobalAveragePooling2D()(base(x))
    model = keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary(line_length=100)
    model.fit(train, epochs=1 if args.smoke else args.epochs)


if __name__ == "__main__":
    main()
