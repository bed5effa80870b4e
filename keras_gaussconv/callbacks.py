"""`GeometryMonitor`: how far the geometric weights of structured layers move during training."""

import keras
import numpy as np

from keras_gaussconv.utils import structured_layers


def gradient_function(model, variables):
    """`f(x, y)` → ∂ loss / ∂ `variables` of a compiled model on one batch, as NumPy, any backend.

    The loss is the model's compiled loss (`model.compute_loss`) of `model(x)`
    in inference mode (no batch-norm statistics or other state change); each
    backend's own autodiff computes the gradients (TensorFlow: a tape; JAX:
    `jax.grad` with the variables' values substituted, compiled once for all
    calls; PyTorch: `torch.autograd.grad`).
    """
    variables = list(variables)

    def loss(x, y):
        return model.compute_loss(x=x, y=y, y_pred=model(x, training=False), training=False)

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def grads_of(x, y):
            with tf.GradientTape() as tape:
                result = loss(x, y)
            return tape.gradient(result, [v.value for v in variables])
    elif backend == "jax":
        import jax

        # Every other variable is an argument too: a compiled function would otherwise
        # keep the values they had when it was traced.
        others = [v for v in model.variables if not any(v is w for w in variables)]

        def loss_of(values, other_values, x, y):
            mapping = list(zip(variables, values)) + list(zip(others, other_values))
            with keras.StatelessScope(state_mapping=mapping):
                return loss(x, y)

        compiled = jax.jit(jax.grad(loss_of))

        def grads_of(x, y):
            return compiled([v.value for v in variables], [v.value for v in others], x, y)
    elif backend == "torch":
        import torch

        def grads_of(x, y):
            return torch.autograd.grad(loss(x, y), [v.value for v in variables], allow_unused=True)
    else:
        raise NotImplementedError(f"gradients on TensorFlow, JAX and PyTorch, not on {backend}")

    def gradients(x, y):
        grads = grads_of(keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y))
        return [np.zeros(v.shape) if g is None else keras.ops.convert_to_numpy(g) for v, g in zip(variables, grads)]

    return gradients


def _weight_groups(layer):
    """{group: [variables]} a structured layer declares: its geometric weights by group, then
    "coefficients", its combination weights."""
    groups = {}
    for g in layer.geometry:
        groups.setdefault(g.group, []).append(getattr(layer, g.name))
    groups["coefficients"] = list(layer.combination_weights())
    return groups


class GeometryMonitor(keras.callbacks.Callback):
    """Records, per epoch, the statistics of every weight group of a model's structured layers.

    For every structured layer L (`structured_layers(model)`: inside
    `ScaleChannels`, `ConvNormAct` and nested models too, a layer shared by
    scale channels once) and each of its weight groups g — the geometric
    weights as the layer declares them (`GeometricWeight.group`: `sigma`,
    `offset`, `theta`, `rotation`, `frequency`, `phase`, …) and
    `coefficients` (all combination weights together) —
    `history[f"{L}/{g}/{s}"]` is a list with one value per epoch, the first
    for the weights before training:

    * `mean`, `std`, `min`, `max` of g's values;
    * `step`: mean |g_t − g_{t−1}| over g's elements since the previous entry
      (0 for the first), how far g moved in that epoch;
    * `drift`: mean |g_t − g_0|, how far g is from its value before training;
    * `grad_norm` (with `data`): ‖∂loss/∂g‖₂ on the batch `data` at that
      point (`gradient_function`).

    `history` has the layout of `keras.callbacks.History.history`;
    `keras_gaussconv.plotting.plot_geometry` draws it.

    Args:
        data: optional `(x, y)` batch for the gradient norms (small: it
            runs once per epoch).
        groups: the weight groups to record (default all the model's layers
            declare); a group that no layer of the model has is an error when
            training starts.

    Examples:
        >>> model = keras.Sequential([keras.Input((12, 12, 1)), GaussianDerivativeConv2D(4, 5, name="conv"),
        ...                           keras.layers.GlobalAveragePooling2D()])
        >>> model.compile("adam", "mse")
        >>> monitor = GeometryMonitor()
        >>> _ = model.fit(np.ones((8, 12, 12, 1)), np.zeros((8, 4)), epochs=2, verbose=0, callbacks=[monitor])
        >>> len(monitor.history["conv/sigma/mean"])  # before training, after epochs 1 and 2
        3
    """

    STATISTICS = ("mean", "std", "min", "max", "step", "drift", "grad_norm")

    def __init__(self, data=None, groups=None):
        super().__init__()
        if groups is not None:
            names = (groups,) if isinstance(groups, str) else tuple(groups)
            if not names or not all(isinstance(g, str) for g in names):
                raise ValueError(f"`groups` must be None or a non-empty list of group names. Received: groups={groups!r}")
            groups = names
        if data is not None and (not isinstance(data, (tuple, list)) or len(data) != 2):
            raise ValueError(f"`data` must be an `(x, y)` pair or None. Received: data of type {type(data).__name__}")
        self.data = data
        self.groups = groups
        self.history = {}
        self._previous, self._initial = {}, {}

    def _weights(self):
        """{(layer name, group): [variables]} of the monitored groups."""
        weights = {}
        for layer in structured_layers(self.model):
            groups = _weight_groups(layer)
            wanted = groups if self.groups is None else self.groups
            weights.update({(layer.name, group): groups[group] for group in wanted if group in groups})
        return weights

    def _record(self):
        weights = self._weights()
        if self.data is not None:
            grads = dict(zip((id(v) for v in self._trainable), self._gradients(*self.data)))
        for (layer, group), variables in weights.items():
            values = np.concatenate([keras.ops.convert_to_numpy(v).ravel() for v in variables])
            previous = self._previous.get((layer, group), values)
            initial = self._initial.setdefault((layer, group), values)
            stats = {
                "mean": values.mean(), "std": values.std(), "min": values.min(), "max": values.max(),
                "step": np.abs(values - previous).mean(), "drift": np.abs(values - initial).mean(),
            }
            if self.data is not None:
                trainable = [grads[id(v)].ravel() for v in variables if v.trainable]
                stats["grad_norm"] = float(np.linalg.norm(np.concatenate(trainable))) if trainable else 0.0
            self._previous[(layer, group)] = values
            for statistic, value in stats.items():
                self.history.setdefault(f"{layer}/{group}/{statistic}", []).append(float(value))

    def on_train_begin(self, logs=None):
        layers = structured_layers(self.model)
        if not layers:
            raise ValueError("GeometryMonitor needs a model with keras_gaussconv layers; this one has none.")
        present = {group for layer in layers for group in _weight_groups(layer)}
        missing = [group for group in self.groups or () if group not in present]
        if missing:
            raise ValueError(
                f"`groups` names weight groups that no layer of this model has: {missing} (the model's: "
                f"{sorted(present)}). Received: groups={list(self.groups)}"
            )
        self.history, self._previous, self._initial = {}, {}, {}
        if self.data is not None:  # made once: on JAX, one compilation for the whole training
            self._trainable = [v for group in self._weights().values() for v in group if v.trainable]
            self._gradients = gradient_function(self.model, self._trainable)
        self._record()

    def on_epoch_end(self, epoch, logs=None):
        self._record()
