"""The offline data sets: shapes, ranges, labels; exact synthetic masks; disjoint splits."""

import numpy as np
import pytest
from helpers import rng

from keras_gaussconv.rendering import SHAPES, render_shape
from keras_gaussconv.datasets import (
    load_synthetic_nuclei_3d,
    render_synthetic_nuclei_3d,
    NUCLEI_REGIONS,
    SPLITS,
    haematoxylin_otsu,
    load_digits,
    load_fashion_mnist,
    load_nuclei,
    load_rescaled_digits,
    load_rescaled_fashion_mnist,
    load_rescaled_shapes,
    load_synthetic_nuclei,
    nuclei_mask,
    nuclei_patch_corners,
    render_synthetic_nuclei,
)


@pytest.mark.parametrize("scale", [1.0, 2.0, 2 ** 0.25, 4.0])
def test_rescaled_digits_are_the_digits_magnified_at_random_positions(scale):
    from skimage.transform import resize

    (_, _), (sources, source_labels) = load_digits(size=8)
    x, y = load_rescaled_digits("test", scale, count=12, seed=3)
    side = round(16 * scale)
    assert x.shape == (12, 72, 72, 1) and x.dtype == np.float32 and y.dtype == np.int64
    magnified = [resize(d[:, :, 0], (side, side), order=1, anti_aliasing=False) for d in sources]
    corners = set()
    for image, label in zip(x[..., 0], y):
        # Exactly one magnified source square on a zero canvas: locate it by the content's first
        # row and column, offset by where that source's own content starts in its square.
        rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
        matches = []
        for j, square in enumerate(magnified):
            r0, c0 = np.flatnonzero(square.any(axis=1))[0], np.flatnonzero(square.any(axis=0))[0]
            top, left = rows[0] - r0, cols[0] - c0
            if top < 0 or left < 0 or top + side > 72 or left + side > 72:
                continue
            canvas = np.zeros_like(image)
            canvas[top : top + side, left : left + side] = square
            if np.allclose(canvas, image, atol=1e-6):
                matches.append(j)
                corners.add((top, left))
        assert matches and all(source_labels[j] == label for j in matches)
    assert len(corners) > 6  # positions vary


def test_rescaled_digit_splits_are_disjoint_and_whole():
    (train, _), (test, _) = load_digits(size=8)
    x, y = load_rescaled_digits("train", 0.5, size=8)  # 8-pixel digits filling an 8×8 canvas: the sources
    assert len(x) == len(train) == 1257 and set(np.unique(y)) == set(range(10))
    as_rows = lambda a: {row.tobytes() for row in a.reshape(len(a), -1)}  # noqa: E731
    assert as_rows(x) == as_rows(train)
    assert not as_rows(x) & as_rows(test)
    cycled, labels = load_rescaled_digits("test", 1.0, count=600, size=20, seed=1)
    assert cycled.shape == (600, 20, 20, 1) and np.bincount(labels, minlength=10).min() >= 50


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(split="validation"), "Received: split='validation'"),
        (dict(scale=0), "Received: scale=0, size=72"),
        (dict(scale=5.0), "Received: scale=5.0, size=72"),
        (dict(scale=2.0, size=20), "Received: scale=2.0, size=20"),
    ],
)
def test_rescaled_digits_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_rescaled_digits(**kwargs)


@pytest.mark.parametrize("scale", [0.5, 1.0, 2 ** 0.25, 4.0])
def test_rescaled_shapes_cover_their_analytic_areas_inside_the_canvas(scale):
    x, y = load_rescaled_shapes("test", scale, count=20, size=round(16 * scale) + 8, seed=2)
    assert x.shape == (20, round(16 * scale) + 8, round(16 * scale) + 8, 1) and x.dtype == np.float32
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [2] * len(SHAPES)  # balanced
    assert x.min() >= 0.0 and x.max() == 1.0
    radius = 8 * scale  # a pixel's value is its coverage: the sums are the areas, no part cut by the canvas
    areas = {"disk": np.pi * (0.95 * radius) ** 2, "ring": np.pi * ((0.95 * radius) ** 2 - (0.55 * radius) ** 2),
             "square": (1.4 * radius) ** 2, "cross": (2 * 1.9 * 0.5 - 0.5**2) * radius**2,
             "triangle": 3 * np.sqrt(3) / 4 * (0.95 * radius) ** 2, "half_disk": np.pi * (0.95 * radius) ** 2 / 2}
    for name, area in areas.items():
        sums = x[y == SHAPES.index(name)].sum(axis=(1, 2, 3))
        np.testing.assert_allclose(sums, area, rtol=0.005, err_msg=name)


