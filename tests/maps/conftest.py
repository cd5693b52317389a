"""Fixtures for the map tests: a small 16-bit synthetic sintering workspace and its map."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def series_ws(tmp_path_factory: pytest.TempPathFactory):
    """Workspace of 16 synthetic 16-bit TIFF micrographs (4 burst counts × 2 samples × 2 images)."""
    from semlab.data import sintering_series
    from semlab.dataset import Workspace

    d = tmp_path_factory.mktemp("series")
    sintering_series(
        d,
        shape=(128, 128),
        samples_per_level=2,
        images_per_sample=2,
        seed=0,
        dtype="uint16",
        write_labels=False,
    )
    ws = Workspace.init(d / "ws")
    ws.add(table=d / "descriptors.csv", images_dir=d)
    return ws


@pytest.fixture(scope="session")
def series_features(series_ws):
    """Per-image features of the workspace (grey histogram + spectrum; no CNN needed)."""
    from semlab.features import intensity_features

    return intensity_features(series_ws)


@pytest.fixture(scope="session")
def series_map(series_ws, series_features):
    """The workspace's PCA map coloured by burst count."""
    from semlab.maps import build_map

    return build_map(series_ws, method="pca", color_by="burst_count", features=series_features)
