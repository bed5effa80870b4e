"""Why gradient descent on a Gabor orientation does not find θ = π/4 from θ = -π/4.

The experiment: one Gabor filter (σ₁ = 2, σ₂ = 4, frequency 0.25, phase 0,
11×11, 'same' padding) is applied to scikit-image's `camera` image resized to
64×64; the target is its output at θ = π/4. Only θ is trained (MSE, Adam),
starting from -π/4. The script

1. checks the analytic gradient dL/dθ against central finite differences,
2. evaluates the loss over one period of θ and finds its local minima,
3. trains θ: a single Gabor start, a first-order Gaussian derivative on the
   same task, and a Gabor layer with several orientation starts,
4. writes `gabor_theta_landscape.png` (loss against θ, with where each run ended).

Run: `python examples/gabor_theta_recovery.py [--output-dir DIR]` (needs
scikit-image and matplotlib: `pip install ".[examples]"`).
"""

import argparse
import math
from pathlib import Path

import keras
import numpy as np
from skimage import data, transform

from keras_gaussconv import GaborConv2D, GaussianDerivativeConv2D

KERNEL_SIZE = 11
SIGMA = (2.0, 4.0)  # aspect ratio 0.5
FREQUENCY = 0.25  # wavelength 4 pixels
TARGET_THETA = math.pi / 4
START_THETA = -math.pi / 4
# Index of the (p, q) = (1, 0) kernel in an order-1 basis [(0,0), (0,1), (1,0)]:
# the first derivative along the rotated axis u.
FIRST_DERIVATIVE = 2


def camera(size=64):
    """scikit-image's bundled camera image, resized: shape (1, size, size, 1), float32 in [0, 1]."""
    image = transform.resize(data.camera(), (size, size), anti_aliasing=True)
    return image.astype("float32")[None, :, :, None]


def orientation_layer(kind, thetas, dtype="float32"):
    """One single-kernel filter per start angle, only θ trainable.

    kind "gabor": the Gabor filter above. kind "gaussian": the first-order
    Gaussian derivative with the same σ. Output channel s is the filter at
    `thetas[s]`; the combination weight is fixed at 1.
    """
    count = len(thetas)
    common = dict(
        num_bases=count, padding="same", use_bias=False, trainable_sigma=False,
        trainable_offset=False, dtype=dtype,
    )
    if kind == "gabor":
        layer = GaborConv2D(
            count, KERNEL_SIZE, num_kernels=1, trainable_frequency=False, trainable_phase=False, **common
        )
        layer.build((None, None, None, 1))
        layer.frequency.assign(np.full((count, 1), FREQUENCY))
        layer.phase.assign(np.zeros((count, 1)))
        coefficients = np.ones((count, 1, 1, 1))
    elif kind == "gaussian":
        layer = GaussianDerivativeConv2D(count, KERNEL_SIZE, order=1, **common)
        layer.build((None, None, None, 1))
        coefficients = np.zeros((count, 1, 1, 3))
        coefficients[..., FIRST_DERIVATIVE] = 1.0
    else:
        raise ValueError(f"`kind` must be 'gabor' or 'gaussian'. Received: kind={kind!r}")
    n = layer.num_kernels
    layer.sigma.assign(np.broadcast_to(SIGMA, (count, n, 2)))
    layer.offset.assign(np.zeros((count, n, 2)))
    layer.theta.assign(np.repeat(np.asarray(thetas, "float64")[:, None], n, axis=1))
    layer.coefficients.assign(coefficients)
    layer.coefficients.trainable = False  # learn the orientation alone
    return layer


def trained_theta(layer):
    """θ of the kernel that matters, one per start."""
    column = FIRST_DERIVATIVE if isinstance(layer, GaussianDerivativeConv2D) else 0
    return np.asarray(layer.theta)[:, column]


def target(kind, image):
    """The output of the filter at θ = π/4."""
    return np.asarray(orientation_layer(kind, [TARGET_THETA])(image))


def loss_landscape(kind, thetas, image):
    """MSE against the target for every θ in `thetas` (one batched convolution)."""
    outputs = np.asarray(orientation_layer(kind, thetas)(image))
    return np.mean((outputs - target(kind, image)) ** 2, axis=(0, 1, 2))


def local_minima(thetas, losses):
    """θ of the strict local minima of a sampled periodic curve."""
    left, right = np.roll(losses, 1), np.roll(losses, -1)
    return thetas[(losses < left) & (losses < right)]


def gradient_check(kind, thetas, image, step=1e-4):
    """(analytic, central-difference) dL/dθ at each θ, in float64."""
    import tensorflow as tf

    image = image.astype("float64")
    goal = np.asarray(orientation_layer(kind, [TARGET_THETA], dtype="float64")(image))
    layer = orientation_layer(kind, thetas, dtype="float64")

    def loss():
        return tf.reduce_sum(tf.reduce_mean((layer(image) - goal) ** 2, axis=(0, 1, 2)))

    with tf.GradientTape() as tape:
        value = loss()
    analytic = tape.gradient(value, layer.theta.value).numpy()
    theta0 = np.asarray(layer.theta)
    numeric = np.zeros_like(theta0)
    for index in np.ndindex(theta0.shape):
        for sign in (1, -1):
            shifted = theta0.copy()
            shifted[index] += sign * step
            layer.theta.assign(shifted)
            numeric[index] += sign * float(loss()) / (2 * step)
    layer.theta.assign(theta0)
    column = FIRST_DERIVATIVE if kind == "gaussian" else 0
    return analytic[:, column], numeric[:, column]


