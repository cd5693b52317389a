"""SHAP values (exact for linear models) and the plots."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from semlab.relate import RelateWarning, fit_relation, shap_values
from semlab.relate.plots import plot_parity, plot_residuals, plot_shap_bar, plot_shap_beeswarm


@pytest.mark.parametrize("model", ["linear", "ridge"])
def test_linear_shap_is_coef_times_centred_feature(noisy, model):
    feats = ["x1", "x2", "x3"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RelateWarning)
        r = fit_relation(noisy, "y", feats, model=model)
    s = shap_values(r)
    x = noisy[feats].to_numpy()
    coef = np.array([r.coefficients[f] for f in feats])
    np.testing.assert_allclose(s.values, coef * (x - x.mean(axis=0)), atol=1e-12)
    # local accuracy: base value + contributions = the model's prediction
    np.testing.assert_allclose(s.base_value + s.values.sum(axis=1), r.fitted, atol=1e-10)
    assert s.method == "linear-exact"
    assert s.top(2) == ["x3", "x1"]  # |−3| > |2| on features of similar spread
    # new rows: still centred on the training mean
    new = noisy.iloc[:4]
    np.testing.assert_allclose(shap_values(r, new).values, coef * (new[feats].to_numpy() - x.mean(axis=0)))


def test_tree_shap_is_locally_accurate():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.uniform(size=16), "b": rng.uniform(size=16)})
    df["y"] = 4 * (df["a"] > 0.5) + 0.1 * df["b"]
    r = fit_relation(df, "y", ["a", "b"], model="gbr", options={"n_estimators": 20})
    s = shap_values(r)
    assert s.method == "tree"
    np.testing.assert_allclose(
        s.base_value + s.values.sum(axis=1), r.model.estimator.predict(r.design), atol=1e-6
    )
    assert s.top(1) == ["a"]


def test_plots_are_written(tmp_path, linear_table):
    r = fit_relation(linear_table(20, noise=0.2), "y", ["x1", "x3"], test=linear_table(6, noise=0.2, seed=9))
    s = shap_values(r)
    for fn, arg, name in [
        (plot_parity, r, "parity.png"),
        (plot_residuals, r, "residuals.png"),
        (plot_shap_bar, s, "bar.png"),
        (plot_shap_beeswarm, s, "swarm.png"),
    ]:
        path = fn(arg, path=tmp_path / name)
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size[0] > 200
    fig = plot_parity(r)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0] == f"LOOCV (R² = {r.cv_scores.r2:.3f})"
    assert legend[1] == f"test (R² = {r.test_scores.r2:.3f})" and legend[2] == "y = x"