def test_a_shape_at_twice_the_scale_is_the_same_continuous_image_at_half_the_spacing():
    for label in range(len(SHAPES)):  # same draw: rotation and centre (in units of the canvas) agree
        coarse = render_shape(np.random.default_rng(3), label, 1.0, 40)
        fine = render_shape(np.random.default_rng(3), label, 2.0, 80).reshape(40, 2, 40, 2).mean(axis=(1, 3))
        assert np.abs(coarse - fine).sum() < 0.003 * coarse.sum(), SHAPES[label]
        assert abs(coarse.sum() - fine.sum()) < 0.001 * coarse.sum(), SHAPES[label]


def test_rescaled_shape_splits_and_seeds_draw_different_images():
    train, _ = load_rescaled_shapes("train", count=10, size=32)
    test, _ = load_rescaled_shapes("test", count=10, size=32)
    again, _ = load_rescaled_shapes("train", count=10, size=32)
    other, _ = load_rescaled_shapes("train", count=10, size=32, seed=1)
    np.testing.assert_array_equal(train, again)
    assert not any(np.allclose(a, b) for a in train for b in np.concatenate([test, other]))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(scale=3.0, size=40), "A 48-pixel shape does not fit the canvas. Received: scale=3.0, size=40"),
        (dict(scale=0), "Received: scale=0"),
        (dict(split="validation"), "Received: split='validation'"),
        (dict(count=0), "Received: count=0"),
    ],
)
def test_rescaled_shapes_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_rescaled_shapes(**kwargs)


def test_digits():
    (x_train, y_train), (x_test, y_test) = load_digits()
    assert x_train.shape == (1257, 16, 16, 1) and x_test.shape == (540, 16, 16, 1)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
    (raw, _), _ = load_digits(size=8)
    assert raw.shape[1:] == (8, 8, 1)


def painted_ellipses(ellipses, size):
    """The instance map the ellipses make, painted in order, by the ellipse inequality
    ((Δr·cos θ + Δc·sin θ)/a)² + ((Δr·sin θ − Δc·cos θ)/b)² < 1 over pixel centres;
    also the pixels within 1e-9 of an ellipse's boundary (where rounding may decide)."""
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    labels = np.zeros((size, size), np.int32)
    boundary = np.zeros((size, size), bool)
    for k, (r, c, a, b, theta) in enumerate(ellipses, start=1):
        dr, dc = rows - r, cols - c
        d = ((dr * np.cos(theta) + dc * np.sin(theta)) / a) ** 2 + ((dr * np.sin(theta) - dc * np.cos(theta)) / b) ** 2
        labels[d < 1] = k
        boundary |= np.abs(d - 1) < 1e-9
    return labels, boundary


