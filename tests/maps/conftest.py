"""Fixtures for the map tests: a small 16-bit synthetic sintering workspace and its map."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def series_features(uint16_ws):
    """Per-image features of the workspace (grey histogram + spectrum; no CNN needed)."""
    from semlab.features import intensity_features

    return intensity_features(uint16_ws)


@pytest.fixture(scope="session")
def series_map(uint16_ws, series_features):
    """The workspace's PCA map coloured by burst count."""
    from semlab.maps import build_map

    return build_map(uint16_ws, method="pca", color_by="burst_count", features=series_features)
