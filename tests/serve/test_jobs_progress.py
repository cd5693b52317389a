"""Per-job progress (stage and fraction), filtered history counts, and which failures offer a retry."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from semlab.errors import FileFormatError, MissingFileError, ParameterError, WorkspaceError  # noqa: E402
from semlab.serve import create_app  # noqa: E402
from semlab.serve._jobs import STAGES, is_transient  # noqa: E402

LOCAL = "http://127.0.0.1"  # a Host the app accepts (other names get 400)


def _png(seed: int, shape=(96, 128)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(
        buf, format="PNG"
    )
    return buf.getvalue()


def _upload(client, name, data, tasks):
    r = client.post("/api/uploads", files={"file": (name, data)}, data={"tasks": tasks})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def client(workspace):
    with TestClient(create_app(workspace), base_url=LOCAL) as c:
        yield c


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (MemoryError(), True),
        (OSError(28, "No space left on device"), True),
        (TimeoutError("read timed out"), True),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (ParameterError("--tile must be positive"), False),
        (FileFormatError("x.tif: not a TIFF"), False),
        (MissingFileError("x.tif: no such file"), False),  # an OSError, but semlab's own: deterministic
        (WorkspaceError("no trained model"), False),
        (ValueError("bad input"), False),
        (ZeroDivisionError(), False),
    ],
)
def test_transient_failures_are_told_from_deterministic_ones(exc, transient):
    assert is_transient(exc) is transient


def _fail_with(client, monkeypatch, exc):
    def boom(*a, **k):
        raise exc

    monkeypatch.setattr("semlab.serve._segjob.segment", boom)
    up = _upload(client, f"{type(exc).__name__}.png", _png(hash(type(exc).__name__) % 1000), "segment")
    assert client.app.state.runner.wait_idle(60)
    return client.get(f"/api/jobs/{up['jobs'][0]['id']}").json()


def test_failed_job_says_whether_retry_can_help(client, monkeypatch):
    job = _fail_with(client, monkeypatch, MemoryError("cannot allocate 3 GiB"))
    assert job["status"] == "failed" and job["transient"] is True and job["result"] == {"transient": True}
    job = _fail_with(client, monkeypatch, ParameterError("method 'x': unknown; choose otsu"))
    assert job["status"] == "failed" and job["transient"] is False and "method" in job["error"]
    monkeypatch.undo()
    # a retried transient failure runs again and its classification goes with the error
    first = client.get("/api/uploads").json()["uploads"][-1]["jobs"][0]
    assert first["transient"] is True
    assert client.post(f"/api/jobs/{first['id']}/retry").status_code == 200
    assert client.app.state.runner.wait_idle(60)
    again = client.get(f"/api/jobs/{first['id']}").json()
    assert again["status"] == "done" and again["transient"] is None and "fractions" in again["result"]


def test_running_job_reports_stage_and_fraction(client, monkeypatch):
    import semlab.serve._segjob as segjob

    original = segjob.segment
    entered, release = threading.Event(), threading.Event()

    def slow(*a, **k):
        entered.set()
        assert release.wait(30)
        return original(*a, **k)

    monkeypatch.setattr(segjob, "segment", slow)
    up = _upload(client, "slow.png", _png(3), "segment")
    assert entered.wait(30)
    job = client.get(f"/api/jobs/{up['jobs'][0]['id']}").json()
    listed = client.get("/api/uploads").json()["uploads"][0]["jobs"][0]
    release.set()
    steps = STAGES["segment"]
    assert job["status"] == "running"
    p = job["progress"]
    assert (
        p["stage"] == "segmenting" and p["step"] == steps.index("segmenting") + 1 and p["steps"] == len(steps)
    )
    assert p["fraction"] == pytest.approx(steps.index("segmenting") / len(steps), abs=1e-3)
    assert listed["progress"] == p  # the history carries it too (the page polls the history)
    assert client.app.state.runner.wait_idle(60)
    done = client.get(f"/api/jobs/{up['jobs'][0]['id']}").json()
    assert done["status"] == "done" and "progress" not in done


def test_library_progress_callbacks_move_the_fraction_within_a_stage(workspace):
    """``Analyses.run(progress=…)`` hands library callbacks ``progress(done, total)`` a stage."""
    app = create_app(workspace)
    seen: list[tuple[str, int, int]] = []
    analyses = app.state.analyses
    analyses._local.report = lambda stage, done, total: seen.append((stage, done, total))
    cb = analyses._progress("computing features")
    for i in range(1, 4):
        cb(i, 3)
    analyses._local.report = None
    assert seen == [("computing features", i, 3) for i in range(1, 4)]
    app.state.runner.shutdown()


def test_counts_are_of_the_filtered_history(client):
    _upload(client, "alpha.png", _png(10), "segment")
    _upload(client, "alpha-2.png", _png(11), "segment,quantify")
    _upload(client, "beta.png", _png(12), "none")
    assert client.app.state.runner.wait_idle(60)
    get = lambda **p: client.get("/api/uploads", params=p).json()  # noqa: E731
    every = get()
    assert every["counts"] == every["total"]
    assert every["counts"]["uploads"] == 3 and every["counts"]["done"] == 3
    alpha = get(q="alpha")
    assert len(alpha["uploads"]) == alpha["counts"]["uploads"] == 2
    assert alpha["counts"]["images"] == 2 and alpha["counts"]["done"] == 3
    assert alpha["total"]["uploads"] == 3
    beta = get(q="beta")
    assert (
        beta["counts"]["uploads"] == 1
        and sum(beta["counts"][s] for s in ("queued", "running", "done", "failed")) == 0
    )
    quant = get(task="quantify")
    assert quant["counts"]["uploads"] == 1 and quant["counts"]["done"] == 2  # its segment and quantify jobs
    none = get(q="nothing-like-this")
    assert none["uploads"] == [] and none["counts"]["uploads"] == 0 and none["total"]["uploads"] == 3
