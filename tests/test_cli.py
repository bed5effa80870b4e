"""The keras-gaussconv command, in an empty directory: the console script as a subprocess (start-up,
exit codes, one-line errors, a clean stderr), and the long end-to-end runs through the same `main` in
this process (what they add is the command's code path, not a second TensorFlow start-up)."""

import json
import shutil
import subprocess
import sys
import zipfile

import pytest

import keras_gaussconv_cli


def command():
    found = shutil.which("keras-gaussconv")
    return [found] if found else [sys.executable, "-c", "import keras_gaussconv_cli, sys; sys.exit(keras_gaussconv_cli.main())"]


def run(args, cwd):
    # No timeout: a correct run on a slow machine must not fail.
    return subprocess.run(command() + args, cwd=cwd, capture_output=True, text=True)


def run_here(args, cwd, monkeypatch, capsys):
    """`keras_gaussconv_cli.main(args)` in `cwd`: its exit status and what it printed (`.out`, `.err`)."""
    monkeypatch.chdir(cwd)
    status = keras_gaussconv_cli.main(args)
    return status, capsys.readouterr()


def test_demo_smoke_end_to_end(tmp_path, monkeypatch, capsys):
    from keras_gaussconv_cli.experiments import DEMO_LAYER_TYPES

    status, printed = run_here(["demo", "--smoke"], tmp_path, monkeypatch, capsys)
    stdout = printed.out
    assert status == 0
    output = tmp_path / "keras-gaussconv-results"  # the default output directory
    assert sorted(p.name for p in tmp_path.iterdir()) == [output.name]
    for name in ("digits_results.json", "digits_results.md", "digits_kernels.png", "digits_learning_curves.png"):
        assert (output / name).stat().st_size > 0, name
    results = json.loads((output / "digits_results.json").read_text())
    assert list(results["accuracy"]) == list(DEMO_LAYER_TYPES)
    gaussian = results["accuracy"]["gaussian"]["200"]
    assert len(gaussian) == 2  # two seeds
    assert sum(gaussian) / 2 > 0.2  # chance is 0.1; 60 steps reach 0.36 here
    # The table, its caption, and progress lines that say which layer type and size run.
    assert "| gaussian |" in stdout and "mean ± std over 2 seeds" in stdout
    assert "Test accuracy (%)" in (output / "digits_results.md").read_text()
    for kind in DEMO_LAYER_TYPES:
        assert f"{kind} (" in stdout and "), n = 200 training images: 2 seeds" in stdout, kind
    assert stdout.count("test accuracy:") >= len(DEMO_LAYER_TYPES)  # one bar per layer type and size


def test_plot_writes_the_png_asked_for(tmp_path):
    result = run(["plot", "--layer", "gabor", "--kernel-size", "7", "--output", "sub/gabor.png"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "sub" / "gabor.png").stat().st_size > 0
    assert result.stderr == ""  # no backend start-up lines on a clean run


@pytest.mark.parametrize(
    "args,message",
    [
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        (["dance"], "invalid choice: 'dance'"),
        (["export", "missing.keras", "--tflite", "m.tflite"], "no such model file: missing.keras"),
        (["plot", "--kernel-size", "0"], "--kernel-size must be a positive integer, got 0"),
        (["plot", "--layer", "free_form"], "invalid choice: 'free_form'"),
        (["plot", "--num-bases", "3"], "--num-bases must divide --filters (each basis makes filters / num_bases filters), "
                                       "got --num-bases 3 and --filters 8"),
        (["plot", "--output", "file/basis.png"], "--output file/basis.png: cannot create the directory file"),
        (["demo", "--output-dir", "file/results"], "--output-dir file/results: cannot create the directory file/results"),
        (["unet", "--output-dir", "file"], "--output-dir file: cannot create the directory file"),
        (["demo", "--quick", "--smoke"], "argument --smoke: not allowed with argument --quick"),
        (["scales", "--training", "2"], "argument --training: invalid choice: '2'"),
        (["scales", "--dataset", "mnist"], "argument --dataset: invalid choice: 'mnist'"),
        (["export", "not_a_zip.keras", "--folded", "f.keras"], "not_a_zip.keras is not a .keras file"),
        (["export", "empty.keras", "--tflite", "file/m.tflite"], "--tflite file/m.tflite: cannot create the directory file"),
        (["export", "empty.keras", "--saved-model", "file/saved"], "--saved-model file/saved: cannot create the directory file"),
        (["export", "empty.keras", "--onnx", "file/m.onnx"], "--onnx file/m.onnx: cannot create the directory file"),
    ],
)
def test_bad_input_is_one_line(tmp_path, args, message):
    (tmp_path / "file").write_text("a file, where a directory is needed")
    (tmp_path / "not_a_zip.keras").write_text("not a zip archive")
    with zipfile.ZipFile(tmp_path / "empty.keras", "w"):
        pass
    result = run(args, tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_export_command(tmp_path, monkeypatch, capsys):
    import keras

    from keras_gaussconv import GaussianDerivativeConv2D

    model = keras.Sequential([keras.Input((16, 16, 3)), GaussianDerivativeConv2D(4, 5, padding="same")])
    model.save(tmp_path / "m.keras")
    plain = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3)])
    plain.save(tmp_path / "plain.keras")
    status, _ = run_here(["export", "m.keras", "--tflite", "m.tflite", "--folded", "f.keras", "--onnx", "m.onnx"], tmp_path,
                         monkeypatch, capsys)
    assert status == 0
    assert (tmp_path / "m.tflite").stat().st_size > 0 and (tmp_path / "f.keras").stat().st_size > 0
    import numpy as np
    import onnxruntime

    x = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    np.testing.assert_allclose(
        session.run(None, {session.get_inputs()[0].name: x})[0], keras.ops.convert_to_numpy(model(x)), atol=1e-5
    )
    status, printed = run_here(["export", "plain.keras", "--tflite", "p.tflite"], tmp_path, monkeypatch, capsys)
    assert status == 1 and "has no keras_gaussconv layers" in printed.err.strip().splitlines()[-1]


