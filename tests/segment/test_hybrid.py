"""The hybrid threshold + SLIC annotation finds shine-through pores a pixel threshold misses."""

from __future__ import annotations

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.segment import HYBRID_CLASSES, derivative_threshold, hybrid_annotation, segment_image


def _film_with_shine_through(seed=0):
    """Solid (grey 200) with pores of radius 8 (grey 30); every other pore has a floor of
    radius 4 that shines through with solid-like grey values (185), ringed by the dark rim."""
    rng = np.random.default_rng(seed)
    shape = (192, 192)
    image = rng.normal(200, 10, shape)
    kind = np.zeros(shape, np.uint8)  # 0 solid, 1 plain pore, 2 pore with a shine-through floor
    floor = np.zeros(shape, bool)
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    for i, (r, c) in enumerate((r, c) for r in range(16, 192, 32) for c in range(16, 192, 32)):
        d2 = (rr - r) ** 2 + (cc - c) ** 2
        kind[d2 <= 8**2] = 1 if i % 2 == 0 else 2
        if i % 2:
            floor |= d2 <= 4**2
    image[kind > 0] = rng.normal(30, 10, (kind > 0).sum())
    image[floor] = rng.normal(185, 10, floor.sum())
    return np.clip(image, 0, 255).astype(np.uint8), kind, floor


def test_hybrid_labels_shine_through():
    image, kind, floor = _film_with_shine_through()
    # a pixel threshold leaves the shine-through floors as solid
    t, thr_labels = derivative_threshold(image, denoise=False)  # hybrid thresholds the raw pixels
    assert thr_labels[floor].mean() < 0.01
    # superpixels of about a pore's area (π 8² ≈ 200 px) average floor and rim: mean ≈ 90,
    # below a superpixel threshold halfway between pore and solid grey
    ann = hybrid_annotation(image, segment_area=200, superpixel_threshold=115.0)
    labels = ann.labels
    assert set(np.unique(labels)) <= {0, 1, 2}
    assert ann.threshold == pytest.approx(t)
    assert np.mean(labels[floor] == 2) > 0.9
    assert np.mean(labels[(kind > 0) & ~floor] == 1) > 0.95
    assert np.mean(labels[kind == 0] == 0) > 0.95
    assert abs(np.mean(labels > 0) - np.mean(kind > 0)) < 0.02
    d = ann.to_dict()
    assert set(d) >= {f"fraction_{n}" for n in HYBRID_CLASSES.values()}
    assert ann.superpixels.shape == image.shape and ann.n_superpixels == ann.superpixel_means.size


def test_hybrid_superpixel_means_are_means():
    image, _, _ = _film_with_shine_through(1)
    ann = hybrid_annotation(image, n_segments=100)
    k = 7
    assert ann.superpixel_means[k] == pytest.approx(image[ann.superpixels == k].mean())
    # label 2 exactly where the superpixel mean is at or below its threshold and the pixel is above
    sp_pore = (ann.superpixel_means <= ann.superpixel_threshold)[ann.superpixels]
    expected = np.where(image <= ann.threshold, 1, np.where(sp_pore, 2, 0))
    assert np.array_equal(ann.labels, expected)


def test_segment_image_hybrid_matches_function():
    image, _, _ = _film_with_shine_through(2)
    assert np.array_equal(segment_image(image, method="hybrid"), hybrid_annotation(image).labels)


def test_numeric_thresholds_and_no_superpixel_threshold():
    image, kind, _ = _film_with_shine_through(3)
    ann = hybrid_annotation(image, threshold=100.0, superpixel_threshold=None)
    assert ann.threshold == ann.superpixel_threshold == 100.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"threshold": "mean"}, "threshold"),
        ({"compactness": 0}, "compactness"),
        ({"n_segments": 0}, "n_segments"),
        ({"smoothing": -1.0}, "smoothing"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        hybrid_annotation(np.zeros((16, 16)), **kwargs)
