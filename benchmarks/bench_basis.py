"""The fixed cost itself: one Gaussian-derivative basis and its gradient, against a stock layer's step.

Times, on the active backend, the basis of a layer (`compute_basis`: σ bound, coordinates,
recurrence, picks) with the gradient of a weighted sum of it with respect to σ, μ and the
orientation, compiled as the backend's trainer compiles (TensorFlow: `tf.function`; JAX:
`jax.jit`; PyTorch: eager), median of 7 rounds; beside it, in the same run, one training
step of the stock convolution of a U-net layer (8 × 64 × 64 × 16 → 16, k = 3), so the ratio
says how much of such a step the basis adds. 2-D k = 3, 7 and 3-D k = 3, 5 (B = 4, K = 2);
and the paper U-net's layer basis (2-D, k = 5) with its energy normalisation (`basis_of`,
`normalize_basis=True`).
Run at two commits to compare implementations of the basis.

Run: `KERAS_BACKEND=tensorflow|jax|torch python benchmarks/bench_basis.py`
"""

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_gaussconv import GaussianDerivativeConv2D, GaussianDerivativeConv3D  # noqa: E402

CASES = [("2-D", GaussianDerivativeConv2D, 3, False), ("2-D", GaussianDerivativeConv2D, 7, False),
         ("3-D", GaussianDerivativeConv3D, 3, False), ("3-D", GaussianDerivativeConv3D, 5, False),
         ("2-D, energy-normalised (U-net)", GaussianDerivativeConv2D, 5, True)]


def compiled_step(loss, variables):
    """loss() and its gradient with respect to `variables`, compiled as the backend's trainer does."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                value = loss([v.value for v in variables])
            return tape.gradient(value, [v.value for v in variables])

        return step
    if backend == "jax":
        import jax

        grad = jax.jit(jax.grad(loss))
        return lambda: jax.block_until_ready(grad([v.value for v in variables]))
    import torch

    def step():
        values = [v.value.detach().requires_grad_(True) for v in variables]
        return torch.autograd.grad(loss(values), values)

    return step


def median_ms(step, calls):
    step()
    rounds = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(calls):
            step()
        rounds.append((time.perf_counter() - start) / calls)
    return 1e3 * statistics.median(rounds)


def basis_step(cls, k, normalized):
    layer = cls(16, k, num_bases=4, order=2, normalize_basis=normalized)
    layer.build((None, *(16,) * layer.rank, 16))
    turn = "theta" if layer.rank == 2 else "rotation"
    variables = [layer.sigma, layer.offset, getattr(layer, turn)]

    def basis(values):
        make = layer.basis_of if normalized else layer.compute_basis
        return make(sigma=values[0], offset=values[1], **{turn: values[2]})

    phi = keras.ops.convert_to_numpy(basis(variables))
    weights = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=phi.shape).astype("float32"))

    def loss(values):
        return keras.ops.sum(basis(values) * weights)

    return compiled_step(loss, variables)


def stock_step():
    model = keras.Sequential([keras.Input((64, 64, 16)), keras.layers.Conv2D(16, 3, padding="same")])
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 64, 64, 16)).astype("float32"), rng.normal(size=(8, 64, 64, 16)).astype("float32")
    return lambda: model.train_on_batch(x, y)


def main():
    stock = median_ms(stock_step(), 20)
    print(f"{keras.backend.backend()}, Keras {keras.__version__}: stock Conv2D training step "
          f"(8 × 64 × 64 × 16 → 16, k = 3) {stock:.2f} ms\n")
    print("| basis + gradient (B = 4, K = 2) | ms | / stock step |\n|---|---|---|")
    for name, cls, k, normalized in CASES:
        ms = median_ms(basis_step(cls, k, normalized), 100)
        print(f"| {name}, k = {k} | {ms:.3f} | {ms / stock:.2f} |")


if __name__ == "__main__":
    main()
