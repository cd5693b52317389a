"""``semlab map`` bad inputs (issue 19): one-line errors, checked before maps/latest is replaced."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from semlab.cli import main
from semlab.errors import ParameterError


@pytest.fixture
def stored_features(monkeypatch, series_features):
    import semlab.maps.mapdata as mapdata

    monkeypatch.setattr(mapdata, "_load_features", lambda ws, backbone: series_features)


def _latest_state(ws) -> dict:
    folder = ws.path / "maps" / "latest"
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*"))} if folder.is_dir() else {}


def _one_line(capsys, rc: int, *needles: str) -> None:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], lines[0]


def test_bogus_metric(uint16_ws, stored_features, tmp_path, capsys):
    before = _latest_state(uint16_ws)
    rc = main(["map", str(uint16_ws.path), "--metric", "bogus", "--export", str(tmp_path / "m.html")])
    _one_line(capsys, rc, "--metric 'bogus'", "cosine")
    assert _latest_state(uint16_ws) == before and not (tmp_path / "m.html").exists()


def test_fit_embedding_refuses_a_bogus_metric():
    from semlab.maps import fit_embedding

    x = np.random.default_rng(0).normal(size=(30, 4))
    with pytest.raises(ParameterError, match="metric='bogus' is not a UMAP metric"):
        fit_embedding(x, method="umap", metric="bogus")


def test_export_to_a_folder(uint16_ws, stored_features, tmp_path, capsys):
    before = _latest_state(uint16_ws)
    rc = main(["map", str(uint16_ws.path), "--method", "pca", "--export", str(tmp_path)])
    _one_line(capsys, rc, "is a folder", "map.html")
    assert _latest_state(uint16_ws) == before


def test_port_in_use(uint16_ws, stored_features, capsys):
    before = _latest_state(uint16_ws)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        rc = main(["map", str(uint16_ws.path), "--method", "pca", "--port", str(port)])
    _one_line(capsys, rc, f"--port {port}")
    assert _latest_state(uint16_ws) == before
