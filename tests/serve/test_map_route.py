"""``/api/map`` and ``/map``: the workspace's latest map with the uploads placed on it."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from semlab.serve import create_app  # noqa: E402

LOCAL = "http://127.0.0.1"  # a Host the app accepts (other names get 400)


def _png(seed: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (96, 128), dtype=np.uint8)).save(
        buf, format="PNG"
    )
    return buf.getvalue()


def _fake_map(workspace) -> list[str]:
    """A saved map as ``semlab map`` leaves it (config.json, coords.csv) over the workspace's images."""
    hashes = workspace.table()["hash"].tolist()
    folder = workspace.path / "maps" / "latest"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(
        json.dumps(
            {"method": "pca", "backbone": "efficientnet_lite0", "patch_size_px": 64, "per_patch": False}
        )
    )
    lines = ["image_hash,x,y"] + [f"{h},{i},{2 * i}" for i, h in enumerate(hashes)]
    (folder / "coords.csv").write_text("\n".join(lines) + "\n")
    return hashes


def test_no_map_says_what_to_run(workspace):
    with TestClient(create_app(workspace), base_url=LOCAL) as c:
        d = c.get("/api/map").json()
        assert d["available"] is False and "semlab map" in d["reason"]
        assert c.get("/map").status_code == 200 and "map.js" in c.get("/map").text


def test_map_has_study_points_colour_columns_and_placed_uploads(workspace, monkeypatch):
    hashes = _fake_map(workspace)
    app = create_app(workspace)
    monkeypatch.setattr(app.state.analyses, "place", lambda h: {"x": 0.5, "y": 7.25, "neighbours": []})
    with TestClient(app, base_url=LOCAL) as c:
        up = c.post("/api/uploads", files={"file": ("new.png", _png(1))}, data={"tasks": "map"}).json()
        c.post("/api/uploads", files={"file": ("unplaced.png", _png(2))}, data={"tasks": "segment"})
        assert app.state.runner.wait_idle(60)
        d = c.get("/api/map").json()
    assert d["available"] is True and d["method"] == "pca"
    assert d["points"]["image_hash"] == hashes and d["points"]["y"] == [2.0 * i for i in range(len(hashes))]
    assert "PCA of efficientnet_lite0 features, 64 px patches" in d["coordinates"]
    assert d["title"].endswith(f"{len(hashes)} study images")
    assert [(u["original_name"], u["x"], u["y"], u["upload_id"]) for u in d["uploads"]] == [
        ("new.png", 0.5, 7.25, up["id"])
    ]
    cols = {col["name"]: col for col in d["columns"]}
    table = workspace.table()
    assert "burst_count" in cols and cols["burst_count"]["numeric"]
    assert cols["burst_count"]["values"] == [float(v) for v in table["burst_count"]]
    assert cols["burst_count"]["min"] == float(table["burst_count"].min())
    assert not {"hash", "stored_path", "original_name"} & set(cols)  # identifiers are not colours
