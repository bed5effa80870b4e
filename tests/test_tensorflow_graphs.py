"""What only TensorFlow graphs have: a traced spatial size of None (`tf.function` with a
relaxed input signature). Not a core module: the JAX and PyTorch passes do not collect it,
since their traced shapes are always concrete."""

import numpy as np
import pytest
from helpers import rng, tensorflow_only, to_numpy

from keras_gaussconv import GaussianDerivativeConv2D

pytestmark = tensorflow_only


@pytest.mark.parametrize("implementation", ["basis", "fft"])
def test_a_graph_with_unknown_size_gives_the_same_result(implementation):
    import tensorflow as tf

    x = rng().normal(size=(2, 12, 12, 3)).astype("float32")
    layer = GaussianDerivativeConv2D(4, 5, padding="same", implementation=implementation)
    eager = to_numpy(layer(x))
    relaxed = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 3))])
    np.testing.assert_allclose(to_numpy(relaxed(x)), eager, atol=1e-5)
