"""The cost model behind implementation="auto", checked against a fixed price table of this test.

Refitting the package's prices (benchmarks/fit_prices.py) changes which path `auto` picks,
never these tests: they check the formulas of `path_costs` and that `auto` runs the path of
least cost under whatever table is in force.
"""

import math

import keras
import pytest

from keras_gaussconv import GaussianDerivativeConv1D, GaussianDerivativeConv2D, GaussianDerivativeConv3D
from keras_gaussconv import GaussianDerivativeDepthwiseConv2D
from keras_gaussconv.ops import cheapest, costs, fft_length

pytestmark = pytest.mark.core

# Distinct prices (powers of two), so a term priced with the wrong entry changes the total.
PRICES = {"full_basis": 2.0, "depthwise": 4.0, "fft_full": 8.0, "fft_separable": 16.0, "pointwise": 0.5}


def expected_costs(combination, f_in, f_out, b, n, k, pixels, pixels_in, lengths, tensorflow_2d):
    """The docstring formulas of `keras_gaussconv.ops.costs.path_costs`, written out again."""
    p = PRICES
    pointwise = f_in * b * n * pixels_in + b * n * f_out * pixels
    length = math.prod(lengths)
    freqs = length // lengths[-1] * (lengths[-1] // 2 + 1)
    log = length * math.log2(length)
    if combination == "full":
        return {
            "kernel": f_in * f_out * k * pixels,
            "basis": (p["full_basis"] * f_in * b * n * k + p["pointwise"] * f_in * b * n * f_out) * pixels,
            "fft": p["fft_full"] * ((f_in + f_out + f_in * f_out / 16) * log + 3 * f_in * f_out * freqs),
        }
    if combination == "separable":
        return {
            "kernel": f_in * f_out * k * pixels,
            "basis": p["pointwise"] * pointwise + p["depthwise"] * b * n * k * pixels,
            "fft": p["fft_separable"] * ((2 * b * n + b * n / 16) * log + 4 * b * n * freqs) + pointwise,
        }
    per_channel = 1 if tensorflow_2d else b
    return {
        "kernel": p["depthwise"] * f_out * k * pixels,
        "basis": (p["full_basis"] * f_in * per_channel * n * k + p["pointwise"] * f_out * n) * pixels,
        "fft": p["fft_separable"] * ((f_in + f_out + f_out / 16) * log + 4 * f_out * freqs),
    }


