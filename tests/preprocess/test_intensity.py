"""rescale_unit and equalize: ranges, monotone mapping, flat histograms, CLAHE contrast."""

from __future__ import annotations

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.preprocess import equalize, rescale_unit, unit_range


def _ks_uniform(values: np.ndarray) -> float:
    """Kolmogorov–Smirnov distance between the values' empirical CDF and U(0, 1)."""
    v = np.sort(values.ravel().astype(np.float64))
    n = v.size
    ecdf_hi = np.arange(1, n + 1) / n
    ecdf_lo = np.arange(0, n) / n
    return float(max(np.max(np.abs(ecdf_hi - v)), np.max(np.abs(v - ecdf_lo))))


# ----------------------------------------------------------------------------- rescale_unit


def test_rescale_by_dtype_range():
    u8 = np.array([[0, 51, 255]], dtype=np.uint8)
    u16 = np.array([[0, 13107, 65535]], dtype=np.uint16)
    np.testing.assert_allclose(rescale_unit(u8), [[0.0, 0.2, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(rescale_unit(u16), [[0.0, 0.2, 1.0]], rtol=1e-6)
    # A dim uint16 image stays dim: the dtype range, not the image's own range.
    assert rescale_unit(np.array([[100, 200]], dtype=np.uint16)).max() == pytest.approx(200 / 65535)


def test_rescale_floats_and_signed_by_min_max():
    np.testing.assert_allclose(rescale_unit(np.array([2866.0, 3320.0, 3774.0])), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(rescale_unit(np.array([-10, 0, 10], dtype=np.int16)), [0.0, 0.5, 1.0])
    out = rescale_unit(np.array([1.0, np.nan, 3.0]))
    assert out[0] == 0 and out[2] == 1 and np.isnan(out[1])
    assert rescale_unit(np.full((3, 3), 5.0)).tolist() == np.zeros((3, 3)).tolist()
    assert rescale_unit(np.array([0.2, 0.4]), mode="dtype").tolist() == pytest.approx([0.2, 0.4])


def test_rescale_mode_is_checked():
    with pytest.raises(ParameterError, match="mode"):
        rescale_unit(np.zeros(3), mode="percentile")
    assert unit_range(np.zeros(3, dtype=np.uint8)) == (0.0, 255.0)


# ----------------------------------------------------------------------------- global equalization


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_global_output_range_and_dtype(dtype):
    rng = np.random.default_rng(0)
    raw = rng.gamma(2.0, 1.0, size=(120, 140))
    image = (raw / raw.max() * (np.iinfo(dtype).max if dtype in (np.uint8, np.uint16) else 1000)).astype(
        dtype
    )
    out = equalize(image, method="global")
    assert out.dtype == np.float32 and out.shape == image.shape
    assert out.min() >= 0.0 and out.max() == pytest.approx(1.0)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_global_mapping_is_monotone(dtype):
    rng = np.random.default_rng(1)
    raw = rng.gamma(1.5, 1.0, size=(100, 100))
    image = (raw / raw.max() * (255 if dtype == np.uint8 else 60000)).astype(dtype)
    out = equalize(image, method="global")
    order = np.argsort(image.ravel(), kind="stable")
    assert np.all(np.diff(out.ravel()[order]) >= 0)  # brighter never becomes darker
    if dtype != np.float32:
        # Integer levels are their own bins: distinct levels stay distinct, in order.
        levels = np.unique(image)
        mapped = np.array([out[image == v][0] for v in levels])
        assert np.all(np.diff(mapped) > 0)


def test_global_flattens_the_histogram():
    rng = np.random.default_rng(2)
    image = rng.gamma(1.2, 1.0, size=(200, 200)).astype(np.float32)  # strongly skewed
    before = _ks_uniform(rescale_unit(image))
    after = _ks_uniform(equalize(image, method="global"))
    finer = _ks_uniform(equalize(image, method="global", nbins=4096))
    assert before > 0.3
    assert after < 0.03  # 256 bins: uniform to within the mass of the densest bin
    assert finer < 0.005  # more bins for float images, flatter still


def test_global_flattens_an_integer_histogram():
    rng = np.random.default_rng(3)
    image = np.clip(rng.exponential(25.0, size=(200, 200)), 0, 255).astype(np.uint8)
    hist_before = np.histogram(rescale_unit(image), bins=8, range=(0, 1))[0]
    hist_after = np.histogram(equalize(image, method="global"), bins=8, range=(0, 1))[0]
    cv = lambda h: h.std() / h.mean()  # noqa: E731
    assert cv(hist_before) > 1.5
    assert cv(hist_after) < 0.25


# ----------------------------------------------------------------------------- CLAHE and none


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_clahe_range(dtype):
    rng = np.random.default_rng(4)
    image = rng.normal(3300, 200, size=(96, 128))  # float range like an ImageJ float TIFF
    if dtype != np.float32:
        image = np.clip(image - 2500, 0, 255 if dtype == np.uint8 else 65535)
    out = equalize(image.astype(dtype), method="clahe", clip_limit=0.02, kernel_size=(24, 32))
    assert out.dtype == np.float32 and out.shape == image.shape
    assert out.min() >= 0.0 and out.max() <= 1.0 and out.max() - out.min() > 0.5


def test_clahe_raises_local_contrast_in_a_dark_region():
    rng = np.random.default_rng(5)
    image = np.empty((128, 128))
    image[:, :64] = 0.10 + 0.02 * rng.normal(size=(128, 64))  # dark, low contrast
    image[:, 64:] = 0.80 + 0.02 * rng.normal(size=(128, 64))  # bright
    plain = equalize(image, method="none")
    local = equalize(image, method="clahe", clip_limit=0.03, kernel_size=32)
    inner = np.s_[16:-16, 8:48]  # away from the dark/bright edge
    assert local[inner].std() > 3 * plain[inner].std()


def test_none_is_rescale_unit():
    image = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    np.testing.assert_array_equal(equalize(image, method="none"), rescale_unit(image))


@pytest.mark.parametrize("method", ["global", "clahe"])
def test_constant_image_gives_zeros(method):
    out = equalize(np.full((16, 16), 9, dtype=np.uint8), method=method)
    assert out.dtype == np.float32 and np.all(out == 0)
    assert np.all(equalize(np.full((16, 16), 9, dtype=np.uint8), method="none") == np.float32(9 / 255))


def test_bad_arguments_name_the_parameter():
    image = np.zeros((8, 8), dtype=np.uint8)
    with pytest.raises(ParameterError, match="method"):
        equalize(image, method="adaptive")
    with pytest.raises(ParameterError, match="clip_limit"):
        equalize(image, method="clahe", clip_limit=0)
    with pytest.raises(ParameterError, match="kernel_size"):
        equalize(image, method="clahe", kernel_size=(4, 0))
    with pytest.raises(ParameterError, match="nbins"):
        equalize(image, nbins=1)
    with pytest.raises(ParameterError, match="2-D"):
        equalize(np.zeros((2, 8, 8)))


def test_global_on_wide_integer_range():
    image = np.random.default_rng(6).integers(0, 10**12, size=(60, 60), dtype=np.int64)
    out = equalize(image, method="global")
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() == pytest.approx(1.0)
    order = np.argsort(image.ravel())
    assert np.all(np.diff(out.ravel()[order]) >= 0)
