"""Pictures of basis kernels and learned filters (matplotlib, in the `examples` extra).

Figures are `matplotlib.figure.Figure` objects made without pyplot: drawing one
never changes the user's matplotlib backend or opens a window, and a notebook
shows the returned figure as usual.
"""

import numpy as np
from keras import ops


def subplots(*args, figsize=None, **kwargs):
    """`(figure, axes)` like `matplotlib.pyplot.subplots`, outside pyplot's global state.

    Save with `figure.savefig(path)`; nothing needs closing.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("matplotlib is needed for plots: pip install 'keras-gaussconv[examples]'") from error
    figure = Figure(figsize=figsize)
    return figure, figure.subplots(*args, **kwargs)


def _draw_row(axes_row, kernels, title):
    """One kernel per axis: a curve (1-D) or an image (2-D), on a symmetric colour scale."""
    for ax, kernel in zip(axes_row, kernels):
        if kernel.ndim == 1:
            ax.plot(np.arange(kernel.size) - (kernel.size - 1) / 2, kernel, linewidth=1)
            ax.axhline(0.0, color="0.7", linewidth=0.5)
        else:
            limit = np.abs(kernel).max() or 1.0
            ax.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes_row[len(kernels):]:
        ax.axis("off")
    axes_row[0].set_ylabel(title, fontsize=8)


def _central_slice(kernels, rank):
    """2-D views of rank-r kernels `(*k, m)`: 3-D kernels cut through the centre of their depth."""
    if rank == 3:
        return kernels[kernels.shape[0] // 2]
    return kernels


def plot_layer(layer, path=None, max_filters=8):
    """Draws a built structured layer's basis kernels φ and its first filters.

    Row b shows the N kernels of basis b, the last row the first
    `max_filters` filters of the dense kernel: W[..., 0, c] (input channel 0)
    for a convolution, W[..., c, 0] for a depthwise one. 1-D kernels are
    curves, 2-D kernels images, 3-D kernels their central depth slice
    (z = 0). Any layer of this package works: every rank, full, separable or
    depthwise, Gaussian-derivative or Gabor.

    Args:
        layer: a built `BasisConv` layer.
        path: PNG file to write, or None.
        max_filters: how many filters the last row shows.

    Returns:
        The `matplotlib.figure.Figure` (shown inline by a notebook).
    """
    if not getattr(layer, "built", False) or not hasattr(layer, "basis"):
        raise ValueError(f"`layer` must be a built keras_gaussconv layer. Received: layer={layer!r}")
    rank = layer.rank
    basis = ops.convert_to_numpy(layer.basis())  # (B, *k, N)
    kernel = ops.convert_to_numpy(layer.kernel)  # (*k, F_in, F_out) or depthwise (*k, C, M)
    filters = kernel[..., :max_filters, 0] if layer.combination == "depthwise" else kernel[..., 0, :max_filters]
    filters = _central_slice(filters, rank)  # (*k', count)
    num_bases, num_kernels = basis.shape[0], basis.shape[-1]
    columns = max(num_kernels, filters.shape[-1])
    figure, axes = subplots(num_bases + 1, columns, figsize=(1.1 * columns, 1.2 * (num_bases + 1)), squeeze=False)
    for b in range(num_bases):
        kernels = _central_slice(basis[b], rank)
        _draw_row(axes[b], [kernels[..., n] for n in range(num_kernels)], f"basis {b}")
    _draw_row(axes[-1], [filters[..., c] for c in range(filters.shape[-1])], "filters")
    cut = " (central depth slice)" if rank == 3 else ""
    figure.suptitle(f"{layer.name}: {type(layer).__name__} {layer.kernel_size}{cut}", fontsize=9)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure
