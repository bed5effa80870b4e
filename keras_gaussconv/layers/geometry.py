"""`GeometricWeight`: the declaration of one geometric weight of a basis (σ, μ, θ, …), and the
`DeclaresGeometry` mixin through which a structured layer declares them."""

import dataclasses

import keras
from keras import ops

from keras_gaussconv.bases.autodiff import at_least
from keras_gaussconv.layers.constraints import MinValue
from keras_gaussconv.layers.validation import check_positive_float


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


class DeclaresGeometry:
    """What a structured layer's subclass declares of its basis: its geometric weights.

    A mixin of `BasisConv`: `declare_geometry` (and `declare_sigma` for
    the scales) in `__init__` append to `self.geometry`, the list of
    `GeometricWeight`s that `build` makes and `compute_basis` receives.
    """

    def declare_geometry(self, name, shape, initializer, default, trainable, constraint=None, scale_power=0):
        """Declares a geometric weight of shape `(B, N, *shape)` (a `GeometricWeight`), made in `build`.

        `default` is used when `initializer` is None; `scale_power`: 1 for a
        length, −1 for a frequency, 0 for an angle (`GeometricWeight`).
        """
        self.geometry.append(
            GeometricWeight.create(name, shape, initializer, default, trainable, constraint, scale_power)
        )

    def declare_sigma(self, shape, initializer, default, trainable, min_sigma):
        """Declares the scales `sigma` (B, N, *shape), bounded below by `min_sigma`.

        The bound is applied element-wise after each update (`MinValue`) and
        in the forward pass (`bounded_sigma`), so a σ = 0 assigned by a user
        still gives finite kernels.
        """
        self.min_sigma = check_positive_float("min_sigma", min_sigma)
        self.declare_geometry("sigma", shape, initializer, default, trainable, MinValue(self.min_sigma), scale_power=1)

    def bounded_sigma(self, sigma):
        """max(σ, min_sigma), the scales the basis is sampled with."""
        return at_least(sigma, self.min_sigma)

    @property
    def geometry_dtype(self):
        """dtype of the geometric weights and the basis: the variable dtype, at least float32.

        A float16 basis breaks down: G_p(0, σ) grows as σ^{−p−1}, so at σ = 0.2
        the order-6 kernel's peak (≈ 4.7·10⁵) passes float16's 65504 (inf), and
        its 11-bit significand leaves every kernel ~1e-3 off.
        """
        dtype = self.variable_dtype
        return "float32" if dtype in ("float16", "bfloat16") else dtype

    def geometry_values(self):
        """The geometric weights' current values as tensors, by name (`basis_of`'s arguments)."""
        if keras.config.backend() == "torch":  # the value is the tensor: converting would dispatch a copy
            return {g.name: getattr(self, g.name).value for g in self.geometry}
        return {g.name: ops.convert_to_tensor(getattr(self, g.name)) for g in self.geometry}
