"""Choosing among trained runs in the web app, the model shown with each prediction, and
images outside the training domain (a black frame, a chart that is no micrograph) flagged."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

LOCAL = "http://127.0.0.1"  # a Host the app accepts (other names get 400)

from semlab.serve import create_app  # noqa: E402

pytestmark = pytest.mark.slow  # two trained runs: about 30 s on a shared machine


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory):
    """A synthetic study with two trained runs (logreg, then svm: the newer)."""
    pytest.importorskip("semlab.learn.run")
    from semlab.data import sintering_series
    from semlab.dataset import Workspace
    from semlab.features import embed_workspace
    from semlab.learn import train_workspace
    from semlab.preprocess import Preparation

    root = tmp_path_factory.mktemp("runs")
    sintering_series(root / "series", shape=(128, 128), samples_per_level=2, images_per_sample=1, seed=0)
    ws = Workspace.init(root / "ws")
    ws.add(table=root / "series" / "descriptors.csv", images_dir=root / "series")
    embed_workspace(ws, preparation=Preparation(patch_size=64, patches_per_image=4, seed=0), device="cpu")
    old = train_workspace(ws, target="burst_count", model="logreg", plots=False, seed=0, permutations=0)
    time.sleep(1.1)  # the runs' dates differ by at least a second
    new = train_workspace(ws, target="burst_count", model="svm", plots=False, seed=0, permutations=0)
    return ws, _run_dir(old), _run_dir(new)


def _run_dir(result):
    from pathlib import Path

    files = getattr(result, "files", None) or {}
    return Path(result.run_dir) if getattr(result, "run_dir", None) else Path(files["config"]).parent


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def _chart() -> np.ndarray:
    """A line chart on white: axes, ticks, a curve, text — an image that is no micrograph."""
    from PIL import Image, ImageDraw

    im = Image.new("L", (256, 256), 255)
    d = ImageDraw.Draw(im)
    d.line((30, 10, 30, 225, 245, 225), fill=0, width=2)
    for x in range(30, 246, 36):
        d.line((x, 225, x, 231), fill=0)
    d.line([(30 + k, 220 - int(180 * (k / 215) ** 2)) for k in range(0, 216, 5)], fill=0, width=3)
    d.text((90, 236), "temperature (C)", fill=0)
    d.text((40, 20), "Fig. 3", fill=0)
    return np.asarray(im)


def _predict(client, name, data, **options):
    r = client.post("/api/uploads", files={"file": (name, data)}, data={"tasks": "predict", **options})
    assert r.status_code == 201, r.text
    assert client.app.state.runner.wait_idle(120)
    (job,) = client.get(f"/api/uploads/{r.json()['id']}").json()["jobs"]
    assert job["status"] == "done", job["error"]
    return r.json(), job["result"]


def test_runs_are_listed_with_target_date_and_cv_score_and_the_choice_is_used(two_runs):
    ws, old, new = two_runs
    with TestClient(create_app(ws), base_url=LOCAL) as c:
        listing = c.get("/api/models").json()
        names = [m["name"] for m in listing["models"]]
        assert names == [new.name, old.name]  # newest first
        assert listing["default"] == new.name
        for m in listing["models"]:
            assert m["target"] == "burst_count" and m["task"] == "classify" and m["created"]
            assert 0.0 <= m["cv"]["value"] <= 1.0 and "accuracy" in m["cv"]["label"]
            lo, hi = m["cv"]["interval_95"]
            assert lo <= m["cv"]["value"] <= hi
        caps = c.get("/api/info").json()["capabilities"]["predict"]
        assert caps["default"] == new.name and [m["name"] for m in caps["models"]] == names

        image = np.asarray(ws.read(ws.table()["hash"].iloc[0], crop=False).image)
        up, default = _predict(c, "a.png", _png(image.astype(np.uint8)))
        assert up["options"]["model"] == new.name  # recorded at upload: the page says which
        assert default["model_info"]["name"] == new.name and default["model_info"]["model"] == "svm"
        up, chosen = _predict(c, "b.png", _png(image.astype(np.uint8)), model=old.name)
        assert up["options"]["model"] == old.name
        assert chosen["model_info"]["name"] == old.name and chosen["model_info"]["model"] == "logreg"
        assert chosen["model_info"]["cv"] == listing["models"][1]["cv"]
        rows = c.get("/api/history.csv").text.splitlines()
        assert old.name in rows[1] and new.name in rows[2]


def test_black_frame_and_a_chart_are_flagged_out_of_domain(two_runs):
    ws, _, new = two_runs
    if not (new / "domain.npz").is_file():
        pytest.skip("this semlab's runs have no in-domain model (learn.domain) yet")
    with TestClient(create_app(ws), base_url=LOCAL) as c:
        study = np.asarray(ws.read(ws.table()["hash"].iloc[0], crop=False).image).astype(np.uint8)
        _, inside = _predict(c, "study.png", _png(study))
        up, black = _predict(c, "black.png", _png(np.zeros((256, 256), np.uint8)))
        _, chart = _predict(c, "chart.png", _png(_chart()))
    assert "blank" in up["quality"]["flags"]
    assert inside["domain"]["in_domain"] is True
    for result in (black, chart):
        d = result["domain"]
        assert d["available"] and d["in_domain"] is False, d
        assert d["score"] > d["threshold"]
    assert "blank" in black["domain"].get("quality_flags", "") or "blank" in black["quality"]["flags"]


def test_real_black_frame_and_navcam_photo_are_flagged_out_of_domain(two_runs, sem_dir):
    """The FEI Helios black frame and its navigation-camera photo (no SEM image) are outside the
    synthetic study's domain; the frame is also flagged blank on arrival."""
    ws, _, new = two_runs
    if not (new / "domain.npz").is_file():
        pytest.skip("this semlab's runs have no in-domain model (learn.domain) yet")
    with TestClient(create_app(ws), base_url=LOCAL) as c:
        for name in ("FEI-Helios-Ebeam-8bits.tif", "FEI-Helios-navcam-with-no-IRBeam-bad-floats.tif"):
            up, result = _predict(c, name, (sem_dir / name).read_bytes())
            d = result["domain"]
            assert d["available"] and d["in_domain"] is False and d["score"] > d["threshold"], (name, d)
            if "Ebeam-8bits" in name:
                assert "blank" in up["quality"]["flags"]
