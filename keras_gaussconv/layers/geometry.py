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
        scale_power: p such that the weight becomes w · sᵖ when the pattern
            is magnified s times: 1 for lengths (σ, μ), −1 for frequencies,
            0 for angles and phases. `ScaleChannels` reads it.
        group: what the weight is (`GeometryMonitor`'s group): its name
            unless declared otherwise.
    """

    name: str
    shape: tuple
    initializer: keras.initializers.Initializer
    trainable: bool = True
    constraint: keras.constraints.Constraint = None
    scale_power: int = 0
    group: str = None

    def __post_init__(self):
        if self.group is None:
            object.__setattr__(self, "group", self.name)

    @classmethod
    def create(cls, name, shape, initializer, default, trainable, constraint=None, scale_power=0, group=None):
        """From layer arguments: `initializer` by identifier, `default` when it is None."""
        initializer = default if initializer is None else keras.initializers.get(initializer)
        return cls(name, tuple(shape), initializer, bool(trainable), constraint, scale_power, group)
