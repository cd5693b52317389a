"""Run folders, model.json round trips and predict_property."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from semlab.errors import FileFormatError, MissingFileError, ParameterError, TableError
from semlab.relate import RelateWarning, fit_relation, load_model, predict_property, save_run, search_features


def test_run_folder_and_json_model_round_trip(tmp_path, noisy):
    table = noisy.assign(t=np.exp(noisy["x3"]))
    formulas = ["lx3 = log(t)"]
    search = search_features(table, "y", ["x1", "lx3", "x0"], max_features=2, formulas=formulas)
    r = fit_relation(table, "y", ["x1", "lx3"], formulas=formulas, test=table.iloc[:5])
    run = save_run(r, tmp_path / "run", search=search)
    names = {p.name for p in run.iterdir()}
    assert {"config.json", "metrics.json", "model.json", "predictions.csv", "shap.csv", "search.csv",
            "parity.png", "residuals.png", "shap_bar.png", "shap_beeswarm.png"} <= names  # fmt: skip
    assert not [n for n in names if n.endswith(".tmp")]
    model = json.loads((run / "model.json").read_text())
    assert model["formulas"] == ["lx3 = log(t)"] and model["inputs"] == ["x1", "lx3"]
    assert model["coefficients_by_feature"]["lx3"] == pytest.approx(-3.0, abs=0.2)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["cv_scores"]["r2"] == pytest.approx(r.cv_scores.r2)
    assert metrics["top_features_by_shap"][0] == "lx3"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["target"] == "y" and cfg["cv"] == "loo" and cfg["seed"] == 0
    pred = pd.read_csv(run / "predictions.csv")
    assert len(pred) == 25 and pred.loc[pred["set"] == "train", "cv_predicted"].to_numpy() == pytest.approx(
        r.cv_predictions
    )
    # model.json alone predicts: formulas first, no pickle, no sklearn needed
    loaded = load_model(run / "model.json")
    raw = table.drop(columns=["x3"])  # lx3 comes from the formula over t
    np.testing.assert_allclose(loaded.predict(raw), r.fitted, rtol=1e-12)
    out = predict_property(run, raw)
    np.testing.assert_allclose(out["predicted_y"], r.fitted, rtol=1e-12)
    assert "lx3" in out.columns


def test_predict_names_missing_feature_columns(tmp_path, noisy):
    r = fit_relation(noisy, "y", ["x1", "x3"])
    run = save_run(r, tmp_path / "run", plots=False)
    with pytest.raises(TableError, match=r"lacks the feature column x3 the model needs; its columns are"):
        predict_property(run, noisy.drop(columns="x3"))


def test_gbr_model_is_stored_without_code(tmp_path, noisy):
    r = fit_relation(noisy, "y", ["x1", "x3"], model="gbr", options={"n_estimators": 15})
    run = save_run(r, tmp_path / "gbr", plots=False)
    assert not (run / "model.joblib").exists()  # no pickle: refitted from model.json's training data
    np.testing.assert_allclose(load_model(run).predict(noisy), r.fitted)
    # changed training data no longer reproduces the stored predictions: refused in one line
    model = json.loads((run / "model.json").read_text())
    model["training"]["y"][0] += 10.0
    (run / "model.json").write_text(json.dumps(model))
    with pytest.raises(FileFormatError, match="does not reproduce its stored predictions"):
        load_model(run)


class _Planted:
    """Unpickling this creates the marker file: proof that a file's code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_planted_joblib_pickle_is_never_loaded(tmp_path, noisy):
    import pickle

    r = fit_relation(noisy, "y", ["x1", "x3"], model="gbr", options={"n_estimators": 15})
    run = save_run(r, tmp_path / "gbr", plots=False)
    marker = tmp_path / "pwned"
    (run / "model.joblib").write_bytes(pickle.dumps(_Planted(marker)))
    # an old-style model.json that points at the pickle: refused, not loaded
    model = json.loads((run / "model.json").read_text())
    del model["training"]
    model["estimator"] = "model.joblib"
    (run / "model.json").write_text(json.dumps(model))
    with pytest.raises(FileFormatError, match="can't be loaded safely") as info:
        load_model(run)
    assert len(str(info.value).splitlines()) == 1
    with pytest.raises(FileFormatError):
        predict_property(run, noisy)
    assert not marker.exists()


def test_relate_table_is_the_relate_chain(tmp_path, noisy):
    from semlab.relate import RelateConfig, relate_table

    table = noisy.assign(t=np.exp(noisy["x3"]))
    config = RelateConfig(features="x0,x1,lt", search=2, formulas=("lt = log(t)",), plots=False)
    run = relate_table(table, "y", config=config, out=tmp_path / "run")
    assert run.result.features == ("x1", "lt") and run.out == tmp_path / "run"
    assert run.search["features"].iloc[0] == "x1,lt"
    cfg = json.loads((run.out / "config.json").read_text())
    assert cfg["search"] == 2 and cfg["command"] == "relate"
    assert run.summary()[0] == "y ~ x1 + lt  (linear, LOOCV, n = 20, p = 2)"
    assert relate_table(table, "y", config=config).out is None  # nothing written without out
    with pytest.raises(ParameterError, match="cannot be combined"):
        RelateConfig(search=2, pca=2)


def test_pca_model_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    f = rng.normal(size=(12, 30))
    df = pd.DataFrame(f, columns=[f"f{j}" for j in range(30)])
    df["y"] = f[:, :10].sum(axis=1)
    with pytest.warns(RelateWarning):  # 30 features, 12 rows: principal-component signs are unstable
        r = fit_relation(df, "y", "f*", pca=3, model="ridge")
    run = save_run(r, tmp_path / "pca", plots=False)
    np.testing.assert_allclose(load_model(run).predict(df), r.fitted, rtol=1e-10)


def test_load_model_errors(tmp_path):
    with pytest.raises(MissingFileError):
        load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileFormatError, match="has no model.json"):
        load_model(tmp_path / "empty")
    (tmp_path / "empty" / "model.json").write_text('{"format": "other"}')
    with pytest.raises(FileFormatError, match="not a semlab relation model"):
        load_model(tmp_path / "empty")


def test_linear_prediction_needs_no_sklearn(tmp_path, noisy):
    import subprocess

    r = fit_relation(noisy, "y", ["x1", "x3"])
    run = save_run(r, tmp_path / "run", plots=False)
    noisy.to_csv(tmp_path / "t.csv", index=False)
    code = (
        "import sys; from semlab.relate import predict_property; "
        f"d = predict_property({str(run)!r}, {str(tmp_path / 't.csv')!r}); "
        "print(round(float(d['predicted_y'].iloc[0]), 9), 'sklearn' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert float(out[0]) == pytest.approx(r.fitted[0], abs=1e-8)
    assert out[1] == "False"
