"""The cost model behind `implementation="auto"`: pure functions and one price table per backend.

A path's cost is its multiply-add count weighted by the measured price of
each kind of work relative to one multiply-add of a dense convolution, in
dense-convolution multiply-adds per image.
"""

import math

import keras

from keras_gaussconv.ops.fft import fft_lengths

# Measured price of one multiply-add relative to a dense convolution's, per backend
# (CPU kernels; `benchmarks/fit_prices.py` picks them from `benchmarks/bench_layers.py`'s
# timings): "full_basis" for the full combination's per-channel basis convolution
# (TensorFlow: depthwise; elsewhere the channels go into the batch of one dense
# convolution), "depthwise" for the separable combination's depthwise step, "fft_full"
# and "fft_separable" for a flop of the FFT path of each combination (their transforms
# and products differ in shape, and XLA prices them very differently), and optionally
# "pointwise" for the 1×1 combination steps of the basis paths (1 when not given), and
# optionally "fixed_kernel", "fixed_basis", "fixed_fft": a path's fixed cost per step (its
# operations' launches and dispatches, which no input size changes), in dense multiply-adds
# per step (0 when not given; fitted on the small inputs of `bench_layers.py --small`). A
# backend not listed uses TensorFlow's.
PRICES = {
    "tensorflow": {"full_basis": 5.0, "depthwise": 8.0, "fft_full": 16.0, "fft_separable": 16.0},
    "jax": {"full_basis": 10.0, "depthwise": 128.0, "fft_full": 12.0, "fft_separable": 20.0, "fixed_kernel": 1e7},
    "torch": {"full_basis": 3.0, "depthwise": 8.0, "fft_full": 16.0, "fft_separable": 28.0, "pointwise": 2.0,
              "fixed_basis": 1e7, "fixed_fft": 1e7},
}
# 1-D and 3-D layers run other kernels (TensorFlow's full basis-first path is a depthwise
# convolution only up to rank 2, a 3-D depthwise step is a grouped convolution, an
# N-D FFT transposes between its 1-D transforms): their prices, fitted the same way
# from `benchmarks/bench_ranks.py`, are their own tables.
RANK_PRICES = {
    "tensorflow": {
        1: {"full_basis": 10.0, "depthwise": 8.0, "fft_full": 8.0, "fft_separable": 8.0},
        3: {"full_basis": 2.5, "depthwise": 64.0, "fft_full": 24.0, "fft_separable": 40.0},
    },
    "jax": {
        1: {"full_basis": 16.0, "depthwise": 8.0, "fft_full": 16.0, "fft_separable": 2.0},
        3: {"full_basis": 10.0, "depthwise": 8.0, "fft_full": 16.0, "fft_separable": 2.0},
    },
    "torch": {
        1: {"full_basis": 4.0, "depthwise": 8.0, "fft_full": 28.0, "fft_separable": 12.0, "pointwise": 1.5},
        3: {"full_basis": 3.0, "depthwise": 8.0, "fft_full": 28.0, "fft_separable": 28.0},
    },
}
# The batch a step's once-per-step work is spread over: the kernel's FFTs and the fixed costs.
NOMINAL_BATCH = 16
# The same for inference of folded layers: 1×1 and depthwise forward passes.
FOLD_POINTWISE_COST = 6.0
FOLD_DEPTHWISE_COST = 30.0


def backend_prices(backend=None, rank=2):
    """The price table of `backend` (default: the active Keras backend) for layers of `rank`."""
    backend = backend or keras.backend.backend()
    backend = backend if backend in PRICES else "tensorflow"
    return RANK_PRICES[backend].get(rank, PRICES[backend]) if rank != 2 else PRICES[backend]


