"""The U-net comparison's measures: metrics against scikit-learn and hand counts, and
best-on-validation weights. The whole protocol runs end to end in tests/test_cli.py
(`keras-gaussconv unet --smoke`), which checks its invariants in the results it writes."""

import keras
import numpy as np
import pytest
from helpers import rng
from sklearn.metrics import f1_score, jaccard_score

from keras_gaussconv.datasets import SPLITS, load_synthetic_nuclei
from keras_gaussconv_cli.experiments import object_f1, segmentation_metrics
from keras_gaussconv_cli.experiments import train_run as _train_run
from keras_gaussconv.models import unet


def test_pixel_metrics_agree_with_scikit_learn():
    masks = (rng().random((4, 16, 16, 1)) < 0.3).astype("float32")
    predicted = (rng().random((4, 16, 16, 1)) < 0.4).astype("float32")
    instances = np.zeros((4, 16, 16), np.int32)
    result = segmentation_metrics(masks, predicted, instances)
    truth, guess = masks.ravel(), predicted.ravel()
    assert result["dice"] == pytest.approx(f1_score(truth, guess))  # Dice is the pixels' F1
    assert result["iou"] == pytest.approx(jaccard_score(truth, guess))
    assert result["pixel_accuracy"] == pytest.approx(np.mean(truth == guess))


def test_object_f1_counts_matches_above_half_iou():
    instances = np.zeros((1, 20, 20), np.int32)
    instances[0, 2:6, 2:6] = 1  # found exactly
    instances[0, 10:14, 2:6] = 2  # found as a component with IoU 8/16: not a match
    instances[0, 10:14, 10:14] = 3  # missed
    instances[0, 10:14, 14:18] = 4  # touches 3; predicted together with it: IoU 1/2, no match
    predicted = np.zeros((1, 20, 20, 1), np.float32)
    predicted[0, 2:6, 2:6] = 1
    predicted[0, 10:12, 2:6] = 1
    predicted[0, 16:18, 16:18] = 1  # a false detection
    # 1 match, 3 predicted components, 4 true nuclei: F1 = 2·1 / (3 + 4).
    assert object_f1(instances, predicted) == pytest.approx(2 / 7)
    predicted[0, 10:14, 10:18] = 1  # merges nuclei 3 and 4: IoU 16/32 each, still no match
    assert object_f1(instances, predicted) == pytest.approx(2 / 8)
    # The exact semantic mask still joins the touching nuclei 3 and 4: 2 matches of 3 and 4.
    assert object_f1(instances, (instances > 0)[..., None].astype("float32")) == pytest.approx(4 / 7)
    instances[0, 10:14, 14:18] = 0
    assert object_f1(instances, (instances > 0)[..., None].astype("float32")) == 1.0


def test_a_run_keeps_its_best_validation_weights():
    data = {split: load_synthetic_nuclei(split, count=8, size=32) for split in SPLITS}
    settings = dict(epochs=4, patience=4)
    model = unet((32, 32, 3), 1, base_filters=4, depth=1)
    model.compile(keras.optimizers.Adam(), "binary_crossentropy",
                  metrics=[keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.5, name="iou")])
    run = _train_run(model, model.get_weights(), data, 1e-2, settings)
    assert len(run["val_dice"]) == 4 and len(run["epoch_seconds"]) == 4
    images, masks, instances = data["validation"]
    predicted = (keras.ops.convert_to_numpy(model.predict(images, verbose=0)) > 0.5).astype("float32")
    # The model holds the weights of the epoch with the best validation Dice, not the last.
    assert segmentation_metrics(masks, predicted, instances)["dice"] == pytest.approx(max(run["val_dice"]), abs=1e-6)


def test_a_run_depends_on_its_seed_not_on_the_runs_before_it():
    # 16 training slides, batches of 8: the shuffling decides which slides share a batch.
    data = {split: load_synthetic_nuclei(split, count=16 if split == "train" else 4, size=16) for split in SPLITS}
    settings = dict(epochs=3, patience=3)
    model = unet((16, 16, 3), 1, base_filters=4, depth=1)
    model.compile(keras.optimizers.Adam(), "binary_crossentropy",
                  metrics=[keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.5, name="iou")])
    weights = model.get_weights()
    first = _train_run(model, weights, data, 1e-2, settings, seed=3)["val_dice"]
    trained = model.get_weights()
    np.random.random(7)  # what an earlier run or a data draw leaves behind
    keras.utils.set_random_seed(11)
    again = _train_run(model, weights, data, 1e-2, settings, seed=3)["val_dice"]
    np.testing.assert_allclose(again, first, atol=1e-6)
    for w, w0 in zip(model.get_weights(), trained):
        np.testing.assert_allclose(w, w0, atol=1e-5)
    _train_run(model, weights, data, 1e-2, settings, seed=4)  # another seed, another order of batches
    assert any(not np.allclose(w, w0, atol=1e-5) for w, w0 in zip(model.get_weights(), trained))


@pytest.mark.core  # a review defect: its test runs on every backend
@pytest.mark.parametrize("learning_rate", [None, 0.05])
def test_reset_zeroes_the_optimizer_state_but_keeps_a_constant_learning_rate(learning_rate):
    from keras_gaussconv_cli.experiments import reset as _reset

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    weights = model.get_weights()
    model.train_on_batch(np.ones((2, 3)), np.ones((2, 1)))
    _reset(model, weights, learning_rate)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(learning_rate or 0.01)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0
    rate = model.optimizer.learning_rate
    assert all(not keras.ops.convert_to_numpy(v).any() for v in model.optimizer.variables if v is not rate)
    for w, w0 in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(w, w0)
    # and a run after the reset trains (a zeroed rate would leave the weights as they are)
    model.train_on_batch(np.ones((2, 3)), np.ones((2, 1)))
    assert not np.array_equal(model.get_weights()[0], weights[0])
