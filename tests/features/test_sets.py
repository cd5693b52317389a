"""Feature sets: widths, what each set can tell apart, the same numbers for embedding and prediction."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

from semlab.errors import ParameterError, WorkspaceError  # noqa: E402
from semlab.features import (  # noqa: E402
    FEATURE_SETS,
    embed_workspace,
    feature_table,
    feature_width,
    load_features,
    patch_features,
)
from semlab.features import extract as extract_mod  # noqa: E402
from semlab.preprocess import Preparation  # noqa: E402

PREP = Preparation(patch_size=64, patches_per_image=2)


@pytest.fixture(scope="module")
def tiny():
    from semlab.features import create_backbone

    return create_backbone("test_efficientnet", pretrained=False)


def _textures(n_per_class: int, *, size: int = 96, seed: int = 0, brightness: float = 0.0) -> tuple:
    """Images of two noise spectra (Gaussian-smoothed white noise, sigma 1 vs 3 px), each scaled to
    the same mean 0.5 and std 0.12; class 1 is shifted by ``brightness``."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, sigma in ((0, 1.0), (1, 3.0)):
        for _ in range(n_per_class):
            g = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma)
            g = 0.5 + 0.12 * (g - g.mean()) / g.std()
            images.append(np.clip(g + (brightness if label else 0.0), 0, 1).astype(np.float32))
            labels.append(label)
    return np.stack(images), np.array(labels)


def _grouped_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    """Image accuracy of a logistic head under 3-fold CV grouped by image (one row per image)."""
    from semlab.learn import train_head

    groups = np.arange(len(y)).astype(str)
    res = train_head(
        x, y, groups, task="classify", model="logreg", folds=3, seed=0, permutations=0, bootstrap=0
    )
    return float(res.metrics["image"]["accuracy"])


@pytest.mark.parametrize("feature_set", FEATURE_SETS)
def test_each_set_gives_finite_features_of_its_width(feature_set, tiny):
    rng = np.random.default_rng(1)
    patches = rng.random((3, 48, 48)).astype(np.float32)
    f = patch_features(patches, feature_set=feature_set, backbone=tiny, device="cpu")
    assert f.dtype == np.float32 and f.shape == (3, feature_width(feature_set, tiny))
    assert np.isfinite(f).all() and f.std(axis=0).max() > 0


def test_widths_of_lite0(lite0):
    # 5 stages of 16, 24, 40, 112, 320 channels: 2 * 512 means/stds + 5 Gram triangles of 16 channels
    assert feature_width("multiscale", lite0) == 2 * 512 + 5 * 136 == 1704
    assert feature_width("final", lite0) == 1280
    assert feature_width("texture") == 134 and feature_width("nuisance") == 16
    with pytest.raises(ParameterError, match="feature_set"):
        feature_width("gram")


@pytest.mark.parametrize("feature_set", ["multiscale", "texture"])
def test_texture_sets_separate_two_noise_spectra(feature_set, lite0):
    images, y = _textures(9)
    x = patch_features(images, feature_set=feature_set, backbone=lite0, device="cpu")
    # equal mean and std: the grey-value statistics alone cannot tell the two apart
    nuisance = patch_features(images, feature_set="nuisance")
    assert abs(nuisance[y == 0, 0].mean() - nuisance[y == 1, 0].mean()) < 0.01
    acc = _grouped_accuracy(x, y)
    assert acc >= 0.9, f"{feature_set}: grouped-CV accuracy {acc:.2f} (chance 0.5)"


