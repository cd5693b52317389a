"""The web app's ``/map/explore``: semlab map's page over the workspace's saved map, thumbnails on demand."""

from __future__ import annotations

import io
import json
import re
import shutil

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

LOCAL = "http://127.0.0.1"


@pytest.fixture
def mapped_ws(uint16_ws, tmp_path):
    """A copy of the synthetic workspace with a saved map as ``semlab map`` leaves it."""
    from semlab.dataset import Workspace

    d = tmp_path / "ws"
    shutil.copytree(uint16_ws.path, d, ignore=shutil.ignore_patterns("maps"))
    ws = Workspace.open(d)
    hashes = ws.table()["hash"].tolist()
    folder = d / "maps" / "latest"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"method": "pca", "backbone": "efficientnet_lite0"}))
    lines = ["image_hash,x,y"] + [f"{h},{i},{2 * i}" for i, h in enumerate(hashes)]
    (folder / "coords.csv").write_text("\n".join(lines) + "\n")
    return ws, hashes


def test_explore_page_lists_points_and_serves_thumbnails_on_demand(mapped_ws):
    from PIL import Image

    from semlab.serve import create_app

    ws, hashes = mapped_ws
    with TestClient(create_app(ws), base_url=LOCAL) as c:
        r = c.get("/map/explore")
        assert r.status_code == 200
        data = json.loads(
            re.search(r'id="semlab-data" type="application/json">(.*?)</script>', r.text, re.S)[1]
        )
        assert data["n"] == len(hashes) and data["y"] == [2.0 * i for i in range(len(hashes))]
        assert data["thumbs"] == [f"/map/thumb/{h}" for h in hashes]  # URLs, no base64 pictures
        assert "base64" not in r.text
        cache = ws.path / "maps" / "thumbs"
        made = lambda: sorted(p.name for p in cache.glob("*")) if cache.is_dir() else []  # noqa: E731
        assert made() == []  # the page itself made no thumbnail
        t = c.get(data["thumbs"][1])
        assert t.status_code == 200 and t.headers["content-type"] == "image/jpeg"
        assert len(made()) == 1 and made()[0].startswith(hashes[1])  # only the one asked for
        im = Image.open(io.BytesIO(t.content))
        assert max(im.size) == 128 and im.mode == "L"
        assert c.get("/map/thumb/" + "0" * 64).status_code == 404


def test_explore_page_without_a_map_is_404(uint16_ws, tmp_path):
    from semlab.dataset import Workspace
    from semlab.serve import create_app

    d = tmp_path / "ws"
    shutil.copytree(uint16_ws.path, d, ignore=shutil.ignore_patterns("maps"))
    with TestClient(create_app(Workspace.open(d)), base_url=LOCAL) as c:
        r = c.get("/map/explore")
        assert r.status_code == 404 and "semlab map" in r.text
