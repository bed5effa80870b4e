"""Pictures of basis kernels and learned filters (matplotlib, in the `examples` extra)."""

import numpy as np
from keras import ops


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError("matplotlib is needed for plots: pip install 'keras-gaussconv[examples]'") from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(axes_row, images, title):
    for ax, image in zip(axes_row, images):
        limit = np.abs(image).max() or 1.0
        ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes_row[len(images):]:
        ax.axis("off")
    axes_row[0].set_ylabel(title, fontsize=8)


def plot_layer(layer, path, max_filters=8):
    """Draws a built structured layer's basis kernels φ and its first filters to a PNG.

    Row b shows the N kernels of basis b; the last row the first
    `max_filters` dense filters W[:, :, 0, c] (input channel 0).

    Returns:
        The path written.
    """
    plt = _pyplot()
    basis = ops.convert_to_numpy(layer.basis())  # (B, kh, kw, N)
    filters = ops.convert_to_numpy(layer.kernel)[:, :, 0, :max_filters]
    columns = max(basis.shape[-1], filters.shape[-1])
    rows = basis.shape[0] + 1
    fig, axes = plt.subplots(rows, columns, figsize=(1.1 * columns, 1.2 * rows), squeeze=False)
    for b in range(basis.shape[0]):
        _grid(axes[b], [basis[b, :, :, n] for n in range(basis.shape[-1])], f"basis {b}")
    _grid(axes[-1], [filters[:, :, c] for c in range(filters.shape[-1])], "filters")
    fig.suptitle(f"{layer.name}: {type(layer).__name__} {layer.kernel_size}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
