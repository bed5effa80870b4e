"""`keras-gaussconv magnification`: slides at chosen magnifications, the fair protocol per network, the
tables' numbers, and the command end to end."""

import json

import numpy as np
import pytest

import keras_gaussconv_cli
from keras_gaussconv.datasets import load_synthetic_nuclei
from keras_gaussconv_cli.experiments import magnification


def test_slides_come_in_equal_shares_and_no_test_slide_is_a_training_one():
    images, masks, instances = magnification.slides("train", 5, 24, (1.0, 2.0))
    first, second = load_synthetic_nuclei("train", 3, 24, 0, 1.0), load_synthetic_nuclei("train", 2, 24, 1, 2.0)
    for got, a, b in zip((images, masks, instances), first, second):
        np.testing.assert_array_equal(got, np.concatenate([a, b]))
    test = magnification.slides("test", 3, 24, (1.0,))[0]
    assert not any(np.array_equal(t, x) for t in test for x in first[0])
    assert [magnification.key(m) for m in magnification.MAGNIFICATIONS] == ["0.5", "0.707", "1", "1.41", "2", "2.83"]


def test_the_discretization_choices_are_the_bases_and_a_wrong_one_is_named(tmp_path):
    from keras_gaussconv.bases.gaussian import DISCRETIZATIONS

    parser = keras_gaussconv_cli.build_parser()
    command = next(a.choices["magnification"] for a in parser._actions if getattr(a, "choices", None)
                   and "magnification" in a.choices)
    option = next(a for a in command._actions if a.dest == "discretization")
    assert tuple(option.choices) == DISCRETIZATIONS and option.default == "discrete"
    assert next(a for a in command._actions if a.dest == "networks").choices == list(magnification.MAGNIFICATION_NETWORKS)
    with pytest.raises(ValueError, match="`discretization` must be one of .* Received: discretization='cubic'"):
        magnification.magnification_demo(tmp_path / "results", "smoke", discretization="cubic", verbose=0)
    assert not (tmp_path / "results").exists()  # refused before anything is written


def _summary(dice):
    return {"trainable_parameters": 10, "learning_rate": 0.01, "seconds_per_epoch": 1.0,
            "test": {m: {"dice": d, "object_f1": [0.5] * len(d)} for m, d in dice.items()}}


def _own_scale(dice):
    runs = {m: {**_summary({m: d}), "learning_rate": 0.003 if m == "0.5" else 0.01, "seconds_per_epoch": 1.0 + (m != "1")}
            for m, d in dice.items()}
    return {"runs": runs, "test": {m: r["test"][m] for m, r in runs.items()}}


def test_the_table_says_how_far_each_network_falls_from_magnification_1():
    results = {
        "settings": {"training": ["1"], "test": 4, "test_size": 32, "seeds": [0, 1], "discretization": "sampled"},
        "otsu": {m: {"dice": 0.6, "object_f1": 0.4} for m in ("0.5", "1", "2", "2.83")},
        "training": {"1": {
            "stock": _summary({"0.5": [0.4, 0.6], "1": [0.9, 0.9], "2": [0.7, 0.7], "2.83": [0.1, 0.1]}),
            "gaussian": _summary({"0.5": [0.8, 0.8], "1": [0.9, 0.9], "2": [0.85, 0.85], "2.83": [0.1, 0.1]}),
            "scale_channels": _summary({"0.5": [0.85, 0.85], "1": [0.9, 0.9], "2": [0.88, 0.88], "2.83": [0.1, 0.1]}),
            "image_channels": _summary({"0.5": [0.89, 0.89], "1": [0.9, 0.9], "2": [0.91, 0.91], "2.83": [0.1, 0.1]}),
        }},
        "jittered": _summary({"0.5": [0.9, 0.9], "1": [0.9, 0.9], "2": [0.92, 0.92], "2.83": [0.9, 0.9]}),
        "own_scale": _own_scale({"0.5": [0.8, 0.84], "1": [0.92, 0.92], "2": [0.95, 0.95], "2.83": [0.9, 0.9]}),
        "seconds": 1.0,
    }
    table = magnification.magnification_table(results)
    # Means over seeds; ×2.83 lies outside the ×0.5 … ×2 range of the claim.
    assert "stock -0.400, gaussian -0.100, scale_channels -0.050, image_channels -0.010, own_scale -0.100" in table
    assert ("scale-channel U-net's largest shortfall against the jittered stock U-net: +0.050, against the stock U-net "
            "trained at the test magnification: +0.070") in table
    assert ("scale-channel U-net, image rescaled's largest shortfall against the jittered stock U-net: +0.010, against "
            "the stock U-net trained at the test magnification: +0.040") in table
    # one row per method: its learning rates over the magnifications, the median of its s/epoch
    assert "| stock U-net trained at the test magnification | 10 | 0.003–0.01 | 2.00 | 0.820 ± 0.020 |" in table
    assert "| stock U-net (5×5 `Conv2D`) | 10 | 0.01 | 1.00 | 0.500 ± 0.100 | 0.900 ± 0.000 |" in table
    assert table.count("| Otsu on haematoxylin | 0 |") == 2  # the Dice and the object-F1 table



