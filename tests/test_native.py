"""Backend-native functions (`keras_gaussconv.native`) against the `keras.ops` reference.

Each case builds the same layer twice, once with `use_native(False)`, with the same weights,
and compares outputs and every gradient. TensorFlow and PyTorch have a native basis (marker
`native`: a core module there, JAX deselects it); PyTorch's own kernel path and the
finite-difference check of its `autograd.Function` run in the PyTorch pass only (`torch_pass`).
"""

import numpy as np
import pytest
from layer_kinds import GAUSSIAN_KINDS, KINDS

import keras

from helpers import assert_gradients_match_numpy_finite_differences, gradients, images, outputs_and_gradients, rng, to_numpy
from keras_gaussconv import GaussianDerivativeConv2D, ScaleChannels
from keras_gaussconv.native import use_native

pytestmark = [pytest.mark.core, pytest.mark.native]
TORCH = keras.backend.backend() == "torch"  # the only backend with a native kernel path


def native_and_reference(make, shape, **kwargs):
    """`make(**kwargs)` built natively and with the reference, the same weights, and an input."""
    native = make(**kwargs)
    with use_native(False):
        reference = make(**kwargs)
    for layer in (native, reference):
        layer.build(shape)
    reference.set_weights(native.get_weights())
    return native, reference, images(shape)


def assert_same_outputs_and_gradients(native, reference, x, rtol=2e-5):
    target = rng().normal(size=tuple(native.compute_output_shape(x.shape))).astype(x.dtype)
    (y, grads), (y_ref, grads_ref) = outputs_and_gradients([native, reference], x, target)
    scale = np.abs(to_numpy(y_ref)).max()
    np.testing.assert_allclose(to_numpy(y), to_numpy(y_ref), rtol=0, atol=rtol * scale)
    assert len(grads) == len(grads_ref) == len(native.trainable_weights)
    for weight, g, g_ref in zip(native.trainable_weights, grads, grads_ref):
        np.testing.assert_allclose(g, g_ref, rtol=0, atol=rtol * np.abs(g_ref).max(), err_msg=weight.name)


@pytest.mark.parametrize("path", ["kernel", "basis", "fft"])
@pytest.mark.parametrize("kind", GAUSSIAN_KINDS)
def test_every_gaussian_kind_and_path_agrees_with_the_reference(kind, path):
    make, shape = KINDS[kind]
    native, reference, x = native_and_reference(make, shape, implementation=path, padding="same")
    assert native._native_basis is not None and reference._native_basis is None
    assert (native._execution[2] is not None) == (path == "kernel" and TORCH) and reference._execution[2] is None
    assert_same_outputs_and_gradients(native, reference, x)


def test_the_choice_is_made_at_construction():
    """A layer built under the other setting of `use_native` keeps the one it was constructed with."""
    native = GaussianDerivativeConv2D(4, 5, implementation="kernel")
    with use_native(False):
        reference = GaussianDerivativeConv2D(4, 5, implementation="kernel")
        native.build((1, 8, 8, 2))
    reference.build((1, 8, 8, 2))
    assert native._native_basis is not None and reference._native_basis is None
    assert (native._execution[2] is not None) == TORCH and reference._execution[2] is None


@pytest.mark.torch_pass
@pytest.mark.parametrize("kind", sorted(set(KINDS) - set(GAUSSIAN_KINDS)))
def test_other_kinds_kernel_path_agrees_with_the_reference(kind):
    """Gabor, displaced-Gaussian and RFNN bases stay `keras.ops`; their kernel path is native."""
    make, shape = KINDS[kind]
    native, reference, x = native_and_reference(make, shape, implementation="kernel")
    assert native._execution[2] is not None and reference._execution[2] is None
    assert_same_outputs_and_gradients(native, reference, x)


@pytest.mark.parametrize(
    "options",
    [
        dict(strides=2, padding="same"),  # the extra zero after, by F.pad
        dict(strides=(1, 2), dilation_rate=1, padding="valid"),
        dict(dilation_rate=2, padding="same"),
        dict(data_format="channels_first", padding="same"),
        dict(separable=True, strides=2, padding="same"),
        dict(scale_normalized=True, normalize_basis=True),
        dict(trainable_offset=False, trainable_theta=False),
        dict(trainable_sigma=False, use_bias=False, activation="relu"),
    ],
    ids=lambda options: ",".join(f"{k}={v}" for k, v in options.items()),
)
def test_kernel_path_options_agree_with_the_reference(options):
    shape = (2, 3, 11, 10) if options.get("data_format") == "channels_first" else (2, 11, 10, 3)
    make = lambda **kw: GaussianDerivativeConv2D(4, (6, 5), order=2, num_bases=2, implementation="kernel", **kw)  # noqa: E731
    assert_same_outputs_and_gradients(*native_and_reference(make, shape, **options))


