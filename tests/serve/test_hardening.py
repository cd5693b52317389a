"""Upload limits as one-line JSON errors, formula-safe history CSV, and a seeded fuzz of the
upload endpoint (issue 19 items 3, 5 and 6)."""

from __future__ import annotations

import csv
import io
import struct
import zlib

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from semlab.serve import create_app  # noqa: E402

LOCAL = "http://127.0.0.1"


def _png_header(width: int, height: int, *, depth: int = 8, colour: int = 0) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def _png(seed: int, shape=(40, 48)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _upload(c, name, data, tasks="none", **form):
    return c.post("/api/uploads", files={"file": (name, data)}, data={"tasks": tasks, **form})


@pytest.fixture
def client(workspace):
    with TestClient(create_app(workspace, max_decoded_bytes=8_000_000), base_url=LOCAL) as c:
        yield c


def test_decoded_size_is_checked_from_the_header_channels_and_depth_count(client, tmp_path):
    import tifffile

    # 2000 x 2000 grey 8-bit = 4 MB decoded passes the pixel rule and the 8 MB limit (header only:
    # its empty IDAT then fails to decode -> 422, not 413); 16-bit RGBA of the same size is 32 MB
    r = _upload(client, "ok.png", _png_header(2000, 2000))
    assert r.status_code != 413
    r = _upload(client, "rgba16.png", _png_header(2000, 2000, depth=16, colour=6))
    assert r.status_code == 413 and "decodes to" in r.json()["detail"] and "rgba16.png" in r.json()["detail"]
    assert str(tmp_path) not in r.text and "\n" not in r.json()["detail"]
    # a 40 000 x 40 000 PNG bomb of a few hundred bytes
    r = _upload(client, "bomb.png", _png_header(40_000, 40_000))
    assert r.status_code == 413 and r.headers["content-type"] == "application/json"
    # a 48-channel TIFF: few pixels, many values (the pixel rule alone let it through)
    tifffile.imwrite(tmp_path / "c48.tif", np.zeros((48, 500, 500), np.uint8), planarconfig="separate")
    r = _upload(client, "c48.tif", (tmp_path / "c48.tif").read_bytes())
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    assert client.get("/api/info").json()["limits"]["max_decoded_bytes"] == 8_000_000
    assert client.get("/api/uploads").json()["uploads"] == []


def test_history_csv_escapes_formula_cells(client):
    for i, name in enumerate(("=HYPERLINK(1).png", "+1.png", "@SUM(1).png", "-2.png", "plain.png")):
        assert _upload(client, name, _png(i)).status_code == 201
    text = client.get("/api/history.csv").text
    names = {row["original_name"] for row in csv.DictReader(io.StringIO(text))}
    assert names == {"'=HYPERLINK(1).png", "'+1.png", "'@SUM(1).png", "'-2.png", "plain.png"}
    assert all(not line.split(",")[2].startswith(("=", "+", "@", "-")) for line in text.splitlines()[1:])


def _fuzz_case(rng: np.random.Generator) -> tuple[str, bytes, dict[str, str]]:
    """One random upload: a mutated/truncated real PNG, a bare header or random bytes; a random name;
    random extra headers."""
    kind = rng.integers(0, 4)
    if kind == 0:
        data = bytearray(_png(int(rng.integers(1 << 30)), shape=(int(rng.integers(1, 60)), 33)))
        for _ in range(int(rng.integers(1, 8))):
            data[int(rng.integers(len(data)))] = int(rng.integers(256))
        data = bytes(data[: int(rng.integers(1, len(data) + 1))])
    elif kind == 1:
        data = _png_header(
            int(rng.integers(0, 1 << 31)), int(rng.integers(0, 1 << 31)), colour=int(rng.integers(7))
        )
    elif kind == 2:
        data = b"II*\x00" + rng.bytes(int(rng.integers(0, 400)))
    else:
        data = rng.bytes(int(rng.integers(0, 2000)))
    alphabet = list("abc.tif/\\:\x00\u202e\u00e9 ~%<>\"'=") + ["..", "\ud7ff", "\u2028"]
    name = "".join(rng.choice(alphabet) for _ in range(int(rng.integers(0, 40))))
    headers = {}
    if rng.random() < 0.3:
        headers["Origin"] = str(rng.choice(["http://127.0.0.1", "null", "http://127.0.0.1:1", "x"]))
    if rng.random() < 0.3:
        headers["Host"] = str(rng.choice(["127.0.0.1", "localhost:1", "evil", "[::1]", "::::"]))
    return name, data, headers


def test_fuzzed_uploads_get_json_4xx_or_201_and_the_server_keeps_serving(client):
    """400 seeded random uploads: every answer is 201, 400, 403, 413, 415 or 422 with a one-line JSON
    detail; never a 500 or a traceback; the app answers afterwards."""
    rng = np.random.default_rng(19)
    seen: dict[int, int] = {}
    for _ in range(400):
        name, data, headers = _fuzz_case(rng)
        r = client.post("/api/uploads", files={"file": (name, data)}, data={"tasks": "none"}, headers=headers)
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
        assert r.status_code in (201, 400, 403, 413, 415, 422), (r.status_code, name, data[:40], r.text)
        assert r.headers["content-type"].startswith("application/json")
        if r.status_code != 201:
            detail = r.json()["detail"]
            assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    assert client.get("/api/info").status_code == 200
    assert {400, 415, 422} <= set(seen) and 413 in seen  # the generator reaches each refusal


def test_81_megapixel_png_is_refused_before_decoding_when_it_would_not_fit(workspace):
    """The issue's 81-Mpx PNG (81 MB decoded, under the decoded-size limit) under an 8 GiB budget:
    segmenting it needs 81e6 px x 200 B/px = 16 GB, so the upload is refused from its header (the
    file here has no pixel data: decoding it would give 422, not 413)."""
    from semlab.serve._uploads import JOB_BYTES_PER_PX, available_memory

    app = create_app(workspace, max_job_bytes=8 * 2**30)
    with TestClient(app, base_url=LOCAL) as c:
        r = _upload(c, "big.png", _png_header(9000, 9000), tasks="segment,quantify")
        detail = r.json()["detail"]
        assert r.status_code == 413 and "GiB" in detail and f"{JOB_BYTES_PER_PX} bytes per pixel" in detail
        assert "\n" not in detail
        # storing it only (no segment/quantify) is not refused for memory (it fails decoding instead)
        assert _upload(c, "big.png", _png_header(9000, 9000), tasks="none").status_code == 422
        # a small image fits
        assert _upload(c, "s.png", _png(1), tasks="segment").status_code == 201
    assert available_memory() is None or available_memory() > 0
    # two workers may run two such jobs at once: each gets half the budget
    need = 1000 * 1000 * JOB_BYTES_PER_PX
    for workers, status in ((1, 422), (2, 413)):
        with TestClient(
            create_app(workspace, max_job_bytes=int(need * 1.5), workers=workers), base_url=LOCAL
        ) as c:
            assert _upload(c, "m.png", _png_header(1000, 1000), tasks="segment").status_code == status
