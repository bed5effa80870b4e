"""Helpers shared by the test modules: backend-neutral conversions and gradients, random inputs,
and the independent NumPy/SciPy references several modules compare against.

Import them as `from helpers import ...`; conftest.py holds the fixtures only.
"""

import math
from pathlib import Path

import keras
import numpy as np
import pytest
from numpy.polynomial.hermite import hermval
from scipy.signal import correlate
from scipy.special import erf, ive

DATA = Path(__file__).resolve().parent / "data"  # fixtures that are part of the repository

def to_numpy(x):
    """A tensor, variable or array as NumPy on any backend (`np.asarray` cannot read a torch
    tensor that requires grad)."""
    if isinstance(x, keras.Variable):
        x = x.value
    return keras.ops.convert_to_numpy(x)


_GENERATOR = {}  # set for each test by conftest's autouse fixture


def rng():
    """This test's NumPy generator, seeded from the test's id: the same draws in any order, on any worker."""
    return _GENERATOR["current"]



def images(shape):
    """Standard-normal float32 inputs of `shape` from this test's generator."""
    return rng().normal(size=shape).astype("float32")


def gradients(loss_fn, variables, has_aux=False):
    """d loss / d variables (``keras.Variable``s) with the active backend's autodiff, as NumPy.

    With ``has_aux``, ``loss_fn`` returns ``(loss, aux)`` and the result is ``(aux, grads)``
    (e.g. the layer's output from the same call). TensorFlow records a tape; JAX compiles
    ``grad`` of ``loss_fn`` with the variables' values substituted through
    ``keras.StatelessScope``, as Keras' own JAX trainer does (one compilation instead of one
    per operation, which is what makes the JAX pass affordable); PyTorch differentiates the
    eager graph with ``torch.autograd.grad``.
    """

    def loss_and_aux():
        return loss_fn() if has_aux else (loss_fn(), None)

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, aux = loss_and_aux()
        grads = tape.gradient(loss, [v.value for v in variables])
    elif backend == "jax":
        import jax

        def loss_of(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return loss_and_aux()

        grads, aux = jax.jit(jax.grad(loss_of, has_aux=True))([v.value for v in variables])
    elif backend == "torch":
        import torch

        loss, aux = loss_and_aux()
        grads = torch.autograd.grad(loss, [v.value for v in variables])
    else:
        raise NotImplementedError(f"no gradient helper for the {backend} backend")
    grads = [to_numpy(g) for g in grads]
    if not has_aux:
        return grads
    return keras.tree.map_structure(to_numpy, aux), grads


def outputs_and_gradients(layers, x, target):
    """``[(layer(x), d Σ layer(x)·target / d layer.trainable_weights) for layer in layers]``.

    One loss Σ_l Σ layer_l(x)·target for all the layers (their weights are disjoint, so each
    layer's gradients are those of its own term): one compilation on JAX instead of one per layer.
    """
    def loss():
        outputs = [layer(x) for layer in layers]
        return sum(keras.ops.sum(keras.ops.multiply(y, target)) for y in outputs), outputs

    outputs, grads = gradients(loss, [v for layer in layers for v in layer.trainable_weights], has_aux=True)
    ends = np.cumsum([len(layer.trainable_weights) for layer in layers])
    return [(out, grads[end - len(layer.trainable_weights) : end]) for out, layer, end in zip(outputs, layers, ends)]


def output_and_gradients(layer, x, target):
    """``layer(x)`` and d Σ layer(x)·target / d layer.trainable_weights, from one call."""
    return outputs_and_gradients([layer], x, target)[0]


def assert_trains_saves_folds_and_exports(model, x, y, loss, directory):
    """One SGD epoch of `model` on `(x, y)` moves its weights; the `.keras` round trip, `fold(model)`
    and the ONNX export (no structured layer left, run in onnxruntime) give its outputs to 1e-5."""
    import onnxruntime

    from keras_gaussconv.export import export_onnx, fold
    from keras_gaussconv.folding import structured_layers

    model.compile(keras.optimizers.SGD(0.05), loss)
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, epochs=1, verbose=0)
    assert any(not np.allclose(w, w0) for w, w0 in zip(model.get_weights(), before))
    expected = to_numpy(model(x))
    model.save(directory / "m.keras")
    np.testing.assert_allclose(to_numpy(keras.saving.load_model(directory / "m.keras")(x)), expected, atol=1e-5)
    np.testing.assert_allclose(to_numpy(fold(model)(x)), expected, atol=1e-5)
    assert not structured_layers(export_onnx(model, directory / "m.onnx"))
    session = onnxruntime.InferenceSession(str(directory / "m.onnx"))
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0], expected, atol=1e-5)
    return expected


def twin_layers(make, shape, option, **kwargs):
    """`make(**kwargs)` without and with `option=True`, built for `shape` with the same weights, and an input."""
    plain, optioned = make(**kwargs), make(**{option: True}, **kwargs)
    for layer in (plain, optioned):
        layer.build(shape)
    optioned.set_weights(plain.get_weights())
    return plain, optioned, images(shape)


