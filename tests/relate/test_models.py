"""Regressor registry, PCA front end, feature lists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from semlab.errors import ParameterError
from semlab.registry import available, create
from semlab.relate import pca_features
from semlab.relate._common import expand_features


def test_regressors_are_registered():
    import semlab.relate  # noqa: F401  (registers the regressors)

    assert available("regressor") == ["gbr", "linear", "ridge"]
    assert create("regressor", "ridge", alpha=2.5).alpha == 2.5
    with pytest.raises(ParameterError, match="alpha"):
        create("regressor", "ridge", alpha=-1)


def test_pca_features_match_the_svd_of_standardized_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 6)) @ rng.normal(size=(6, 6))
    pca = pca_features(x, 3)
    z = (x - x.mean(0)) / x.std(0)
    s = np.linalg.svd(z, compute_uv=False)
    np.testing.assert_allclose(pca.explained_variance_ratio, s[:3] ** 2 / np.sum(s**2))
    np.testing.assert_allclose(np.abs(pca.scores), np.abs(np.linalg.svd(z)[0][:, :3] * s[:3]), atol=1e-9)
    np.testing.assert_allclose(pca.transform(x), pca.scores, atol=1e-12)
    assert pca.names == ("pc1", "pc2", "pc3")
    # components are orthonormal; signs fixed (largest loading positive)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(3), atol=1e-12)
    assert all(c[np.argmax(np.abs(c))] > 0 for c in pca.components)
    with pytest.raises(ParameterError, match="n_components=20"):
        pca_features(x, 20)


def test_feature_lists_with_globs_and_ranges():
    cols = ["f0", "f1", "f2", "f10", "porosity"]
    assert expand_features("f0..f2, porosity", cols) == ["f0", "f1", "f2", "porosity"]
    assert expand_features("f0..2", cols) == ["f0", "f1", "f2"]
    assert expand_features("f*", cols) == ["f0", "f1", "f2", "f10"]
    assert expand_features(["porosity", "porosity"], cols) == ["porosity"]
    assert expand_features(None, cols) is None
    with pytest.raises(ParameterError, match="runs backwards"):
        expand_features("f5..f1", cols)
    with pytest.raises(ParameterError, match="empty"):
        expand_features(" , ", cols)


def test_cli_pca_on_cnn_feature_columns(tmp_path, capsys):
    from semlab.cli import main

    rng = np.random.default_rng(3)
    latent = rng.normal(size=(15, 2))
    feats = latent @ rng.normal(size=(2, 40)) + 0.01 * rng.normal(size=(15, 40))
    df = pd.DataFrame(feats, columns=[f"f{j}" for j in range(40)])
    df["image"] = [f"im{i}.tif" for i in range(15)]
    df["hardness_hv"] = 100 + 10 * latent[:, 0] + 5 * latent[:, 1]
    df.to_csv(tmp_path / "features.csv", index=False)
    rc = main(["relate", str(tmp_path / "features.csv"), "-t", "hardness_hv", "-f", "f0..f39", "--pca", "2",
               "--out", str(tmp_path / "run"), "--no-plots"])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "hardness_hv ~ pc1 + pc2  (linear, LOOCV, n = 15, p = 2)" in out
    r2 = float(out.split("LOOCV R² ")[1].split()[0])
    assert r2 > 0.99
    pred = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert pred["image"].tolist()[:2] == ["im0.tif", "im1.tif"]