@pytest.mark.parametrize("size", [48, 64, 75])
def test_synthetic_instances_are_exactly_the_drawn_ellipses(size):
    image, instances, ellipses = render_synthetic_nuclei(rng(), size)
    assert image.shape == (size, size, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert instances.shape == (size, size) and instances.dtype == np.int32 and ellipses.shape[1] == 5
    expected, boundary = painted_ellipses(ellipses, size)
    assert np.array_equal(instances[~boundary], expected[~boundary])
    assert np.unique(instances).size > 5  # many nuclei per image


def test_synthetic_masks_are_the_instances_and_splits_are_disjoint():
    data = {split: load_synthetic_nuclei(split, count=6, size=32) for split in SPLITS}
    for images, masks, instances in data.values():
        assert images.shape == (6, 32, 32, 3) and masks.shape == (6, 32, 32, 1) and instances.shape == (6, 32, 32)
        assert masks.dtype == np.float32 and np.array_equal(masks[..., 0], (instances > 0).astype("float32"))
    for i, first in enumerate(SPLITS):
        for second in SPLITS[i + 1 :]:
            for a in data[first][0]:
                assert not any(np.array_equal(a, b) for b in data[second][0]), (first, second)
    # Reproducible, and a split's first images do not depend on how many are asked for.
    fewer = load_synthetic_nuclei("train", count=3, size=32)
    for more, less in zip(data["train"], fewer):
        assert np.array_equal(more[:3], less)
    images, _, _ = load_synthetic_nuclei("train", count=3, size=32, seed=1)
    assert not np.array_equal(images, fewer[0])


def test_synthetic_nuclei_touch_overlap_and_defeat_a_colour_threshold():
    images, masks, instances = load_synthetic_nuclei("validation", count=24, size=64)
    # Touching: horizontally adjacent pixels of two different nuclei.
    left, right = instances[:, :, :-1], instances[:, :, 1:]
    assert np.sum((left > 0) & (right > 0) & (left != right)) > 100
    # Overlapping: some drawn ellipses are partly hidden by later ones.
    _, labels, ellipses = render_synthetic_nuclei(np.random.default_rng([0, 1, 0]), 64)
    hidden = 0
    for k, (r, c, a, b, theta) in enumerate(ellipses, start=1):
        drawn, _ = painted_ellipses(ellipses[k - 1 : k], 64)
        hidden += np.sum((drawn == 1) & (labels != k))
    assert hidden > 0
    assert 0.1 < masks.mean() < 0.4
    # Nuclei are haematoxylin-dark, yet Otsu on the haematoxylin channel is far from exact.
    otsu = haematoxylin_otsu(images)
    dice = 2 * np.sum(otsu * masks) / (otsu.sum() + masks.sum())
    assert 0.4 < dice < 0.75


def test_bad_split_names_the_argument():
    with pytest.raises(ValueError, match="split="):
        load_synthetic_nuclei("training")
    with pytest.raises(ValueError, match="split="):
        load_nuclei("val")
    with pytest.raises(ValueError, match="patch_size="):
        load_nuclei("test", patch_size=256)


@pytest.mark.parametrize("patch_size, stride", [(64, None), (32, 16), (128, 64)])
def test_nuclei_regions_are_disjoint_and_patches_are_their_crops(patch_size, stride):
    from skimage import data as skdata

    image = skdata.immunohistochemistry().astype("float32") / 255.0
    covered = {}
    for split in SPLITS:
        strides = stride if split == "train" else None
        corners = nuclei_patch_corners(split, patch_size, strides)
        images, masks = load_nuclei(split, patch_size, strides)
        assert images.shape == (len(corners), patch_size, patch_size, 3) and masks.shape == (len(corners), patch_size, patch_size, 1)
        assert set(np.unique(masks)) <= {0.0, 1.0}
        covered[split] = np.zeros(image.shape[:2], bool)
        first, last = NUCLEI_REGIONS[split]
        for patch, (r, c) in zip(images, corners):
            assert first <= r and r + patch_size <= last
            assert np.array_equal(patch, image[r : r + patch_size, c : c + patch_size])
            covered[split][r : r + patch_size, c : c + patch_size] = True
    assert not (covered["train"] & covered["validation"]).any()
    assert not (covered["train"] & covered["test"]).any()
    assert not (covered["validation"] & covered["test"]).any()
    # split=None: the three splits' patches, in order.
    all_images, _ = load_nuclei(None, patch_size)
    assert np.array_equal(all_images, np.concatenate([load_nuclei(s, patch_size)[0] for s in SPLITS]))


def test_nuclei_patches_and_masks():
    images, masks = load_nuclei("train")
    assert images.shape == (32, 64, 64, 3) and masks.shape == (32, 64, 64, 1)
    assert images.dtype == masks.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert set(np.unique(masks)) == {0.0, 1.0}
    assert 0.05 < masks.mean() < 0.6  # nuclei are a minority of the pixels


def test_nuclei_mask_marks_haematoxylin_blue_pixels():
    from skimage import data

    rgb = data.immunohistochemistry()
    mask = nuclei_mask(rgb)
    blue_minus_red = rgb[..., 2].astype(float) - rgb[..., 0]
    assert blue_minus_red[mask].mean() > blue_minus_red[~mask].mean()


def test_fashion_mnist_without_network_is_a_clear_error(monkeypatch):
    import keras

    def offline():
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(RuntimeError, match="Fashion-MNIST could not be downloaded"):
        load_fashion_mnist()


def test_rescaled_fashion_mnist_places_each_image_and_fails_clearly_offline(monkeypatch):
    import keras

    fake = np.arange(1, 5, dtype="uint8")[:, None, None] * np.full((4, 28, 28), 50, "uint8")  # image k: 50·(k+1)
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", lambda: ((fake, np.arange(4)), (fake[:2], np.arange(2))))
    x, y = load_rescaled_fashion_mnist("train", scale=1.5, count=6, size=40, seed=1)
    assert x.shape == (6, 40, 40, 1) and sorted(set(y.tolist())) == [0, 1, 2, 3]
    for image, label in zip(x[..., 0], y):  # a 24-pixel square of the image's value, zeros elsewhere
        np.testing.assert_allclose(np.sort(image.ravel())[-24 * 24:], 50 * (label + 1) / 255, rtol=1e-5)
        assert np.count_nonzero(image) == 24 * 24
    with pytest.raises(ValueError, match="Received: split='validation'"):
        load_rescaled_fashion_mnist("validation")

    def offline():
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(RuntimeError, match="Fashion-MNIST could not be downloaded"):
        load_rescaled_fashion_mnist("test", scale=1.0)


def test_synthetic_volumes_label_the_topmost_ellipsoid_of_each_voxel():
    volume, instances, ellipsoids = render_synthetic_nuclei_3d(np.random.default_rng(5), size=20)
    assert volume.shape == (20, 20, 20, 1) and volume.dtype == np.float32 and 0 <= volume.min() <= volume.max() <= 1
    # Independent painting: all ellipsoids' elliptic radii at once, the last one containing a voxel wins.
    voxels = np.stack(np.meshgrid(*(np.arange(20),) * 3, indexing="ij"), -1).reshape(-1, 3)
    centres, semi, rotations = ellipsoids[:, :3], ellipsoids[:, 3:6], ellipsoids[:, 6:].reshape(-1, 3, 3)
    local = np.einsum("vc,kca->kva", voxels, rotations) - np.einsum("kc,kca->ka", centres, rotations)[:, None]
    inside = np.sum((local / semi[:, None]) ** 2, axis=-1) <= 1  # (K, voxels)
    last = len(ellipsoids) - np.argmax(inside[::-1], axis=0)
    expected = np.where(inside.any(axis=0), last, 0).reshape(20, 20, 20)
    # voxels within 1e-9 of a surface may fall either way under round-off
    assert np.mean(instances != expected) < 1e-3
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-9)


