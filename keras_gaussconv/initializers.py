"""Initializers for geometric weights."""

import random

import keras
import numpy as np
from keras import ops

from keras_gaussconv.bases.autodiff import at_least


@keras.saving.register_keras_serializable(package="keras_gaussconv")
class EvenlySpaced(keras.initializers.Initializer):
    """Values evenly spaced along the last axis, repeated over the others.

    w[..., n] = minval + (maxval - minval) · n / N: maxval is excluded, so
    angles spread over a period, e.g. `EvenlySpaced(0, π)` gives N distinct
    orientations.

    Args:
        minval: first value.
        maxval: end of the range (excluded).
    """

    def __init__(self, minval=0.0, maxval=1.0):
        self.minval = float(minval)
        self.maxval = float(maxval)

    def __call__(self, shape, dtype=None):
        n = shape[-1]
        values = self.minval + (self.maxval - self.minval) * np.arange(n) / n
        return ops.cast(np.broadcast_to(values, shape), dtype or "float32")

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


@keras.saving.register_keras_serializable(package="keras_gaussconv")
class RandomRotation(keras.initializers.Initializer):
    """Rotation vectors of rotations drawn uniformly from SO(3), shape `(..., 3)`.

    A unit quaternion q = (w, v) drawn uniformly (a normalised 4-D normal
    draw, sign chosen so w >= 0) is the rotation of angle 2·acos(w) about
    v/|v|; the vector is that axis times that angle, in [0, π]. The 3-D
    analogue of θ ~ U(-π, π) in 2-D: every orientation equally likely.

    Args:
        seed: an int; None draws one from Python's `random` (seeded by
            `keras.utils.set_random_seed`), as Keras' random initializers do.
    """

    def __init__(self, seed=None):
        self.seed = random.randint(1, 10**9) if seed is None else int(seed)

    def __call__(self, shape, dtype=None):
        if shape[-1] != 3:
            raise ValueError(f"RandomRotation makes rotation vectors: the last axis must be 3. Received: shape={shape}")
        q = keras.random.normal((*shape[:-1], 4), seed=self.seed)
        q = q / ops.norm(q, axis=-1, keepdims=True)
        q = q * ops.sign(q[..., :1] + 1e-30)  # w >= 0: angles in [0, π]
        w, v = q[..., 0], q[..., 1:]
        sine = ops.norm(v, axis=-1)
        angle = 2.0 * ops.arctan2(sine, w)
        vector = v * (angle / at_least(sine, 1e-12))[..., None]
        return ops.cast(vector, dtype or "float32")

    def get_config(self):
        return {"seed": self.seed}


def seeded_copy(initializer, index):
    """`initializer` for the `index`-th of several weights: a copy seeded `seed + index`.

    Keras initializers are stateless: one instance seeded with an integer
    draws the same values at every call, so two weights would share their
    draws. Index 0 gets `initializer` itself; an unseeded copy draws its own seed.
    """
    if index == 0 or not hasattr(initializer, "get_config"):
        return initializer
    config = initializer.get_config()
    if isinstance(config.get("seed"), int):
        config["seed"] += index
    return type(initializer).from_config(config)


def basis_he_normal(basis, rank, variance):
    """He initialisation for combination weights: N(0, `variance(E)`), E = mean Σ φ² of `basis()`.

    E, the mean energy of the initial basis kernels `(B, *k, N)` (r = `rank`
    spatial axes), is the variance of a basis response to unit white noise.
    It is computed when the variable is created, not in the layer's `build`:
    reading variables in a `build` that a parent model runs in a graph makes
    Keras track them twice. Tensor ops only, no `float()`: Keras also calls
    an initializer symbolically (a deferred build inside `fit`,
    `jax.eval_shape`, `tf.function`).
    """

    def initializer(shape, dtype=None):
        energy = ops.mean(ops.sum(ops.square(basis()), axis=tuple(range(1, rank + 1))))
        stddev = ops.sqrt(variance(at_least(energy, 1e-6)))
        unit = keras.initializers.RandomNormal(stddev=1.0)(shape, dtype)
        return unit * ops.cast(stddev, unit.dtype)

    return initializer
