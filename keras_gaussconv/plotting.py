"""Pictures of basis kernels and learned filters (matplotlib, in the `examples` extra).

Figures are `matplotlib.figure.Figure` objects made without pyplot: drawing one
never changes the user's matplotlib backend or opens a window, and a notebook
shows the returned figure as usual.
"""

import numpy as np
from keras import ops

from keras_gaussconv.folding import is_structured


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
    if not is_structured(layer) or not layer.built:
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


def plot_geometry(history, path=None):
    """Draws a `GeometryMonitor`'s history: per weight group, its values, drift, steps and gradients.

    One row per weight group (σ, μ, θ, …, coefficients), one line per layer,
    four columns against the epoch: mean ± std of the values; the drift
    mean |g_t − g_0| from the initial values; the mean step |g_t − g_{t−1}|
    per epoch (log scale); the gradient norm ‖∂loss/∂g‖ (log scale; empty
    without the monitor's `data`).

    Args:
        history: `GeometryMonitor.history` (or the same dictionary saved as JSON).
        path: PNG file to write, or None.

    Returns:
        The `matplotlib.figure.Figure`.
    """
    keys = [key.split("/") for key in history]
    if not keys or any(len(parts) != 3 for parts in keys):
        raise ValueError("`history` must be a GeometryMonitor's history ('layer/group/statistic' keys).")
    layers = list(dict.fromkeys(parts[0] for parts in keys))
    groups = list(dict.fromkeys(parts[1] for parts in keys))
    figure, axes = subplots(len(groups), 4, figsize=(15, 2.3 * len(groups) + 0.6), squeeze=False)
    for row, group in zip(axes, groups):
        for layer in layers:
            key = f"{layer}/{group}/"
            if key + "mean" not in history:
                continue
            mean, std = np.array(history[key + "mean"]), np.array(history[key + "std"])
            epochs = np.arange(len(mean))
            (line,) = row[0].plot(epochs, mean, label=layer)
            row[0].fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.15)
            row[1].plot(epochs, history[key + "drift"], color=line.get_color())
            row[2].plot(epochs[1:], history[key + "step"][1:], color=line.get_color())
            if key + "grad_norm" in history:
                row[3].plot(epochs, history[key + "grad_norm"], color=line.get_color())
        row[0].set_ylabel(group)
        for ax in row[2:]:
            if ax.lines:
                ax.set_yscale("log")
    for ax, title in zip(axes[0], ("mean ± std", "drift mean |g − g₀|", "mean |step| per epoch",
                                   "‖∂loss/∂g‖ on the monitored batch")):
        ax.set_title(title, fontsize=10)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 7), fontsize=7, frameon=False)
    figure.tight_layout(rect=(0, 0.5 / (2.3 * len(groups) + 0.6) + 0.02, 1, 1))
    if path is not None:
        figure.savefig(path, dpi=90)
    return figure
