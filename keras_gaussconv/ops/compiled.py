"""One XLA program per basis, and per convolution, on JAX, where every eager operation is a program of its own.

Eagerly (a layer's `build`, an eager call, `fold`, plots) JAX compiles each
operation of a new shape separately: the ~100 small operations of a basis
took 1.1–1.3 s on a 2-core CPU for every new kernel shape, one program 0.1 s.
Inside a traced step (`fit`, `jax.jit`) the program is inlined into the
step's, so traced costs are unchanged. Other backends run eagerly without
compiling and get the function itself.
"""

import collections
import functools
import json
import weakref

import keras

from keras_gaussconv.ops import paths

_SHARED = collections.OrderedDict()  # (class, settings) → program, the most recent 256
_KEYS = weakref.WeakKeyDictionary()  # layer → its settings, read once: get_config costs more than an eager basis
_OWN = weakref.WeakKeyDictionary()  # layer → its program, dropped with the layer


# Config entries that never reach a basis: the convolution's and the combination's settings. The
# geometric values are the program's arguments, so their initializers and trainability are left out
# too (a geometric weight that is not made changes the arguments' structure, which jax.jit keys on).
_NOT_BASIS = frozenset({
    "name", "trainable", "dtype", "filters", "num_bases", "separable", "depth_multiplier", "strides", "padding",
    "data_format", "dilation_rate", "activation", "use_bias", "implementation", "activity_regularizer",
})


def _settings(layer):
    """What a basis program of this package's layers depends on: its config (which `from_config`
    rebuilds the layer from, so it is complete) without the entries that never reach the basis
    (`_NOT_BASIS`, the weights' initializers, regularizers, constraints and trainability), and the
    kernel size fixed at build. So the kernel, basis and FFT paths of one basis share a program.
    The settings that shape the basis are constructor arguments, so they are read once per built layer."""
    config = {
        k: v for k, v in layer.get_config().items()
        if k not in _NOT_BASIS and not k.endswith(("_initializer", "_regularizer", "_constraint"))
        and not k.startswith("trainable_")
    }
    return type(layer), tuple(layer.kernel_size), json.dumps(config, sort_keys=True, default=repr)


def compiled_basis(layer):
    """`layer.basis_of` (geometric tensors by name → basis) as one jitted program on JAX; itself elsewhere.

    The program reads only the layer's static settings (kernel size, order,
    discretization, bounds), fixed once it is built; the geometric values are
    its arguments, so training and assignment never recompile it. Layers of
    this package with the same settings share one program; a subclass defined
    elsewhere (whose basis may read state its config lacks) gets its own, held
    weakly.
    """
    if keras.backend.backend() != "jax":
        return layer.basis_of
    import jax

    # Whether the layer's config determines its basis: a class this package defines and registers
    # (a user's subclass, registered under its own package or none, may read other state).
    if keras.saving.get_registered_name(type(layer)).startswith("keras_gaussconv>"):
        key = _KEYS.get(layer)
        if key is None:
            key = _KEYS[layer] = _settings(layer)
        program = _SHARED.get(key)
        if program is None:
            program = _SHARED[key] = jax.jit(layer.basis_of)
            if len(_SHARED) > 256:
                _SHARED.popitem(last=False)
        _SHARED.move_to_end(key)
        return program
    program = _OWN.get(layer)
    if program is None:
        owner = weakref.ref(layer)
        program = _OWN[layer] = jax.jit(lambda **geometry: owner().basis_of(**geometry))
    return program


def compiled_convolve(x, path):
    """`paths.convolve` as one jitted program on JAX for an eager call (`x` a concrete array) on the
    basis and FFT paths; itself elsewhere, inside a trace (part of the traced step anyway) and on
    the kernel path.

    Eagerly, each of a path's operations of a new shape compiles on its own: the first call
    on a new input shape took 0.2 s on the basis path and 1.7 s on the FFT path, as one program
    0.07 s and 0.2 s (`benchmarks/bench_eager_jax.py`; the path, combination and `ConvSpec`
    are static arguments). The kernel path is a dense kernel and one convolution: op by op its
    first call costs 14 ms, as a program 50 ms, so it stays op by op."""
    if keras.backend.backend() != "jax" or path == "kernel":
        return paths.convolve
    import jax

    return paths.convolve if isinstance(x, jax.core.Tracer) else _convolve_program()


def convolve_layer(x, phi, coefficients, bias, combination, spec, channels_first, path):
    """A `BasisConv`'s convolution by `path` plus `bias` (None: none), `x` and the output in the layer's
    data format: the `keras.ops` reference of `keras_gaussconv.native.conv_path`'s functions."""
    last = spec.rank + 1
    if channels_first:
        x = keras.ops.moveaxis(x, 1, last)
    phi = keras.ops.cast(phi, x.dtype)
    x = compiled_convolve(x, path)(x, phi, coefficients, combination=combination, path=path, spec=spec)
    if bias is not None:
        x = x + keras.ops.cast(bias, x.dtype)
    return keras.ops.moveaxis(x, last, 1) if channels_first else x


@functools.cache
def _convolve_program():
    """The jitted `paths.convolve` (made once), taking `keras.Variable` coefficients by their values."""
    import jax

    jitted = jax.jit(paths.convolve, static_argnames=("combination", "path", "spec"))

    def program(x, phi, coefficients, **static):  # a keras.Variable is no JAX array: its value is
        return jitted(x, phi, tuple(c.value if isinstance(c, keras.Variable) else c for c in coefficients), **static)

    return program
