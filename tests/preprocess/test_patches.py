"""resample to a physical pixel size; random patch boxes and patches with augmentation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.preprocess import resample, resample_shape, sample_patch_boxes, sample_patches

# ----------------------------------------------------------------------------- resample


def _disk(radius_um: float, pixel_size: float, field_um: float) -> np.ndarray:
    """uint8 image of a centred disk (255) on 0, sampled at pixel centres."""
    n = int(round(field_um / pixel_size))
    centres = (np.arange(n) + 0.5) * pixel_size - field_um / 2
    rr, cc = np.meshgrid(centres, centres, indexing="ij")
    return np.where(rr**2 + cc**2 <= radius_um**2, 255, 0).astype(np.uint8)


def test_resample_shape_is_analytic():
    assert resample_shape((768, 1024), 2.0, 5.0) == (307, 410)
    assert resample_shape((100, 60), 0.5, 0.25) == (200, 120)
    assert resample_shape((3, 3), 1.0, 100.0) == (1, 1)


@pytest.mark.parametrize("target", [0.3, 0.8, 1.7])
def test_disk_keeps_its_area_in_um2(target):
    radius, pixel = 20.0, 0.5  # µm
    image = _disk(radius, pixel, field_um=100.0)
    out = resample(image, pixel, target)
    assert out.shape == resample_shape(image.shape, pixel, target)
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 255.0 + 1e-3
    area_um2 = np.count_nonzero(out > 127.5) * target**2
    assert area_um2 == pytest.approx(math.pi * radius**2, rel=0.02)
    # The field of view is kept to within one output pixel.
    assert abs(out.shape[0] * target - 100.0) <= target


def test_resample_keeps_grey_values_and_float64():
    flat = np.full((40, 60), 200, dtype=np.uint8)
    out = resample(flat, 1.0, 2.5)
    assert out.dtype == np.float32 and np.allclose(out, 200.0)
    assert resample(np.ones((10, 10)), 1.0, 0.5).dtype == np.float64
    same = resample(flat, 1.0, 1.0)
    assert same.shape == flat.shape and np.all(same == 200)


def test_anti_aliasing_suppresses_noise_when_downsampling():
    noise = np.random.default_rng(0).integers(0, 256, size=(200, 200)).astype(np.uint8)
    smooth = resample(noise, 0.5, 1.7)
    aliased = resample(noise, 0.5, 1.7, anti_aliasing=False)
    assert smooth.std() < 0.5 * aliased.std()
    assert abs(smooth.mean() - noise.mean()) < 2.0


@pytest.mark.parametrize("bad", [None, 0, -1.0, float("nan"), "abc"])
def test_resample_needs_a_pixel_size(bad):
    with pytest.raises(ParameterError, match="pixel_size") as info:
        resample(np.zeros((10, 10)), bad, 1.0)
    assert "pass pixel_size" in str(info.value)


def test_resample_checks_target_and_order():
    with pytest.raises(ParameterError, match="target"):
        resample(np.zeros((10, 10)), 1.0, None)
    with pytest.raises(ParameterError, match="order"):
        resample(np.zeros((10, 10)), 1.0, 2.0, order=7)


# ----------------------------------------------------------------------------- boxes


def test_boxes_lie_inside_and_cover_all_positions():
    boxes = sample_patch_boxes((40, 50), 3000, 32, rng=0)
    assert boxes.shape == (3000, 4) and boxes.dtype == np.int64
    assert np.all(boxes[:, 2:] == 32)
    assert boxes[:, 0].min() == 0 and boxes[:, 0].max() == 40 - 32
    assert boxes[:, 1].min() == 0 and boxes[:, 1].max() == 50 - 32


def test_boxes_are_reproducible():
    a = sample_patch_boxes((300, 400), 40, 64, rng=7)
    b = sample_patch_boxes((300, 400), 40, 64, rng=np.random.default_rng(7))
    c = sample_patch_boxes((300, 400), 40, 64, rng=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_boxes_reject_small_images():
    with pytest.raises(ParameterError, match=r"\(20, 100\).*size 32"):
        sample_patch_boxes((20, 100), 5, 32, rng=0)


# ----------------------------------------------------------------------------- patches


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 200, size=(120, 160)).astype(np.uint8)


def test_patch_shape_dtype_and_dtype_scaling(image):
    p = sample_patches(image, 40, 32, rng=0)
    assert p.shape == (40, 32, 32) and p.dtype == np.float32
    assert p.min() >= 0 and p.max() <= 199 / 255 + 1e-7  # uint8 / 255, not stretched


def test_same_seed_same_patches(image):
    a = sample_patches(image, 10, 32, rng=3, free_rotation=True)
    b = sample_patches(image, 10, 32, rng=3, free_rotation=True)
    c = sample_patches(image, 10, 32, rng=4, free_rotation=True)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_plain_patches_are_the_boxes(image):
    p, boxes = sample_patches(image, 20, 24, rng=1, flips=False, rotations=False, return_boxes=True)
    assert np.array_equal(boxes, sample_patch_boxes(image.shape, 20, 24, rng=1))
    for patch, (r, c, h, w) in zip(p, boxes, strict=True):
        np.testing.assert_array_equal(patch, (image[r : r + h, c : c + w] / 255).astype(np.float32))


def test_augmented_patches_are_dihedral_copies_of_their_box(image):
    p, boxes = sample_patches(image, 30, 16, rng=2, return_boxes=True)
    seen = set()
    for patch, (r, c, h, w) in zip(p, boxes, strict=True):
        crop = (image[r : r + h, c : c + w] / 255).astype(np.float32)
        variants = [np.rot90(f, k) for f in (crop, crop[:, ::-1]) for k in range(4)]
        matches = [i for i, v in enumerate(variants) if np.array_equal(v, patch)]
        assert matches, (r, c)
        seen.add(matches[0])
    assert len(seen) >= 5  # the augmentation really varies


def test_float_images_are_min_max_scaled():
    ramp = np.linspace(-3.0, 5.0, 100 * 80).reshape(100, 80)
    p = sample_patches(ramp, 50, 20, rng=0)
    assert p.min() >= 0 and p.max() <= 1
    raw = sample_patches(ramp, 5, 20, rng=0, normalize=False)
    assert raw.min() < 0  # grey values kept as they are


def test_free_rotation_has_no_empty_corners_and_keeps_a_linear_ramp():
    rows, cols = np.mgrid[0:200, 0:200].astype(np.float64)
    ramp = 0.5 * rows + 0.3 * cols  # bilinear interpolation reproduces it exactly
    p, boxes = sample_patches(
        ramp,
        12,
        33,
        rng=5,
        free_rotation=True,
        flips=False,
        rotations=False,
        normalize=False,
        return_boxes=True,
    )
    assert np.all(boxes[:, 2] == math.ceil(32 * math.sqrt(2)) + 3)
    assert p.min() > 0  # no zero-filled corners
    for patch, (r, c, h, _) in zip(p, boxes, strict=True):
        centre = (h - 1) / 2
        assert patch[16, 16] == pytest.approx(0.5 * (r + centre) + 0.3 * (c + centre), abs=1e-3)
        gr, gc = np.gradient(patch.astype(np.float64))
        np.testing.assert_allclose(np.hypot(gr, gc), math.hypot(0.5, 0.3), atol=1e-3)
    # The angles differ between patches: the gradient direction varies.
    directions = [np.arctan2(*np.gradient(q.astype(np.float64)))[16, 16] for q in p]
    assert np.ptp(directions) > 1.0


def test_image_smaller_than_patch(image):
    with pytest.raises(ParameterError, match=r"\(120, 160\).*224"):
        sample_patches(image, 4, 224, rng=0)
    with pytest.raises(ParameterError, match="free_rotation"):
        sample_patches(image, 4, 100, rng=0, free_rotation=True)


def test_zero_patches_and_bad_arguments(image):
    assert sample_patches(image, 0, 16, rng=0).shape == (0, 16, 16)
    with pytest.raises(ParameterError, match="n="):
        sample_patches(image, -1, 16)
    with pytest.raises(ParameterError, match="size="):
        sample_patches(image, 1, 0)
    with pytest.raises(ParameterError, match="rng="):
        sample_patches(image, 1, 16, rng="seed")
    with pytest.raises(ParameterError, match="2-D"):
        sample_patches(np.zeros((3, 40, 40)), 1, 16)
