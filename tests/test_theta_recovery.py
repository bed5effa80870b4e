"""The learnable-orientation experiment of examples/gabor_theta_recovery.py."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "gabor_theta_recovery.py"


@pytest.fixture(scope="module")
def experiment():
    spec = importlib.util.spec_from_file_location("gabor_theta_recovery", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def image(experiment):
    return experiment.camera()


@pytest.mark.parametrize("kind", ["gabor", "gaussian"])
def test_theta_gradient_matches_finite_differences(experiment, image, kind):
    analytic, numeric = experiment.gradient_check(kind, np.array([-1.0, 0.4, 1.2]), image)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9)
    assert np.abs(analytic).min() > 0


def test_gabor_landscape_is_multimodal_and_first_derivative_is_not(experiment, image):
    gabor = np.linspace(-np.pi / 2, np.pi / 2, 361)[:-1]
    minima = experiment.local_minima(gabor, experiment.loss_landscape("gabor", gabor, image))
    np.testing.assert_allclose(np.sort(minima), [-1.19, -0.86, -0.36, math.pi / 4], atol=0.02)
    full_turn = np.linspace(-np.pi, np.pi, 721)[:-1]
    minima = experiment.local_minima(full_turn, experiment.loss_landscape("gaussian", full_turn, image))
    np.testing.assert_allclose(minima, [math.pi / 4], atol=0.01)


def test_single_gabor_start_is_trapped(experiment, image):
    theta, _, _ = experiment.train("gabor", [-math.pi / 4], image, steps=150)
    assert theta[0] == pytest.approx(-0.86, abs=0.01)


def test_first_order_gaussian_derivative_recovers_theta(experiment, image):
    theta, losses, _ = experiment.train("gaussian", [-math.pi / 4], image, steps=200)
    assert abs(theta[0] - math.pi / 4) < 0.01
    assert losses[0] < 1e-8


def test_several_gabor_starts_recover_theta(experiment, image):
    starts = np.arange(6) * np.pi / 6
    theta, losses, _ = experiment.train("gabor", starts, image, steps=200)
    best = int(np.argmin(losses))
    assert abs(experiment.wrap(theta[best] - math.pi / 4, np.pi)) < 0.01
