"""What only TensorFlow graphs have: a traced spatial size of None (`tf.function` with a
relaxed input signature), and a countable training step. Not a core module: the JAX and PyTorch passes do not collect it,
since their traced shapes are always concrete."""

import keras
import numpy as np
import pytest
from helpers import rng, tensorflow_only, to_numpy

from keras_gaussconv import GaussianDerivativeConv1D, GaussianDerivativeConv2D, GaussianDerivativeDepthwiseConv2D

pytestmark = tensorflow_only


@pytest.mark.parametrize("implementation", ["basis", "fft"])
def test_a_graph_with_unknown_size_gives_the_same_result(implementation):
    import tensorflow as tf

    x = rng().normal(size=(2, 12, 12, 3)).astype("float32")
    layer = GaussianDerivativeConv2D(4, 5, padding="same", implementation=implementation)
    eager = to_numpy(layer(x))
    relaxed = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 3))])
    np.testing.assert_allclose(to_numpy(relaxed(x)), eager, atol=1e-5)


def training_step_ops(layer, shape):
    """Operations in the graph of one training step (forward, mean-square loss, gradients)."""
    import tensorflow as tf

    layer.build(shape)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(x, training=True)))
        return tape.gradient(loss, layer.trainable_variables)

    return len(step.get_concrete_function(tf.zeros(shape)).graph.get_operations())


@pytest.mark.parametrize(
    "make,stock,shape,bound",
    [  # measured (TF 2.21): 100 / 34, 106 / 43, 146 / 37; with autodiff through the basis: 326, 242, 372
        (lambda: GaussianDerivativeConv2D(32, 7, num_bases=4, order=2, padding="same", implementation="kernel"),
         lambda: keras.layers.Conv2D(32, 7, padding="same"), (32, 8, 8, 32), 100 / 34),  # issue 21's goal: 100
        (lambda: GaussianDerivativeConv1D(32, 7, num_bases=4, order=2, padding="same", implementation="kernel"),
         lambda: keras.layers.Conv1D(32, 7, padding="same"), (32, 8, 32), 2.5),
        (lambda: GaussianDerivativeDepthwiseConv2D(7, num_bases=4, order=2, padding="same"),
         lambda: keras.layers.DepthwiseConv2D(7, padding="same"), (32, 8, 8, 32), 4),
    ],
)
def test_the_analytic_basis_gradient_keeps_a_training_step_small(make, stock, shape, bound):
    # The basis' backward pass is its own (heat equation, rotation), not autodiff through
    # every operation: the step stays within a few times a stock layer's graph.
    assert training_step_ops(make(), shape) <= bound * training_step_ops(stock(), shape)
