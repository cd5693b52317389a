"""Otsu and second-derivative thresholds on synthetic bimodal images with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.segment import derivative_threshold, otsu_threshold, threshold_image


def _bimodal(mu1, mu2, sigma, frac_dark, n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    k = int(n * frac_dark)
    values = np.r_[rng.normal(mu1, sigma, k), rng.normal(mu2, sigma, n - k)]
    truth = np.r_[np.ones(k, np.uint8), np.zeros(n - k, np.uint8)]
    order = rng.permutation(n)
    return values[order].reshape(400, -1), truth[order].reshape(400, -1)


def test_otsu_symmetric_mixture_splits_at_the_midpoint():
    # Equal weights and spreads: by symmetry the between-class variance peaks at (μ1 + μ2) / 2.
    image, truth = _bimodal(60, 180, 20, 0.5)
    t, labels = otsu_threshold(image, denoise=False)  # pixels are an iid mixture: no spatial noise
    assert abs(t - 120) < 2.0
    # labels: 1 = dark; the error rate is the Gaussian tail beyond 3σ on either side.
    expected_error = 0.5 * math.erfc(3 / math.sqrt(2))
    assert abs(np.mean(labels != truth) - expected_error) < 0.002


@pytest.mark.parametrize("frac_dark", [0.2, 0.5, 0.8])
def test_derivative_threshold_is_the_knee_of_the_dark_peak(frac_dark):
    # For a Gaussian peak the second derivative of the histogram is largest at μ + √3 σ_eff,
    # where σ_eff includes the histogram smoothing (3 bins of (max - min) / 256 grey levels).
    mu1, mu2, sigma = 60.0, 180.0, 10.0
    image, _ = _bimodal(mu1, mu2, sigma, frac_dark)
    bin_width = (image.max() - image.min()) / 256
    sigma_eff = math.hypot(sigma, 3 * bin_width)
    res = derivative_threshold(image, denoise=False)  # iid pixels: the raw histogram
    assert res.method == "derivative"
    assert abs(res.threshold - (mu1 + math.sqrt(3) * sigma_eff)) < 3.0
    # the bright side: the foot of the solid peak at μ2 - √3 σ_eff
    bright = derivative_threshold(image, side="bright", denoise=False).threshold
    assert abs(bright - (mu2 - math.sqrt(3) * sigma_eff)) < 4.0


def test_derivative_threshold_on_uint8_image_and_labels():
    image, truth = _bimodal(50, 200, 8, 0.3)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    t, labels = derivative_threshold(image, denoise=False)
    # integer images: one bin per grey level, smoothed with σ = 3 bins
    assert abs(t - (50 + math.sqrt(3) * math.hypot(8, 3))) < 3.0
    assert labels.dtype == np.uint8 and labels.shape == image.shape
    assert np.array_equal(labels, (image <= t).astype(np.uint8))
    # the knee is at ~1.7 σ: about 4 % of dark pixels lie above it, no bright pixel below it
    assert np.mean(labels[truth == 0]) == 0
    assert 0.9 < np.mean(labels[truth == 1]) < 0.99


def test_threshold_result_to_dict_and_dispatch():
    image, _ = _bimodal(60, 180, 15, 0.25, n=40_000)
    r = threshold_image(image, method="otsu", denoise=False)
    d = r.to_dict()
    assert d["method"] == "otsu" and d["threshold"] == r.threshold
    assert abs(d["pore_fraction"] - 0.25) < 0.01


def test_constant_and_nan_images():
    t, labels = otsu_threshold(np.full((8, 8), 7.0))
    assert t == 7.0 and labels.all()
    image = np.full((10, 10), np.nan)
    with pytest.raises(ParameterError, match="no finite"):
        derivative_threshold(image)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: otsu_threshold(np.zeros((2, 3, 4))), "2-D"),
        (lambda: threshold_image(np.zeros((4, 4)), method="mean"), "method"),
        (lambda: derivative_threshold(np.zeros((4, 4)), side="left"), "side"),
        (lambda: derivative_threshold(np.zeros((4, 4)), smoothing=-1), "smoothing"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ParameterError, match=match):
        call()
