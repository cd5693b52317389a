"""``semlab crop`` and ``semlab patches`` on small synthetic TIFFs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from semlab.cli import main
from semlab.io import read_micrograph, write_micrograph

BAR_START = 100


def _with_bar(rng: np.random.Generator, shape=(130, 160)) -> np.ndarray:
    """uint8 micrograph with an FEI-like bar (bright line, black band, white strokes) from row 100."""
    image = np.clip(rng.normal(120, 25, size=shape), 0, 255).astype(np.uint8)
    image[BAR_START] = 250
    image[BAR_START + 1 :] = 0
    for c in range(6, shape[1] - 10, 7):
        image[BAR_START + 8 : BAR_START + 18, c : c + 3] = 255
    image[-1] = 250
    return image


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    folder = tmp_path / "raw"
    folder.mkdir()
    paths = {
        "bar": write_micrograph(folder / "bar.tif", _with_bar(rng), pixel_size=0.5),
        "plain": write_micrograph(
            folder / "plain.tif", rng.integers(0, 60000, size=(90, 120)).astype(np.uint16), pixel_size=0.25
        ),
        "unscaled": write_micrograph(
            folder / "unscaled.tif", rng.integers(0, 255, size=(80, 80)).astype(np.uint8)
        ),
        "meta": write_micrograph(
            folder / "meta.tif",
            rng.integers(0, 255, size=(80, 80)).astype(np.uint8),
            pixel_size=1.0,
            metadata={"databar_row": 70},
        ),
    }
    return paths


# ----------------------------------------------------------------------------- crop


def test_crop_detects_bars_and_keeps_pixel_size(files, tmp_path, capsys):
    out = tmp_path / "cropped"
    assert main(["crop", str(files["bar"]), str(files["plain"]), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "bar.tif: cut 30 rows from row 100 (detected)" in text
    assert "plain.tif: no data bar found" in text

    bar = read_micrograph(out / "bar.tif")
    original = read_micrograph(files["bar"])
    assert bar.image.shape == (BAR_START, 160)
    np.testing.assert_array_equal(bar.image, original.image[:BAR_START])
    assert bar.pixel_size == pytest.approx(0.5)
    assert bar.metadata["databar_rows_cut"] == 30
    assert "databar_row" not in bar.metadata  # the cropped file has no bar left

    plain = read_micrograph(out / "plain.tif")
    assert plain.image.dtype == np.uint16 and plain.image.shape == (90, 120)
    assert plain.pixel_size == pytest.approx(0.25)


def test_crop_prefers_the_metadata_row(files, tmp_path, capsys):
    out = tmp_path / "cropped"
    assert main(["crop", str(files["meta"]), "--out", str(out)]) == 0
    assert "cut 10 rows from row 70 (metadata)" in capsys.readouterr().out
    assert read_micrograph(out / "meta.tif").image.shape == (70, 80)
    assert main(["crop", str(files["meta"]), "--out", str(out), "--ignore-metadata"]) == 0
    assert "no data bar found" in capsys.readouterr().out
    assert read_micrograph(out / "meta.tif").image.shape == (80, 80)


def test_crop_never_overwrites_its_input(files, capsys):
    before = files["bar"].read_bytes()
    assert main(["crop", str(files["bar"]), "--out", str(files["bar"].parent)]) == 2
    assert "overwrite the input" in capsys.readouterr().err
    assert files["bar"].read_bytes() == before


def test_crop_refuses_name_clashes(files, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    clash = write_micrograph(other / "bar.tif", np.zeros((10, 10), dtype=np.uint8))
    assert main(["crop", str(files["bar"]), str(clash), "--out", str(tmp_path / "o")]) == 2
    assert "both be written" in capsys.readouterr().err


# ----------------------------------------------------------------------------- patches


def _load(path: Path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def test_patches_npz_and_csv(files, tmp_path, capsys):
    out = tmp_path / "p.npz"
    args = ["patches", str(files["bar"]), str(files["plain"]), "--n", "6", "--size", "32", "--seed", "1"]
    assert main([*args, "--out", str(out), "-q"]) == 0
    assert "wrote 12 patches" in capsys.readouterr().out
    d = _load(out)
    assert d["patches"].shape == (12, 32, 32) and d["patches"].dtype == np.float32
    assert 0 <= d["patches"].min() and d["patches"].max() <= 1
    assert d["image_index"].tolist() == [0] * 6 + [1] * 6
    assert [Path(f).name for f in d["files"]] == ["bar.tif", "plain.tif"]
    np.testing.assert_allclose(d["pixel_size_um"], [0.5, 0.25])
    # The data bar is cropped before sampling: no box reaches row 100 of bar.tif.
    bar_boxes = d["boxes"][d["image_index"] == 0]
    assert np.all(bar_boxes[:, 0] + bar_boxes[:, 2] <= BAR_START)

    with open(out.with_suffix(".csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12
    assert [int(r["row"]) for r in rows] == d["boxes"][:, 0].tolist()
    assert {Path(r["file"]).name for r in rows} == {"bar.tif", "plain.tif"}

    # Same seed, same patches; another seed, other patches.
    again = tmp_path / "again.npz"
    assert main([*args, "--out", str(again), "-q"]) == 0
    assert np.array_equal(_load(again)["patches"], d["patches"])
    other = tmp_path / "other.npz"
    assert main([*args[:-1], "2", "--out", str(other), "-q"]) == 0
    assert not np.array_equal(_load(other)["patches"], d["patches"])


def test_patches_values_are_the_scaled_crops(files, tmp_path):
    out = tmp_path / "p.npz"
    argv = ["patches", str(files["plain"]), "--n", "4", "--size", "16", "--no-flips", "--no-rotations"]
    assert main([*argv, "--out", str(out), "-q"]) == 0
    d = _load(out)
    image = read_micrograph(files["plain"]).image
    for patch, (r, c, h, w) in zip(d["patches"], d["boxes"], strict=True):
        np.testing.assert_array_equal(patch, (image[r : r + h, c : c + w] / 65535).astype(np.float32))


def test_patches_resample_and_equalize(files, tmp_path):
    out = tmp_path / "p.npz"
    argv = ["patches", str(files["bar"]), "--n", "5", "--size", "16", "--target-pixel-size", "1.0"]
    assert main([*argv, "--equalize", "clahe", "--out", str(out), "-q"]) == 0
    d = _load(out)
    # 100 x 160 px at 0.5 µm -> 50 x 80 px at 1.0 µm; every box lies inside that.
    assert np.all(d["boxes"][:, 0] + 16 <= 50) and np.all(d["boxes"][:, 1] + 16 <= 80)
    np.testing.assert_allclose(d["pixel_size_um"], [1.0])
    assert 0 <= d["patches"].min() and d["patches"].max() <= 1


def test_patches_errors_are_one_line(files, tmp_path, capsys):
    out = str(tmp_path / "p.npz")
    assert main(["patches", str(files["unscaled"]), "--target-pixel-size", "1", "--out", out, "-q"]) == 2
    err = capsys.readouterr().err
    assert "unscaled.tif: pixel size unknown" in err and "--pixel-size" in err
    assert main(["patches", str(files["plain"]), "--size", "224", "--out", out, "-q"]) == 2
    assert "plain.tif" in capsys.readouterr().err
    assert main(["patches", str(files["plain"]), "--equalize", "hist", "--out", out, "-q"]) == 2
    assert "--equalize" in capsys.readouterr().err
    assert main(["patches", str(files["plain"]), "--out", str(tmp_path / "p.h5"), "-q"]) == 2
    assert ".npz" in capsys.readouterr().err
    assert not (tmp_path / "p.npz").exists()


def test_help_lists_the_preprocess_commands(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps help to the terminal width
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "Preprocess" in text and "crop" in text and "patches" in text
    assert main(["patches", "--help"]) == 0
    assert "--target-pixel-size" in capsys.readouterr().out