def test_nuisance_detects_a_brightness_only_difference():
    images, y = _textures(9, brightness=0.15)
    same = np.concatenate([images[y == 0], images[y == 0]])  # one texture, two brightness levels
    same[len(same) // 2 :] = np.clip(same[len(same) // 2 :] + 0.15, 0, 1)
    x = patch_features(same, feature_set="nuisance", image_shape=(96, 96), pixel_size=0.01)
    assert _grouped_accuracy(x, np.repeat([0, 1], len(same) // 2)) == 1.0
    assert x[0, -1] == 1.0 and x[0, -2] == pytest.approx(-2.0)  # pixel size known, log10(0.01)


def _prepared_patches(ws, h: str, recipe: Preparation) -> tuple:
    """(patches, image shape, pixel size µm) of one workspace image by the recipe."""
    from semlab.preprocess import prepare_patches

    m = ws.read(h, crop=recipe.crop_databar)
    px = float(ws.table().set_index("hash").loc[h, "pixel_size_um"])
    return prepare_patches(m, recipe, key=h, pixel_size=px)[0], np.shape(getattr(m, "image", m))[:2], px


@pytest.mark.parametrize("feature_set", FEATURE_SETS)
def test_patch_features_equal_the_embedded_features(small_ws, tiny, feature_set):
    table = embed_workspace(small_ws, backbone=tiny, preparation=PREP, feature_set=feature_set, device="cpu")
    assert table.config["feature_set"] == feature_set and "feature_config" in table.config
    assert table.n_features == feature_width(feature_set, tiny)
    h = table.image_hashes[1]
    recipe = Preparation.from_dict(table.config)  # nuisance: the unequalized recipe it used
    assert (recipe.equalize == "none") == (feature_set == "nuisance")
    patches, shape, px = _prepared_patches(small_ws, h, recipe)
    f = patch_features(
        patches, feature_set=feature_set, backbone=tiny, device="cpu", image_shape=shape, pixel_size=px
    )
    stored = table.select([h]).features
    np.testing.assert_allclose(f, stored, rtol=1e-4, atol=1e-4 * float(np.abs(stored).max()))


def test_cache_key_differs_per_set_and_one_pass_fills_both_cnn_sets(small_ws, tiny, monkeypatch):
    seen: list[tuple] = []
    real = extract_mod._run

    def counting(bb, a, *args, **kwargs):
        seen.append((len(a), kwargs.get("sets")))
        return real(bb, a, *args, **kwargs)

    monkeypatch.setattr(extract_mod, "_run", counting)
    ms = embed_workspace(small_ws, backbone=tiny, preparation=PREP, feature_set="multiscale", device="cpu")
    assert ms.cache["computed"] == len(small_ws) and all(s == ("multiscale", "final") for _, s in seen)
    seen.clear()
    fin = embed_workspace(small_ws, backbone=tiny, preparation=PREP, feature_set="final", device="cpu")
    assert fin.cache["computed"] == 0 and not seen  # filled by the multiscale pass
    tex = embed_workspace(small_ws, preparation=PREP, feature_set="texture")
    paths = {t.cache["path"] for t in (ms, fin, tex)}
    assert len(paths) == 3 and fin.n_features != ms.n_features
    assert np.array_equal(fin.index.to_numpy(), ms.index.to_numpy())  # the same patches
    assert np.array_equal(tex.index.to_numpy(), ms.index.to_numpy())


def test_load_features_by_set_and_nuisance_is_never_the_latest(small_ws, tiny):
    with pytest.raises(WorkspaceError, match="--features texture"):
        load_features(small_ws, feature_set="texture")
    fin = embed_workspace(small_ws, backbone=tiny, preparation=PREP, feature_set="final", device="cpu")
    nui = feature_table(small_ws, "nuisance")  # recipe and backbone of the latest embedding
    assert nui.index["size_px"].eq(64).all() and nui.config["recipe_equalize"] == "clahe"
    assert load_features(small_ws).cache["path"] == fin.cache["path"]
    assert load_features(small_ws, feature_set="nuisance").cache["path"] == nui.cache["path"]
    assert load_features(small_ws, feature_set="final", backbone=fin.backbone).n_features == fin.n_features
    with pytest.raises(ParameterError, match="feature_set"):
        load_features(small_ws, feature_set="gram")


def test_cli_embed_features(small_ws, capsys):
    from semlab.cli import main

    args = ["embed", str(small_ws.path), "--patch-size", "64", "--patches-per-image", "2", "--quiet"]
    assert main([*args, "--features", "texture"]) == 0
    out = capsys.readouterr().out
    assert "features texture" in out and "134 features per patch" in out
    assert main([*args, "--features", "gram"]) == 2
    assert "--features 'gram' is not one of final, multiscale, texture, nuisance" in capsys.readouterr().err


def test_default_set_is_the_measured_best_on_average():
    import json
    from pathlib import Path

    from semlab.features import DEFAULT_FEATURE_SET

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "learn.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    result = json.loads(path.read_text(encoding="utf-8"))
    means = {k: v for k, v in result["mean_score"].items() if k != "nuisance"}
    assert DEFAULT_FEATURE_SET == result["best_on_average"] == max(means, key=means.get)


def test_feature_table_keeps_the_latest_embeddings_random_weights(small_ws):
    first = embed_workspace(
        small_ws, backbone="test_efficientnet", pretrained=False, preparation=PREP, device="cpu"
    )
    ms = feature_table(small_ws, "multiscale", backbone="test_efficientnet")
    assert ms.config["backbone_seed"] == 0 and ms.weights_sha256 == first.weights_sha256
    assert ms.cache["computed"] == 0  # filled by the first embedding's forward pass