def blobs(coordinates):
    """f(x, y): three anisotropic Gaussian blobs, at positions in units of the original grid."""
    x, y = coordinates
    f = np.zeros_like(x)
    for (cx, cy, sx, sy, a) in [(17.0, 19.5, 2.0, 2.5, 1.0), (23.5, 16.0, 2.5, 1.8, -0.7), (20.0, 24.0, 2.2, 2.2, 0.5)]:
        f += a * np.exp(-((x - cx) ** 2) / (2 * sx**2) - (y - cy) ** 2 / (2 * sy**2))
    return f


def doubled_channel_responses(conv):
    """Channel s = 1 of `ScaleChannels(conv, scales=(1, 2))` on `blobs` sampled at spacing 1 (40²) and
    channel s = 2 on the same function at spacing ½ (80², magnified 2×), at corresponding interior
    points; σ drawn in [1.2, 1.5] and μ in [−½, ½] (for a 33-tap kernel: >= 5σ at both scales)."""
    from keras_gaussconv import ScaleChannels

    channels = ScaleChannels(conv, scales=(1.0, 2.0))
    channels.build((None, 40, 40, 1))
    draw = np.random.default_rng(0)
    conv.sigma.assign(draw.uniform(1.2, 1.5, conv.sigma.shape).astype("float32"))
    conv.offset.assign(draw.uniform(-0.5, 0.5, conv.offset.shape).astype("float32"))
    a = to_numpy(channels(blobs_sampled(40, 1.0)))[0, 0, 8:32, 8:32]
    b = to_numpy(channels(blobs_sampled(80, 0.5)))[0, 1, 16:64:2, 16:64:2]
    return a, b


def blobs_sampled(size, spacing):
    """f on a size × size grid of the given spacing: pixel (i, j) at (x, y) = (j, i) · spacing."""
    rows, cols = np.meshgrid(np.arange(size) * spacing, np.arange(size) * spacing, indexing="ij")
    return blobs((cols, rows)).astype("float32")[None, :, :, None]


tensorflow_only = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="needs the TensorFlow backend (tf.* APIs)"
)



# --- independent references ---------------------------------------------------


def numpy_window(scales, window, log_magnification):
    """(batch, S): channels with low ≤ log₂ sᵢ − log₂ m̂ ≤ high; where none, those nearest the window."""
    relative = np.log2(scales)[None, :] - np.asarray(log_magnification)[:, None]
    outside = np.maximum(np.maximum(window[0] - relative, relative - window[1]), 0)
    return outside == outside.min(axis=1, keepdims=True)


def numpy_gaussian_derivative(x, sigma, p):
    """G_p(x, σ) = (-1/(σ√2))^p H_p(x/(σ√2)) G(x, σ) in float64, H_p from NumPy's Hermite series
    (independent of the package's recurrence)."""
    z = x / (sigma * math.sqrt(2))
    coefficients = np.zeros(p + 1)
    coefficients[p] = 1
    gauss = np.exp(-(z**2)) / (sigma * math.sqrt(2 * math.pi))
    return (-1 / (sigma * math.sqrt(2))) ** p * hermval(z, coefficients) * gauss


def centred(size):
    """Tap offsets from the centre of a kernel axis of `size` taps."""
    return np.arange(size) - (size - 1) / 2