# The last entry: the extent each axis is transformed at, max(K, n + max(before, after)) of 'same' padding.
CASES = [  # layer, input shape, combination, (F_in, F_out, B, N, k), output and input pixels, transform extents
    (lambda: GaussianDerivativeConv2D(8, 5, num_bases=2, order=2, padding="same"), (None, 12, 10, 3),
     "full", (3, 8, 2, 6, 25), 120, 120, (14, 12)),
    (lambda: GaussianDerivativeConv2D(8, (3, 5), num_bases=4, order=1, separable=True, strides=2),
     (None, 12, 11, 6), "separable", (6, 8, 4, 3, 15), 5 * 4, 132, (12, 11)),
    (lambda: GaussianDerivativeDepthwiseConv2D(7, depth_multiplier=2, num_bases=2, order=2, padding="same"),
     (None, 9, 9, 4), "depthwise", (4, 8, 2, 6, 49), 81, 81, (12, 12)),
    (lambda: GaussianDerivativeConv1D(6, 9, num_bases=3, order=3), (None, 40, 2),
     "full", (2, 6, 3, 4, 9), 32, 40, (40,)),
    (lambda: GaussianDerivativeConv3D(4, 3, num_bases=1, order=1, separable=True, padding="same"),
     (None, 5, 6, 7, 2), "separable", (2, 4, 1, 4, 27), 210, 210, (6, 7, 8)),
    # Stride 2, 'same': padding (1, 2) of 12 rows and (2, 2) of 11 columns.
    (lambda: GaussianDerivativeConv2D(8, 5, num_bases=2, order=1, strides=2, padding="same"), (None, 12, 11, 3),
     "full", (3, 8, 2, 3, 25), 36, 132, (14, 13)),
    # A kernel longer than the input plus its padding: transformed at its own length.
    (lambda: GaussianDerivativeConv1D(6, 9, num_bases=3, order=3, padding="same"), (None, 3, 2),
     "full", (2, 6, 3, 4, 9), 3, 3, (9,)),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_path_costs_follow_the_formulas(case):
    make, shape, combination, (f_in, f_out, b, n, k), pixels, pixels_in, extents = CASES[case]
    layer = make()
    layer.build(shape)
    tensorflow_2d = keras.backend.backend() == "tensorflow" and layer.rank <= 2
    expected = expected_costs(
        combination, f_in, f_out, b, n, k, pixels, pixels_in, [fft_length(s) for s in extents], tensorflow_2d
    )
    got = layer.path_costs(PRICES)
    assert set(got) == set(expected)
    for path in expected:
        assert got[path] == pytest.approx(expected[path], rel=1e-12), path


def test_unknown_sizes_have_no_fft_path_and_cost_per_pixel():
    layer = GaussianDerivativeConv2D(8, 5, num_bases=2, order=2, padding="same")
    layer.build((None, None, None, 3))
    got = layer.path_costs(PRICES)
    assert set(got) == {"kernel", "basis"}
    assert got["kernel"] == 3 * 8 * 25


def test_pointwise_price_defaults_to_one():
    layer = GaussianDerivativeConv2D(8, 5, num_bases=2, order=2)
    layer.build((None, 12, 12, 3))
    without = {name: value for name, value in PRICES.items() if name != "pointwise"}
    assert layer.path_costs(without) == layer.path_costs({**without, "pointwise": 1.0})


def test_fixed_costs_are_per_step_over_the_nominal_batch():
    fixed = {"fixed_kernel": 3.0e6, "fixed_basis": 5.0e5, "fixed_fft": 0.0}
    layer = GaussianDerivativeConv2D(8, 5, num_bases=2, order=2, padding="same")
    layer.build((None, 12, 10, 3))
    without, got = layer.path_costs(PRICES), layer.path_costs({**PRICES, **fixed})
    for path in ("kernel", "basis", "fft"):
        assert got[path] == pytest.approx(without[path] + fixed[f"fixed_{path}"] / 16, rel=1e-12), path
    # Unknown sizes: costs per pixel, which a per-step constant has no scale against.
    layer = GaussianDerivativeConv2D(8, 5, num_bases=2, order=2, padding="same")
    layer.build((None, None, None, 3))
    assert layer.path_costs({**PRICES, **fixed}) == layer.path_costs(PRICES)


@pytest.mark.parametrize("winner", ["kernel", "basis", "fft"])
def test_auto_runs_the_cheapest_path_of_the_table_in_force(winner, monkeypatch):
    # A table that makes `winner` cheapest: the kernel path alone priced as a dense multiply-add
    # (a depthwise layer's kernel path is its depthwise convolution), the basis steps or the
    # FFTs priced near zero and the other paths out of reach.
    near_zero, huge = 1e-9, 1e9
    table = {
        "kernel": {"full_basis": huge, "depthwise": 1.0, "fft_full": huge, "fft_separable": huge, "pointwise": huge},
        "basis": {"full_basis": near_zero, "depthwise": 1.0, "fft_full": huge, "fft_separable": huge,
                  "pointwise": near_zero},
        "fft": {"full_basis": huge, "depthwise": huge, "fft_full": near_zero, "fft_separable": near_zero,
                "pointwise": huge},
    }[winner]
    monkeypatch.setitem(costs.PRICES, keras.backend.backend(), table)
    monkeypatch.setitem(costs.RANK_PRICES, keras.backend.backend(), {1: table, 3: table})
    for make, shape, *_ in CASES:
        layer = make()
        layer.build(shape)
        assert layer.execution_path == winner == cheapest(layer.path_costs()), type(layer).__name__


def test_prices_are_looked_up_per_backend_and_rank(monkeypatch):
    for backend in costs.PRICES:
        assert costs.backend_prices(backend, rank=2) is costs.PRICES[backend]
        for rank in (1, 3):
            assert costs.backend_prices(backend, rank=rank) is costs.RANK_PRICES[backend][rank]
    # A backend without measurements uses TensorFlow's tables.
    assert costs.backend_prices("some_new_backend", rank=2) is costs.PRICES["tensorflow"]
    monkeypatch.setattr(keras.backend, "backend", lambda: "some_new_backend")
    layer = GaussianDerivativeConv2D(64, 15, order=2, padding="same")
    layer.build((None, 32, 32, 32))
    assert layer.path_costs() == layer.path_costs(costs.PRICES["tensorflow"])
