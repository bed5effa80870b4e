"""Every case of tests/data/ftgd_reference.npz, computed by the published reference (tests/data/README.md)."""

import numpy as np
import pytest
from helpers import to_numpy

from keras_gaussconv.bases import gaussian_derivative_basis, sampling_grid
from keras_gaussconv.compat import from_reference_config, load_reference_weights
from keras_gaussconv.native import use_native

pytestmark = pytest.mark.core  # CI runs these under TensorFlow and JAX

BASIS_CASES = ["basis_k3_7x7", "basis_k4_9x9", "basis_k1_3x3"]
LAYER_CASES = ["layer_full_same", "layer_full_valid_s2", "layer_sep_same_s2", "layer_sep_valid"]


@pytest.mark.parametrize("case", BASIS_CASES)
def test_basis_parity(reference, case):
    expected = reference[f"{case}/basis"]
    kh, kw, n = expected.shape[1:]
    order = int(round((np.sqrt(8 * n + 1) - 3) / 2))
    basis = gaussian_derivative_basis(
        sampling_grid((kh, kw)),
        reference[f"{case}/sigma"],
        reference[f"{case}/offset"],
        reference[f"{case}/theta"],
        order,
    )
    np.testing.assert_allclose(to_numpy(basis), expected, rtol=0, atol=1e-5)


def reference_layer(reference, case, **kwargs):
    config = {
        key.split("/")[-1]: reference[key].tolist()
        for key in reference.files
        if key.startswith(f"{case}/config/")
    }
    layer = from_reference_config({**config, "name": case}, **kwargs)
    weights = {
        "sigmas": reference[f"{case}/sigma"],
        "centroids": reference[f"{case}/offset"],
        "thetas": reference[f"{case}/theta"],
    }
    if config["separated"]:
        weights.update(clWeights1=reference[f"{case}/weights_in"], clWeights2=reference[f"{case}/weights_out"])
    else:
        weights["clWeights"] = reference[f"{case}/weights"]
    return load_reference_weights(layer, weights)


# Both implementations where a backend has a native basis (`keras_gaussconv.native`; JAX has none).
NATIVE_OR_REFERENCE = [pytest.param(True, marks=pytest.mark.native, id="native"), pytest.param(False, id="keras.ops")]


@pytest.mark.parametrize("native", NATIVE_OR_REFERENCE)
@pytest.mark.parametrize("implementation", ["kernel", "basis"])
@pytest.mark.parametrize("case", LAYER_CASES)
def test_layer_parity(reference, case, implementation, native):
    with use_native(native):
        layer = reference_layer(reference, case, implementation=implementation)
    assert layer.execution_path == implementation
    output = to_numpy(layer(reference[f"{case}/input"]))
    expected = reference[f"{case}/output"]
    assert output.shape == expected.shape
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-5)
