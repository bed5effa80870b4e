import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "ftgd_reference.npz"


@pytest.fixture(scope="session")
def reference():
    """The reference implementation's arrays (../shared/fixtures), or a skip."""
    if not FIXTURES.exists():
        pytest.skip(f"reference fixtures not found at {FIXTURES} (they live in ../shared/fixtures)")
    return np.load(FIXTURES)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


def gradients(loss_fn, variables, has_aux=False):
    """d loss / d variables (``keras.Variable``s) with the active backend's autodiff, as NumPy.

    With ``has_aux``, ``loss_fn`` returns ``(loss, aux)`` and the result is ``(aux, grads)``
    (e.g. the layer's output from the same call). TensorFlow records a tape; JAX compiles
    ``grad`` of ``loss_fn`` with the variables' values substituted through
    ``keras.StatelessScope``, as Keras' own JAX trainer does (one compilation instead of one
    per operation, which is what makes the JAX pass affordable).
    """

    def loss_and_aux():
        return loss_fn() if has_aux else (loss_fn(), None)

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, aux = loss_and_aux()
        grads = tape.gradient(loss, [v.value for v in variables])
    elif backend == "jax":
        import jax

        def loss_of(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return loss_and_aux()

        grads, aux = jax.jit(jax.grad(loss_of, has_aux=True))([v.value for v in variables])
    else:
        pytest.skip(f"gradients not wired for backend {backend}")
    grads = [np.asarray(g) for g in grads]
    return (np.asarray(aux), grads) if has_aux else grads


def output_and_gradients(layer, x, target):
    """``layer(x)`` and d Σ layer(x)·target / d layer.trainable_weights, from one call."""

    def loss():
        y = layer(x)
        return keras.ops.sum(y * target), y

    return gradients(loss, layer.trainable_weights, has_aux=True)


@pytest.fixture
def float64():
    """Makes float64 real on JAX (off by default there: it would silently compute in float32)."""
    if keras.backend.backend() == "jax":
        import jax

        with jax.enable_x64(True):
            yield
    else:
        yield


tensorflow_only = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="needs the TensorFlow backend (tf.* APIs)"
)
