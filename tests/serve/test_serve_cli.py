"""``semlab serve``: options, token rules, errors (uvicorn.run replaced; nothing listens)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from fastapi.testclient import TestClient  # noqa: E402

LOCAL = "http://127.0.0.1"  # a Host the app accepts (other names get 400)

from semlab.cli import main  # noqa: E402


@pytest.fixture
def fake_run(monkeypatch):
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    return calls


def test_loopback_needs_no_token(workspace, fake_run, capsys):
    assert main(["serve", str(workspace.path), "--port", "8765"]) == 0
    out = capsys.readouterr().out
    assert "open http://127.0.0.1:8765/\n" in out and "access token" not in out
    app, kw = fake_run[0]
    assert kw["host"] == "127.0.0.1" and kw["port"] == 8765
    assert TestClient(app, base_url=LOCAL).get("/api/info").status_code == 200
    assert "predict" in out and "segment   ready" in out


def test_other_host_gets_a_generated_token(workspace, fake_run, capsys):
    assert main(["serve", str(workspace.path), "--host", "0.0.0.0"]) == 0
    out = capsys.readouterr().out
    token = re.search(r"access token: (\S+)", out).group(1)
    assert len(token) >= 24 and f"?token={token}" in out
    app, kw = fake_run[0]
    assert kw["host"] == "0.0.0.0"
    c = TestClient(app, base_url=LOCAL)
    assert c.get("/api/info").status_code == 401
    assert c.get("/api/info", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_given_token_is_used(workspace, fake_run, capsys):
    assert main(["serve", str(workspace.path), "--token", "my-long-token"]) == 0
    app, _ = fake_run[0]
    assert (
        TestClient(app, base_url=LOCAL)
        .get("/api/info", headers={"Authorization": "Bearer my-long-token"})
        .status_code
        == 200
    )
    assert TestClient(app, base_url=LOCAL).get("/api/info").status_code == 401


def test_errors_are_one_line(tmp_path, workspace, fake_run, capsys):
    assert main(["serve", str(tmp_path / "nope")]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["serve", str(workspace.path), "--token", "short"]) == 2
    assert "--token" in capsys.readouterr().err
    assert main(["serve", str(workspace.path), "--model", str(tmp_path / "no-run")]) == 2
    assert "--model" in capsys.readouterr().err
    assert not fake_run


def test_token_is_new_at_each_start_and_the_bound_host_is_allowed(workspace, fake_run, capsys):
    import socket

    tokens = []
    for _ in range(2):
        assert main(["serve", str(workspace.path), "--host", "0.0.0.0"]) == 0
        tokens.append(re.search(r"access token: (\S+)", capsys.readouterr().out).group(1))
    assert tokens[0] != tokens[1]
    app, _ = fake_run[-1]
    auth = {"Authorization": f"Bearer {tokens[1]}"}
    c = TestClient(app, base_url=LOCAL)
    assert c.get("/api/info", headers={**auth, "Host": f"{socket.gethostname()}:8000"}).status_code == 200
    assert c.get("/api/info", headers={**auth, "Host": "rebound.example:8000"}).status_code == 400
    assert c.get("/api/info", headers={"Authorization": f"Bearer {tokens[0]}"}).status_code == 401
    assert main(["serve", str(workspace.path), "--host", "sem-pc.lab"]) == 0
    app, _ = fake_run[-1]
    c = TestClient(app, base_url="http://sem-pc.lab:8000")
    token = re.search(r"access token: (\S+)", capsys.readouterr().out).group(1)
    assert c.get("/api/info", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_busy_port_is_one_line_error_before_the_address(workspace, fake_run, capsys):
    import socket

    with socket.socket() as other:  # another program's server on the port
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        assert main(["serve", str(workspace.path), "--port", str(port)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and f"port {port}" in err and "--port" in err
    assert "open http" not in captured.out and "Traceback" not in captured.err
    assert not fake_run
    # once the other server is gone the same port starts
    assert main(["serve", str(workspace.path), "--port", str(port)]) == 0
    assert fake_run[0][1]["port"] == port
