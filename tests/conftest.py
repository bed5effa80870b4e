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


def gradients(loss_fn, variables):
    """d loss / d variables with the active backend's autodiff, as NumPy arrays."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        return [np.asarray(g) for g in tape.gradient(loss, [v.value for v in variables])]
    pytest.skip(f"gradients not wired for backend {backend}")
