"""Denoising of the thresholds (Gaussian before, size filter and hole filling after), their
unit conversions and errors, and how segment_files / ``semlab segment`` pass them on."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import label

from semlab.cli import main
from semlab.errors import ParameterError
from semlab.io import read_micrograph, write_micrograph
from semlab.segment import (
    derivative_threshold,
    otsu_threshold,
    score_segmentation,
    segment_files,
    segment_image,
    threshold_image,
)

RADIUS = 30


def _noisy_disk(noise: float = 40.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A dark disk (grey 80, radius 30 px) on a bright ground (160) plus Gaussian noise; truth 1 = disk."""
    rr, cc = np.mgrid[:128, :128]
    disk = ((rr - 64) ** 2 + (cc - 64) ** 2 <= RADIUS**2).astype(np.uint8)
    image = np.where(disk == 1, 80.0, 160.0) + np.random.default_rng(seed).normal(0, noise, disk.shape)
    return image, disk


def _n_components(mask: np.ndarray) -> int:
    return int(label(mask, structure=np.ones((3, 3), bool))[1])


@pytest.mark.parametrize("func", [otsu_threshold, derivative_threshold])
def test_denoising_raises_the_iou_on_a_noisy_disk(func):
    image, disk = _noisy_disk()
    raw = func(image, denoise=False)
    den = func(image)  # the default: Gaussian σ = 1 px, regions below 16 px merged
    iou_raw = score_segmentation(disk, raw.labels, classes=(0, 1)).iou[1]
    iou_den = score_segmentation(disk, den.labels, classes=(0, 1)).iou[1]
    # noise of half the contrast (σ 40 for a step of 80) blurs the raw histogram into one peak:
    # raw Otsu lands at ~139 (IoU 0.39); σ = 1 px cuts the noise ~3.5× and Otsu lands at ~121
    # (IoU 0.98).  The derivative threshold is conservative by design (the knee of the dark
    # peak, ~87 after smoothing: IoU 0.70) but gains as much.
    assert iou_den > iou_raw + 0.3
    if func is otsu_threshold:
        assert iou_raw < 0.5 and iou_den > 0.95
    # same shape and label convention (0 bright, 1 dark), options recorded
    assert den.labels.shape == image.shape and den.labels.dtype == np.uint8
    assert set(np.unique(den.labels)) <= {0, 1}
    assert (den.sigma_px, den.min_size_px, den.fill_holes) == (1.0, 16.0, True)
    assert (raw.sigma_px, raw.min_size_px, raw.fill_holes) == (0.0, 0.0, False)
    assert den.to_dict()["sigma_px"] == 1.0


def test_denoise_false_is_the_raw_pixel_threshold():
    from skimage.filters import threshold_otsu

    image, _ = _noisy_disk()
    t, labels = otsu_threshold(image, denoise=False)
    assert t == pytest.approx(threshold_otsu(image, nbins=256))
    np.testing.assert_array_equal(labels, (image <= t).astype(np.uint8))
    # sigma=0 and min_size=0 are the same as denoise=False
    np.testing.assert_array_equal(otsu_threshold(image, sigma=0, min_size=0).labels, labels)
    # threshold_image and segment_image pass the options on
    np.testing.assert_array_equal(threshold_image(image, method="otsu", denoise=False).labels, labels)
    np.testing.assert_array_equal(segment_image(image, method="otsu", denoise=False), labels)
    np.testing.assert_array_equal(segment_image(image, method="otsu"), otsu_threshold(image).labels)


def _specks_and_holes() -> np.ndarray:
    """Bright ground (200) with a dark 40×40 square (50) holding a 3×3 and a 10×10 bright hole,
    and 12 dark specks of 1 or 2×2 pixels outside it."""
    image = np.full((96, 96), 200.0)
    image[10:50, 10:50] = 50.0
    image[20:23, 20:23] = 200.0  # 9 px hole
    image[30:40, 30:40] = 200.0  # 100 px hole
    for k in range(6):
        image[60 + 5 * k, 70] = 50.0
        image[60 + 5 * k : 62 + 5 * k, 85:87] = 50.0
    return image


def test_min_size_removes_specks_and_small_holes_are_filled():
    image = _specks_and_holes()
    raw = otsu_threshold(image, denoise=False).labels
    assert _n_components(raw == 1) == 13  # square + 12 specks
    # size filter alone (sigma=0): the specks go, the square stays
    clean = otsu_threshold(image, sigma=0).labels
    assert _n_components(clean == 1) == 1
    assert clean[10:50, 10:50].sum() == 40 * 40 - 100  # the 9 px hole filled, the 100 px one kept
    assert clean[20:23, 20:23].all() and not clean[30:40, 30:40].any()
    # without hole filling the small hole stays
    kept = otsu_threshold(image, sigma=0, fill_holes=False).labels
    assert not kept[20:23, 20:23].any() and _n_components(kept == 1) == 1
    # a larger minimum size fills the big hole too; min_size=0 keeps every speck
    assert otsu_threshold(image, sigma=0, min_size=101).labels[10:50, 10:50].all()
    assert _n_components(otsu_threshold(image, sigma=0, min_size=0).labels == 1) == 13


