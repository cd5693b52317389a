"""Run-length reading of the burned-in scale bar (issue 21, item 7; used by issue 15)."""

from __future__ import annotations

import doctest
import json
import warnings

import numpy as np
import pytest

import semlab.io.scalebar
from semlab.data._databar import add_databar
from semlab.errors import ParameterError
from semlab.io import ScaleBar, locate_databar, read_micrograph, read_scale_bar
from semlab.io.scalebar import parse_length_label


def test_docstring_examples_run():
    result = doctest.testmod(semlab.io.scalebar, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize(
    ("width", "height", "pixel_size", "dtype"),
    [
        (300, 280, 0.05, np.uint8),
        (512, 400, 0.013, np.uint8),
        (1024, 700, 2.0, np.uint16),
        (2048, 1400, 0.003, np.uint8),
    ],
)
def test_synthetic_fei_bar_has_its_exact_length(width, height, pixel_size, dtype):
    rng = np.random.default_rng(0)
    content = np.clip(rng.normal(120, 30, (height, width)), 0, 255).astype(dtype)
    image, row, info = add_databar(content, pixel_size=pixel_size)
    bar = read_scale_bar(image, row, label_um=info["scale_bar_um"])
    assert isinstance(bar, ScaleBar)
    assert bar.length_px == info["scale_bar_px"]
    assert bar.col_stop - bar.col_start == bar.length_px
    assert row < bar.row < image.shape[0]
    assert bar.label_source == "caller"
    assert bar.pixel_size == pytest.approx(info["scale_bar_um"] / info["scale_bar_px"])
    assert abs(bar.pixel_size / pixel_size - 1) < 0.02  # the drawn bar is rounded to whole pixels
    assert json.loads(json.dumps(bar.to_dict()))["length_px"] == info["scale_bar_px"]


def _zeiss_band(length: int, *, logo: bool = True, split: bool = False) -> np.ndarray:
    """300 × 400 micrograph over a Zeiss-style band with a black scale bar (and a logo box)."""
    rng = np.random.default_rng(1)
    image = np.clip(rng.normal(120, 30, (300, 400)), 0, 255).astype(np.uint8)
    image[260] = 0
    image[261:] = 255
    image[299] = image[298 - 5]  # a stray row at the very bottom
    image[275:277, 20 : 20 + length] = 0  # the bar, 2 rows thick ...
    image[272:280, 20:22] = image[272:280, 18 + length : 20 + length] = 0  # ... with end ticks
    if split:  # the label written over the middle of the bar, FEI-style
        image[275:277, 20 + length // 2 - 10 : 20 + length // 2 + 10] = 255
    if logo:
        image[266:290, 330:380] = 0  # a filled logo box, longer than a short bar
    for c in range(120, 300, 12):  # "text": short strokes
        image[282:290, c : c + 2] = 0
        image[282:284, c : c + 8] = 0
    return image


@pytest.mark.parametrize("length", [14, 40, 77, 200])
def test_synthetic_zeiss_bar_beats_logo_and_text(length):
    bar = read_scale_bar(_zeiss_band(length), 260, label_um=10.0)
    assert bar is not None
    assert (bar.length_px, bar.row, bar.thickness, bar.col_start) == (length, 275, 2, 20)
    assert bar.pixel_size == pytest.approx(10.0 / length)


def test_bar_split_by_its_label_counts_end_to_end():
    bar = read_scale_bar(_zeiss_band(120, split=True), 260)
    assert bar is not None and bar.length_px == 120
    assert bar.pixel_size is None and bar.label_um is None and bar.label_source is None


def test_label_from_metadata_and_caller_precedence():
    image = _zeiss_band(100)
    assert read_scale_bar(image, 260, metadata={"scale_bar_um": 5.0}).pixel_size == pytest.approx(0.05)
    from_text = read_scale_bar(image, 260, metadata={"scale_bar_label": "200 nm"})
    assert from_text.label_um == pytest.approx(0.2) and from_text.label_source == "metadata"
    caller = read_scale_bar(image, 260, label_um=1.0, metadata={"scale_bar_um": 5.0})
    assert caller.label_um == 1.0 and caller.label_source == "caller"
    assert read_scale_bar(image, 260, metadata={"scale_bar_label": "HFW"}).label_um is None


def test_parse_length_label():
    assert parse_length_label("500 µm") == 500.0
    assert parse_length_label("2mm") == 2000.0
    assert parse_length_label("1.5 um") == 1.5
    assert parse_length_label("200 nm") == pytest.approx(0.2)
    assert parse_length_label("12 px") is None


def test_no_line_gives_none_and_bad_arguments_raise():
    image = np.full((100, 200), 128, np.uint8)
    image[80] = 255
    image[81:] = 0
    assert read_scale_bar(image, 80) is None
    assert read_scale_bar(np.zeros((50, 50), np.uint8), 40) is None
    with pytest.raises(ParameterError, match="databar_row"):
        read_scale_bar(image, 100)
    with pytest.raises(ParameterError, match="databar_row"):
        read_scale_bar(image, 80.0)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="label_um"):
        read_scale_bar(image, 80, label_um=-1.0)
    with pytest.raises(ParameterError, match="2-D"):
        read_scale_bar(np.zeros((4, 4, 3)), 2)


#: The labels printed next to the shared files' scale bars, read off the images by eye
#: (rendered crops of the data bars): FEI "500 µm", Zeiss 1k "200 µm", Zeiss 512 px "200 nm".
#: Measured lengths: FEI 151 px (341-491, split by its label, rows 448-450), Zeiss 1k 78 px
#: (21-98 with end ticks, rows 733-734), Zeiss 512 px 18 px (11-28, row 373).
REAL = {
    "FEI-Helios-Ebeam-8bits.tif": (500.0, 151),
    "FEI-Helios-Ebeam-16bits.tif": (500.0, 151),
    "test_tiff_Zeiss_SEM_1k.tif": (200.0, 78),
    "test_tiff_Zeiss_SEM_512pix.tif": (0.2, 18),
}


def _read(sem_dir, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_micrograph(sem_dir / name)


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_scale_bars_match_the_metadata_pixel_size(sem_dir, name):
    m = _read(sem_dir, name)
    image = np.asarray(m.image)
    row, _ = locate_databar(image, m.metadata)
    label_um, length = REAL[name]
    bar = read_scale_bar(image, row, label_um=label_um)
    assert bar is not None and bar.length_px == length
    pixel_size = m.pixel_size
    if pixel_size is None:
        # The 512-px Zeiss file has no ap_image_pixel_size; its ap_width (5.965 µm) is the
        # field width, 512 px wide here (ap_pixel_size 5.825 nm is at the 1024-px store size).
        width = m.metadata["raw"]["ap_width"]
        assert width[2] == "µm"
        pixel_size = width[1] / image.shape[1]
    assert abs(bar.pixel_size / pixel_size - 1) < 0.06
