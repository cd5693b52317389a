"""Host allow-list, same-origin writes and the streamed body limit (issue 19 item 2 and 3)."""

from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from semlab.serve import create_app  # noqa: E402
from semlab.serve._guard import split_host  # noqa: E402

LOCAL = "http://127.0.0.1:8000"


def _png(seed: int, shape=(40, 48)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _post(c, seed: int, **headers: str):
    return c.post(
        "/api/uploads", files={"file": (f"p{seed}.png", _png(seed))}, data={"tasks": "none"}, headers=headers
    )


@pytest.fixture
def client(workspace):
    with TestClient(create_app(workspace, hosts=("sem-pc.lab",)), base_url=LOCAL) as c:
        yield c


def test_forged_host_gets_400_and_own_names_pass(client):
    for forged in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "a b", "", "x/y"):
        r = client.get("/api/info", headers={"Host": forged})
        assert r.status_code == 400 and "Host" in r.json()["detail"], forged
    r = _post(client, 1, Host="attacker.test:8000")
    assert r.status_code == 400
    assert client.get("/api/uploads").json()["uploads"] == []  # nothing was stored
    for own in ("127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000", "sem-pc.lab:8000"):
        assert client.get("/api/info", headers={"Host": own}).status_code == 200, own


def test_split_host():
    assert split_host("[::1]") == ("::1", None)
    assert split_host("h:99999") is None and split_host("a:b:c") is None and split_host("[::1") is None


def test_cross_origin_writes_are_refused_same_origin_pass(client):
    for headers in (
        {"Origin": "http://127.0.0.1:9000"},  # another port: another origin, same site
        {"Origin": "http://evil.example"},
        {"Origin": "null"},  # sandboxed frames, file:// pages
        {"Origin": "https://127.0.0.1:8000"},  # another scheme
        {"Referer": "http://127.0.0.1:9000/attack.html"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": LOCAL},
    ):
        r = _post(client, 2, **headers)
        assert r.status_code == 403 and "cross-origin" in r.json()["detail"], headers
        assert client.post("/api/jobs/1/retry", headers=headers).status_code == 403
    assert client.get("/api/uploads").json()["uploads"] == []
    # the server's own page (Origin equal to its address), and clients that send no Origin
    assert _post(client, 3, Origin=LOCAL, **{"Sec-Fetch-Site": "same-origin"}).status_code == 201
    assert _post(client, 4, Origin="http://localhost:8000", Host="localhost:8000").status_code == 201
    assert _post(client, 5).status_code == 201
    # reading from another origin is left to the browser (no CORS headers are ever sent)
    r = client.get("/api/info", headers={"Origin": "http://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_token_cookie_does_not_carry_a_cross_origin_write(workspace):
    token = "per-start-token-123"
    with TestClient(create_app(workspace, token=token), base_url=LOCAL) as c:
        r = c.get(f"/?token={token}", follow_redirects=False)
        cookie = r.headers["set-cookie"].lower()
        assert "samesite=strict" in cookie and "httponly" in cookie
        assert _post(c, 6, Origin="http://127.0.0.1:9000").status_code == 403  # the cookie is sent
        assert _post(c, 7, Origin=LOCAL).status_code == 201


def test_chunked_upload_is_refused_while_streaming(workspace, live_server):
    """No Content-Length: the body is counted as it arrives and refused just past the limit,
    not spooled whole (a raw chunked request on a live server; 200 MB offered)."""
    import socket

    limit = 2_000_000
    head = b"--b\r\nContent-Disposition: form-data; name=file; filename=x.png\r\n\r\n\x89PNG\r\n\x1a\n"
    block = b"\x00" * (1 << 20)
    with live_server(create_app(workspace, max_file_bytes=limit)) as srv:
        sent, reply = 0, b""
        with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as s:
            s.sendall(
                b"POST /api/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
                + b"%x\r\n" % len(head)
                + head
                + b"\r\n"
            )
            s.settimeout(0.05)
            try:
                for _ in range(200):
                    s.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
                    sent += len(block)
                    try:
                        reply += s.recv(65536)
                    except TimeoutError:
                        continue
                    if reply:
                        break
            except (BrokenPipeError, ConnectionResetError):
                pass
            s.settimeout(10)
            while not reply.rstrip().endswith(b"}"):
                more = s.recv(65536)
                if not more:
                    break
                reply += more
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert b'"detail"' in reply and b"limit" in reply
        assert sent < 40 * (1 << 20)  # stopped near the limit (plus socket buffers), not after 200 MB
        assert not any((workspace.path / "serve" / "incoming").iterdir())
