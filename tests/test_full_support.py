"""`kernel_size=None`: kernels as large as the input, by the FFT path; `fold(tolerance=...)` crops them."""

import keras
import numpy as np
import pytest

from helpers import images, numpy_basis_2d, numpy_layer, to_numpy
from keras_gaussconv import (
    ConvNormAct,
    DisplacedGaussianConv2D,
    GaborConv1D,
    GaborConv2D,
    GaussianDerivativeConv1D,
    GaussianDerivativeConv2D,
    GaussianDerivativeConv3D,
    GaussianDerivativeDepthwiseConv2D,
)
from keras_gaussconv.export import fold

pytestmark = pytest.mark.core

LAYERS = {  # its own table (not layer_kinds.KINDS): every kind that takes kernel_size=None, folding to one layer
    "gaussian1d": (lambda **kw: GaussianDerivativeConv1D(3, None, order=2, padding="same", **kw), (2, 17, 2)),
    "gaussian2d": (lambda **kw: GaussianDerivativeConv2D(4, None, order=2, num_bases=2, padding="same", **kw), (2, 9, 8, 3)),
    "gaussian3d": (lambda **kw: GaussianDerivativeConv3D(2, None, order=1, padding="same", **kw), (1, 5, 6, 4, 2)),
    "depthwise": (lambda **kw: GaussianDerivativeDepthwiseConv2D(None, depth_multiplier=2, padding="same", **kw), (2, 8, 9, 2)),
    "gabor1d": (lambda **kw: GaborConv1D(3, None, num_kernels=3, padding="same", **kw), (2, 16, 2)),
    "gabor2d": (lambda **kw: GaborConv2D(4, None, num_kernels=2, padding="same", **kw), (2, 8, 7, 3)),
}


@pytest.mark.parametrize("separable", [False, True])
def test_same_output_is_the_correlation_with_the_kernel_sampled_on_the_doubled_grid(separable):
    layer = GaussianDerivativeConv2D(4, None, order=2, num_bases=2, separable=separable, padding="same",
                                     bias_initializer="random_normal")
    x = images((2, 9, 8, 3))
    out = to_numpy(layer(x))
    assert layer.kernel_size == (17, 15) and layer.execution_path == "fft"
    phi = numpy_basis_2d((17, 15), *(to_numpy(getattr(layer, g)) for g in ("sigma", "offset", "theta")), 2)
    np.testing.assert_allclose(out, numpy_layer(layer, x.astype("float64"), phi=phi), atol=2e-5)


@pytest.mark.parametrize("kind", LAYERS)
def test_fft_and_kernel_paths_agree_and_the_config_keeps_none(kind, tmp_path):
    make, shape = LAYERS[kind]
    x = images(shape)
    auto, kernel = make(), make(implementation="kernel")
    for layer in (auto, kernel):
        layer.build(shape)
    kernel.set_weights(auto.get_weights())
    assert auto.execution_path == "fft"  # auto's choice for a whole-input kernel
    assert auto.kernel_size == tuple(2 * n - 1 for n in shape[1:-1])
    reference = to_numpy(auto(x))
    np.testing.assert_allclose(to_numpy(kernel(x)), reference, atol=2e-5)
    assert auto.get_config()["kernel_size"] is None
    model = keras.Sequential([keras.Input(shape[1:]), auto])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras").layers[0]
    assert loaded.full_support and loaded.kernel_size == auto.kernel_size
    np.testing.assert_allclose(to_numpy(loaded(x)), reference, atol=1e-6)


def _output_weights(layer):
    """Per output channel o: Σ|W[..., o]| (the bound's scale) and |W| summed over the inputs, `(*k, outputs)`."""
    w = np.abs(to_numpy(layer.kernel)).astype("float64")
    r = layer.rank
    per_output = w.reshape(*w.shape[:r], -1) if layer.combination == "depthwise" else w.sum(axis=r)
    return per_output.reshape(-1, per_output.shape[-1]).sum(axis=0), per_output