def path_costs(spec, in_channels, filters, num_bases, num_kernels, combination, spatial, prices=None):
    """Estimated cost of each execution path, in dense-convolution multiply-adds per image.

    With F_in, F_out, B, N, k = Π kernel_size, P output and P_in input
    pixels (voxels, samples):

    * kernel: F_in·F_out·k·P; depthwise (F_out = C·M): depthwise·F_out·k·P;
    * basis, full: (full_basis·F_in·B·N·k + pointwise·F_in·B·N·F_out)·P;
    * basis, separable: pointwise·(F_in·B·N·P_in + B·N·F_out·P) + depthwise·B·N·k·P;
    * basis, depthwise: (full_basis·C·B'·N·k + pointwise·F_out·N)·P, B' = 1 on
      TensorFlow (a depthwise convolution), else B (the channels in the batch
      of one convolution with all B·N kernels);
    * fft (only with a known spatial size), FFT length L = Π L_a (L_a from
      `fft_lengths`: about n + K/2 for 'same' padding) and
      S = L/L_r·(L_r/2 + 1) frequencies: fft_* · (c·L·log₂L + m·S) with
      c FFTs and m real multiplies per image (the kernel's FFTs amortised
      over a batch of 16), plus the separable layer's 1×1 steps;
    * with known sizes, each path also pays its fixed cost per step over a
      batch of 16: fixed_<path> / 16 (the same at every input size, so it
      decides between paths on small inputs).

    Args:
        spec: the `ConvSpec`.
        combination: "full", "separable" or "depthwise".
        spatial: input sizes (r ints, or None where unknown).
        prices: a price table; default `backend_prices(rank=spec.rank)`.

    Returns:
        Dict path → cost; "fft" only when every spatial size is known.
    """
    prices = prices or backend_prices(rank=spec.rank)
    f_in, f_out, b, n = in_channels, filters, num_bases, num_kernels
    k = spec.kernel_area
    known = None not in spatial
    pixels = math.prod(spec.output_shape(spatial)) if known else 1
    pixels_in = math.prod(spatial) if known else 1
    mixing = prices.get("pointwise", 1.0)
    pointwise = f_in * b * n * pixels_in + b * n * f_out * pixels
    if combination == "depthwise":
        bases_per_channel = 1 if keras.backend.backend() == "tensorflow" and spec.rank <= 2 else b
        basis = (prices["full_basis"] * f_in * bases_per_channel * n * k + mixing * f_out * n) * pixels
        costs = {"kernel": prices["depthwise"] * f_out * k * pixels, "basis": basis}
    elif combination == "separable":
        basis = mixing * pointwise + prices["depthwise"] * b * n * k * pixels
        costs = {"kernel": f_in * f_out * k * pixels, "basis": basis}
    else:
        basis = (prices["full_basis"] * f_in * b * n * k + mixing * f_in * b * n * f_out) * pixels
        costs = {"kernel": f_in * f_out * k * pixels, "basis": basis}
    if known:
        # the separable path's 1×1 steps are added unpriced, as the prices were fitted with them
        costs["fft"] = _fft_cost(spec, spatial, f_in, f_out, b * n, combination, prices) + (
            pointwise if combination == "separable" else 0
        )
        costs = {path: cost + prices.get(f"fixed_{path}", 0.0) / NOMINAL_BATCH for path, cost in costs.items()}
    return costs


def _fft_cost(spec, spatial, f_in, f_out, channels, combination, prices):
    """The FFT path's transforms and pointwise products per image (`path_costs`); `channels` = B·N."""
    lengths = fft_lengths(spatial, spec.extent, spec.strides, spec.padding)
    length = math.prod(lengths)
    freqs = length // lengths[-1] * (lengths[-1] // 2 + 1)
    if combination == "depthwise":  # per-channel products, priced like the separable path's
        transforms, multiplies, price = f_in + f_out + f_out / NOMINAL_BATCH, 4 * f_out * freqs, prices["fft_separable"]
    elif combination == "separable":
        transforms, multiplies = 2 * channels + channels / NOMINAL_BATCH, 4 * channels * freqs
        price = prices["fft_separable"]
    else:
        transforms, multiplies = f_in + f_out + f_in * f_out / NOMINAL_BATCH, 3 * f_in * f_out * freqs
        price = prices["fft_full"]
    return price * (transforms * length * math.log2(length) + multiplies)


def cheapest(costs):
    """The path of least cost (the first listed on a tie)."""
    return min(costs, key=costs.get)


def separable_fold_is_cheaper(spec, in_channels, filters, channels):
    """Whether 1×1 → depthwise → 1×1 (`channels` = B·N in the middle) beats one dense convolution."""
    k = spec.kernel_area
    three = FOLD_POINTWISE_COST * channels * (in_channels + filters) + FOLD_DEPTHWISE_COST * channels * k
    return three < in_channels * filters * k
