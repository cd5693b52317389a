"""embed_workspace / load_features: patches of every image, cached per image and configuration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

from semlab.dataset import Workspace  # noqa: E402
from semlab.errors import ParameterError, WorkspaceError  # noqa: E402
from semlab.features import FeatureTable, embed_workspace, load_features  # noqa: E402
from semlab.features import extract as extract_mod  # noqa: E402
from semlab.preprocess import Preparation  # noqa: E402

OPTS = {"preparation": Preparation(patch_size=64, patches_per_image=3)}


@pytest.fixture(scope="module")
def tiny():
    """A small random timm network: the cache logic does not need a real backbone."""
    from semlab.features import create_backbone

    return create_backbone("test_efficientnet", pretrained=False)


@pytest.fixture()
def count_runs(monkeypatch):
    """Count the patches that go through a backbone."""
    seen = []
    real = extract_mod._run

    def counting(bb, a, *args, **kwargs):
        seen.append(len(a))
        return real(bb, a, *args, **kwargs)

    monkeypatch.setattr(extract_mod, "_run", counting)
    return seen


def test_embed_then_rerun_computes_nothing(small_ws, lite0, count_runs):
    table = embed_workspace(small_ws, backbone=lite0, **OPTS)
    n = len(small_ws)
    assert isinstance(table, FeatureTable)
    assert table.features.shape == (n * 3, 1280) and table.features.dtype == np.float32
    assert list(table.index.columns) == ["image_hash", "patch", "row", "col", "size_px"]
    assert table.index["image_hash"].tolist() == [h for h in small_ws.table()["hash"] for _ in range(3)]
    assert (table.index["size_px"] == 64).all() and table.index["patch"].tolist()[:4] == [0, 1, 2, 0]
    assert table.cache["computed"] == n and table.cache["cached"] == 0 and sum(count_runs) == n * 3
    assert table.weights.startswith("offline package") and table.weights_sha256 == lite0.weights_sha256
    assert table.config["patch_size"] == 64 and table.config["equalize"] == "clahe"
    assert table.config["input_size"] == [3, 224, 224] and table.config["mean"] == list(
        lite0.data_config["mean"]
    )

    count_runs.clear()
    again = embed_workspace(small_ws, backbone="efficientnet_lite0", **OPTS)  # by name: same weights hash
    assert again.cache["computed"] == 0 and again.cache["cached"] == n and count_runs == []
    np.testing.assert_array_equal(again.features, table.features)
    assert again.index.equals(table.index)

    stored = load_features(small_ws)
    np.testing.assert_array_equal(stored.features, table.features)
    assert stored.index.equals(table.index)
    assert stored.backbone == "efficientnet_lite0" and stored.config == table.config
    assert load_features(small_ws.path, backbone="efficientnet_lite0").features.shape == table.features.shape
    per = stored.per_image()
    assert per.features.shape == (n, 1280) and (per.index["patch"] == -1).all()
    np.testing.assert_allclose(per.features[0], table.features[:3].mean(0), rtol=1e-5, atol=1e-6)
    frame = stored.to_frame()
    assert frame.shape == (n * 3, 5 + 1280) and frame.columns[-1] == "f1279"


def test_adding_images_computes_only_the_new_ones(small_series_dir, tmp_path, tiny, count_runs):
    files = sorted((small_series_dir / "images").glob("*.tif"))
    ws = Workspace.init(tmp_path / "grow")
    ws.add(files[:3])
    first = embed_workspace(ws, backbone=tiny, **OPTS)
    assert first.cache["computed"] == 3
    ws.add(files[3:5])
    count_runs.clear()
    second = embed_workspace(ws, backbone=tiny, **OPTS)
    assert second.cache == {**second.cache, "computed": 2, "cached": 3, "computed_patches": 6}
    assert sum(count_runs) == 6
    # the first images' patches and features are unchanged by the additions
    np.testing.assert_array_equal(second.features[:9], first.features)
    assert second.index.iloc[:9].equals(first.index)


def test_other_settings_are_cached_separately(small_ws, tiny):
    a = embed_workspace(small_ws, backbone=tiny, preparation=Preparation(patch_size=64, patches_per_image=3, seed=0))
    b = embed_workspace(small_ws, backbone=tiny, preparation=Preparation(patch_size=64, patches_per_image=3, seed=1))
    assert b.cache["computed"] == len(small_ws) and a.cache["path"] != b.cache["path"]
    assert not a.index[["row", "col"]].equals(b.index[["row", "col"]])
    c = embed_workspace(small_ws, backbone=tiny, preparation=Preparation(patch_size=64, patches_per_image=3, seed=0))
    assert c.cache["computed"] == 0
    np.testing.assert_array_equal(c.features, a.features)
    assert load_features(small_ws).cache["path"] == c.cache["path"]  # the latest one


def test_resamples_to_the_median_pixel_size(small_series_dir, tmp_path, tiny):
    files = sorted((small_series_dir / "images").glob("*.tif"))
    ws = Workspace.init(tmp_path / "mixed")
    ws.add(files[:1])
    fine = ws.table()["pixel_size_um"].iloc[0]
    ws.add(files[1:3], pixel_size=2 * fine)  # the same pictures declared twice as coarse (the median)
    table = embed_workspace(ws, backbone=tiny, preparation=Preparation(patch_size=48, patches_per_image=2))
    assert table.config["pixel_size"] == pytest.approx(2 * fine)
    recs = {r.hash: r for r in ws.images()}
    for h, row, col, size in table.index[["image_hash", "row", "col", "size_px"]].itertuples(index=False):
        r0, r1, c0, c1 = recs[h].crop_box
        scale = recs[h].pixel_size_um / (2 * fine)
        assert row + size <= round((r1 - r0) * scale) and col + size <= round((c1 - c0) * scale)


def test_empty_workspace(tmp_path):
    ws = Workspace.init(tmp_path / "empty")
    with pytest.raises(WorkspaceError) as err:
        embed_workspace(ws, backbone="test_efficientnet", pretrained=False)
    assert "no images" in str(err.value) and "semlab add" in str(err.value)


def test_patch_larger_than_images(small_ws):
    with pytest.raises(ParameterError) as err:
        embed_workspace(small_ws, backbone="test_efficientnet", pretrained=False, preparation=Preparation(patch_size=500))
    msg = str(err.value)
    assert "\n" not in msg and "smaller than patch_size 500" in msg and "at most 1" in msg


def test_load_features_before_embedding(small_ws):
    with pytest.raises(WorkspaceError) as err:
        load_features(small_ws)
    assert "no features yet" in str(err.value) and "semlab embed" in str(err.value)


def test_load_features_of_another_backbone(small_ws):
    embed_workspace(small_ws, backbone="test_efficientnet", pretrained=False, **OPTS)
    with pytest.raises(WorkspaceError) as err:
        load_features(small_ws, backbone="resnet50")
    assert "test_efficientnet" in str(err.value) and "--backbone resnet50" in str(err.value)


def test_damaged_cache_entry_is_recomputed(small_ws, tiny):
    first = embed_workspace(small_ws, backbone=tiny, **OPTS)
    victim = next(Path(first.cache["path"]).glob("images/*.npz"))
    victim.write_bytes(b"garbage")
    again = embed_workspace(small_ws, backbone=tiny, **OPTS)
    assert again.cache["computed"] == 1
    np.testing.assert_allclose(again.features, first.features, atol=1e-6)


def test_extract_features_accepts_a_workspace(small_ws, tiny):
    table = extract_mod.extract_features(small_ws.path, backbone=tiny, **OPTS)
    assert isinstance(table, FeatureTable) and table.features.shape == (len(small_ws) * 3, tiny.num_features)
