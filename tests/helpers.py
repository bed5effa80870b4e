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


tensorflow_only = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="needs the TensorFlow backend (tf.* APIs)"
)



# --- independent references ---------------------------------------------------


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


def numpy_layer(layer, x):
    """Eq. (3)/(4) for a layer of any rank, with SciPy: correlate every basis kernel with every
    input channel ('same' padding by Keras' rule), subsample by the strides, combine, add the bias."""
    phi = to_numpy(layer.basis()).astype("float64")  # (B, *k, N)
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
