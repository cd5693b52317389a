"""Image-quality flags: analytic cases and the thresholds checked on the shared real data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from semlab.errors import ParameterError
from semlab.io import read_micrograph
from semlab.preprocess import (
    BLANK_CONTRAST,
    BLUR_LIMIT,
    SATURATED_FRACTION,
    crop_databar,
    image_quality,
)


def _texture(shape=(256, 256), seed=0) -> np.ndarray:
    """Sharp random blobs with pixel noise, uint8 over most of the range."""
    rng = np.random.default_rng(seed)
    blobs = ndi.gaussian_filter(rng.normal(size=shape), 2.0)
    blobs = (blobs - blobs.mean()) / blobs.std()
    img = 128 + 40 * blobs + rng.normal(0, 8, shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_black_and_constant_frames_are_blank():
    black = image_quality(np.zeros((100, 120), np.uint8))
    assert "blank" in black.flags and black.near_constant and black.contrast == 0.0
    assert black.saturated_low == 1.0 and "saturated" in black.flags
    grey = image_quality(np.full((100, 120), 30000, np.uint16))
    assert grey.flags == ("blank",) and np.isnan(grey.blur)
    assert grey.messages[0].startswith("blank:")
    # a float image of one value, NaNs included, is blank too
    f = np.full((50, 50), 0.4, np.float32)
    f[0, 0] = np.nan
    assert image_quality(f).flags == ("blank",)


def test_contrast_is_the_robust_range_fraction():
    # a ramp over exactly half the uint8 range: the 2.5-97.5 % range is 95 % of that half
    ramp = np.tile(np.linspace(64, 191, 1000), (10, 1)).round().astype(np.uint8)
    q = image_quality(ramp)
    assert q.contrast == pytest.approx(0.95 * 127 / 255, abs=0.01)
    assert q.saturated_low == 0.0 and q.saturated_high == 0.0 and not q.near_constant


def test_sharp_texture_passes_and_its_blur_is_flagged():
    img = _texture()
    q = image_quality(img, pixel_size=0.01)
    assert q.ok and q.flags == () and q.messages == () and q.pixel_size == 0.01
    blurred = ndi.gaussian_filter(img.astype(float), 6).astype(np.uint8)
    qb = image_quality(blurred)
    assert qb.blur > q.blur and "out_of_focus" in qb.flags
    assert "blur effect" in qb.messages[qb.flags.index("out_of_focus")]


def test_clipped_image_is_saturated():
    img = _texture().astype(float)
    over = np.clip(img * 2.5, 0, 255).astype(np.uint8)  # over-exposed: > half at 255
    q = image_quality(over)
    assert q.saturated_high > SATURATED_FRACTION and q.flags == ("saturated",)
    assert "highest" in q.messages[0]


def test_rgb_and_errors():
    rgb = np.stack([_texture()] * 3, axis=-1)
    assert image_quality(rgb).contrast == pytest.approx(image_quality(_texture()).contrast)
    with pytest.raises(ParameterError, match="2-D grey or RGB"):
        image_quality(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ParameterError, match="pixel_size"):
        image_quality(_texture(), pixel_size=-1.0)


def _grey(path) -> np.ndarray:
    a = read_micrograph(path).image
    if a.ndim == 3:
        a = a[..., :3].mean(axis=-1).astype(np.uint8)
    return a


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
def test_thresholds_on_shared_real_sets(shared_data):
    """No real micrograph of the shared sets is flagged; its blank / clipped / blurred copy is."""
    folders = {
        "nanowires": shared_data / "nanowires-deepsem" / "images",
        "nanofibres": shared_data / "nanofiber-defects" / "images",
        "emps": shared_data / "segmentation" / "emps-train" / "images",
    }
    flagged = {}
    for name, folder in folders.items():
        files = sorted(folder.glob("*.png"))
        if not files:
            pytest.skip(f"{folder} has no images")
        flagged[name] = [p.name for p in files if image_quality(_grey(p)).flags]
    assert flagged == {name: [] for name in folders}
    # one real image, spoiled three ways
    img = _grey(sorted(folders["nanowires"].glob("*.png"))[0])
    assert "blank" in image_quality(np.zeros_like(img)).flags
    assert image_quality(np.full_like(img, 128)).flags == ("blank",)
    blurred = ndi.gaussian_filter(img.astype(float), 5).astype(np.uint8)
    assert image_quality(blurred).blur > BLUR_LIMIT
    assert "out_of_focus" in image_quality(blurred).flags
    over = np.clip(img.astype(float) * 4, 0, 255).astype(np.uint8)  # gain x4: half clipped
    assert "saturated" in image_quality(over).flags


@pytest.mark.filterwarnings("ignore")
def test_vendor_files(sem_dir):
    """Zeiss micrographs pass; the FEI Helios files are real black frames (flagged blank)."""
    for name in ("test_tiff_Zeiss_SEM_1k.tif", "test_tiff_Zeiss_SEM_512pix.tif"):
        img = read_micrograph(sem_dir / name).image
        assert image_quality(img).flags == (), name
        assert image_quality(crop_databar(img)).flags == (), name
    for name in ("FEI-Helios-Ebeam-8bits.tif", "FEI-Helios-Ebeam-16bits.tif"):
        q = image_quality(read_micrograph(sem_dir / name).image)
        assert "blank" in q.flags and q.contrast < BLANK_CONTRAST, name
