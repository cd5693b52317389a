"""Fixtures of the Ray engine tests: a real local Ray instance (no mocks) and a tiny workspace."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray instance of 2 CPUs (no dashboard, a 200 MB object store), shut down after the module."""
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    if ray.is_initialized():  # pragma: no cover - left over from another module
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture()
def ws_pair(small_series_dir, tmp_path):
    """Two fresh workspaces holding the same 8 images of the small series."""
    from semlab.dataset import Workspace

    out = []
    for name in ("a", "b"):
        ws = Workspace.init(tmp_path / name)
        ws.add(table=small_series_dir / "descriptors.csv", images_dir=small_series_dir)
        out.append(ws)
    return out
