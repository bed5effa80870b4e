"""The signal and ConvNeXt examples: their pieces, and a smoke run of each."""

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest

from helpers import to_numpy
from keras_gaussconv import GaborConv1D, GaussianDerivativeDepthwiseConv2D, count_parameters
from keras_gaussconv.datasets import DISTRACTOR_FREQUENCIES, TONE_FREQUENCIES, load_tone_bursts
from keras_gaussconv.models import apply_convnext_block, convnext_classifier

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tone_bursts_have_their_class_frequency():
    signals, labels = load_tone_bursts("train", count=64)
    assert signals.shape == (64, 256, 1) and np.bincount(labels).tolist() == [16] * 4
    test, _ = load_tone_bursts("test", count=8)
    assert not any(np.array_equal(a, b) for a in signals for b in test)
    # The class frequency's band holds more energy than any other class band, on average per class.
    spectra = np.abs(np.fft.rfft(signals[..., 0], axis=1)) ** 2
    frequencies = np.fft.rfftfreq(256)
    band = np.array([[spectra[:, np.abs(frequencies - f) < 0.01].sum(1)] for f in TONE_FREQUENCIES])[:, 0].T
    for c in range(4):
        assert np.argmax(band[labels == c].mean(0)) == c
    assert set(TONE_FREQUENCIES).isdisjoint(DISTRACTOR_FREQUENCIES)


def test_gabor_frequency_response_peaks_at_its_frequency():
    module = example("gabor_filterbank_1d")
    layer = GaborConv1D(1, 63, num_kernels=1, use_bias=False, padding="same",
                        frequency_initializer=keras.initializers.Constant(0.2), sigma_initializer=keras.initializers.Constant(8.0))
    layer.build((None, 100, 1))
    frequencies, responses = module.frequency_responses(layer)
    assert responses.shape == (len(frequencies), 1)
    assert abs(frequencies[np.argmax(responses[:, 0])] - 0.2) < 0.01


def test_gabor_filterbank_smoke(tmp_path):
    module = example("gabor_filterbank_1d")
    results, pictures = module.run(module.SETTINGS["smoke"])
    assert results["gabor"]["parameters"] < results["conv1d"]["parameters"]
    assert all(0 <= a <= 1 for r in results.values() for a in r["accuracy"])
    # training moved the filters
    assert not np.allclose(pictures["before"][1], pictures["after"][1])
    module.plot(pictures, tmp_path / "responses.png")
    assert (tmp_path / "responses.png").stat().st_size > 0


def test_convnext_block_is_residual_and_the_structured_one_is_smaller():
    inputs = keras.Input((16, 16, 32))
    stock = keras.Model(inputs, apply_convnext_block(inputs, 31, structured=False, name="a"))
    ours = keras.Model(inputs, apply_convnext_block(inputs, 31, structured=True, name="b"))
    depthwise = ours.get_layer("b_depthwise")
    assert isinstance(depthwise, GaussianDerivativeDepthwiseConv2D)
    # per channel 6 coefficients (+ a shared basis) against 31² weights
    assert count_parameters(stock) - count_parameters(ours) == 32 * 31 * 31 - 32 * 6 - 5 * 6
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 32)).astype("float32")
    for model in (stock, ours):
        assert tuple(model(x).shape) == x.shape


def test_convnext_classifier_trains():
    model = convnext_classifier((16, 16, 1), 10, channels=(8, 16), kernel_size=7)
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(size=(4, 16, 16, 1)).astype("float32")
    before = [to_numpy(w).copy() for w in model.trainable_weights]
    model.train_on_batch(x, np.arange(4))
    assert sum(not np.array_equal(to_numpy(w), b) for w, b in zip(model.trainable_weights, before)) == len(before)


# Backend-neutral end to end: once, in the PyTorch pass, where it runs 1.5-8x faster than on TensorFlow (docs/testing.md).
@pytest.mark.torch_pass
def test_convnext_digits_smoke():
    module = example("convnext_digits")
    rows = module.run(module.SETTINGS["smoke"])
    assert [(r["kernel_size"], r["structured"]) for r in rows] == [(7, False), (7, True)]
    assert rows[1]["parameters"] < rows[0]["parameters"]
    assert all(0 <= a <= 1 for r in rows for a in r["accuracy"])



