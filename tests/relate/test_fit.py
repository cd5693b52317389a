"""fit_relation: exact recovery, LOOCV against a hand-rolled loop, tiny-n warnings, bad input."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import KFold

from semlab.errors import ParameterError, TableError
from semlab.relate import RelateWarning, fit_relation


def test_exact_recovery_of_known_coefficients(noiseless, true_coef):
    r = fit_relation(noiseless, "y", ["x1", "x3"])
    assert r.coefficients["x1"] == pytest.approx(true_coef["x1"], abs=1e-10)
    assert r.coefficients["x3"] == pytest.approx(true_coef["x3"], abs=1e-10)
    assert r.intercept == pytest.approx(true_coef["intercept"], abs=1e-10)
    assert r.signs == {"x1": 1, "x3": -1}
    assert r.cv_scores.r2 == pytest.approx(1.0, abs=1e-12)
    assert r.cv_scores.rmse == pytest.approx(0.0, abs=1e-9)
    assert r.sign_agreement == {"x1": 1.0, "x3": 1.0}
    assert (r.n, r.p, r.cv) == (20, 2, "loo")
    # standardized coefficient = coef · sd(x) / sd(y)
    sx = noiseless["x1"].std(ddof=0)
    assert r.standardized_coefficients["x1"] == pytest.approx(2.0 * sx / noiseless["y"].std(ddof=0))


def test_distractors_get_zero_coefficients_when_noiseless(noiseless):
    r = fit_relation(noiseless, "y", ["x0", "x1", "x2", "x3"])
    assert r.coefficients["x0"] == pytest.approx(0.0, abs=1e-10)
    assert r.coefficients["x2"] == pytest.approx(0.0, abs=1e-10)


def _hand_loo(model_factory, x, y, scale: bool):
    pred = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        xt = x[keep]
        m, s = xt.mean(0), xt.std(0)
        if scale:
            est = model_factory().fit((xt - m) / s, y[keep])
            pred[i] = est.predict(((x[i] - m) / s)[None])[0]
        else:
            pred[i] = model_factory().fit(xt, y[keep]).predict(x[i][None])[0]
    return pred


def test_loocv_equals_hand_rolled_loop_linear(noisy):
    feats = ["x0", "x1", "x3"]
    r = fit_relation(noisy, "y", feats)
    x, y = noisy[feats].to_numpy(), noisy["y"].to_numpy()
    expected = _hand_loo(LinearRegression, x, y, scale=False)
    np.testing.assert_allclose(r.cv_predictions, expected, rtol=1e-9, atol=1e-9)
    ss_res = np.sum((y - expected) ** 2)
    assert r.cv_scores.r2 == pytest.approx(1 - ss_res / np.sum((y - y.mean()) ** 2))
    assert r.cv_scores.rmse == pytest.approx(np.sqrt(ss_res / len(y)))
    assert r.cv_scores.mae == pytest.approx(np.mean(np.abs(y - expected)))


# x2 (no true effect) flips sign in a fold, as it should: that warning is expected here
@pytest.mark.filterwarnings("ignore::semlab.relate.RelateWarning")
def test_loocv_equals_hand_rolled_loop_ridge(noisy):
    feats = ["x1", "x2", "x3"]
    r = fit_relation(noisy, "y", feats, model="ridge", options={"alpha": 2.0})
    x, y = noisy[feats].to_numpy(), noisy["y"].to_numpy()
    expected = _hand_loo(lambda: Ridge(alpha=2.0), x, y, scale=True)
    np.testing.assert_allclose(r.cv_predictions, expected, rtol=1e-9, atol=1e-9)
    # ridge shrinks: smaller coefficient norm than least squares
    ols = fit_relation(noisy, "y", feats)
    assert np.linalg.norm(list(r.coefficients.values())) < np.linalg.norm(list(ols.coefficients.values()))


def test_kfold_equals_hand_rolled_loop(noisy):
    feats = ["x1", "x3"]
    r = fit_relation(noisy, "y", feats, cv=5, seed=3)
    x, y = noisy[feats].to_numpy(), noisy["y"].to_numpy()
    expected = np.empty(len(y))
    for tr, te in KFold(5, shuffle=True, random_state=3).split(x):
        expected[te] = LinearRegression().fit(x[tr], y[tr]).predict(x[te])
    np.testing.assert_allclose(r.cv_predictions, expected, rtol=1e-9, atol=1e-9)
    assert r.cv == "5-fold"
    assert fit_relation(noisy, "y", feats, cv="5", seed=3).cv_predictions == pytest.approx(r.cv_predictions)


def test_gbr_is_seeded_and_fits_a_nonlinear_relation():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3, size=16)
    df = pd.DataFrame({"x": x, "noise": rng.normal(size=16), "y": np.where(x > 1.5, 10.0, 0.0)})
    small = {"n_estimators": 20, "learning_rate": 0.3, "subsample": 0.8}
    a = fit_relation(df, "y", ["x", "noise"], model="gbr", seed=1, options=small)
    b = fit_relation(df, "y", ["x", "noise"], model="gbr", seed=1, options=small)
    np.testing.assert_array_equal(a.cv_predictions, b.cv_predictions)
    assert a.cv_scores.r2 > 0.8
    assert a.coefficients is None and a.feature_importances["x"] > a.feature_importances["noise"]
    assert np.isnan(a.aicc)


def test_test_table_is_scored(linear_table):
    train, test = linear_table(20, noise=0.1, seed=2), linear_table(8, noise=0.1, seed=5)
    r = fit_relation(train, "y", ["x1", "x3"], test=test)
    assert r.test_scores.n == 8
    assert r.test_scores.r2 > 0.95
    expected = r.intercept + test[["x1", "x3"]].to_numpy() @ np.array(
        [r.coefficients["x1"], r.coefficients["x3"]]
    )
    np.testing.assert_allclose(r.test_predictions, expected)
    pred = r.predictions_table()
    assert (pred["set"] == "test").sum() == 8 and (pred["set"] == "train").sum() == 20
    with pytest.raises(TableError, match="test table lacks|test table has no feature column x3"):
        fit_relation(train, "y", ["x1", "x3"], test=test.drop(columns="x3"))


def test_adjusted_r2_and_information_criteria(noisy):
    r = fit_relation(noisy, "y", ["x1", "x3"])
    n, p = 20, 2
    assert r.adjusted_r2 == pytest.approx(1 - (1 - r.train_scores.r2) * (n - 1) / (n - p - 1))
    rss = np.sum((r.y - r.fitted) ** 2)
    k = p + 2
    aic = n * np.log(rss / n) + 2 * k
    assert r.aicc == pytest.approx(aic + 2 * k * (k + 1) / (n - k - 1))
    assert r.bic == pytest.approx(n * np.log(rss / n) + k * np.log(n))
    # a distractor does not lower AICc
    assert fit_relation(noisy, "y", ["x0", "x1", "x3"]).aicc > r.aicc


def test_pca_of_many_features_recovers_low_rank_signal():
    rng = np.random.default_rng(0)
    n, d = 24, 60
    latent = rng.normal(size=(n, 2))
    loadings = rng.normal(size=(2, d))
    feats = latent @ loadings + 0.01 * rng.normal(size=(n, d))
    df = pd.DataFrame(feats, columns=[f"f{j}" for j in range(d)])
    df["dead"] = 0.0  # a constant CNN unit is harmless under PCA
    df["prop"] = 3 * latent[:, 0] - 2 * latent[:, 1] + 0.05 * rng.normal(size=n)
    r = fit_relation(df, "prop", "f0..f59,dead", pca=2)
    assert r.features == ("pc1", "pc2") and r.p == 2
    assert r.cv_scores.r2 > 0.99
    np.testing.assert_allclose(r.model.predict(df), r.fitted, atol=1e-9)
    with pytest.raises(TableError, match="constant"):
        fit_relation(df, "prop", ["f0", "dead"])


# --------------------------------------------------------------------------- tiny n


def test_tiny_n_warns_and_never_crashes():
    rng = np.random.default_rng(4)
    df = pd.DataFrame(rng.normal(size=(5, 3)), columns=["a", "b", "c"])
    df["y"] = df["a"] + rng.normal(scale=0.5, size=5)
    with pytest.warns(RelateWarning) as rec:
        r = fit_relation(df, "y", ["a", "b", "c"])
    messages = [str(w.message) for w in rec]
    assert any("more than rows/3" in m for m in messages)
    assert r.warnings and all("\n" not in m for m in r.warnings)
    assert r.n == 5 and np.all(np.isfinite(r.cv_predictions))
    for model in ("ridge", "gbr"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RelateWarning)
            out = fit_relation(
                df,
                "y",
                ["a", "b", "c"],
                model=model,
                options={"n_estimators": 10} if model == "gbr" else None,
            )
        assert np.all(np.isfinite(out.cv_predictions))


def test_unstable_coefficient_signs_are_reported():
    rng = np.random.default_rng(9)  # a draw where 'weak' (no true effect) flips sign in some folds
    n = 8
    df = pd.DataFrame({"a": rng.normal(size=n), "weak": rng.normal(size=n)})
    df["y"] = df["a"] + 0.5 * rng.normal(size=n)
    with pytest.warns(RelateWarning, match="unstable coefficients"):
        r = fit_relation(df, "y", ["a", "weak"])
    assert r.sign_agreement["a"] == 1.0
    assert r.sign_agreement["weak"] < 1.0
    # the agreement is the share of LOO folds whose coefficient has the full fit's sign
    x, y = df[["a", "weak"]].to_numpy(), df["y"].to_numpy()
    signs = [np.sign(LinearRegression().fit(np.delete(x, i, 0), np.delete(y, i)).coef_[1]) for i in range(n)]
    assert r.sign_agreement["weak"] == pytest.approx(
        np.mean(np.array(signs) == np.sign(r.coefficients["weak"]))
    )


def test_near_collinear_features_warn():
    rng = np.random.default_rng(0)
    a = rng.normal(size=15)
    df = pd.DataFrame({"a": a, "a_copy": a + 1e-3 * rng.normal(size=15), "y": a + 0.1 * rng.normal(size=15)})
    with pytest.warns(RelateWarning) as rec:
        r = fit_relation(df, "y", ["a", "a_copy"])
    messages = [str(w.message) for w in rec]
    assert any(re.search(r"near-collinear.*a ~ a_copy", m) for m in messages)
    assert any(m.startswith("unstable coefficients") for m in messages)  # collinear pairs trade signs
    assert r.condition_number > 30


def test_no_warning_for_a_healthy_fit(noisy):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RelateWarning)
        r = fit_relation(noisy, "y", ["x1", "x3"])
    assert r.warnings == ()


# --------------------------------------------------------------------------- bad input


def test_missing_target_lists_columns(noisy):
    with pytest.raises(TableError, match=r"no target column 'z'; its columns are x0, x1"):
        fit_relation(noisy, "z", ["x1"])


def test_missing_feature_is_named(noisy):
    with pytest.raises(TableError, match="no feature column nope"):
        fit_relation(noisy, "y", ["x1", "nope"])


def test_non_numeric_columns_are_named(noisy):
    df = noisy.assign(grade=["A"] * 20)
    with pytest.raises(TableError, match=r"column grade is not numeric \(grade holds 'A'\)"):
        fit_relation(df, "y", ["x1", "grade"])


def test_fewer_rows_than_features_plus_two(linear_table):
    df = linear_table(5)
    with pytest.raises(
        TableError, match="5 rows for 4 features; a linear fit needs at least features \\+ 2 = 6"
    ):
        fit_relation(df, "y", ["x0", "x1", "x2", "x3"])
    # ridge accepts it (with warnings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RelateWarning)
        assert fit_relation(df, "y", ["x0", "x1", "x2", "x3"], model="ridge").n == 5


def test_constant_columns_are_named(noisy):
    df = noisy.assign(const=1.5)
    with pytest.raises(TableError, match="feature column const is constant"):
        fit_relation(df, "y", ["x1", "const"])
    with pytest.raises(TableError, match="target 'const' is constant"):
        fit_relation(df, "const", ["x1"])


def test_nans_name_rows_and_columns_and_can_be_dropped(noisy):
    df = noisy.copy()
    df.loc[3, "x1"] = np.nan
    df.loc[7, "y"] = np.inf
    with pytest.raises(TableError, match=r"rows 3, 7 \(column y, x1\).*dropna"):
        fit_relation(df, "y", ["x1", "x3"])
    with pytest.warns(RelateWarning, match="dropped 2 of 20 rows"):
        r = fit_relation(df, "y", ["x1", "x3"], dropna=True)
    assert r.n == 18 and 3 not in r.rows and 7 not in r.rows


def test_nan_rows_of_a_file_are_spreadsheet_rows(tmp_path, noisy):
    df = noisy.copy()
    df.loc[0, "x3"] = np.nan  # first data row = spreadsheet row 2
    df.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(TableError, match=r"row 2 \(column x3\)"):
        fit_relation(tmp_path / "t.csv", "y", ["x1", "x3"])


def test_bad_options(noisy):
    with pytest.raises(ParameterError, match="model='lasso'"):
        fit_relation(noisy, "y", ["x1"], model="lasso")
    with pytest.raises(ParameterError, match="cv=99"):
        fit_relation(noisy, "y", ["x1"], cv=99)
    with pytest.raises(ParameterError, match="cv='abc'"):
        fit_relation(noisy, "y", ["x1"], cv="abc")
    with pytest.raises(ParameterError, match="target 'y' is also a feature"):
        fit_relation(noisy, "y", ["x1", "y"])
    with pytest.raises(ParameterError, match="feature pattern 'q\\*' matches no column"):
        fit_relation(noisy, "y", "q*")


def test_default_features_skip_constant_columns(noisy):
    df = noisy.assign(const=2.0, label="a")
    with pytest.warns(RelateWarning) as rec:
        r = fit_relation(df, "y")
    assert any(re.search("left out 1 column.*const", str(w.message)) for w in rec)
    assert r.features == ("x0", "x1", "x2", "x3", "x4", "x5")
