"""segment -> quantify -> score-segmentation chains: shapes, sidecars, mask conventions, calibrations."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from semlab.cli import main
from semlab.io import write_micrograph
from semlab.segment import NO_DATA, read_labels, score_folders, segment_files

SEM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sem-metadata"


def _film(seed: int, *, rows: int = 60, bar: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Bright discs on a dark field (a data bar of ``bar`` white-on-black rows below) and their mask."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[:rows, :80]
    mask = np.zeros((rows, 80), bool)
    for r, c in rng.integers(12, [rows - 12, 68], size=(5, 2)):
        mask |= (rr - r) ** 2 + (cc - c) ** 2 < 7**2
    image = np.where(mask, 190, 40) + rng.integers(-10, 10, mask.shape)
    if bar:
        image = np.vstack([image, np.zeros((bar, 80))])
        image[rows + 3 : rows + 6, 5:30] = 255  # a "scale bar" in the data bar
    return image.astype(np.uint8), mask


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    img = tmp_path / "img"
    for i in range(3):
        image, _ = _film(i)
        write_micrograph(img / f"f{i}.tif", image, pixel_size=0.02 if i < 2 else None)
    return img


def test_segment_then_quantify_with_overlays_in_the_folder(folder, tmp_path, capsys):
    seg = tmp_path / "seg"
    assert main(["segment", str(folder), "-m", "otsu", "--phase-name", "particle", "-o", str(seg)]) == 0
    out = capsys.readouterr().out
    assert "measured phase: particle = bright (auto, rule border" in out
    assert sorted(p.name for p in seg.glob("*_overlay.png")) == [
        "f0_overlay.png",
        "f1_overlay.png",
        "f2_overlay.png",
    ]
    side = json.loads((seg / "f0_labels.json").read_text())
    assert (
        side["classes"] == {"0": "background", "1": "particle"}
        and side["foreground"]["foreground"] == "bright"
    )
    # quantify reads the labels (not the overlays, sidecars or CSV) with each file's pixel size
    table = tmp_path / "q.csv"
    rc = main(["quantify", str(seg), "-o", str(table)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    rows = list(csv.DictReader(table.open()))
    assert [r["image"] for r in rows] == ["f0.tif", "f1.tif", "f2.tif"]
    assert {r["phase_name"] for r in rows} == {"particle"}
    # mixed calibrations: per-file rows, the uncalibrated file in pixels, never pooled
    assert [r["length_unit"] for r in rows] == ["µm", "µm", "px"]
    assert rows[2]["mean_area_um2"] == "" and rows[2]["mean_area_px2"] != ""
    assert rows[0]["mean_area_px2"] == "" and float(rows[0]["mean_area_um2"]) > 0
    assert "pixel size unknown for f2.tif" in captured.err and "calibrate those files" in captured.err
    assert "measured phase particle" in captured.out


def test_quantify_measures_the_named_phase_and_ignores_no_data(tmp_path):
    from semlab.quantify import descriptor_table

    image, mask = _film(4, bar=12)
    src = write_micrograph(tmp_path / "img" / "a.tif", image, pixel_size=0.05)
    table = segment_files([src], tmp_path / "seg", method="otsu", phase_name="particle", overlay=False)
    labels = read_labels(table.loc[0, "labels_file"])
    assert labels.labels.shape == image.shape  # the input's shape
    row = int(np.flatnonzero((labels.labels == NO_DATA).all(axis=1))[0])
    assert row == 60 and labels.measured_phase == "particle"
    df = descriptor_table([table.loc[0, "labels_file"]])
    # the phase fraction is of the micrograph rows only, and equals the segmenter's own
    assert df.loc[0, "phase_fraction"] == pytest.approx(table.loc[0, "measured_fraction"], abs=1e-9)
    assert df.loc[0, "phase_fraction"] == pytest.approx(mask.mean(), abs=0.02)


@pytest.mark.parametrize(
    ("convention", "expected"),
    [("0/255", "truth 255->1"), ("0/1", ""), ("instances", "instance ids")],
)
def test_score_accepts_binary_masks_of_any_values_and_either_size(tmp_path, convention, expected):
    image, mask = _film(7, bar=12)
    src = write_micrograph(tmp_path / "img" / "a.tif", image)
    segment_files([src], tmp_path / "seg", method="otsu", overlay=False)
    from scipy.ndimage import label

    truth = {"0/255": mask * 255, "0/1": mask * 1, "instances": label(mask)[0]}[convention].astype(np.uint16)
    for name, t in (("cropped", truth), ("full", np.vstack([truth, np.zeros((12, 80), truth.dtype)]))):
        write_micrograph(tmp_path / name / "a.png" if t.max() < 256 else tmp_path / name / "a.tif", t)
        df = score_folders(tmp_path / name, tmp_path / "seg")
        note = df.loc[0, "truth_mapping"]
        assert (expected in note) if expected else note == ""
        assert df.loc[0, "classes"] == "0=background 1=bright phase"
        assert df.loc[0, "iou_class_1"] > 0.9
        assert df.loc[0, "n_pixels"] == 60 * 80  # the data bar is no data: left out
        assert (df.loc[0, "rows"] != "") == (name == "cropped")


def test_score_cli_reports_the_mapping(tmp_path, capsys):
    image, mask = _film(8)
    src = write_micrograph(tmp_path / "img" / "a.tif", image)
    segment_files([src], tmp_path / "seg", method="otsu", overlay=False)
    write_micrograph(tmp_path / "truth" / "a.png", (mask * 255).astype(np.uint8))
    assert (
        main(["score-segmentation", "--truth", str(tmp_path / "truth"), "--pred", str(tmp_path / "seg")]) == 0
    )
    out = capsys.readouterr().out
    assert (
        "truth values mapped: truth 255->1" in out
        and "prediction classes: 0 = background, 1 = bright phase" in out
    )


def test_real_sem_files_keep_their_shape_and_chain(tmp_path, capsys):
    files = [SEM / n for n in ("test_tiff_Zeiss_SEM_1k.tif", "FEI-Helios-Ebeam-16bits.tif")]
    if not all(f.is_file() for f in files):
        pytest.skip(f"real SEM files not found in {SEM}")
    from semlab.io import read_micrograph

    seg = tmp_path / "seg"
    assert main(["segment", *map(str, files), "-m", "otsu", "-o", str(seg)]) == 0
    captured = capsys.readouterr()
    for f in files:
        m = read_micrograph(f)
        lab = read_labels(seg / f"{f.stem}.tif")
        assert lab.labels.shape == m.image.shape  # 768 x 1024 for the Zeiss file, bar included
        assert lab.pixel_size == pytest.approx(m.pixel_size)
    zeiss = read_labels(seg / "test_tiff_Zeiss_SEM_1k.tif")
    bar = (zeiss.labels == NO_DATA).all(axis=1)
    assert bar[-1] and 0 < bar.sum() < 100  # the data-bar rows, and only they, hold no data
    # the FEI 16-bit test frame is blank: a warning, printed
    assert "blank" in captured.err and "FEI-Helios-Ebeam-16bits" in captured.out
    assert main(["quantify", str(seg), "-o", str(tmp_path / "q.csv")]) == 0
    err = capsys.readouterr().err
    assert "FEI-Helios-Ebeam-16bits.tif (from segment): blank" in err  # the warning travels with the labels
    rows = list(csv.DictReader((tmp_path / "q.csv").open()))
    assert len(rows) == 2 and all(r["length_unit"] == "µm" for r in rows)


def test_every_shared_sem_file_chains_segment_then_quantify(tmp_path, capsys):
    # The done-when, on the whole folder: the multipage Zeiss file is a stack of two
    # different frames; quantify gives one 2-D row per page (said in a warning), not an error.
    if not SEM.is_dir():
        pytest.skip(f"real SEM files not found in {SEM}")
    files = sorted(SEM.glob("*.tif"))
    seg = tmp_path / "seg"
    assert main(["segment", *map(str, files), "-m", "otsu", "-o", str(seg)]) == 0
    capsys.readouterr()
    assert main(["quantify", str(seg), "-o", str(tmp_path / "q.csv")]) == 0
    err = capsys.readouterr().err
    rows = list(csv.DictReader((tmp_path / "q.csv").open()))
    names = [r["image"] for r in rows]
    assert "ZEISS_SEM_multipage.tif page 1" in names and "ZEISS_SEM_multipage.tif page 2" in names
    assert "label pages quantified as separate 2-D images" in err
    assert len(rows) == len(files) + 1
