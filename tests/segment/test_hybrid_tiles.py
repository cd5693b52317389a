"""Large images: hybrid superpixels in tiles, overlays shown reduced (labels stay full size)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.segment import hybrid_annotation, overlay_panels, save_overlay

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def film(shape=(300, 420), seed=0):
    from semlab.data import render_sintered_film

    m = render_sintered_film(4, shape=shape, rng=seed, databar=False, dtype="uint16")
    return np.asarray(m.image)


def test_tiles_keep_superpixel_ids_unique_and_inside_one_tile():
    img = film()
    ann = hybrid_annotation(img, tile_size=128)  # 300 x 420 > 128^2: 3 x 4 tiles
    sp = ann.superpixels
    assert sp.dtype == np.int32 and sp.min() == 0
    assert ann.n_superpixels == len(np.unique(sp)) == sp.max() + 1
    rows = np.linspace(0, 300, 4).round().astype(int)
    cols = np.linspace(0, 420, 5).round().astype(int)
    tile_of = np.searchsorted(rows, np.arange(300), side="right")[:, None] * 10 + np.searchsorted(
        cols, np.arange(420), side="right"
    )
    for k in np.unique(sp)[::7]:
        assert len(np.unique(tile_of[sp == k])) == 1
    # each superpixel's mean is the mean of its pixels
    k = int(sp[150, 200])
    assert ann.superpixel_means[k] == pytest.approx(img[sp == k].mean())
    # one tile when the image fits: the same result as no tiling
    whole = hybrid_annotation(img, tile_size=None)
    fits = hybrid_annotation(img, tile_size=420)
    assert np.array_equal(whole.labels, fits.labels) and np.array_equal(whole.superpixels, fits.superpixels)
    with pytest.raises(ParameterError, match="tile_size"):
        hybrid_annotation(img, tile_size=8)


def test_tiling_changes_real_sem_labels_by_a_small_measured_amount():
    files = sorted((DATA / "nanofiber-defects" / "images").glob("*.png"))[:2]
    files += sorted((DATA / "nanowires-deepsem" / "images").glob("*.png"))[:1]
    if not files:
        pytest.skip(f"real SEM images not found under {DATA}")
    from semlab.io import read_micrograph

    for f in files:
        img = read_micrograph(f).image
        a = hybrid_annotation(img, foreground="dark", tile_size=None)
        b = hybrid_annotation(img, foreground="dark", tile_size=512)  # 2 x 2 tiles: a worst case
        assert b.n_superpixels != a.n_superpixels  # the tiles were used
        assert (a.labels == b.labels).mean() >= 0.95
        assert abs(np.isin(a.labels, (1, 2)).mean() - np.isin(b.labels, (1, 2)).mean()) <= 0.005
        assert a.threshold == b.threshold  # thresholds are global, not per tile


def test_overlay_of_a_large_image_is_reduced_with_all_label_colours(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60000, (300, 500)).astype(np.uint16)
    lab = np.zeros((300, 500), np.uint8)
    lab[:, 250:] = 1
    lab[1, 1] = 2  # a single pixel off the 1/4 grid: absent from the reduced labels
    full = overlay_panels(img, lab, max_side=None)
    small = overlay_panels(img, lab, max_side=128, classes={0: "solid", 1: "pore", 2: "rare"}, pixel_size=0.01)
    assert full.shape[:2] == (300 + 14, 2 * 500 + 4)
    f = 4  # ceil(500 / 128)
    assert small.shape[1] == 2 * 125 + 4 and small.shape[0] > 75 + 14  # 75 x 125 panels + key strip
    # colours as in the full overlay: label 1 is orange-ish there and here (values sorted 0, 1, 2)
    panel = small[14 : 14 + 75, 125 + 4 :]
    assert panel.shape[:2] == (75, 125)
    orange = panel[10, 100].astype(int)
    assert orange[0] > orange[2]  # (255, 127, 14) blended
    grey = small[14 : 14 + 75, :125, 0]
    blocks = img.reshape(75, f, 125, f).mean(axis=(1, 3)).astype(np.float32)  # f x f block means
    lo, hi = np.percentile(blocks, [0.5, 99.5])
    expected = np.rint(np.clip((blocks.astype(np.float64) - lo) / (hi - lo), 0, 1) * 255)
    assert np.array_equal(grey[:40], expected[:40])  # rows above the scale bar
    p = save_overlay(tmp_path / "o.png", img, lab, max_side=128)
    from PIL import Image

    with Image.open(p) as im:
        assert im.size == (2 * 125 + 4, 75 + 14)
    with pytest.raises(ParameterError, match="max_side"):
        overlay_panels(img, lab, max_side=4)


def test_segment_files_overlay_side_option_keeps_full_size_labels(tmp_path):
    from PIL import Image

    from semlab.io import write_micrograph
    from semlab.segment import read_labels, segment_files

    img = film((200, 300))
    write_micrograph(tmp_path / "a.tif", img, pixel_size=0.01)
    table = segment_files([tmp_path / "a.tif"], tmp_path / "out", method="otsu", overlay=64, foreground="dark")
    assert read_labels(table.labels_file[0]).labels.shape == (200, 300)
    with Image.open(table.overlay_file[0]) as im:
        assert im.size[0] == 2 * 60 + 4  # ceil(300 / 5) per panel: factor 5 = ceil(300 / 64)