def test_the_table_compares_only_the_networks_that_ran():
    # `--network scale_channels --network jittered`: no image-rescaling or own-magnification rows.
    results = {
        "settings": {"training": ["1"], "test": 4, "test_size": 32, "seeds": [0, 1], "discretization": "discrete"},
        "otsu": {m: {"dice": 0.6, "object_f1": 0.4} for m in ("0.5", "1", "2")},
        "training": {"1": {"scale_channels": _summary({"0.5": [0.85, 0.85], "1": [0.9, 0.9], "2": [0.88, 0.88]})}},
        "jittered": _summary({"0.5": [0.9, 0.9], "1": [0.9, 0.9], "2": [0.92, 0.92]}),
        "seconds": 1.0,
    }
    table = magnification.magnification_table(results)
    assert "(means over seeds): scale_channels -0.050; the scale-channel U-net's largest shortfall against the " \
           "jittered stock U-net: +0.050." in table
    assert "image rescaled" not in table and "trained at the test magnification" not in table

# Backend-neutral end to end: once, in the PyTorch pass, where it runs 1.5-8x faster than on TensorFlow (docs/testing.md).
@pytest.mark.torch_pass
def test_magnification_smoke_end_to_end(tmp_path, capsys):
    settings = magnification.MAGNIFICATION_SETTINGS["smoke"]
    args = ["magnification", "--smoke", "--discretization", "discrete", "--test-size", "64", "--quiet",
            "--output-dir", str(tmp_path / "results")]
    assert keras_gaussconv_cli.main(args) == 0
    output = tmp_path / "results"
    results = json.loads((output / "magnification_results.json").read_text())
    # the options reach the run (the smoke run's own test slides are 48²)
    assert results["settings"]["discretization"] == "discrete" and results["settings"]["test_size"] == 64
    keys = [magnification.key(m) for m in settings["magnifications"]]
    assert list(results["otsu"]) == keys and list(results["training"]) == list(settings["training"])
    methods = {**results["training"]["1"], "jittered": results["jittered"]}
    own_scale = results["own_scale"]  # one stock run per test magnification, tested there only
    assert list(own_scale["runs"]) == list(own_scale["test"]) == keys
    assert all(list(r["test"]) == [m] for m, r in own_scale["runs"].items())
    assert [*methods, "own_scale"] == list(magnification.MAGNIFICATION_NETWORKS)
    assert all(list(r["test"]) == keys for r in methods.values())
    for r in [*methods.values(), *own_scale["runs"].values()]:
        assert r["learning_rate"] in settings["learning_rates"]
        for by_metric in r["test"].values():
            assert all(len(v) == len(settings["seeds"]) and all(0 <= x <= 1 for x in v) for v in by_metric.values())
    # The channels share every weight: the scale-channel U-net has the Gaussian U-net's parameters.
    assert methods["scale_channels"]["trainable_parameters"] == methods["gaussian"]["trainable_parameters"]
    for name in magnification.OUTPUTS:
        assert (output / name).stat().st_size > 0, name
    stdout = capsys.readouterr().out
    assert "| scale-channel U-net |" in stdout and "Largest Dice change from ×1" in stdout
    assert "test slides of 64² per magnification" in stdout


def test_a_test_size_the_networks_cannot_take_is_refused_before_anything_runs(tmp_path, capsys):
    # The smoke run's image-rescaling U-net resizes by ½ (channel 2) and pools once: sides of 4k pixels.
    assert magnification.slide_step(magnification.MAGNIFICATION_SETTINGS["smoke"]) == 4
    assert magnification.slide_step(magnification.MAGNIFICATION_SETTINGS["full"]) == 8
    for bad, message in ((50, "must be a multiple of 4 .* Received: test_size=50"),
                         (0, "must be a positive integer. Received: test_size=0"),
                         (64.0, "must be a positive integer. Received: test_size=64.0")):
        with pytest.raises(ValueError, match=f"`test_size` {message}"):
            magnification.magnification_demo(tmp_path / "results", "smoke", test_size=bad, verbose=0)
    assert not (tmp_path / "results").exists()
    args = ["magnification", "--smoke", "--test-size", "50", "--output-dir", str(tmp_path / "results")]
    assert keras_gaussconv_cli.main(args) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keras-gaussconv: error: --test-size must be a multiple of 4"), lines
    assert not any((tmp_path / "results").iterdir())  # the command made the directory it checked, nothing in it


def test_a_chosen_network_runs_alone_and_a_wrong_one_is_named(tmp_path):
    with pytest.raises(ValueError, match="`networks` must be a non-empty list of .* Received: networks=\\['unet'\\]"):
        magnification.magnification_demo(tmp_path / "results", "smoke", networks=["unet"], verbose=0)
    # "own_scale" needs the stock U-net, which is then built but not trained at the training range.
    networks = magnification.magnification_networks(magnification.MAGNIFICATION_SETTINGS["smoke"], ("image_channels", "own_scale"))
    assert list(networks) == ["stock", "image_channels", "jittered"]
