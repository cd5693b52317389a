"""``semlab map``: export, serve, and errors printed as one line."""

from __future__ import annotations

import json
import urllib.request

import pytest

from semlab.cli import main


@pytest.fixture
def stored_features(monkeypatch, series_features):
    """Stand in for features stored by ``semlab embed`` (the features stage is tested on its own)."""
    import semlab.maps.mapdata as mapdata

    monkeypatch.setattr(mapdata, "_load_features", lambda ws, backbone: series_features)


def test_map_export_writes_a_standalone_file(uint16_ws, stored_features, tmp_path, capsys, monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    out = tmp_path / "map.html"
    rc = main(
        [
            "map",
            str(uint16_ws.path),
            "--method",
            "pca",
            "--color-by",
            "porosity",
            "--export",
            str(out),
            "--open",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert out.is_file() and "map of 16 images (pca" not in captured.out  # --json: the JSON line only
    summary = json.loads([ln for ln in captured.out.splitlines() if ln.startswith("{")][0])
    assert summary == {
        "n_points": 16,
        "method": "pca",
        "color_by": "porosity",
        "embedding": str(uint16_ws.path / "maps" / "latest"),
    }
    html = out.read_text(encoding="utf-8")
    assert (
        '"colorBy":"porosity"' in html and html.count("data:image/jpeg;base64,") == 2 * 16
    )  # 128 px + 512 px
    assert opened == [out.resolve().as_uri()]


def test_map_serves_on_localhost(uint16_ws, stored_features, capsys, monkeypatch):
    from semlab.maps.page import MapServer

    fetched = {}

    def serve_once(self):
        self.start()
        with urllib.request.urlopen(self.url, timeout=10) as r:
            fetched["page"] = r.read().decode()
        with urllib.request.urlopen(self.url + "thumb/0", timeout=10) as r:
            fetched["thumb"] = (r.headers["Content-Type"], r.read()[:2])
        with urllib.request.urlopen(self.url + "image/0", timeout=10) as r:
            fetched["image"] = (r.headers["Content-Type"], r.read()[:4])
        self.close()
        raise KeyboardInterrupt

    monkeypatch.setattr(MapServer, "serve_forever", serve_once)
    rc = main(["map", str(uint16_ws.path), "--method", "pca", "--port", "0"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "serving the map on http://127.0.0.1:" in out and "stopped" in out
    assert "map of 16 images (pca" in out and "{" not in out  # no raw JSON without --json
    assert "semlabMap" in fetched["page"]
    assert fetched["thumb"] == ("image/jpeg", b"\xff\xd8")
    assert fetched["image"] == ("image/png", b"\x89PNG")


def test_unknown_colour_column_is_one_line_listing_columns(uint16_ws, stored_features, capsys):
    rc = main(["map", str(uint16_ws.path), "--method", "pca", "--color-by", "jc", "--export", "x.html"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("error: color_by 'jc' is not a column") and "\n" not in err
    assert "burst_count" in err and "porosity" in err


def test_bad_method(uint16_ws, capsys):
    assert main(["map", str(uint16_ws.path), "--method", "mds"]) == 2
    assert "umap, pca, tsne" in capsys.readouterr().err


def test_workspace_without_features_and_empty_workspace(tmp_path, capsys):
    from semlab.dataset import Workspace
    from semlab.io import write_micrograph

    ws = Workspace.init(tmp_path / "empty")
    assert main(["map", str(ws.path)]) == 2
    assert "no images; add some" in capsys.readouterr().err
    import numpy as np

    write_micrograph(tmp_path / "img" / "a.tif", np.zeros((32, 32), np.uint8), pixel_size=0.1)
    ws.add(images=tmp_path / "img")
    assert main(["map", str(ws.path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "semlab embed" in err
    assert main(["map", str(tmp_path / "nowhere")]) == 2
