"""``semlab init`` / ``add`` / ``status``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from semlab.cli import main
from semlab.io import write_micrograph

TABLE = """image,sample,burst_count,cooling
a0.tif,s1,10,air
a1.tif,s1,10,air
a2.tif,s2,12,furnace
a3.tif,s2,12,furnace
"""


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        image = rng.integers(40, 220, size=(64, 80), dtype=np.uint8)
        image[48:] = 0
        image[53:57, 8:30] = 255
        write_micrograph(folder / f"a{i}.tif", image, pixel_size=0.05)
    (folder / "descriptors.csv").write_text(TABLE)
    return folder


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_init_add_status(tmp_path, images, capsys):
    ws = tmp_path / "study"
    code, out, _ = _run(capsys, "init", ws)
    assert code == 0 and "created workspace" in out
    code, out, _ = _run(capsys, "init", ws)
    assert code == 0 and "already a workspace" in out

    code, out, _ = _run(capsys, "add", ws, images, "--quiet")
    assert code == 0
    assert out.strip() == "added 4, already present 0"
    code, out, _ = _run(capsys, "add", ws, images)
    assert code == 0
    assert out.strip() == "added 0, already present 4"

    code, out, _ = _run(capsys, "add", ws, "--table", images / "descriptors.csv")
    assert code == 0
    assert out.strip() == "added 0, already present 4, table rows recorded 4"

    code, out, _ = _run(capsys, "status", ws)
    assert code == 0
    assert "images       4 (4 with a data bar" in out
    assert "samples      2" in out
    assert "0.05 µm ×4" in out
    assert "numeric      burst_count" in out and "categorical  cooling" in out
    code, out, _ = _run(capsys, "status", ws, "--json")
    data = json.loads(out)
    assert data["n_images"] == 4 and data["n_samples"] == 2
    assert data["pixel_sizes_um"] == [{"pixel_size_um": 0.05, "n_images": 4}]


def test_add_table_only_with_images_dir_and_pixel_size(tmp_path, images, capsys):
    ws = tmp_path / "study"
    _run(capsys, "init", ws)
    table = tmp_path / "descriptors.csv"
    table.write_text(TABLE)
    code, out, _ = _run(
        capsys,
        "add",
        ws,
        "--table",
        table,
        "--images-dir",
        images,
        "--pixel-size",
        "0.1",
        "--categorical",
        "burst_count",
    )
    assert code == 0, out
    assert out.strip() == "added 4, already present 0, table rows recorded 4"
    code, out, _ = _run(capsys, "status", ws, "--json")
    data = json.loads(out)
    assert data["pixel_sizes_um"] == [{"pixel_size_um": 0.1, "n_images": 4}]
    assert data["categorical_columns"] == ["burst_count", "cooling"]


def test_errors_are_one_line(tmp_path, images, capsys):
    ws = tmp_path / "study"
    code, _, err = _run(capsys, "add", ws, images)
    assert (
        code == 2
        and err.strip() == f"error: {ws}: no such workspace folder; create it with `semlab init {ws}`"
    )

    _run(capsys, "init", ws)
    bad = images / "bad.csv"
    bad.write_text(TABLE.replace("a3.tif,s2,12", "a3.tif,s2,twelve"))
    code, out, err = _run(capsys, "add", ws, "--table", bad)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "bad.csv row 5, column 'burst_count': 'twelve' is not a number" in err

    code, _, err = _run(capsys, "init", images)
    assert code == 2 and "not a semlab workspace" in err and len(err.strip().splitlines()) == 1

    code, _, err = _run(capsys, "add", ws)
    assert code == 2 and "give image files or folders, or --table" in err

    code, _, err = _run(capsys, "status", images)
    assert code == 2 and "not a semlab workspace" in err


@pytest.mark.parametrize("command", ["init", "add", "status"])
def test_help(command, capsys):
    code, out, _ = _run(capsys, command, "--help")
    assert code == 0
    assert "Usage" in out and "WORKSPACE" in out.upper()
