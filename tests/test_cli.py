"""The keras-gaussconv command, run as a user would: a subprocess in an empty directory."""

import json
import shutil
import subprocess
import sys

import pytest

import keras_gaussconv_cli


def command():
    found = shutil.which("keras-gaussconv")
    return [found] if found else [sys.executable, "-c", "import keras_gaussconv_cli, sys; sys.exit(keras_gaussconv_cli.main())"]


def run(args, cwd, timeout=600):
    return subprocess.run(command() + args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_demo_quick_end_to_end(tmp_path):
    result = run(["demo", "--quick", "--quiet"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("digits_results.json", "digits_results.md", "digits_kernels.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    results = json.loads((tmp_path / "digits_results.json").read_text())
    gaussian = results["accuracy"]["gaussian"]
    assert len(gaussian["400"]) == 3  # three seeds
    assert sum(gaussian["400"]) / 3 > 0.6  # chance is 0.1
    assert "| gaussian |" in result.stdout


def test_plot_writes_the_png_asked_for(tmp_path):
    result = run(["plot", "--layer", "gabor", "--kernel-size", "7", "--output", "sub/gabor.png"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "sub" / "gabor.png").stat().st_size > 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        (["dance"], "invalid choice: 'dance'"),
        (["export", "missing.keras", "--tflite", "m.tflite"], "no such model file: missing.keras"),
        (["plot", "--kernel-size", "0"], "--kernel-size must be a positive integer, got 0"),
        (["plot", "--layer", "free_form"], "invalid choice: 'free_form'"),
    ],
)
def test_bad_input_is_one_line(tmp_path, args, message):
    result = run(args, tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_export_command(tmp_path):
    import keras

    from keras_gaussconv import GaussianDerivativeConv2D

    model = keras.Sequential([keras.Input((16, 16, 3)), GaussianDerivativeConv2D(4, 5, padding="same")])
    model.save(tmp_path / "m.keras")
    plain = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3)])
    plain.save(tmp_path / "plain.keras")
    result = run(["export", "m.keras", "--tflite", "m.tflite", "--folded", "f.keras"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "m.tflite").stat().st_size > 0 and (tmp_path / "f.keras").stat().st_size > 0
    result = run(["export", "plain.keras", "--tflite", "p.tflite"], tmp_path)
    assert result.returncode == 1 and "has no keras_gaussconv layers" in result.stderr.strip().splitlines()[-1]


def test_plot_choices_match_the_builders():
    from keras_gaussconv.models import LAYER_TYPES

    assert set(keras_gaussconv_cli.PLOTTABLE) == set(LAYER_TYPES) - {"free_form"}


def test_unet_quick_end_to_end(tmp_path):
    # --output-dir (shared by demo and unet) puts every file there, nothing in the cwd.
    result = run(["unet", "--quick", "--quiet", "--output-dir", "results"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]
    results = json.loads((tmp_path / "results" / "nuclei_results.json").read_text())
    classical, gaussian = results["classical"], results["gaussian"]
    assert gaussian["trainable_parameters"] <= 0.3 * classical["trainable_parameters"]
    for r in (classical, gaussian):
        assert 0.0 <= r["dice"] <= 1.0 and 0.0 <= r["pixel_accuracy"] <= 1.0
    assert (tmp_path / "results" / "nuclei_predictions.png").stat().st_size > 0
