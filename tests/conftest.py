import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# JAX: every eager operation of a new shape and every jitted gradient is a separate XLA
# program, compiled once and run once or twice, so most of the JAX pass is spent in LLVM's
# optimisation of machine code. Without those passes (same HLO programs, same operations
# and rounding) the pass took 4.2 instead of 6.8 minutes on 2 cores. Set before JAX starts;
# an XLA_FLAGS of the user's own is kept.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import zlib  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
FIXTURES = DATA / "ftgd_reference.npz"


@pytest.fixture(scope="session")
def reference():
    """The reference implementation's arrays (tests/data/README.md); a missing file fails the test."""
    if not FIXTURES.exists():
        pytest.fail(f"reference fixtures missing: {FIXTURES} is part of the repository (tests/data/README.md)")
    return np.load(FIXTURES)


def to_numpy(x):
    """A tensor, variable or array as NumPy on any backend (`np.asarray` cannot read a torch
    tensor that requires grad)."""
    if isinstance(x, keras.Variable):
        x = x.value
    return keras.ops.convert_to_numpy(x)


_GENERATOR = {}


def rng():
    """This test's NumPy generator, seeded from the test's id: the same draws in any order, on any worker."""
    return _GENERATOR["current"]


@pytest.fixture(autouse=True)
def _seed(request):
    keras.utils.set_random_seed(1234)
    _GENERATOR["current"] = np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def gradients(loss_fn, variables, has_aux=False):
    """d loss / d variables (``keras.Variable``s) with the active backend's autodiff, as NumPy.

    With ``has_aux``, ``loss_fn`` returns ``(loss, aux)`` and the result is ``(aux, grads)``
    (e.g. the layer's output from the same call). TensorFlow records a tape; JAX compiles
    ``grad`` of ``loss_fn`` with the variables' values substituted through
    ``keras.StatelessScope``, as Keras' own JAX trainer does (one compilation instead of one
    per operation, which is what makes the JAX pass affordable); PyTorch differentiates the
    eager graph with ``torch.autograd.grad``.
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
    elif backend == "torch":
        import torch

        loss, aux = loss_and_aux()
        grads = torch.autograd.grad(loss, [v.value for v in variables])
    else:
        raise NotImplementedError(f"no gradient helper for the {backend} backend")
    grads = [to_numpy(g) for g in grads]
    if not has_aux:
        return grads
    return keras.tree.map_structure(to_numpy, aux), grads


def outputs_and_gradients(layers, x, target):
    """``[(layer(x), d Σ layer(x)·target / d layer.trainable_weights) for layer in layers]``.

    One loss Σ_l Σ layer_l(x)·target for all the layers (their weights are disjoint, so each
    layer's gradients are those of its own term): one compilation on JAX instead of one per layer.
    """
    def loss():
        outputs = [layer(x) for layer in layers]
        return sum(keras.ops.sum(keras.ops.multiply(y, target)) for y in outputs), outputs

    outputs, grads = gradients(loss, [v for layer in layers for v in layer.trainable_weights], has_aux=True)
    ends = np.cumsum([len(layer.trainable_weights) for layer in layers])
    return [(out, grads[end - len(layer.trainable_weights) : end]) for out, layer, end in zip(outputs, layers, ends)]


def output_and_gradients(layer, x, target):
    """``layer(x)`` and d Σ layer(x)·target / d layer.trainable_weights, from one call."""
    return outputs_and_gradients([layer], x, target)[0]


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


def pytest_terminal_summary(terminalreporter, config):
    """Says how the test order was shuffled (pytest-randomly; its header line is hidden by -q)."""
    seed = getattr(config.option, "randomly_seed", None)
    if isinstance(seed, int):
        terminalreporter.write_line(f"random test order: rerun this order with --randomly-seed={seed}")