# Backend-neutral end to end: once, in the PyTorch pass, where it runs 1.5-8x faster than on TensorFlow (docs/testing.md).
@pytest.mark.torch_pass
def test_geometry_monitor_example_smoke(tmp_path):
    module = example("geometry_monitor")
    results, history = module.run(epochs=1, train_count=6, test_count=3, batch=3, initial_models=tmp_path)
    # the starting models were saved before training: the builders' seed-0 draws
    for name, build in (("classical", module.unet), ("gaussian", module.gaussian_unet)):
        keras.utils.set_random_seed(0)
        fresh, saved = build(module.SHAPE, 1), keras.saving.load_model(tmp_path / f"{name}.keras")
        for a, b in zip(fresh.get_weights(), saved.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert set(results) == {"otsu", "classical", "gaussian"} and all(0 <= v <= 1 for v in results.values())
    table = module.summary(history)
    assert set(table) == {"sigma", "offset", "theta", "coefficients"}
    assert all(row["mean step per epoch"] > 0 for row in table.values())  # every group moved in the epoch


# Backend-neutral end to end: once, in the PyTorch pass, where it runs 1.5-8x faster than on TensorFlow (docs/testing.md).
@pytest.mark.torch_pass
def test_geometry_study_variants_smoke():
    module = example("geometry_monitor")
    names = ("normalized_fast_geometry",)  # one training run; the other variants only swap layers or arguments
    results = module.study(names, seeds=(0,), epochs=1, train_count=6, test_count=3, batch=3)
    (run,) = results["runs"]["normalized_fast_geometry"]
    assert 0 <= run["dice"] <= 1 and run["kernel_change"] > 0 and run["sigma_drift"] > 0
    assert module.study_table(results).count("\n") == len(names) + 2
    # each variant's layers are what it says
    fast = module.variant_model("normalized_fast_geometry").get_layer("down1_1").conv
    assert isinstance(fast, module.FastGeometry) and fast.normalize_basis
    np.testing.assert_allclose(fast.sigma_values(), 10 * keras.ops.convert_to_numpy(fast.sigma))
    assert fast.sigma_values().min() >= 0.5 - 1e-6 and fast.sigma_values().max() <= 2.0 + 1e-6
    log = module.variant_model("normalized_log_sigma").get_layer("up1_2").conv
    assert isinstance(log, module.LogSigma) and log.sigma_values().min() >= 0.5 - 1e-6
    plain = module.variant_model("reference_basis").get_layer("down1_1").conv
    assert not plain.normalize_basis and type(plain).__name__ == "GaussianDerivativeConv2D"
    small = module.variant_model("reference_basis_small_init").get_layer("up1_2").conv
    assert small.coefficients_initializer.stddev == 0.06
    assert len(module.kernels(module.variant_model("classical"))) == 14  # 7 blocks of 2, not the 1×1 output


# Backend-neutral end to end: once, in the PyTorch pass, where it runs 1.5-8x faster than on TensorFlow (docs/testing.md).
@pytest.mark.torch_pass
def test_discretization_experiments_smoke(tmp_path):
    module = example("discretizations")
    configurations = [c for c in module.digits_configurations() if c[0] in ("integrated", "normalized, μ = θ = 0")]
    results, filters = module.digits(sizes=(30,), seeds=(0,), steps=3, configurations=configurations)
    frozen = results["normalized, μ = θ = 0"]["30"][0]
    assert 0 <= frozen["accuracy"] <= 1 and 0.2 <= frozen["sigma"]["median"]
    module.plot_filters(filters, tmp_path / "filters.png")
    assert (tmp_path / "filters.png").stat().st_size > 0 and filters["integrated"].shape == (5, 5)
    unet = module.unet(seeds=(0,), epochs=1, train_count=3, test_count=2, batch=3, discretizations=("discrete",))
    receptive = module.receptive(seeds=(0,), sizes=(7, None), epochs=1)
    tones = module.tones(seeds=(0,), train_count=16, test_count=8, epochs=1, discretizations=("discrete",))
    table = module.tables({"digits": results, "unet": unet, "tones": tones, "receptive": receptive})
    assert "None (63×63, the whole input)" in table and "| discrete |" in table
    # the task's labels: exactly the pixels within R of the dot, and disjoint dots in train and test
    images, masks = module.dot_images([(5, 7)])
    rows, cols = np.mgrid[:32, :32]
    np.testing.assert_array_equal(masks[0, ..., 0], (rows - 5) ** 2 + (cols - 7) ** 2 <= 100)
    assert images.sum() == 1 and images[0, 5, 7, 0] == 1


def test_frozen_digits_network_has_centred_unrotated_kernels():
    module = example("discretizations")
    keras.utils.set_random_seed(0)
    from keras_gaussconv.models import comparison_net

    model = module._frozen(comparison_net("gaussian", (16, 16, 1), 10, filters=(8, 16, 16, 32), kernel_size=5, num_bases=2))
    conv = model.get_layer("block2").conv
    assert not conv.offset.trainable and not conv.theta.trainable
    assert np.all(to_numpy(conv.offset) == 0) and np.all(to_numpy(conv.theta) == 0)

@pytest.mark.torch_pass
def test_scale_study_smoke(tmp_path):
    module = example("scale_study")
    rows = {name: module.ROWS[name] for name in list(module.ROWS)[2:4]}  # half size; three channels
    results = module.study(tmp_path, "smoke", rows=rows)
    for row, summary in results.items():
        curve = list(summary["accuracy"].values())
        assert len(curve) == 3 and summary["worst"] == min(curve) and summary["spread"] == max(curve) - min(curve)
    with pytest.raises(ValueError, match=r"`overrides` must name settings .* Received: overrides=\{'epoch': 4\}"):
        module.study(tmp_path, "smoke", rows={"typo": ("size_normalized", {"epoch": 4})})
    assert (tmp_path / "scale_study.json").exists()


def test_scale_estimates_follow_the_magnification():
    errors = example("scale_estimates").covariance_errors(count=16, scales=(0.5, 2.0, 4.0))
    assert set(errors) == {"ImageScale", "SizeNormalization"} and all(len(e) == 3 for e in errors.values())
    assert max(errors["SizeNormalization"].values()) < 0.1  # the RMS radius follows the digit
    assert errors["ImageScale"][4.0] > 2 * errors["SizeNormalization"][4.0]  # the Laplacian's energy lags