def same_padding(x, kernel_size, strides):
    """`x` (batch, *spatial, C) zero-padded by Keras' 'same' rule: output ⌈n/s⌉, the total
    padding max((⌈n/s⌉ − 1)·s + k − n, 0) split with the extra tap after."""
    totals = [max((-(-n // s) - 1) * s + k - n, 0) for n, k, s in zip(x.shape[1:-1], kernel_size, strides)]
    return np.pad(x, [(0, 0), *[(t // 2, t - t // 2) for t in totals], (0, 0)])


def numpy_layer(layer, x, phi=None):
    """Eq. (3)/(4) for a layer of any rank, with SciPy: correlate every basis kernel with every
    input channel ('same' padding by Keras' rule), subsample by the strides, combine, add the bias.

    `phi`: the basis kernels `(B, *k, N)` to use; default the layer's own."""
    phi = (to_numpy(layer.basis()) if phi is None else phi).astype("float64")  # (B, *k, N)
    rank = layer.rank
    if layer.padding == "same":
        x = same_padding(x, phi.shape[1:-1], layer.strides)
    steps = tuple(slice(None, None, s) for s in layer.strides)
    responses = np.array([  # (batch, B, N, F_in, *out)
        [[[correlate(img[..., i], phi[b, ..., n], mode="valid")[steps] for i in range(x.shape[-1])]
          for n in range(phi.shape[-1])] for b in range(phi.shape[0])]
        for img in x
    ])
    letters = "dhw"[3 - rank :]
    if layer.separable:
        out = np.einsum(f"zbni{letters},bin,bnj->z{letters}bj", responses,
                        to_numpy(layer.coefficients_in), to_numpy(layer.coefficients_out))
    else:
        out = np.einsum(f"zbni{letters},bijn->z{letters}bj", responses, to_numpy(layer.coefficients))
    out = out.reshape(*out.shape[:-2], -1)
    return out + (to_numpy(layer.bias) if layer.use_bias else 0)


def numpy_kernels(x, sigma, order, discretization):
    """Orders 0..K of one 1-D discretisation at offsets `x` (float64, from SciPy and NumPy only).

    "discrete" needs `x` to be consecutive integers; "normalized" divides by Σ_x G_0(x)."""
    if discretization == "sampled":
        return [numpy_gaussian_derivative(x, sigma, p) for p in range(order + 1)]
    if discretization == "normalized":
        total = numpy_gaussian_derivative(x, sigma, 0).sum()
        return [numpy_gaussian_derivative(x, sigma, p) / total for p in range(order + 1)]
    if discretization == "integrated":
        s = sigma * np.sqrt(2)
        return [0.5 * (erf((x + 0.5) / s) - erf((x - 0.5) / s))] + [
            numpy_gaussian_derivative(x + 0.5, sigma, p - 1) - numpy_gaussian_derivative(x - 0.5, sigma, p - 1)
            for p in range(1, order + 1)
        ]
    # discrete: e^{-t} I_n(t) by SciPy, then δx^{p mod 2} δxx^{p // 2} by explicit differences
    pad = order
    n = np.round(x).astype(int)
    wide = np.arange(n[0] - pad, n[-1] + pad + 1)
    kernels = []
    for p in range(order + 1):
        f = ive(wide, sigma**2)
        for _ in range(p // 2):
            f = np.concatenate([[0], f[2:] - 2 * f[1:-1] + f[:-2], [0]])
        if p % 2:
            f = np.concatenate([[0], (f[2:] - f[:-2]) / 2, [0]])
        kernels.append(f[pad:-pad])
    return kernels


def numpy_basis_2d(kernel_size, sigma, offset, theta, order, discretization="sampled"):
    """The 2-D basis `(B, kh, kw, N)` in float64 from `numpy_kernels`: per kernel (p, q), the
    product of the 1-D kernels along y₁ = x cos θ + y sin θ − μ₁ and y₂ = −x sin θ + y cos θ − μ₂;
    "normalized" divides by the sum of the 2-D order-0 kernel; "discrete" has no μ, θ (None)."""
    from keras_gaussconv.bases import derivative_orders

    kh, kw = kernel_size
    x, y = np.meshgrid(centred(kw), centred(kh))  # x along columns
    orders = derivative_orders(order)
    out = np.zeros((sigma.shape[0], kh, kw, len(orders)))
    for b in range(sigma.shape[0]):
        for n, (p, q) in enumerate(orders):
            s1, s2 = float(sigma[b, n, 0]), float(sigma[b, n, 1])
            if discretization == "discrete":
                out[b, ..., n] = np.outer(numpy_kernels(centred(kh), s2, order, "discrete")[q],
                                          numpy_kernels(centred(kw), s1, order, "discrete")[p])
                continue
            c, s = np.cos(theta[b, n]), np.sin(theta[b, n])
            y1 = (x * c + y * s - offset[b, n, 0]).ravel()
            y2 = (-x * s + y * c - offset[b, n, 1]).ravel()
            along = "integrated" if discretization == "integrated" else "sampled"
            kernel = numpy_kernels(y1, s1, order, along)[p] * numpy_kernels(y2, s2, order, along)[q]
            if discretization == "normalized":
                kernel = kernel / np.sum(numpy_gaussian_derivative(y1, s1, 0) * numpy_gaussian_derivative(y2, s2, 0))
            out[b, ..., n] = kernel.reshape(kh, kw)
    return out


# A float64 basis against NumPy's, relative to its largest value: float64 round-off. Float32
# anywhere on the way (Keras' matmul, prod and maximum compute float64 in float32 on PyTorch, its
# cos and sin on JAX) leaves ~1e-7 and fails it.
FLOAT64_BASIS_ROUNDING = 1e-13


def assert_gradients_match_numpy_finite_differences(loss, reference_loss, variables, step=1e-6, rtol=1e-5, atol=1e-7):
    """The backend's gradients of `loss()` for `variables` against central differences of
    `reference_loss(values)` (float64 NumPy, `values` a list of arrays in the variables' order).

    `atol` is relative to the largest gradient of each variable (at least 1)."""
    analytic = gradients(loss, variables)
    values = [to_numpy(v).astype("float64") for v in variables]
    for i, (variable, grad) in enumerate(zip(variables, analytic)):
        numeric = np.zeros_like(values[i])
        for index in np.ndindex(values[i].shape):
            ends = []
            for sign in (1, -1):
                moved = [v.copy() for v in values]
                moved[i][index] += sign * step
                ends.append(reference_loss(moved))
            numeric[index] = (ends[0] - ends[1]) / (2 * step)
        assert np.all(np.isfinite(grad)), variable.name
        scale = max(1.0, float(np.abs(numeric).max()))
        np.testing.assert_allclose(grad, numeric, rtol=rtol, atol=atol * scale, err_msg=variable.name)
