"""segment_files / score_folders reproduce ``semlab segment`` and ``semlab score-segmentation``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from semlab.cli import main
from semlab.errors import ParameterError
from semlab.io import read_micrograph, read_volume, write_micrograph
from semlab.segment import (
    HYBRID_CLASSES,
    phase_fractions,
    read_array,
    score_folders,
    segment_files,
    write_labels,
)


def _pair(seed: int, shape=(48, 64)):
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    truth = np.zeros(shape, np.uint8)
    for _ in range(5):
        r, c, rad = rng.integers(0, shape[0]), rng.integers(0, shape[1]), rng.integers(4, 8)
        truth[(rr - r) ** 2 + (cc - c) ** 2 <= rad**2] = 1
    image = np.clip(np.where(truth == 1, 60.0, 190.0) + rng.normal(0, 12, shape), 0, 255).astype(np.uint8)
    return image, truth


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    img, lab = tmp_path / "img", tmp_path / "lab"
    for i in range(3):
        image, truth = _pair(i)
        write_micrograph(img / f"s{i}.tif", image, pixel_size=0.01)
        write_micrograph(lab / f"s{i}.tif", truth)
    return {"img": img, "lab": lab, "root": tmp_path}


def test_phase_fractions_count_every_class():
    labels = np.array([[0, 1], [1, 2]])
    assert phase_fractions(labels, HYBRID_CLASSES) == {"solid": 0.25, "pore": 0.5, "shine_through": 0.25}
    assert phase_fractions(labels, {1: "pore"}) == {"pore": 0.5}  # other values count in the total
    with pytest.raises(ParameterError):
        phase_fractions(np.zeros((0, 3)), {0: "solid"})


def test_api_writes_the_same_files_as_the_cli(data, capsys):
    cli_out, api_out = data["root"] / "cli", data["root"] / "api"
    argv = ["segment", str(data["img"]), "--method", "hybrid", "--out", str(cli_out), "--truth", str(data["lab"])]
    assert main(argv) == 0
    # one line per file; indented lines under it name the measured phase (API change, issue 14)
    printed = [line for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")]
    table = segment_files(
        [data["img"]], api_out, method="hybrid", truth=data["lab"],
        options={"segment_area": 50.0, "compactness": 0.3, "smoothing": 1.0},
    )  # fmt: skip
    assert (cli_out / "phase_fractions.csv").read_text() == (api_out / "phase_fractions.csv").read_text()
    for i in range(3):
        a = read_micrograph(cli_out / f"s{i}.tif")
        b = read_micrograph(api_out / f"s{i}.tif")
        np.testing.assert_array_equal(a.image, b.image)
        assert b.pixel_size == pytest.approx(0.01)
        assert (api_out / f"s{i}_overlay.png").read_bytes() == (cli_out / f"s{i}_overlay.png").read_bytes()
    # the per-file table holds what the command prints
    assert list(table["file"]) == [str(data["img"] / f"s{i}.tif") for i in range(3)]
    rows = list(csv.DictReader((cli_out / "phase_fractions.csv").open()))
    for (_, row), csv_row, line in zip(table.iterrows(), rows, printed, strict=False):
        assert row["fraction_pore"] == pytest.approx(float(csv_row["fraction_pore"]), abs=1e-6)
        assert line.startswith(f"{Path(row['file']).name}: {row['shape']} -> ")
        assert f"pore {row['fraction_pore']:.1%}" in line
    assert sum(row["fraction_solid"] + row["fraction_pore"] + row["fraction_shine_through"]
               for _, row in table.iterrows()) == pytest.approx(3.0)  # fmt: skip


def test_api_stack_and_3d_labels(data):
    stack_dir = data["root"] / "stack"
    for i in range(3):
        write_micrograph(stack_dir / f"z{i:02d}.tif", _pair(10 + i)[0], pixel_size=0.02)
    out = data["root"] / "seg3d"
    progress: list[tuple[int, int]] = []
    table = segment_files(
        stack_dir, out, method="otsu", stack=True, foreground="dark", phase_name="pore",
        progress=lambda d, t: progress.append((d, t)),
    )  # fmt: skip
    assert progress == [(0, 1), (1, 1)]
    assert table.loc[0, "shape"] == (3, 48, 64)
    vol = read_volume(out / "stack.tif")
    assert vol.data.shape == (3, 48, 64)
    arr, px = read_array(out / "stack.tif")
    np.testing.assert_array_equal(arr, vol.data)
    rows = list(csv.DictReader((out / "phase_fractions.csv").open()))
    assert [r["slice"] for r in rows] == ["0", "1", "2"]
    mean_pore = np.mean([float(r["fraction_pore"]) for r in rows])
    assert table.loc[0, "fraction_pore"] == pytest.approx(mean_pore, abs=1e-5)


def test_write_labels_keeps_classes_and_pixel_size(tmp_path):
    labels = np.array([[0, 1], [2, 1]], np.uint8)
    write_labels(tmp_path / "l.tif", labels, pixel_size=0.5, metadata={"classes": {"0": "solid"}})
    m = read_micrograph(tmp_path / "l.tif")
    np.testing.assert_array_equal(m.image, labels)
    assert m.pixel_size == pytest.approx(0.5) and m.metadata["classes"] == {"0": "solid"}
    write_labels(tmp_path / "big.tif", np.array([[0, 300]]))
    assert read_micrograph(tmp_path / "big.tif").image.dtype == np.uint16


def test_score_folders_matches_the_cli(data, capsys):
    seg = data["root"] / "seg"
    segment_files(data["img"], seg, method="hybrid")
    cli_csv = data["root"] / "cli.csv"
    api_csv = data["root"] / "api.csv"
    argv = ["score-segmentation", "--truth", str(data["lab"]), "--pred", str(seg), "--merge", "2=1", "--out", str(cli_csv)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    table = score_folders(data["lab"], seg, merge={2: 1}, out=api_csv)
    assert cli_csv.read_text() == api_csv.read_text()
    assert list(table["file"]) == ["s0", "s1", "s2", "ALL"]
    assert f"all 3 images: mean IoU {table['mean_iou'].iloc[-1]:.4f}" in printed
    assert table["accuracy"].iloc[-1] > 0.9
    # the same merge as strings, and the unmerged scores see a third class
    assert score_folders(data["lab"], seg, merge=["2=1"])["mean_iou"].tolist() == table["mean_iou"].tolist()
    with pytest.raises(ParameterError, match="FROM=TO"):
        score_folders(data["lab"], seg, merge=["2-1"])


def test_score_folders_needs_every_prediction(data, tmp_path):
    pred = tmp_path / "pred"
    write_micrograph(pred / "s0.tif", np.zeros((48, 64), np.uint8))
    with pytest.raises(ParameterError, match="no prediction for s1.tif"):
        score_folders(data["lab"], pred)


def test_score_folders_applies_merges_at_once(data, tmp_path):
    """``{0: 1, 1: 0}`` swaps the classes (it used to chain into all zeros), and says so in the table."""
    truth, swapped = tmp_path / "truth", tmp_path / "swapped"
    for i in range(3):
        t = read_array(data["lab"] / f"s{i}.tif")[0]
        write_micrograph(truth / f"s{i}.tif", (1 - t).astype(np.uint8))  # the swapped truth
        write_micrograph(swapped / f"s{i}.tif", t)  # a perfect prediction, in the original class order
    for merge in ({0: 1, 1: 0}, ["0=1", "1=0"]):
        table = score_folders(truth, swapped, merge=merge)
        assert table["mean_iou"].tolist() == [1.0] * 4
        assert table["iou_class_0"].iloc[-1] == 1.0 and table["iou_class_1"].iloc[-1] == 1.0
        assert set(table["merge"]) == {"0=1 1=0"} and table.attrs["merge"] == {0: 1, 1: 0}
    assert score_folders(truth, truth)["merge"].iloc[-1] == "" and score_folders(truth, truth).attrs["merge"] == {}
    with pytest.raises(ParameterError, match="maps 1 twice"):
        score_folders(truth, swapped, merge=["1=0", "1=2"])
