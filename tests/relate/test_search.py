"""search_features: finds the true features among distractors; refuses or samples huge searches."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from semlab.errors import ParameterError
from semlab.relate import RelateFitOptions, RelateWarning, fit_relation, search_features


def test_search_finds_the_true_features_among_distractors(noisy):
    table = search_features(noisy, "y", max_features=3)
    # every subset of 1..3 of 6 candidates
    assert len(table) == 6 + 15 + 20 == table.attrs["total_subsets"]
    assert table["rank"].tolist() == list(range(1, len(table) + 1))
    assert table["loocv_r2"].is_monotonic_decreasing
    top = set(table["features"].iloc[0].split(","))
    assert {"x1", "x3"} <= top
    # the information criterion penalises the extra distractors: exactly the true pair wins
    best_aicc = table.sort_values("aicc").iloc[0]
    assert best_aicc["features"] == "x1,x3"
    by_aicc = search_features(noisy, "y", max_features=3, rank_by="aicc")
    assert by_aicc["features"].iloc[0] == "x1,x3"
    assert list(table.columns[:5]) == ["rank", "features", "n_features", "loocv_r2", "loocv_rmse"]
    assert {"aicc", "bic", "adjusted_r2", "train_r2", "min_sign_agreement"} <= set(table.columns)


def test_fast_linear_loocv_matches_fit_relation(noisy):
    table = search_features(noisy, "y", ["x0", "x1", "x3"], max_features=2).set_index("features")
    for feats in ("x1", "x0,x3", "x1,x3"):
        r = fit_relation(noisy, "y", feats.split(","))
        row = table.loc[feats]
        assert row["loocv_r2"] == pytest.approx(r.cv_scores.r2, rel=1e-9)
        assert row["loocv_rmse"] == pytest.approx(r.cv_scores.rmse, rel=1e-9)
        assert row["aicc"] == pytest.approx(r.aicc, rel=1e-9)
        assert row["min_sign_agreement"] == pytest.approx(min(r.sign_agreement.values()))


def test_ridge_and_kfold_search_use_the_general_path(noisy):
    table = search_features(noisy, "y", ["x0", "x1", "x3"], max_features=2, model="ridge", cv=4)
    assert "cv4_r2" in table.columns and table.attrs["cv"] == "4-fold"
    r = fit_relation(noisy, "y", ["x1", "x3"], model="ridge", cv=4)
    row = table.set_index("features").loc["x1,x3"]
    assert row["cv4_r2"] == pytest.approx(r.cv_scores.r2, rel=1e-9)
    assert table["features"].iloc[0] == "x1,x3"


def test_fit_options_as_a_config_or_as_keywords(noisy):
    """``fit=RelateFitOptions(...)`` and the keywords of fit_relation give the same table."""
    by_keywords = search_features(noisy, "y", ["x0", "x1", "x3"], max_features=2, model="ridge", cv=4, seed=2,
                                  options={"alpha": 0.5})  # fmt: skip
    how = RelateFitOptions(model="ridge", cv=4, seed=2, options={"alpha": 0.5})
    by_config = search_features(noisy, "y", ["x0", "x1", "x3"], max_features=2, fit=how)
    pd.testing.assert_frame_equal(by_keywords, by_config)
    assert by_config.attrs == by_keywords.attrs
    # keywords replace the config's fields
    loo = search_features(noisy, "y", ["x0", "x1", "x3"], max_features=2, fit=how, cv="loo")
    assert loo.attrs["cv"] == "loo" and "loocv_r2" in loo.columns
    assert how.to_dict() == {"model": "ridge", "cv": 4, "seed": 2, "formulas": [], "dropna": False,
                             "options": {"alpha": 0.5}}  # fmt: skip
    assert RelateFitOptions(formulas="a = log(b)").formulas == ("a = log(b)",)


def test_unknown_fit_option_is_one_line(noisy):
    with pytest.raises(ParameterError, match=r"unknown option modle=; its fitting options are model, cv, seed"):
        search_features(noisy, "y", max_features=2, modle="ridge")
    with pytest.raises(ParameterError, match="model='lasso' is not one of"):
        search_features(noisy, "y", max_features=2, model="lasso")
    with pytest.raises(ParameterError, match="must be a RelateFitOptions"):
        search_features(noisy, "y", max_features=2, fit={"model": "ridge"})


def test_exploding_search_is_refused_or_sampled():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(30, 40)), columns=[f"f{j}" for j in range(40)])
    df["y"] = df["f3"] + 0.1 * rng.normal(size=30)
    total = sum(math.comb(40, k) for k in (1, 2, 3, 4))
    with pytest.raises(ParameterError, match=f"{total:,} fits, more than max_subsets=20,000.*--sample"):
        search_features(df, "y", max_features=4)
    with pytest.warns(RelateWarning, match=f"{total:,} subsets.*fitted 300 random subsets"):
        table = search_features(df, "y", max_features=4, max_subsets=300, sample=True, seed=1)
    assert len(table) == 300 and table.attrs["sampled"]
    assert table["features"].is_unique
    with pytest.warns(RelateWarning):
        again = search_features(df, "y", max_features=4, max_subsets=300, sample=True, seed=1)
    assert again["features"].tolist() == table["features"].tolist()


def test_subset_size_is_capped_for_tiny_tables(linear_table):
    df = linear_table(5, noise=0.1)
    with pytest.warns(RelateWarning, match="capped at 3 features"):
        table = search_features(df, "y", max_features=5)
    assert table["n_features"].max() == 3 and len(table) == 6 + 15 + 20
    assert {"x1", "x3"} <= set(table["features"].iloc[0].split(","))


def test_search_at_n5_never_crashes(process_table):
    small = process_table.groupby("laser_power_W", as_index=False).mean(numeric_only=True)  # 5 rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RelateWarning)
        table = search_features(small, "conductivity_MS_per_m", max_features=3)
    assert len(table) > 0 and table["loocv_r2"].notna().any()
