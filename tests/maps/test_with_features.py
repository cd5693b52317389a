"""The map built on features stored by the features stage (``semlab embed``), through the API and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from semlab.cli import main


@pytest.fixture(scope="module")
def embedded_ws(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("timm")
    from semlab.data import sintering_series
    from semlab.dataset import Workspace
    from semlab.features import embed_workspace
    from semlab.preprocess import Preparation

    d = tmp_path_factory.mktemp("embedded")
    sintering_series(d, shape=(96, 96), samples_per_level=1, images_per_sample=2, seed=1, write_labels=False)
    ws = Workspace.init(d / "ws")
    ws.add(table=d / "descriptors.csv", images_dir=d)
    ft = embed_workspace(
        ws,
        backbone="efficientnet_lite0",
        pretrained=False,
        preparation=Preparation(patch_size=64, patches_per_image=2, seed=0),
        device="cpu",
    )
    return ws, ft


def test_build_map_uses_the_stored_features(embedded_ws):
    from semlab.maps import build_map, embed, place_on_map

    ws, ft = embedded_ws
    data = build_map(ws, method="pca", color_by="burst_count")
    pooled = ft.per_image()
    assert len(data) == len(pooled) == 8
    assert data.info["backbone"] == "efficientnet_lite0" and data.info["weights"] == ft.weights
    order = [pooled.index["image_hash"].tolist().index(h) for h in data.table["hash"]]
    np.testing.assert_allclose(data.coords, embed(pooled.features[order], method="pca"), atol=1e-5)
    np.testing.assert_allclose(place_on_map(ws, pooled), embed(pooled.features, method="pca"), atol=1e-4)
    per_patch = build_map(ws, method="pca", per_patch=True)
    assert len(per_patch) == len(ft) == 16


def test_cli_map_on_stored_features(embedded_ws, tmp_path, capsys):
    ws, _ = embedded_ws
    out = tmp_path / "m.html"
    rc = main(["map", str(ws.path), "--method", "pca", "--color-by", "burst_count", "--export", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "map of 8 images (pca, features: efficientnet_lite0)" in captured.out
    assert out.stat().st_size > 8 * 1000
