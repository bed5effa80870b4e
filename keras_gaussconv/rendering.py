"""Renderers of the synthetic data sets: images and volumes drawn with exactly known nuclei.

Every image is a function of a `numpy.random.Generator`'s state (`keras_gaussconv.datasets`
gives each image of each split its own), so ground truth is exact and splits never share one.
They need scikit-image (the `examples` extra).
"""

import numpy as np

from keras_gaussconv.layers.validation import check_positive_float
from keras_gaussconv.utils import require


def _smooth_noise(rng, shape, sigma):
    """Gaussian-filtered white noise scaled to unit standard deviation."""
    filters = require("skimage.filters", "scikit-image")
    noise = filters.gaussian(rng.standard_normal(shape), sigma=sigma)
    return noise / (noise.std() + 1e-12)


def render_synthetic_nuclei(rng, size=64, magnification=1.0):
    """One histology-like RGB image with exactly known nuclei (haematoxylin, DAB counterstain).

    Nuclei are ellipses (semi-axes 3–7 px at magnification 1, axis ratio 0.5–1, any orientation),
    half of them in clusters, so they touch and overlap; each is drawn with
    `skimage.draw.ellipse` over the earlier ones. Their haematoxylin density
    varies 7-fold between nuclei, with chromatin texture and, for some, a dark
    envelope. Not nuclei, but stained alike: haematoxylin fibres and debris,
    DAB-stained membranes around half the nuclei, smooth background staining.
    Concentrations become RGB through `skimage.color.combine_stains` with stain
    vectors perturbed per image (slides differ), then optical blur (σ = 0.7 px),
    an illumination ramp (±10–30 %) and sensor noise (σ = 0.015).

    At magnification m the same kind of slide is seen through another
    objective at the same pixel size: every length above (semi-axes, cluster
    spread, membranes, chromatin grain, background staining, fibre width,
    debris, optical blur) is multiplied by m, the number of nuclei and debris
    per image divided by m² (the field holds 1/m² of the area) and of fibres,
    which cross the field, by m. The slide-wide ramp and the per-pixel noise
    stay. Magnification 1 gives the images of earlier versions.

    Args:
        rng: a `numpy.random.Generator`; the image is a function of its state.
        size: side of the square image in pixels.
        magnification: m > 0 (e.g. 0.5 … 4).

    Returns:
        `(image, instances, ellipses)`: float32 (size, size, 3) in [0, 1];
        int32 (size, size) with 0 for background and k where the k-th ellipse
        is on top (ellipses hidden by later ones leave no pixel); float64
        (count, 5) rows `(row, col, row_radius, col_radius, rotation)` as
        `skimage.draw.ellipse` takes them.
    """
    m = check_positive_float("magnification", magnification)
    shape = (size, size)
    ellipses = _nucleus_ellipses(rng, size, m)
    haematoxylin, dab, instances = _stained_nuclei(rng, ellipses, shape, m)
    haematoxylin = _fibres_and_debris(rng, haematoxylin, instances == 0, m)
    return _slide_image(rng, haematoxylin, dab, m), instances, ellipses


