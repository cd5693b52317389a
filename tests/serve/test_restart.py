"""A restarted server loses nothing: history, results and interrupted jobs survive."""

from __future__ import annotations

import sqlite3

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

LOCAL = "http://127.0.0.1"  # a Host the app accepts (other names get 400)

from semlab.dataset import Workspace  # noqa: E402
from semlab.io import read_micrograph  # noqa: E402
from semlab.serve import create_app  # noqa: E402
from semlab.serve._store import MAX_ATTEMPTS  # noqa: E402


def test_history_and_results_survive_a_restart(workspace, sem_dir):
    path = sem_dir / "test_tiff_Zeiss_SEM_512pix.tif"
    with TestClient(create_app(workspace), base_url=LOCAL) as c:
        up = c.post(
            "/api/uploads", files={"file": (path.name, path.read_bytes())}, data={"tasks": "segment"}
        ).json()
        assert c.app.state.runner.wait_idle(120)
        before = c.get("/api/uploads").json()["uploads"]
        csv_before = c.get("/api/history.csv").text
    assert before[0]["jobs"][0]["status"] == "done"

    # a new app on the same folder (a fresh Workspace object: nothing shared in memory)
    with TestClient(create_app(Workspace.open(workspace.path)), base_url=LOCAL) as c:
        after = c.get("/api/uploads").json()["uploads"]
        assert after == before
        assert c.get("/api/history.csv").text == csv_before
        job = after[0]["jobs"][0]
        assert c.get(f"/api/jobs/{job['id']}/overlay.png").status_code == 200
        assert c.get(f"/api/images/{up['image_hash']}").json()["latest"]["segment"]["id"] == job["id"]


def test_jobs_running_at_shutdown_are_requeued_or_failed_with_retry(workspace, sem_dir):
    path = sem_dir / "imagej_scaled.tif"
    with TestClient(create_app(workspace), base_url=LOCAL) as c:
        up = c.post(
            "/api/uploads", files={"file": (path.name, path.read_bytes())}, data={"tasks": "none"}
        ).json()
    # what a killed server leaves: one job mid-run, one interrupted too often, one never started
    store = c.app.state.store
    _, (running, stuck, queued) = store.add_upload(
        up["image_hash"], path.name, 1, True, ["segment", "quantify", "segment"]
    )
    with sqlite3.connect(workspace.catalog) as conn:
        conn.execute("UPDATE serve_jobs SET status = 'running', attempts = 1 WHERE id = ?", (running,))
        conn.execute(
            "UPDATE serve_jobs SET status = 'running', attempts = ? WHERE id = ?", (MAX_ATTEMPTS, stuck)
        )

    with TestClient(create_app(workspace), base_url=LOCAL) as c:
        assert c.app.state.runner.wait_idle(120)
        jobs = {j: c.get(f"/api/jobs/{j}").json() for j in (running, stuck, queued)}
        assert jobs[running]["status"] == "done" and jobs[running]["attempts"] == 2
        assert jobs[queued]["status"] == "done"
        assert jobs[stuck]["status"] == "failed" and "retry" in jobs[stuck]["error"]
        r = c.post(f"/api/jobs/{stuck}/retry")
        assert r.status_code == 200
        assert c.app.state.runner.wait_idle(120)
        done = c.get(f"/api/jobs/{stuck}").json()
        assert done["status"] == "done", done["error"]
        assert done["result"]["descriptors"]["pixel_size_um"] == pytest.approx(
            read_micrograph(path).pixel_size
        )
        assert c.post(f"/api/jobs/{stuck}/retry").status_code == 409  # only failed jobs