def train(kind, starts, image, steps=300, learning_rate=0.05):
    """Adam on θ from each start (independently: one output channel each).

    Returns:
        final θ per start, final MSE per start, and the θ trajectory
        (steps, starts).
    """
    layer = orientation_layer(kind, starts)
    model = keras.Sequential([keras.Input(image.shape[1:]), layer])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    goal = np.repeat(target(kind, image), len(starts), axis=-1)
    trajectory = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: trajectory.append(trained_theta(layer).copy())
    )
    model.fit(
        np.repeat(image, steps, axis=0), np.repeat(goal, steps, axis=0),
        batch_size=1, epochs=1, verbose=0, callbacks=[record],
    )
    losses = np.mean((np.asarray(layer(image)) - goal) ** 2, axis=(0, 1, 2))
    return trained_theta(layer), losses, np.array(trajectory)


def wrap(theta, period):
    """θ mapped into [-period/2, period/2)."""
    return (np.asarray(theta) + period / 2) % period - period / 2


def main(output_dir="."):
    from keras_gaussconv.plotting import subplots

    keras.utils.set_random_seed(0)
    image = camera()
    probe = np.array([-1.0, -0.3, 0.4, 1.2])
    for kind in ("gabor", "gaussian"):
        analytic, numeric = gradient_check(kind, probe, image)
        print(f"{kind}: dL/dθ analytic {np.round(analytic, 6)} vs finite differences "
              f"{np.round(numeric, 6)}; max |diff| {np.abs(analytic - numeric).max():.2e}")

    # Gabor (phase 0) is even: period π. The first derivative is odd: period 2π.
    grid = {"gabor": np.linspace(-np.pi / 2, np.pi / 2, 721)[:-1],
            "gaussian": np.linspace(-np.pi, np.pi, 1441)[:-1]}
    landscapes = {kind: loss_landscape(kind, grid[kind], image) for kind in grid}
    for kind, losses in landscapes.items():
        print(f"{kind}: local minima of the loss at θ = {np.round(local_minima(grid[kind], losses), 3)}")

    runs = {
        "Gabor from -π/4": ("gabor", [START_THETA], 0.05),
        "Gabor from -π/4, large steps": ("gabor", [START_THETA], 0.5),
        "1st-order Gaussian derivative from -π/4": ("gaussian", [START_THETA], 0.05),
        "Gabor, 6 starts over [0, π)": ("gabor", np.arange(6) * np.pi / 6, 0.05),
    }
    results = {}
    for title, (kind, starts, lr) in runs.items():
        theta, losses, trajectory = train(kind, starts, image, learning_rate=lr)
        results[title] = (kind, theta, losses, trajectory)
        period = np.pi if kind == "gabor" else 2 * np.pi
        best = int(np.argmin(losses))
        print(f"{title} (Adam, lr {lr}): final θ {np.round(wrap(theta, period), 4)}, "
              f"best {wrap(theta[best], period):.4f} (error {abs(wrap(theta[best] - TARGET_THETA, period)):.4f} rad), "
              f"loss {losses[best]:.2e}; θ over the last 50 steps spans "
              f"{np.ptp(trajectory[-50:, best]):.3f} rad")

    fig, axes = subplots(1, 3, figsize=(15, 4))
    for ax, kind in zip(axes[:2], ("gabor", "gaussian")):
        ax.plot(grid[kind], landscapes[kind], color="black", lw=1)
        ax.axvline(TARGET_THETA, color="green", ls="--", label="target π/4")
        ax.axvline(START_THETA, color="gray", ls=":", label="start -π/4")
        for title, (run_kind, theta, losses, _) in results.items():
            if run_kind == kind:
                period = np.pi if kind == "gabor" else 2 * np.pi
                ax.scatter(wrap(theta, period), losses, zorder=3, label=f"end: {title}")
        ax.set(xlabel="θ (rad)", ylabel="MSE",
               title="Gabor filter" if kind == "gabor" else "1st-order Gaussian derivative")
        ax.legend(fontsize=7)
    for title, (kind, _, _, trajectory) in results.items():
        if trajectory.shape[1] == 1:
            axes[2].plot(trajectory[:, 0], label=title)
    axes[2].axhline(TARGET_THETA, color="green", ls="--")
    axes[2].set(xlabel="Adam step", ylabel="θ (rad)", title="θ during training")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    path = Path(output_dir) / "gabor_theta_landscape.png"
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=".", help="where to write the PNG (default: .)")
    main(parser.parse_args().output_dir)
