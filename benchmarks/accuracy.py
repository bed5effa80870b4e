"""Float32 accuracy of the Gaussian-derivative basis against a float64 NumPy evaluation.

For orders 2 … 10, five random draws of σ ∈ [0.5, 3], μ ∈ [-1, 1], θ ∈ [-3, 3] on a
31×31 grid: the worst error relative to each kernel's peak. The float64 reference is
the tests' independent evaluation (`numpy.polynomial.hermite`).

Run: `python benchmarks/accuracy.py`
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
from test_bases import np_basis  # noqa: E402

from keras_gaussconv.bases import gaussian_derivative_basis, num_gaussian_derivatives, sampling_grid  # noqa: E402


def worst_relative_error(order, draws=5, size=31):
    n = num_gaussian_derivatives(order)
    worst = 0.0
    for draw in range(draws):
        rng = np.random.default_rng(100 * draw + order)
        sigma = rng.uniform(0.5, 3, (1, n, 2)).astype("float32")
        offset = rng.uniform(-1, 1, (1, n, 2)).astype("float32")
        theta = rng.uniform(-3, 3, (1, n)).astype("float32")
        ours = np.asarray(gaussian_derivative_basis(sampling_grid((size, size)), sigma, offset, theta, order))
        reference = np_basis(*(a.astype("float64") for a in (sigma, offset, theta)), order, (size, size))
        peak = np.abs(reference).max(axis=(1, 2))
        worst = max(worst, float((np.abs(ours - reference).max(axis=(1, 2)) / peak).max()))
    return worst


if __name__ == "__main__":
    print(", ".join(f"order {k}: {worst_relative_error(k):.1e}" for k in (2, 4, 6, 8, 10)))