def test_plot_choices_match_the_builders():
    from keras_gaussconv.models import LAYER_TYPES

    assert set(keras_gaussconv_cli.PLOTTABLE) == set(LAYER_TYPES) - {"free_form"}


def test_unet_smoke_end_to_end(tmp_path, monkeypatch, capsys):
    # --output-dir (shared by demo and unet) puts every file there, nothing in the cwd.
    status, printed = run_here(["unet", "--smoke", "--quiet", "--output-dir", "results"], tmp_path, monkeypatch, capsys)
    stdout = printed.out
    assert status == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]
    output = tmp_path / "results"
    results = json.loads((output / "nuclei_results.json").read_text())
    seeds, epochs = results["settings"]["seeds"], results["settings"]["epochs"]
    for data_set in ("synthetic", "ihc"):
        classical, gaussian = results[data_set]["classical"], results[data_set]["gaussian"]
        assert gaussian["trainable_parameters"] <= 0.3 * classical["trainable_parameters"]
        for r in (classical, gaussian):
            # The learning rate is the grid's best on validation, and seed 0's run is that grid run.
            grid = r["validation_dice_by_learning_rate"]
            assert list(grid) == ["0.003", "0.01"] and f"{r['learning_rate']:g}" == max(grid, key=grid.get)
            assert max(r["val_dice"][0]) == pytest.approx(grid[f"{r['learning_rate']:g}"], abs=1e-4)
            assert len(r["val_dice"]) == len(seeds) and all(1 <= len(c) <= epochs for c in r["val_dice"])
            assert r["best_epoch"] == [c.index(max(c)) + 1 for c in r["val_dice"]]
            for values in r["test"].values():  # dice, iou, pixel_accuracy, object_f1: one per seed
                assert len(values) == len(seeds) and all(0.0 <= v <= 1.0 for v in values)
            assert r["seconds_per_epoch"] > 0
        assert set(results[data_set]["otsu"]["test"]) == set(classical["test"])
        assert 0.0 < results[data_set]["otsu"]["test"]["dice"] < 1.0
    for name in ("nuclei_results.md", "nuclei_validation_dice.png", "nuclei_predictions.png"):
        assert (output / name).stat().st_size > 0, name
    assert "| Gaussian-derivative U-net |" in stdout and "| Otsu on haematoxylin | 0 |" in stdout
    assert f"mean ± std over {len(seeds)} seeds" in (output / "nuclei_results.md").read_text()


