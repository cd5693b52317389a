"""predict / train bad inputs (issue 19): one-line errors and stated notes."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from semlab.cli import main
from semlab.errors import ParameterError
from semlab.io import Micrograph, write_micrograph
from semlab.learn.predict import PIXEL_SIZE_RANGE_UM, check_input


def _one_line(capsys, rc: int, *needles: str) -> None:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize("value", ["1e9", "1e-9", "nan", "-1", "0"])
def test_predict_pixel_size_out_of_range(tmp_path, capsys, value):
    img = tmp_path / "a.tif"
    write_micrograph(img, np.zeros((64, 64), np.uint8), pixel_size=0.01)
    rc = main(["predict", str(tmp_path / "no-run"), str(img), "--pixel-size", value])
    _one_line(capsys, rc, "--pixel-size")


def test_check_input_bounds():
    ok = Micrograph(np.zeros((64, 64), np.uint8), 0.01, {})
    check_input(ok, "ok")
    lo, hi = PIXEL_SIZE_RANGE_UM
    for px in (lo / 10, hi * 10):
        with pytest.raises(ParameterError, match="outside what an SEM image can have"):
            check_input(Micrograph(np.zeros((64, 64), np.uint8), px, {}), "x")
    with pytest.raises(ParameterError, match="too small to predict from"):
        check_input(np.zeros((1, 1), np.uint8), "one")


@pytest.mark.slow
def test_predict_one_pixel_image_and_train_note(series_ws, tmp_path, capsys):
    ws = tmp_path / "ws"
    shutil.copytree(series_ws, ws)
    series = series_ws.parent / "series"
    lines = (series / "descriptors.csv").read_text().splitlines()
    header = lines[0].split(",")
    col = header.index("burst_count")
    cells = lines[1].split(",")
    cells[col] = ""
    (tmp_path / "t.csv").write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    assert main(["add", str(ws), "--table", str(tmp_path / "t.csv"), "--images-dir", str(series), "-q"]) == 0
    capsys.readouterr()
    rc = main(
        ["train", str(ws), "--target", "burst_count", "--model", "logreg", "--out", str(tmp_path / "run")]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "note: 1 of 16 image(s) have no 'burst_count' value" in err
    one = tmp_path / "one.tif"
    write_micrograph(one, np.full((1, 1), 100, np.uint8), pixel_size=0.008)
    rc = main(["predict", str(tmp_path / "run"), str(one)])
    _one_line(capsys, rc, "one.tif", "too small")
    # a file name that is not UTF-8: predicted, shown escaped
    import os

    from semlab.dataset import Workspace

    w = Workspace.open(ws)
    m = w.read(w.table()["hash"][0])
    odd = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.tif")
    write_micrograph(odd, m.image, pixel_size=m.pixel_size)
    rc = main(["predict", str(tmp_path / "run"), odd, "-o", str(tmp_path / "p.csv")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "caf\\xe9.tif" in (tmp_path / "p.csv").read_text()
