"""Analytic gradients, dtype-keeping bounds and trigonometry for the bases, the same on every backend."""

import math

import keras
from keras import ops


def with_gradient(function):
    """`keras.ops.custom_gradient(function)`: `function(*tensors)` returns `(output, grad)`.

    Variables are passed as tensors (TensorFlow's custom gradients refuse a variable read
    inside; PyTorch's functions take torch tensors). On PyTorch, where nothing records a
    gradient (inference, `torch.no_grad`, an ONNX export, which cannot trace a Python
    `autograd.Function`), the plain forward runs.
    """
    custom = ops.custom_gradient(function)
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def call(*tensors):  # a read, not tf.identity: one graph operation fewer per variable
            return custom(*(tf.convert_to_tensor(t) if isinstance(t, (tf.Variable, keras.Variable)) else t for t in tensors))

        return call
    if backend != "torch":
        return custom

    def call(*tensors):
        import torch

        # A keras.Variable is no torch tensor (no `unbind`, no autograd of its own): its value is.
        tensors = tuple(t.value if isinstance(t, keras.Variable) else t for t in tensors)
        recording = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
        if recording and not torch.onnx.is_in_onnx_export():
            return custom(*tensors)
        return function(*tensors)[0]

    return call


def at_least(x, floor):
    """max(x, floor) in `x`'s dtype; the gradient flows to x where x >= floor.

    `ops.maximum` promotes through Keras' dtype rules, which turn float64 into
    float32 on PyTorch (Keras 3.15): a float64 layer would be silently
    rounded there. `where` keeps its operands' dtype, at a few more graph
    operations, so it serves float64 only.
    """
    floor = ops.cast(floor, x.dtype)
    if keras.backend.standardize_dtype(x.dtype) == "float64":
        return ops.where(x >= floor, x, floor)
    return ops.maximum(x, floor)


def _trig(name, x):
    # Keras' trigonometric ops on JAX compute float64 in float32 (Keras 3.15's result_type maps
    # 64-bit types to 32-bit off TensorFlow; exp, sqrt and square keep them). JAX's own do not.
    if keras.config.backend() == "jax" and keras.backend.standardize_dtype(x.dtype) == "float64":
        import jax.numpy as jnp

        return getattr(jnp, name)(x)
    return getattr(ops, name)(x)


def cos(x):
    """cos x in `x`'s dtype (`keras.ops.cos`, which rounds float64 to float32 on JAX)."""
    return _trig("cos", x)


def sin(x):
    """sin x in `x`'s dtype (`keras.ops.sin`, which rounds float64 to float32 on JAX)."""
    return _trig("sin", x)


def normalize_energy(phi, reference=None):
    """φ_n · √(k₁⋯k_r / (N · Σ ψ_n²)) for kernels φ `(B, *k, N)`, ψ = `reference` (default φ):
    each kernel of ψ gets the energy k₁⋯k_r / N, the N together a stock kernel's k₁⋯k_r unit pixels."""
    reference = phi if reference is None else reference
    size = math.prod(phi.shape[1:-1])
    energy = ops.sum(ops.square(reference), axis=tuple(range(1, len(phi.shape) - 1)), keepdims=True)
    # The floor keeps a kernel shifted off its support (Σ φ² → 0) and its gradient finite
    # (d m^{-1/2}/dm = −m^{-3/2}/2 stays far below float32's range at m = 1e-12).
    return phi * (math.sqrt(size / phi.shape[-1]) * ops.rsqrt(at_least(energy, 1e-12)))