def test_export_under_torch_is_one_line(tmp_path, monkeypatch, capsys):
    # What a PyTorch-backend user sees (checked here without needing torch installed).
    import keras

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    model.save(tmp_path / "m.keras")
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    status = keras_gaussconv_cli.main(["export", str(tmp_path / "m.keras"), "--saved-model", str(tmp_path / "out")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(lines) == 1
    assert "need the TensorFlow or JAX backend" in lines[0] and "KERAS_BACKEND=tensorflow keras-gaussconv export" in lines[0]
    assert not (tmp_path / "out").exists()



# Backend-neutral end to end: once, in the PyTorch pass, where it runs 1.5-8x faster than on TensorFlow (docs/testing.md).
@pytest.mark.torch_pass
def test_unet_volumes_smoke_end_to_end(tmp_path, monkeypatch, capsys):
    status, printed = run_here(["unet", "--volumes", "--smoke", "--quiet", "--output-dir", "results"], tmp_path,
                               monkeypatch, capsys)
    stdout = printed.out
    assert status == 0
    output = tmp_path / "results"
    results = json.loads((output / "volumes_results.json").read_text())
    classical, gaussian = results["classical"], results["gaussian"]
    # 3-D: 10 basis kernels of order 2 against 125 weights per channel pair
    assert gaussian["trainable_parameters"] <= 0.15 * classical["trainable_parameters"]
    for r in (classical, gaussian):
        for values in r["test"].values():
            assert len(values) == len(results["settings"]["seeds"]) and all(0.0 <= v <= 1.0 for v in values)
    assert 0.0 < results["otsu"]["test"]["dice"] < 1.0
    for name in ("volumes_results.md", "volumes_predictions.png"):
        assert (output / name).stat().st_size > 0, name
    assert "| Gaussian-derivative 3-D U-net |" in stdout and "| Otsu threshold | 0 |" in stdout


# Backend-neutral end to end: once, in the PyTorch pass, where it runs 1.5-8x faster than on TensorFlow (docs/testing.md).
@pytest.mark.torch_pass
def test_scales_smoke_end_to_end(tmp_path, capsys):
    # In-process: the command's code path without a second TensorFlow start-up.
    from keras_gaussconv_cli.experiments import SCALE_NETWORKS, SCALE_SETTINGS

    settings = SCALE_SETTINGS["smoke"]
    assert "scale_channels" not in settings["networks"]  # by default: its steps cost 100x the others'
    assert keras_gaussconv_cli.SCALE_NETWORKS == SCALE_NETWORKS  # the parser's choices, kept without Keras
    every = [a for n in SCALE_NETWORKS for a in ("--network", n)]
    args = ["scales", "--smoke", "--training", "1-2", "--dataset", "shapes", *every, "--quiet", "--output-dir",
            str(tmp_path / "results")]
    assert keras_gaussconv_cli.main(args) == 0
    output = tmp_path / "results"
    results = json.loads((output / "scales_results.json").read_text())
    assert list(results["accuracy"]) == list(results["learning_rates"]) == ["1-2"]  # only the range asked for
    assert results["data"].startswith("load_rescaled_shapes")
    for by_kind in results["accuracy"].values():
        assert list(by_kind) == list(SCALE_NETWORKS)
        for by_scale in by_kind.values():
            assert [float(s) for s in by_scale] == pytest.approx(settings["test_scales"], rel=1e-3)
            assert all(len(v) == len(settings["seeds"]) and all(0.0 <= a <= 1.0 for a in v) for v in by_scale.values())
    for rates in results["learning_rates"].values():  # chosen from the grid; the scale channels take their twin's
        assert rates["scale_channels"] == rates["gaussian"] and set(rates.values()) <= set(settings["learning_rates"])
    parameters = results["trainable_parameters"]
    assert parameters["scale_channels"] == parameters["gaussian"]  # the channels share every weight
    assert parameters["cnn_size_normalized"] == parameters["cnn"]  # the normalisation has no trainable weight
    assert set(results["seconds_per_network"]) == set(SCALE_NETWORKS)
    assert 0.5 < parameters["cnn"] / parameters["gaussian"] < 2  # similar sizes
    for name in ("scales_results.md", "scales_accuracy.png"):
        assert (output / name).stat().st_size > 0, name
    stdout = capsys.readouterr().out
    assert "| scale_channels |" in stdout and "| size_normalized |" in stdout and "Trained on scales 1-2:" in stdout
    assert "×0.5" in stdout


def test_scales_refuses_unknown_networks_and_settings_before_writing(tmp_path):
    from keras_gaussconv_cli.experiments import scales_demo

    with pytest.raises(ValueError, match=r"`networks` must be a non-empty list of .* Received: networks=\['resnet'\]"):
        scales_demo(tmp_path / "results", "smoke", networks=["resnet"], verbose=0)
    with pytest.raises(ValueError, match=r"`overrides` must name settings .* Received: overrides=\{'epoch': 2\}"):
        scales_demo(tmp_path / "results", "smoke", overrides={"epoch": 2}, verbose=0)
    assert not (tmp_path / "results").exists()


def test_scales_on_fashion_mnist_offline_is_one_line(monkeypatch, capsys, tmp_path):
    import keras

    def offline():
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    args = ["scales", "--smoke", "--dataset", "fashion_mnist", "--quiet", "--output-dir", str(tmp_path)]
    assert keras_gaussconv_cli.main(args) == 1
    error = capsys.readouterr().err
    assert error.startswith("keras-gaussconv: error: Fashion-MNIST could not be downloaded") and error.count("\n") == 1
    assert not any(tmp_path.iterdir())


def _actions(parser):
    """(subcommand, action) for every option and positional of every subcommand's parser."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((f"{name} {inner_name}".strip(), inner) for inner_name, inner in _actions(sub))
        elif not isinstance(action, argparse._HelpAction):
            yield "", action


def test_every_option_has_help_and_shows_its_default():
    parser = keras_gaussconv_cli.build_parser()
    undocumented = [
        (command, action.dest) for command, action in _actions(parser)
        if action.dest != "command" and not (action.help or "").strip()
    ]
    assert not undocumented, undocumented
    plot_help = next(a.choices["plot"] for a in parser._actions if getattr(a, "choices", None) and "plot" in a.choices)
    assert "(default: 9)" in plot_help.format_help()  # --kernel-size's default, shown by the formatter


def test_python_m_and_the_script_run_the_same_main_without_starting_a_backend(tmp_path):
    from keras_gaussconv import __version__

    for args in ([sys.executable, "-m", "keras_gaussconv_cli"], command()):
        result = subprocess.run(args + ["--version"], cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0 and result.stdout.strip() == f"keras-gaussconv {__version__}", result
    # A bad argument is reported before Keras (and with it a backend) is imported.
    probe = (
        "import sys, keras_gaussconv_cli; status = keras_gaussconv_cli.main(['plot', '--seed', '-1']);"
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules; sys.exit(status)"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr == "keras-gaussconv: error: --seed must be in [0, 2**32), got -1\n"


@pytest.mark.parametrize(
    "args,message",
    [
        (["plot", "--seed", "4294967296"], "--seed must be in [0, 2**32), got 4294967296"),
        (["plot", "--output", "folder"], "--output folder: cannot write the file (Is a directory)"),
        (["export", "m.keras", "--folded", "f.keras", "--quantize", "dynamic"], "--quantize dynamic applies to --tflite only"),
        (["export", "m.keras", "--onnx", "m.onnx", "--quantize", "dynamic"], "--quantize dynamic applies to --tflite only"),
        (["export", "missing.keras", "--onnx", "m.onnx"], "no such model file: missing.keras"),
        (["demo", "--output-dir", "file/results"], "--output-dir file/results: cannot create the directory"),
        (["magnification", "--test-size", "0"], "--test-size must be a positive integer, got 0"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_naming_the_option(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("a file, where a directory is needed")
    (tmp_path / "folder").mkdir()
    with zipfile.ZipFile(tmp_path / "m.keras", "w"):
        pass
    assert keras_gaussconv_cli.main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder", "m.keras"]  # nothing written


def test_export_folds_a_scale_channel_network_to_onnx(tmp_path, capsys):
    # In-process: the command's code path without a second TensorFlow start-up.
    import numpy as np
    import onnxruntime

    from keras_gaussconv.models import gaussian_derivative_network

    model = gaussian_derivative_network((16, 16, 1), 3, scales=(1.0, 2.0), filters=(2,), kernel_size=9)
    model.save(tmp_path / "gdn.keras")
    assert keras_gaussconv_cli.main(["export", str(tmp_path / "gdn.keras"), "--onnx", str(tmp_path / "gdn.onnx")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'gdn.onnx'}"
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 1)).astype("float32")
    session = onnxruntime.InferenceSession(str(tmp_path / "gdn.onnx"))
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5)