def test_float64_agrees_to_float64_round_off(float64):
    make = lambda **kw: GaussianDerivativeConv2D(4, 7, order=3, num_bases=2, dtype="float64", **kw)  # noqa: E731
    native, reference, x = native_and_reference(make, (2, 9, 9, 3))
    assert_same_outputs_and_gradients(native, reference, x.astype("float64"), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_floor_of_sigma_has_the_reference_gradient(dtype, float64):
    """At σ = min_sigma (where the constraint leaves a σ pushed below it) the gradient is the
    reference's: on PyTorch ½ of the unbounded one as torch.maximum's in float32, all of it in
    float64; on TensorFlow all of it, as its maximum's."""
    make = lambda **kw: GaussianDerivativeConv2D(2, 5, order=2, num_bases=1, dtype=dtype, min_sigma=0.25, **kw)  # noqa: E731
    native, reference, x = native_and_reference(make, (1, 7, 7, 1), implementation="kernel")
    sigma = to_numpy(native.sigma)
    sigma[0, :3, 0] = 0.25  # at the floor
    sigma[0, 3:, 1] = 0.1  # below it: no gradient
    for layer in (native, reference):
        layer.sigma.assign(sigma)
    assert_same_outputs_and_gradients(native, reference, x.astype(dtype), rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("normalize_basis", [False, True])  # True: each channel normalised at the layer's own σ
def test_scale_channels_agree_with_the_reference(normalize_basis):
    make = lambda **kw: ScaleChannels(  # noqa: E731
        GaussianDerivativeConv2D(4, 7, order=2, padding="same", normalize_basis=normalize_basis, **kw), scales=(1.0, 2.0))
    native, reference, x = native_and_reference(make, (2, 12, 12, 3))
    assert native.layer._native_basis is not None
    assert_same_outputs_and_gradients(native, reference, x)


@pytest.mark.torch_pass
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_the_native_basis_gradient_matches_finite_differences(rank):
    import torch

    from keras_gaussconv.bases.grid import rotation_matrix
    from keras_gaussconv.native.torch_gaussian import SampledBasis

    generator = torch.Generator().manual_seed(rank)
    draw = lambda *shape: torch.rand(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    b, n = 2, {1: 3, 2: 6, 3: 10}[rank]
    axes = () if rank == 1 else (rank,)
    sigma = (draw(b, n, *axes) * 1.5 + 0.3).requires_grad_()
    offset = (draw(b, n, *axes) * 2 - 1).requires_grad_()
    kernel_size = {1: (7,), 2: (5, 4), 3: (3, 4, 3)}[rank]
    if rank == 3:  # the coefficients (R, μ) of the rotation matrix's entries and the shifts
        params = (torch.cat((rotation_matrix(draw(b, n, 3)).reshape(b, n, 9), draw(b, n, 3)), -1).requires_grad_(),)
    else:
        params = (offset,) if rank == 1 else (offset, (draw(b, n) * 3).requires_grad_())
    assert torch.autograd.gradcheck(lambda s, *p: SampledBasis.apply(kernel_size, 2, 0.2, s, *p), (sigma, *params))


def _numpy_normalized(phi, psi):
    """φ_n √(k₁⋯k_r / N) / max(‖ψ_n‖, 10⁻⁶) in float64 NumPy."""
    norm = np.sqrt(np.sum(np.square(psi), axis=tuple(range(1, phi.ndim - 1)), keepdims=True))
    return phi * np.sqrt(np.prod(phi.shape[1:-1]) / phi.shape[-1]) / np.maximum(norm, 1e-6)


@pytest.mark.torch_pass
@pytest.mark.parametrize("own", [True, False], ids=["own energy", "reference energy"])
def test_the_native_energy_normalization_matches_the_reference_and_finite_differences(own, float64):
    """φ normalised by its own energy or by a reference's (`ScaleChannels`' `normalize_at`), also where
    a kernel of the reference is zero (the floor: no gradient through its energy): values as NumPy's,
    gradients as central differences of NumPy's, and both as `bases.autodiff.normalize_energy`
    differentiated by PyTorch, to float64 round-off."""
    from keras_gaussconv.bases.autodiff import normalize_energy
    from keras_gaussconv.native import energy_normalization

    native = energy_normalization()
    draw = np.random.default_rng(int(own)).uniform(-0.5, 0.5, size=(3, 2, 5, 4, 3))
    weight, arrays = draw[2], draw[: 1 if own else 2]
    variables = [keras.Variable(a, dtype="float64") for a in arrays]

    def loss(normalize):
        return keras.ops.sum(keras.ops.multiply(normalize(*[v.value for v in variables]), weight))

    for zeroed in (False, True):
        if zeroed:  # at the floor; φ's kernel too, or φ̃ ~ 10⁶ φ would drown the differences in round-off
            arrays[:, 1, ..., 2] = 0.0
            for v, a in zip(variables, arrays):
                v.assign(a)
        assert_gradients_match_numpy_finite_differences(
            lambda: loss(native), lambda values: float(np.sum(_numpy_normalized(values[0], values[-1]) * weight)),
            variables)
        value = to_numpy(keras.ops.stop_gradient(native(*[v.value for v in variables])))
        np.testing.assert_allclose(value, _numpy_normalized(arrays[0], arrays[-1]), rtol=1e-12, atol=0)
        reference = to_numpy(keras.ops.stop_gradient(normalize_energy(*[v.value for v in variables])))
        np.testing.assert_allclose(value, reference, rtol=1e-12, atol=0)
        for native_grad, reference_grad in zip(gradients(lambda: loss(native), variables),
                                               gradients(lambda: loss(normalize_energy), variables)):
            np.testing.assert_allclose(native_grad, reference_grad, rtol=1e-12, atol=1e-12 * np.abs(reference_grad).max())
