"""Fixtures of the web-app tests: a small synthetic workspace and a live uvicorn server."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def series_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic sintering series (4 images, 128 px) written once per session."""
    from semlab.data import sintering_series

    d = tmp_path_factory.mktemp("series")
    sintering_series(d, shape=(128, 128), samples_per_level=1, images_per_sample=1, seed=0)
    return d


@pytest.fixture(scope="session")
def _template_workspace(series_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from semlab.dataset import Workspace

    d = tmp_path_factory.mktemp("template") / "ws"
    Workspace.init(d).add(table=series_dir / "descriptors.csv", images_dir=series_dir)
    return d


@pytest.fixture
def workspace(_template_workspace: Path, tmp_path: Path):
    """A fresh copy of the synthetic workspace (4 catalogued images) for one test."""
    from semlab.dataset import Workspace

    d = tmp_path / "ws"
    shutil.copytree(_template_workspace, d)
    return Workspace.open(d)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving ``app`` in a thread on a free loopback port."""

    def __init__(self, app) -> None:  # noqa: ANN001
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        end = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > end or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server() -> Iterator[type[LiveServer]]:
    """The :class:`LiveServer` class (use as ``with live_server(app) as srv``)."""
    yield LiveServer
