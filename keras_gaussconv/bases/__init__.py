"""Pure functions that sample structured basis kernels (`keras.ops` only, no state)."""

from keras_gaussconv.bases.discrete import discrete_gaussian_derivatives
from keras_gaussconv.bases.gaussian import (
    DISCRETIZATIONS,
    derivative_orders,
    discrete_gaussian_derivative_basis,
    displaced_gaussian_basis,
    gaussian_derivative,
    gaussian_derivative_basis,
    gaussian_derivative_basis_1d,
    gaussian_derivative_basis_3d,
    gaussian_derivatives,
    integrated_gaussian_derivatives,
    num_gaussian_derivatives,
    scale_normalize,
)
from keras_gaussconv.bases.gabor import gabor_basis, gabor_basis_1d
from keras_gaussconv.bases.grid import (
    numpy_grid,
    rotate_and_shift,
    rotate_and_shift_3d,
    rotated_coordinates,
    rotated_coordinates_3d,
    rotation_matrix,
    sampling_grid,
)
from keras_gaussconv.bases.hermite import hermite_polynomials
