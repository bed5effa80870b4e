import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# JAX: every eager operation of a new shape and every jitted gradient is a separate XLA
# program, compiled once and run once or twice, so most of the JAX pass is spent in LLVM's
# optimisation of machine code. Without those passes (same HLO programs, same operations
# and rounding) the pass took 4.2 instead of 6.8 minutes on 2 cores. XLA:CPU's newer MLIR
# fusion emitters compile each fusion ~2.5x slower than the elemental emitters they replace
# (the same fused HLO): off, the 24 Gaussian cases of test_paths_agree compile in 4.5
# instead of 10.8 s. Set before JAX starts; an XLA_FLAGS of the user's own is kept.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false")
# The xdist workers compile many of the same small programs (a basis of one size, a layer's
# step): one compilation cache for the session, which the workers inherit from the
# controller's environment, compiles each once (the JAX pass: 297 → 277 s on 2 cores).
if os.environ["KERAS_BACKEND"] == "jax" and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["JAX_COMPILATION_CACHE_DIR"] = _JAX_CACHE = tempfile.mkdtemp(prefix="keras-gaussconv-jax-cache-")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
else:
    _JAX_CACHE = None

import shutil  # noqa: E402
import zlib  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import _GENERATOR, DATA  # noqa: E402

FIXTURES = DATA / "ftgd_reference.npz"


@pytest.fixture(scope="session")
def reference():
    """The reference implementation's arrays (tests/data/README.md); a missing file fails the test."""
    if not FIXTURES.exists():
        pytest.fail(f"reference fixtures missing: {FIXTURES} is part of the repository (tests/data/README.md)")
    return np.load(FIXTURES)


@pytest.fixture(autouse=True)
def _seed(request):
    """Seeds Keras, and `helpers.rng()` from the test's id: the same draws in any order, on any worker."""
    keras.utils.set_random_seed(1234)
    _GENERATOR["current"] = np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def float64():
    """Makes float64 real on JAX (off by default there: it would silently compute in float32)."""
    if keras.backend.backend() == "jax":
        import jax

        with jax.enable_x64(True):
            yield
    else:
        yield


def pytest_collection_modifyitems(config, items):
    """Leaves the `torch_pass` tests to the PyTorch pass, and the `native` ones to the backends that have
    native functions (TensorFlow, PyTorch; `keras_gaussconv.native`): reported as deselected."""
    backend = keras.backend.backend()
    markers = {"torch_pass": backend == "torch", "native": backend in ("tensorflow", "torch")}

    def kept(item):
        return all(wanted or item.get_closest_marker(name) is None for name, wanted in markers.items())

    deselected = [item for item in items if not kept(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if kept(item)]


def pytest_terminal_summary(terminalreporter, config):
    """Says how the test order was shuffled (pytest-randomly; its header line is hidden by -q)."""
    seed = getattr(config.option, "randomly_seed", None)
    if isinstance(seed, int):
        terminalreporter.write_line(f"random test order: rerun this order with --randomly-seed={seed}")


def pytest_unconfigure(config):
    """Removes the session's JAX compilation cache (the process that made it: the controller)."""
    if _JAX_CACHE is not None and not hasattr(config, "workerinput"):
        shutil.rmtree(_JAX_CACHE, ignore_errors=True)