def test_synthetic_volumes_splits_masks_and_a_threshold_baseline():
    from skimage.filters import threshold_otsu

    volumes, masks, instances = load_synthetic_nuclei_3d("train", count=3, size=24)
    np.testing.assert_array_equal(masks[..., 0], (instances > 0).astype("float32"))
    first, _, _ = load_synthetic_nuclei_3d("train", count=1, size=24)
    np.testing.assert_array_equal(first[0], volumes[0])
    test, _, _ = load_synthetic_nuclei_3d("test", count=3, size=24)
    assert not any(np.array_equal(a, b) for a in volumes for b in test)
    dice = []
    for volume, mask in zip(volumes, masks):
        predicted = volume > threshold_otsu(volume)
        dice.append(2 * np.sum(predicted & (mask > 0)) / (predicted.sum() + mask.sum()))
    # stained shells, haze and debris keep a global threshold from solving it
    assert 0.4 < np.mean(dice) < 0.85, dice


@pytest.mark.parametrize("magnification", [0.5, 2.0])
def test_a_magnified_slide_has_its_lengths_multiplied_and_exact_instances(magnification):
    _, instances, ellipses = render_synthetic_nuclei(rng(), 64, magnification)
    expected, boundary = painted_ellipses(ellipses, 64)
    assert np.array_equal(instances[~boundary], expected[~boundary])
    radii = ellipses[:, 2]
    assert radii.min() >= 3 * magnification and radii.max() <= 7 * magnification
    assert np.all((0.5 * radii <= ellipses[:, 3]) & (ellipses[:, 3] <= radii))


def test_magnification_scales_counts_and_areas_and_keeps_the_coverage():
    def statistics(m):
        _, masks, instances = load_synthetic_nuclei("test", count=24, size=64, magnification=m)
        areas = np.concatenate([np.bincount(i.ravel())[1:] for i in instances])
        counts = [np.unique(i).size - 1 for i in instances]
        return np.mean(counts), np.median(areas[areas > 0]), masks.mean()

    # Measured over these 24 images: 82.9, 20.3, 5.2 nuclei; median visible areas 11, 38, 139 px
    # (below m² because nuclei overlap and are cut at the border); coverage 25, 22, 19 %.
    (n_half, a_half, f_half), (n_one, a_one, f_one), (n_two, a_two, f_two) = map(statistics, (0.5, 1.0, 2.0))
    assert 3.5 < n_half / n_one < 4.5 and 3.5 < n_one / n_two < 4.5  # 1/m² of the area per image
    assert 3 < a_one / a_half < 4.5 and 3 < a_two / a_one < 4.5  # areas grow as m²
    assert max(f_half, f_one, f_two) - min(f_half, f_one, f_two) < 0.1  # the same slide coverage
    # Magnification 1 is the default.
    default = load_synthetic_nuclei("test", count=2, size=32)
    for a, b in zip(default, load_synthetic_nuclei("test", count=2, size=32, magnification=1)):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("value", [0, -1.0, "2"])
def test_a_bad_magnification_is_named(value):
    with pytest.raises(ValueError, match=f"`magnification` must be a positive number. Received: magnification={value!r}"):
        render_synthetic_nuclei(rng(), 32, value)
