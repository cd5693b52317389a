"""The web app's API through FastAPI's TestClient: uploads, results, downloads, refusals."""

from __future__ import annotations

import csv
import hashlib
import io
import sqlite3
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

LOCAL = "http://127.0.0.1"  # a Host the app accepts (other names get 400)

from semlab.io import read_micrograph  # noqa: E402
from semlab.serve import create_app, is_loopback  # noqa: E402


def _upload(client, name, data, tasks="segment,quantify"):
    return client.post("/api/uploads", files={"file": (name, data)}, data={"tasks": tasks})


def _tiff_header(width: int, height: int) -> bytes:
    """A little-endian TIFF whose one IFD claims ``width`` × ``height`` 8-bit pixels (no pixel data)."""
    entries = [
        (256, 4, 1, width),  # ImageWidth, LONG
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample, SHORT
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: min-is-black
        (273, 4, 1, 8 + 2 + 12 * 9 + 4),  # StripOffsets: right after the IFD
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, width * height),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        packed = struct.pack("<HH", value, 0) if typ == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, typ, count) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00" * 64


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` × ``height`` grey pixels (one empty IDAT)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def _png_bytes(seed: int, shape=(96, 128)) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def client(workspace):
    app = create_app(workspace)
    with TestClient(app, base_url=LOCAL) as c:
        yield c


def test_real_tiff_upload_keeps_pixel_size_runs_jobs_and_serves_results(client, workspace, sem_dir):
    path = sem_dir / "FEI-Helios-Ebeam-16bits.tif"
    expected = read_micrograph(path)
    r = _upload(client, path.name, path.read_bytes())
    assert r.status_code == 201, r.text
    up = r.json()
    assert up["original_name"] == path.name and not up["duplicate"]
    assert [j["task"] for j in up["jobs"]] == ["segment", "quantify"]
    h = up["image_hash"]
    assert h == hashlib.sha256(path.read_bytes()).hexdigest()
    stored = Path(workspace.path) / "files" / h[:2] / f"{h}.tif"  # the workspace's store, by content hash
    assert stored.read_bytes() == path.read_bytes()
    assert h not in workspace  # an upload is not added to the study's training images

    assert client.app.state.runner.wait_idle(120)
    jobs = {j["task"]: j for j in client.get(f"/api/uploads/{up['id']}").json()["jobs"]}
    assert jobs["segment"]["status"] == "done", jobs["segment"]["error"]
    assert jobs["quantify"]["status"] == "done", jobs["quantify"]["error"]
    fractions = jobs["segment"]["result"]["fractions"]
    assert sum(fractions.values()) == pytest.approx(1.0)
    d = jobs["quantify"]["result"]["descriptors"]
    assert d["pixel_size_um"] == pytest.approx(expected.pixel_size)
    assert d["phase_fraction"] == pytest.approx(jobs["segment"]["result"]["phase_fraction"])  # measured phase

    png = client.get(f"/api/jobs/{jobs['segment']['id']}/overlay.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    page = client.get(f"/api/images/{h}").json()
    assert page["dtype"] == "uint16" and page["shape"] == list(expected.image.shape)
    assert page["pixel_size_um"] == pytest.approx(expected.pixel_size)
    assert page["metadata"]["vendor"] == expected.metadata["vendor"]
    assert page["latest"]["segment"]["id"] == jobs["segment"]["id"]
    preview = client.get(f"/api/images/{h}/preview.png")
    assert preview.status_code == 200 and preview.content.startswith(b"\x89PNG")
    assert client.get(f"/image/{h}").status_code == 200

    table = list(csv.DictReader(io.StringIO(client.get("/api/history.csv").text)))
    assert len(table) == 1 and table[0]["image_hash"] == h
    assert float(table[0]["phase_fraction"]) == pytest.approx(d["phase_fraction"])
    assert float(table[0]["pixel_size_um"]) == pytest.approx(expected.pixel_size)
    assert client.get("/api/history.json").json()[0]["id"] == up["id"]


def test_same_file_twice_is_stored_once(client, workspace):
    data = _png_bytes(1)
    n0 = len(workspace)
    a = _upload(client, "a.png", data, tasks="none").json()
    b = _upload(client, "b.png", data, tasks="none").json()
    assert a["image_hash"] == b["image_hash"]
    assert (a["duplicate"], b["duplicate"]) == (False, True)
    assert len(workspace) == n0
    with sqlite3.connect(workspace.catalog) as conn:
        assert conn.execute("SELECT COUNT(*) FROM serve_images").fetchone()[0] == 1
    h = a["image_hash"]
    assert [p.name for p in Path(workspace.path, "files", h[:2]).iterdir()] == [f"{h}.png"]
    assert len(client.get("/api/uploads").json()["uploads"]) == 2


def test_jpeg_and_png_are_accepted(client, workspace):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((40, 60), 128, np.uint8)).save(buf, format="JPEG")
    r = _upload(client, "photo.JPG", buf.getvalue(), tasks="none")
    assert r.status_code == 201, r.text
    assert client.get(f"/api/images/{r.json()['image_hash']}").json()["shape"] == [40, 60]
    # the type comes from the bytes: a PNG named .tif is stored as .png
    r = _upload(client, "mislabelled.tif", _png_bytes(2), tasks="none")
    assert r.status_code == 201 and r.json()["original_name"] == "mislabelled.png"
    h = r.json()["image_hash"]
    assert (Path(workspace.path) / "files" / h[:2] / f"{h}.png").is_file()


@pytest.mark.parametrize(
    ("name", "payload", "status", "words"),
    [
        ("notes.txt", b"just some text, not an image\n", 415, "not an image"),
        ("empty.tif", b"", 400, "empty"),
        ("huge.tif", _tiff_header(20000, 10000), 413, "200 megapixels"),
        ("huge.png", _png_header(20000, 10000), 413, "200 megapixels"),
        ("../../x.tif", None, 400, "path"),
        ("..\\..\\x.tif", None, 400, "path"),
    ],
)
def test_bad_uploads_get_a_clear_4xx_and_the_server_keeps_serving(
    client, workspace, sem_dir, name, payload, status, words
):
    if payload is None:
        payload = (sem_dir / "imagej_scaled.tif").read_bytes()
    r = _upload(client, name, payload)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert words in detail
    assert "/serve/incoming" not in detail  # no server paths in messages
    assert client.get("/api/info").json()["history"]["uploads"] == 0
    assert not (Path(workspace.path).parent / "x.tif").exists()
    assert not list((Path(workspace.path) / "serve" / "incoming").iterdir())  # nothing left behind
    assert client.get("/api/info").status_code == 200
    assert _upload(client, "ok.png", _png_bytes(3), tasks="none").status_code == 201


def test_truncated_tiff_is_refused(client, workspace, sem_dir):
    data = (sem_dir / "test_tiff_Zeiss_SEM_1k.tif").read_bytes()
    r = _upload(client, "cut.tif", data[: len(data) // 2])
    assert r.status_code == 422
    assert r.json()["detail"].startswith("cut.tif: ") and "complete" in r.json()["detail"]
    assert _upload(client, "ok.png", _png_bytes(4), tasks="none").status_code == 201


def test_missing_file_field_and_unknown_task(client):
    r = client.post("/api/uploads", data={"tasks": "segment"})
    assert r.status_code == 400 and "'file'" in r.json()["detail"]
    r = _upload(client, "a.png", _png_bytes(5), tasks="segment,teleport")
    assert r.status_code == 422 and "teleport" in r.json()["detail"]
    assert client.get("/api/uploads", params={"status": "lost"}).status_code == 422
    assert client.get("/api/images/not-a-hash").status_code == 404
    assert client.get("/api/images/" + "0" * 64).status_code == 404
    assert client.get("/api/jobs/999").status_code == 404


def test_size_limit_is_checked_before_reading(workspace, sem_dir):
    app = create_app(workspace, max_file_bytes=100_000, max_pixels=10_000)
    with TestClient(app, base_url=LOCAL) as c:
        r = _upload(c, "big.tif", (sem_dir / "test_tiff_Zeiss_SEM_1k.tif").read_bytes())
        assert r.status_code == 413 and "limit" in r.json()["detail"]
        r = _upload(c, "wide.png", _png_bytes(6, shape=(100, 200)))  # 20 000 px > 10 000
        assert r.status_code == 413 and "megapixels" in r.json()["detail"]
        assert _upload(c, "small.png", _png_bytes(7, shape=(50, 50)), tasks="none").status_code == 201


def test_token_is_required_on_every_request(workspace):
    token = "s3cret-token-for-tests"
    app = create_app(workspace, token=token)
    with TestClient(app, base_url=LOCAL) as c:
        for path in ("/", "/api/info", "/api/uploads", "/openapi.json", "/static/app.js"):
            r = c.get(path)
            assert r.status_code == 401 and "token" in r.json()["detail"], path
        r = c.get("/api/info", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.json()["detail"].startswith("wrong token")
        r = c.post(
            "/api/uploads", files={"file": ("a.png", _png_bytes(8))}, headers={"Authorization": "Bearer x"}
        )
        assert r.status_code == 401
        assert c.get("/api/info", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        # first visit with ?token= sets an HttpOnly cookie and drops the token from the address
        r = c.get(f"/?token={token}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert "httponly" in r.headers["set-cookie"].lower()
        assert c.get("/api/info").status_code == 200  # the cookie now travels with every request
        assert _upload(c, "a.png", _png_bytes(9), tasks="none").status_code == 201
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_openapi_lists_the_routes(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/uploads", "/api/history.csv", "/api/jobs/{job_id}", "/api/images/{image_hash}"} <= set(
        spec["paths"]
    )
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/docs.js" in docs.text  # served here: works offline
    assert client.get("/static/docs.js").status_code == 200
    r = client.get("/api/jobs/abc")
    assert r.status_code == 422 and r.json()["detail"].startswith("job_id: ")


def test_history_filters(client):
    a = _upload(client, "alpha.png", _png_bytes(10), tasks="segment").json()
    b = _upload(client, "beta.png", _png_bytes(11), tasks="none").json()
    assert client.app.state.runner.wait_idle(60)
    names = lambda **p: [u["original_name"] for u in client.get("/api/uploads", params=p).json()["uploads"]]  # noqa: E731
    assert names() == ["beta.png", "alpha.png"]
    assert names(q="alp") == ["alpha.png"]
    assert names(q=b["image_hash"][:10]) == ["beta.png"]
    assert names(task="segment") == ["alpha.png"]
    assert names(status="done") == ["alpha.png"]
    rows = list(csv.DictReader(io.StringIO(client.get("/api/history.csv", params={"q": "beta"}).text)))
    assert [r["upload_id"] for r in rows] == [str(b["id"])]
    assert a["id"] != b["id"]


def test_predict_and_map_degrade_cleanly_without_a_model_or_map(client):
    caps = client.get("/api/info").json()["capabilities"]
    assert not caps["predict"]["available"] and "semlab train" in caps["predict"]["reason"]
    assert not caps["map"]["available"] and "semlab map" in caps["map"]["reason"]
    up = _upload(client, "a.png", _png_bytes(12), tasks="predict,map,segment").json()
    assert client.app.state.runner.wait_idle(60)
    jobs = {j["task"]: j for j in client.get(f"/api/uploads/{up['id']}").json()["jobs"]}
    assert jobs["predict"]["status"] == "failed" and jobs["predict"]["error"] == caps["predict"]["reason"]
    assert jobs["map"]["status"] == "failed" and jobs["map"]["error"] == caps["map"]["reason"]
    assert jobs["segment"]["status"] == "done"  # the rest still runs


def test_concurrent_uploads_of_one_file_store_it_once(workspace, live_server):
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    same = _png_bytes(20)
    payloads = [("same.png", same)] * 6 + [(f"other{i}.png", _png_bytes(30 + i)) for i in range(6)]
    app = create_app(workspace)
    with live_server(app) as srv:

        def send(item):
            with httpx.Client(base_url=srv.url, timeout=60) as c:
                return c.post("/api/uploads", files={"file": item}, data={"tasks": "none"})

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(send, payloads))
    assert [r.status_code for r in answers] == [201] * 12
    first = [r.json()["duplicate"] for r in answers[:6]]
    assert first.count(False) == 1  # exactly one upload stored the bytes
    with sqlite3.connect(workspace.catalog) as conn:
        assert conn.execute("SELECT COUNT(*) FROM serve_images").fetchone()[0] == 7
        assert conn.execute("SELECT COUNT(*) FROM serve_uploads").fetchone()[0] == 12


def test_segment_job_names_the_method_classes(workspace):
    """Thresholds name their phases as the library does for the same image (segment_labelled's
    classes when this semlab names phases, else method_classes: solid, pore)."""
    import semlab.segment as S

    data = _png_bytes(3)
    app = create_app(workspace, segment_method="otsu")
    with TestClient(app, base_url=LOCAL) as c:
        up = _upload(c, "noise.png", data, tasks="segment").json()
        assert c.app.state.runner.wait_idle(60)
        (job,) = c.get(f"/api/uploads/{up['id']}").json()["jobs"]
    assert job["status"] == "done", job["error"]
    fractions = job["result"]["fractions"]
    if hasattr(S, "segment_labelled"):
        from PIL import Image

        image = np.asarray(Image.open(io.BytesIO(data)))
        expected = set(S.segment_labelled(image, method="otsu", crop_databar=False).classes.values())
    else:
        expected = set(S.method_classes("otsu").values())
        assert expected == {"solid", "pore"}
    assert set(fractions) <= expected
    assert set(job["result"]["classes"].values()) == expected
    assert sum(fractions.values()) == pytest.approx(1.0)