def test_sizes_in_micrometres_are_converted_by_the_pixel_size():
    image, _ = _noisy_disk()
    # σ = 0.1 µm at 0.05 µm/px is 2 px; 0.04 µm² at 0.05 µm/px is 16 px
    um = derivative_threshold(image, sigma_um=0.1, min_size_um2=0.04, pixel_size=0.05)
    px = derivative_threshold(image, sigma=2.0, min_size=16)
    assert um.sigma_px == pytest.approx(2.0) and um.min_size_px == pytest.approx(16.0)
    assert um.threshold == pytest.approx(px.threshold)
    np.testing.assert_array_equal(um.labels, px.labels)
    # µm options replace the pixel ones; pixel_size alone changes nothing
    assert otsu_threshold(image, sigma=5, sigma_um=0.05, pixel_size=0.05).sigma_px == pytest.approx(1.0)
    np.testing.assert_array_equal(otsu_threshold(image, pixel_size=0.05).labels, otsu_threshold(image).labels)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"sigma": -1}, "sigma"),
        ({"sigma": "wide"}, "sigma"),
        ({"sigma_um": 0.1}, "sigma_um.*pixel_size"),
        ({"min_size_um2": 0.5}, "min_size_um2.*pixel_size"),
        ({"sigma_um": 0.1, "pixel_size": 0}, "pixel_size"),
        ({"min_size": float("nan")}, "min_size"),
        ({"denoise": "yes"}, "denoise"),
        ({"fill_holes": None}, "fill_holes"),
    ],
)
@pytest.mark.parametrize("method", ["otsu", "derivative"])
def test_bad_denoise_options_are_one_line_parameter_errors(method, options, match):
    with pytest.raises(ParameterError, match=match) as info:
        threshold_image(np.zeros((8, 8)), method=method, **options)
    assert "\n" not in str(info.value)


def test_nan_pixels_stay_out_of_the_smoothing():
    image, disk = _noisy_disk()
    image[:5, :5] = np.nan
    labels = otsu_threshold(image).labels
    assert not labels[:5, :5].any()  # NaN is never <= t, as without denoising
    assert score_segmentation(disk, labels, classes=(0, 1)).iou[1] > 0.95


def test_segment_files_and_cli_use_the_files_pixel_size(tmp_path):
    image, _ = _noisy_disk()
    image = np.clip(image, 0, 255).astype(np.uint8)
    write_micrograph(tmp_path / "img" / "disk.tif", image, pixel_size=0.05)
    # sigma_um needs a pixel size: the file's is used (0.1 µm / 0.05 µm/px = 2 px)
    segment_files(tmp_path / "img", tmp_path / "lib", method="otsu", options={"sigma_um": 0.1}, overlay=False)
    expected = otsu_threshold(image, sigma=2.0).labels
    np.testing.assert_array_equal(read_micrograph(tmp_path / "lib" / "disk.tif").image, expected)
    rc = main(["segment", str(tmp_path / "img"), "--method", "otsu", "--sigma-um", "0.1", "--no-overlay",
               "--out", str(tmp_path / "cli")])  # fmt: skip
    assert rc == 0
    np.testing.assert_array_equal(read_micrograph(tmp_path / "cli" / "disk.tif").image, expected)
    assert main(["segment", str(tmp_path / "img"), "--method", "otsu", "--no-denoise", "--no-overlay",
                 "--out", str(tmp_path / "raw")]) == 0  # fmt: skip
    raw = otsu_threshold(image, denoise=False).labels
    np.testing.assert_array_equal(read_micrograph(tmp_path / "raw" / "disk.tif").image, raw)
    # no pixel size anywhere: a ParameterError (exit code 2)
    write_micrograph(tmp_path / "nopx" / "disk.tif", image)
    with pytest.raises(ParameterError, match="pixel_size"):
        segment_files(tmp_path / "nopx", tmp_path / "x", method="otsu", options={"sigma_um": 0.1}, overlay=False)


def test_segment_help_says_where_the_hybrid_pays_off(capsys):
    assert main(["segment", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("--sigma-um", "--min-size", "--no-denoise", "shine through", "particle images", "Otsu's CPU"):
        assert phrase in text
