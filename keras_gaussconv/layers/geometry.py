"""`GeometricWeight`: the declaration of one geometric weight of a basis (σ, μ, θ, …)."""

import dataclasses

import keras


@dataclasses.dataclass(frozen=True)
class GeometricWeight:
    """A weight of shape `(B, N, *shape)` that parameterises the basis kernels.

    Made in `build` in the layer's `geometry_dtype` (its variable dtype, but
    float32 where that is float16 or bfloat16) and never autocast, so bases
    are sampled in float32 or wider under every dtype policy, then cast to
    the compute dtype. Its initializer and trainability go into
    the layer's config as `{name}_initializer` and `trainable_{name}`.

    Attributes:
        name: the weight's name, also the keyword of `compute_basis`.
        shape: trailing shape after `(B, N)`.
        initializer: a Keras initializer.
        trainable: whether it is trained.
        constraint: a Keras constraint or None.
    """

    name: str
    shape: tuple
    initializer: keras.initializers.Initializer
    trainable: bool = True
    constraint: keras.constraints.Constraint = None

    @classmethod
    def create(cls, name, shape, initializer, default, trainable, constraint=None):
        """From layer arguments: `initializer` by identifier, `default` when it is None."""
        initializer = default if initializer is None else keras.initializers.get(initializer)
        return cls(name, tuple(shape), initializer, bool(trainable), constraint)