@pytest.mark.parametrize("kind", LAYERS)
def test_fold_with_a_tolerance_crops_within_it_and_no_further(kind):
    make, shape = LAYERS[kind]
    layer = make(bias_initializer="random_normal")
    x = images(shape)
    model = keras.Sequential([keras.Input(shape[1:]), layer])
    expected = to_numpy(model(x))
    total, per_output = _output_weights(layer)
    r = layer.rank
    for tolerance in (1e-2, 1e-4):
        folded = fold(model, tolerance=tolerance)
        (conv,) = folded.layers  # full and depthwise layers fold into one stock convolution
        kept = tuple(conv.kernel_size)
        assert all(k <= full for k, full in zip(kept, layer.kernel_size))
        # |Δy_o| ≤ tolerance · Σ|W_o| · max|x| for every output channel o
        error = np.abs(to_numpy(folded(x)) - expected).reshape(-1, total.size).max(axis=0)
        assert np.all(error <= tolerance * total * np.abs(x).max() + 1e-5)
        # and one more tap off any axis that can lose one would break the budget on that axis
        for a in range(r):
            c = (layer.kernel_size[a] - kept[a]) // 2
            if 2 * (c + 1) >= layer.kernel_size[a]:
                continue
            profile = per_output.sum(axis=tuple(i for i in range(r) if i != a))
            discarded = profile[: c + 1].sum(axis=0) + profile[len(profile) - c - 1 :].sum(axis=0)
            assert (discarded > tolerance / r * total).any(), (tolerance, a)


def test_fold_without_a_tolerance_keeps_the_whole_kernel_and_the_wrapper_passes_it_on():
    conv = GaussianDerivativeConv2D(4, None, order=1, padding="same", use_bias=False)
    block = ConvNormAct(conv, norm="batch")
    x = images((2, 8, 8, 3))
    model = keras.Sequential([keras.Input((8, 8, 3)), block])
    # σ = 1: the taps 7 px out weigh e^{-24.5} of the centre's, so a 1e-3 crop must happen
    # (a random σ near 2 leaves a 15-tap kernel nothing to drop at that tolerance).
    conv.sigma.assign(np.ones(conv.sigma.shape, "float32"))
    expected = to_numpy(model(x))
    whole = fold(model).layers[0].layers[0]
    assert tuple(whole.kernel_size) == (15, 15)
    cropped = fold(model, tolerance=1e-3)
    assert tuple(cropped.layers[0].layers[0].kernel_size) < (15, 15)
    np.testing.assert_allclose(to_numpy(fold(model)(x)), expected, atol=2e-5)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(padding="valid"), r"kernel_size=None.*padding='valid'"),
        (dict(padding="same", strides=2), r"kernel_size=None.*strides=2"),
        (dict(padding="same", dilation_rate=2), r"kernel_size=None.*dilation_rate=2"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GaussianDerivativeConv2D(4, None, **kwargs)


def test_unknown_spatial_size_and_other_refusals():
    layer = GaussianDerivativeConv2D(4, None, padding="same")
    with pytest.raises(ValueError, match=r"kernel_size=None.*input_shape=\(None, None, None, 3\)"):
        layer.build((None, None, None, 3))
    with pytest.raises(ValueError, match="kernel_size=None"):
        DisplacedGaussianConv2D(4, None, padding="same")
    fixed = GaussianDerivativeConv2D(4, 5, strides=2, padding="same")
    fixed.build((None, 8, 8, 1))
    with pytest.raises(ValueError, match=r"tolerance=0.01.*strides=\(2, 2\)"):
        fixed.fold(tolerance=0.01)
    same = GaussianDerivativeConv2D(4, 5, padding="same")
    same.build((None, 8, 8, 1))
    with pytest.raises(ValueError, match=r"tolerance.*Received: tolerance=-1.0"):
        same.fold(tolerance=-1.0)
