"""The sampled Gaussian-derivative basis in TensorFlow's own operations, with `tf.custom_gradient`.

The mathematics of `torch_gaussian` (G_m as Hermite polynomials times the Gaussian,
`native.tables`; φ = Π_a G_{p_a}; the analytic gradient of docs/math.md), written for
TensorFlow's CPU kernels: broadcast products and reductions, and plain matrix products
for the coordinates, where `keras.ops.einsum` becomes batched products of tiny matrices
with transposes around them (~100–180 µs each, docs/speed.md). Layout inside:
`(B, N, *kernel_size, r)`.
"""

import tensorflow as tf

from keras_gaussconv.bases.grid import rotation_matrix
from keras_gaussconv.native.tables import gaussian_tables


def _matmul_last(c, terms):
    """Σ_t c[b, n, t] terms[t, …]: `(B, N, T)`, `(T, *rest)` → `(B, N, *rest)`, one matrix product."""
    rest = terms.shape[1:]
    flat = tf.matmul(tf.reshape(c, (-1, terms.shape[0])), tf.reshape(terms, (terms.shape[0], -1)))
    return tf.reshape(flat, (*c.shape[:2], *rest))


def _basis_function(kernel_size, order, floor, dtype, rank):
    """`basis(sigma, *params) → φ` with its gradient (`sampled_basis`' arguments) for one layer setting.

    Made at each call, its constants in the graph being traced: constants made once eagerly and
    captured would be a traced graph's inputs, which the ONNX converter leaves unfed. The NumPy
    tables themselves are made once (`gaussian_tables`)."""
    t = gaussian_tables(kernel_size, order)
    j, n = t.table.shape[:2]
    const = lambda a: None if a is None else tf.constant(a, dtype)  # noqa: E731
    terms, base, turn, powers = const(t.terms), const(t.base), const(t.turn), const(t.powers)
    table = const(t.table.reshape(j, 1, n, *[1] * rank, *t.table.shape[2:]))
    exponents = const(t.exponents.reshape(j, 1, n, *[1] * rank, rank))
    taps = tuple(range(2, 2 + rank))
    to_basis = (0, *range(2, 2 + rank), 1)  # (B, N, *k) → (B, *k, N)

    @tf.custom_gradient
    def basis(sigma, *params):
        shape = sigma.shape  # static: the geometric weights' shapes are fixed
        s = tf.reshape(tf.maximum(sigma, floor), (shape[0], shape[1], *[1] * rank, rank))
        c = params[0]
        if rank == 1:
            y = tf.reshape(base, (1, 1, *kernel_size, 1)) - tf.reshape(c, (shape[0], shape[1], *[1] * rank, 1))
        else:
            if rank == 2:  # (cos θ, sin θ, μ₁, μ₂)
                c = tf.concat([tf.stack([tf.cos(params[1]), tf.sin(params[1])], -1), c], -1)
            y = _matmul_last(c, terms)
        u = y / s
        polynomial = tf.reduce_sum(tf.expand_dims(u, -1) ** powers * table, -1)  # (J, B, N, *k, r)
        derivatives = polynomial * tf.exp(-0.5 * u * u) * s**exponents
        phi = tf.transpose(tf.reduce_prod(derivatives[0], -1), to_basis)

        def grad(d_phi):
            g0, g1, g2 = tf.unstack(derivatives)
            weight = tf.expand_dims(tf.transpose(d_phi, (0, rank + 1, *range(1, rank + 1))), -1)
            if rank == 2:
                weight = weight * tf.reverse(g0, [-1])
            elif rank == 3:
                weight = weight * tf.roll(g0, -1, -1) * tf.roll(g0, -2, -1)
            passed = tf.cast(sigma >= floor, sigma.dtype)  # TensorFlow's max passes the gradient at a tie
            d_sigma = tf.reshape(tf.reduce_sum(weight * g2, taps), sigma.shape) * sigma * passed
            d_y = weight * g1
            if rank == 1:
                return d_sigma, -tf.reduce_sum(d_y, (*taps, rank + 2))
            if rank == 3:
                flat = tf.reshape(d_y, (shape[0] * shape[1], -1))
                d_c = tf.matmul(flat, tf.reshape(terms, (terms.shape[0], -1)), transpose_b=True)
                return d_sigma, tf.reshape(d_c, c.shape)
            d_theta = tf.reduce_sum(d_y * _matmul_last(c, turn), (*taps, rank + 2))
            return d_sigma, -tf.reduce_sum(d_y, taps), d_theta

        return phi, grad

    return basis


def sampled_basis(kernel_size, order, min_sigma, sigma, offset, theta=None, rotation=None):
    """The sampled basis `(B, *kernel_size, N)` for the layers' geometric tensors (σ unbounded, bounded
    here); the 3-D rotation matrix by autodiff of `bases.grid.rotation_matrix`."""
    # Variables read as tensors: a custom gradient refuses a variable read inside.
    sigma, offset, theta, rotation = (None if v is None else tf.convert_to_tensor(v) for v in (sigma, offset, theta, rotation))
    rank = len(kernel_size)
    basis = _basis_function(tuple(kernel_size), order, min_sigma, sigma.dtype, rank)
    if rotation is not None:
        matrix = tf.reshape(rotation_matrix(rotation), (*rotation.shape[:2], 9))
        return basis(sigma, tf.concat([matrix, tf.cast(offset, matrix.dtype)], -1))
    return basis(sigma, offset) if theta is None else basis(sigma, offset, theta)
