"""Backend-native versions of the hottest functions, behind one interface (as Keras keeps its backends).

The `keras.ops` implementations in `bases/` and `ops/` are the reference and serve every
backend; where a backend's own operations and custom-gradient mechanism do the same
mathematics with far fewer dispatched operations (an eager backend's fixed cost per step,
and a GPU's kernel launches), the layer takes the native one, chosen once per layer.

* PyTorch: the sampled Gaussian-derivative basis, one `torch.autograd.Function`
  (`torch_gaussian.SampledBasis`), the basis' energy normalisation (`torch_energy`), and the
  kernel path's dense kernel and convolution (`torch_conv.kernel_path`).
* TensorFlow: the sampled Gaussian-derivative basis with `tf.custom_gradient`, broadcast
  products instead of einsums (`tf_gaussian.sampled_basis`).

`use_native(False)` (a context manager) makes the layers constructed inside it take the
reference, as the tests that compare the two do: a layer reads `enabled()` once, at
construction, and asks `gaussian_basis`, `energy_normalization` and `conv_path` only when it is on.
"""

import contextlib

import keras

_ENABLED = [True]


@contextlib.contextmanager
def use_native(enabled=True):
    """Layers constructed inside take the native functions (`enabled`) or the `keras.ops` reference."""
    previous = _ENABLED[0]
    _ENABLED[0] = bool(enabled)
    try:
        yield
    finally:
        _ENABLED[0] = previous


def enabled():
    """Whether layers constructed now take the native functions (`use_native`)."""
    return _ENABLED[0]


def gaussian_basis(discretization):
    """A function `(kernel_size, order, min_sigma, sigma, offset, theta, rotation) → φ` computing
    `GaussianDerivativeMixin.compute_basis`' unnormalised basis natively, or None where the
    reference serves (another backend or discretisation)."""
    backend = keras.config.backend()
    if discretization != "sampled" or backend not in ("tensorflow", "torch"):
        return None
    if backend == "tensorflow":
        from keras_gaussconv.native.tf_gaussian import sampled_basis
    else:
        from keras_gaussconv.native.torch_gaussian import sampled_basis

    return sampled_basis


def conv_path(path):
    """A function `(x, phi, coefficients, bias, combination, spec, channels_first) → y` running
    `BasisConv`'s convolution and bias by `path` natively, or None where the reference serves."""
    if path != "kernel" or keras.config.backend() != "torch":
        return None
    from keras_gaussconv.native.torch_conv import kernel_path

    return kernel_path


def energy_normalization():
    """A function `(phi, reference=None) → φ̃ or None` computing `bases.autodiff.normalize_energy` natively
    (None back: the reference serves for that call), or None where the reference serves."""
    # TensorFlow's graph runs the reference's ten operations as fast as a custom gradient's six
    # (the U-net's step 1.102× against 1.104×, measured): only PyTorch's eager dispatch gains.
    if keras.config.backend() != "torch":
        return None
    from keras_gaussconv.native.torch_energy import normalize_energy

    return normalize_energy


__all__ = ["conv_path", "enabled", "energy_normalization", "gaussian_basis", "use_native"]