def _nucleus_ellipses(rng, size, m):
    """(count, 5) rows (row, col, row_radius, col_radius, rotation): half the nuclei in clusters."""
    count = rng.poisson(size * size / (180 * m * m))
    clusters = rng.uniform(0, size, (max(1, count // 6), 2))
    centres = [
        clusters[rng.integers(len(clusters))] + rng.normal(0, 6 * m, 2) if rng.random() < 0.5
        else rng.uniform(-3 * m, size + 3 * m, 2)
        for _ in range(count)
    ]
    radii = [(a, a * rng.uniform(0.5, 1.0)) for a in m * rng.uniform(3.0, 7.0, count)]
    ellipses = np.array([(r, c, a, b, rng.uniform(0, np.pi)) for (r, c), (a, b) in zip(centres, radii)])
    return ellipses.reshape(count, 5)


def _stained_nuclei(rng, ellipses, shape, m):
    """Haematoxylin and DAB concentrations with the nuclei (and membranes) drawn, and the instances."""
    draw = require("skimage.draw", "scikit-image")
    size = shape[0]
    haematoxylin = 0.008 + 0.02 * rng.uniform() * np.clip(_smooth_noise(rng, shape, m * size / 8), 0, None)
    dab = 0.03 * rng.uniform() * np.clip(_smooth_noise(rng, shape, m * size / 10), 0, None)
    for r, c, a, b, rotation in ellipses:  # membranes first: the nuclei lie on top
        if rng.random() < 0.5:
            grow = m * rng.uniform(2, 4)
            rows, cols = draw.ellipse(r, c, a + grow, b + grow, shape, rotation)
            dab[rows, cols] += rng.uniform(0.03, 0.12)
    chromatin = _smooth_noise(rng, shape, m)
    instances = np.zeros(shape, np.int32)
    for k, (r, c, a, b, rotation) in enumerate(ellipses, start=1):
        rows, cols = draw.ellipse(r, c, a, b, shape, rotation)
        instances[rows, cols] = k
        # squared elliptic radius: 0 at the centre, 1 at the envelope
        u = (rows - r) * np.cos(rotation) + (cols - c) * np.sin(rotation)
        v = (rows - r) * np.sin(rotation) - (cols - c) * np.cos(rotation)
        envelope = 1 + rng.uniform(0, 1.2) * ((u / a) ** 2 + (v / b) ** 2) ** 2
        haematoxylin[rows, cols] = rng.uniform(0.015, 0.1) * envelope * (1 + 0.3 * chromatin[rows, cols])
        dab[rows, cols] *= 0.3
    return haematoxylin, dab, instances


def _fibres_and_debris(rng, haematoxylin, background, m):
    """Haematoxylin-stained fibres and debris on the background: stained like nuclei, but not nuclei."""
    draw = require("skimage.draw", "scikit-image")
    filters = require("skimage.filters", "scikit-image")
    shape, size = haematoxylin.shape, haematoxylin.shape[0]
    for _ in range(rng.poisson(3 / m)):  # fibres
        points = rng.uniform(0, size, (3, 2)).astype(int)
        rows, cols = draw.bezier_curve(*points[0], *points[1], *points[2], 1, shape)
        fibre = np.zeros(shape)
        fibre[rows, cols] = rng.uniform(0.04, 0.1)
        # A line blurred m times wider keeps its peak when its integral across grows m times.
        fibre = 4 * m * filters.gaussian(fibre, m * rng.uniform(0.7, 1.5))
        haematoxylin = np.where(background, np.maximum(haematoxylin, fibre), haematoxylin)
    for _ in range(rng.poisson(size * size / (600 * m * m))):  # debris
        rows, cols = draw.disk(rng.uniform(0, size, 2), m * rng.uniform(0.8, 1.8), shape=shape)
        outside = background[rows, cols]
        haematoxylin[rows[outside], cols[outside]] = rng.uniform(0.05, 0.11)
    return haematoxylin


def _slide_image(rng, haematoxylin, dab, m):
    """The RGB image: stains combined with perturbed vectors, optical blur, illumination ramp, noise."""
    color = require("skimage.color", "scikit-image")
    filters = require("skimage.filters", "scikit-image")
    size = haematoxylin.shape[0]
    stains = np.stack([haematoxylin, np.full(haematoxylin.shape, 0.01), dab], axis=-1)
    vectors = color.rgb_from_hed + rng.normal(0, 0.06, (3, 3))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rgb = filters.gaussian(color.combine_stains(stains, vectors), sigma=0.7 * m, channel_axis=-1)
    rows, cols = np.mgrid[0:size, 0:size] / size - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    ramp = rows * np.cos(angle) + cols * np.sin(angle)
    rgb = rgb * (1 + rng.uniform(0.2, 0.6) * ramp)[..., None] * rng.uniform(0.85, 1.0)
    rgb = rgb + rng.normal(0, 0.015, rgb.shape)
    return np.clip(rgb, 0, 1).astype("float32")


def _random_rotation(rng):
    """A rotation matrix drawn uniformly from SO(3) (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def render_synthetic_nuclei_3d(rng, size=32):
    """One fluorescence-microscopy-like volume (a nuclear stain) with exactly known nuclei.

    Nuclei are ellipsoids (semi-axes 2.5–5 voxels, axis ratios 0.5–1, any
    orientation), half of them in clusters, so they touch and overlap; a
    voxel belongs to the last-drawn ellipsoid that contains its centre. Their
    brightness varies 5-fold, with chromatin texture and, for some, a bright
    rim. Not nuclei: out-of-focus haze, dim cytoplasm shells around half the
    nuclei, bright debris specks. Then the microscope: blur twice as long
    along depth as across (σ = 1.2 / 0.6 voxels), a brightness ramp and
    Poisson-Gaussian noise.

    Args:
        rng: a `numpy.random.Generator`; the volume is a function of its state.
        size: side of the cubic volume in voxels.

    Returns:
        `(volume, instances, ellipsoids)`: float32 (size, size, size, 1) in
        [0, 1]; int32 (size, size, size), 0 background, k where the k-th
        ellipsoid is on top; float64 (count, 15) rows (centre (3), semi-axes
        (3), rotation matrix (9, row-major)); a voxel p is inside when
        Σ_a ((Rᵀ(p − c))_a / semi_a)² <= 1.
    """
    filters = require("skimage.filters", "scikit-image")
    shape = (size, size, size)
    count = max(1, rng.poisson(size**3 / 700))
    clusters = rng.uniform(0, size, (max(1, count // 5), 3))
    centres = [
        clusters[rng.integers(len(clusters))] + rng.normal(0, 4, 3) if rng.random() < 0.5
        else rng.uniform(-2, size + 2, 3)
        for _ in range(count)
    ]
    grid = np.stack(np.meshgrid(*(np.arange(size),) * 3, indexing="ij"), -1).astype(float)
    instances = np.zeros(shape, np.int32)
    signal = 0.12 * np.clip(_smooth_noise(rng, shape, size / 6), 0, None) + 0.04  # haze
    chromatin = _smooth_noise(rng, shape, 1.0)
    ellipsoids = []
    for k, centre in enumerate(centres, start=1):
        semi = rng.uniform(2.5, 5.0) * np.array([1.0, rng.uniform(0.5, 1.0), rng.uniform(0.5, 1.0)])
        rotation = _random_rotation(rng)
        radius2 = np.sum(((grid - centre) @ rotation / semi) ** 2, axis=-1)
        if rng.random() < 0.5:  # cytoplasm shell, dim, under the nuclei
            shell = (radius2 > 1.0) & (radius2 <= rng.uniform(2.0, 3.5)) & (instances == 0)
            signal[shell] = np.maximum(signal[shell], rng.uniform(0.12, 0.3))
        inside = radius2 <= 1.0
        instances[inside] = k
        rim = rng.uniform(0, 0.8)
        signal[inside] = rng.uniform(0.2, 1.0) * (1 + rim * radius2[inside] ** 2) * (1 + 0.25 * chromatin[inside])
        ellipsoids.append(np.concatenate([centre, semi, rotation.ravel()]))
    background = instances == 0
    for _ in range(rng.poisson(size**3 / 2000)):  # debris specks
        spot = np.sum((grid - rng.uniform(0, size, 3)) ** 2, axis=-1) <= rng.uniform(0.5, 1.5) ** 2
        signal[spot & background] = rng.uniform(0.4, 1.0)
    volume = filters.gaussian(signal, sigma=(1.2, 0.6, 0.6))
    ramp = (grid @ rng.normal(size=3)) / (size * 3)
    volume = volume * (1 + np.clip(ramp, -0.5, 0.5)) * rng.uniform(0.7, 1.0)
    photons = rng.uniform(150, 400)
    volume = rng.poisson(np.clip(volume, 0, None) * photons) / photons + rng.normal(0, 0.02, shape)
    return np.clip(volume, 0, 1)[..., None].astype("float32"), instances, np.array(ellipsoids).reshape(-1, 15)


# --- shapes at any scale -----------------------------------------------------

# Ten shapes inside the unit disk, each a signed distance (negative inside) of a point (u, v)
# of the shape's own frame; boxes are (centre u, centre v, half width, half height).
SHAPES = ("disk", "ring", "triangle", "square", "cross", "bar", "ell", "tee", "half_disk", "two_dots")
_BOXES = {
    "square": [(0, 0, 0.7, 0.7)], "bar": [(0, 0, 0.95, 0.28)], "cross": [(0, 0, 0.95, 0.25), (0, 0, 0.25, 0.95)],
    "ell": [(-0.35, 0, 0.2, 0.7), (0, -0.5, 0.55, 0.2)], "tee": [(0, 0.5, 0.7, 0.2), (0, 0, 0.2, 0.7)],
}


def shape_distance(label, u, v):
    """Signed distance of (u, v) to shape `SHAPES[label]` (unit-disk frame), negative inside: exact
    near every edge (unions as minima, intersections as maxima), so a pixel's coverage is
    clip(½ − d / pixel, 0, 1) at any scale."""
    name, r = SHAPES[label], np.hypot(u, v)
    if name in _BOXES:
        return np.min([np.maximum(np.abs(u - cu) - a, np.abs(v - cv) - b) for cu, cv, a, b in _BOXES[name]], axis=0)
    if name == "triangle":  # circumradius 0.95: apothem 0.475
        normals = [(np.cos(t), np.sin(t)) for t in np.pi / 2 + 2 * np.pi * np.arange(3) / 3 + np.pi]
        return np.max([nu * u + nv * v for nu, nv in normals], axis=0) - 0.475
    if name == "ring":
        return np.abs(r - 0.75) - 0.2
    if name == "half_disk":
        return np.maximum(r - 0.95, -v)
    if name == "two_dots":
        return np.minimum(np.hypot(u - 0.55, v), np.hypot(u + 0.55, v)) - 0.4
    return r - 0.95  # disk


def render_shape(rng, label, scale, size):
    """One `size`×`size` image of shape `label` drawn from its continuous definition: radius 8·s
    pixels (a 16·s-pixel shape, as `load_rescaled_digits`' digits), a uniformly random rotation and
    centre (the unit disk inside the canvas), each pixel its coverage of the shape, in [0, 1]: the
    mean over 4 × 4 sub-pixels of each one's edge-ramp coverage clip(½ − 4d, 0, 1), d in pixels.

    Returns:
        float32 `(size, size)`.
    """
    radius = 8.0 * check_positive_float("scale", scale)
    if 2 * radius > size:
        raise ValueError(f"A {2 * radius:g}-pixel shape does not fit the canvas. Received: scale={scale!r}, size={size!r}")
    centre = rng.uniform(radius, size - radius, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    y, x = (np.mgrid[: 4 * size, : 4 * size] + 0.5) / 4 - centre[:, None, None]  # sub-pixel centres, shape-relative
    u, v = (np.cos(angle) * x + np.sin(angle) * y) / radius, (-np.sin(angle) * x + np.cos(angle) * y) / radius
    coverage = np.clip(0.5 - 4 * radius * shape_distance(label, u, v), 0.0, 1.0)
    return coverage.reshape(size, 4, size, 4).mean(axis=(1, 3)).astype("float32")
