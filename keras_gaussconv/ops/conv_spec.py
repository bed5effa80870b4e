"""`ConvSpec`: the geometry of a convolution (kernel size, strides, padding, dilation), any rank."""

import dataclasses
import math


def paddings(spatial, extent, strides, padding):
    """(before, after) zeros of each spatial axis: Keras' 'same' rule, the total
    max((⌈n/s⌉ − 1)·s + extent − n, 0) split with the extra one after; 'valid': none."""
    if padding != "same":
        return [(0, 0)] * len(spatial)
    totals = [max((-(-n // s) - 1) * s + e - n, 0) for n, e, s in zip(spatial, extent, strides)]
    return [(t // 2, t - t // 2) for t in totals]


@dataclasses.dataclass(frozen=True)
class ConvSpec:
    """What a convolution does to the spatial axes, independent of its weights.

    Attributes:
        kernel_size: tuple of r ints (r = 1, 2, 3).
        strides: tuple of r ints.
        dilation_rate: tuple of r ints.
        padding: "valid" or "same".
    """

    kernel_size: tuple
    strides: tuple
    padding: str
    dilation_rate: tuple

    @property
    def rank(self):
        return len(self.kernel_size)

    @property
    def kernel_area(self):
        """k = Π k_a, taps per kernel."""
        return math.prod(self.kernel_size)

    @property
    def extent(self):
        """Size of the dilated kernel, d·(k - 1) + 1 per axis."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation_rate))

    def with_kernel_size(self, kernel_size):
        """The same convolution with kernels of `kernel_size` (r ints)."""
        return dataclasses.replace(self, kernel_size=tuple(kernel_size))

    def conv_kwargs(self):
        """Keyword arguments of `keras.ops.conv` (channels_last)."""
        return dict(
            strides=self.strides, padding=self.padding, data_format="channels_last",
            dilation_rate=self.dilation_rate,
        )

    def fits(self, spatial):
        """Whether a 'valid' convolution has an output for input sizes `spatial` (None fits)."""
        return self.padding == "same" or all(
            size is None or size >= e for size, e in zip(spatial, self.extent)
        )

    def output_shape(self, spatial):
        """Output sizes for input sizes `spatial` (None stays None); assumes `fits(spatial)`."""
        out = []
        for size, e, s in zip(spatial, self.extent, self.strides):
            if size is None:
                out.append(None)
            elif self.padding == "same":
                out.append((size + s - 1) // s)
            else:
                out.append((size - e) // s + 1)
        return tuple(out)
