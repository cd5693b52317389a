"""``semlab relate`` and ``semlab predict-property``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from semlab.cli import main


@pytest.fixture
def csv(tmp_path, noisy):
    path = tmp_path / "structure.csv"
    noisy.assign(sample=[f"S{i}" for i in range(20)], tau=np.exp(noisy["x3"])).to_csv(path, index=False)
    return path


def test_relate_search_writes_run_and_predict_property(tmp_path, csv, capsys):
    run = tmp_path / "run"
    rc = main(["relate", str(csv), "--target", "y", "--features", "x0,x1,x2,lt", "--search", "2",
               "--formula", "lt = log(tau)", "--out", str(run)])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "y ~ x1 + lt  (linear, LOOCV, n = 20, p = 2)" in out
    assert "searched 10 of 10 subsets" in out
    search = pd.read_csv(run / "search.csv")
    assert search["features"].iloc[0] == "x1,lt"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["coefficients"]["lt"] == pytest.approx(-3.0, abs=0.2)
    assert (run / "parity.png").is_file() and (run / "shap_beeswarm.png").is_file()

    dest = tmp_path / "pred.csv"
    assert main(["predict-property", str(run), str(csv), "--out", str(dest)]) == 0
    pred = pd.read_csv(dest)
    fitted = pd.read_csv(run / "predictions.csv")["fitted"].to_numpy()
    np.testing.assert_allclose(pred["predicted_y"], fitted, rtol=1e-9)
    assert "predicted y for 20 of 20 rows" in capsys.readouterr().out


def test_relate_with_test_table_ridge_and_kfold(tmp_path, csv, linear_table, capsys):
    test = tmp_path / "test.csv"
    linear_table(6, noise=0.3, seed=7).to_csv(test, index=False)
    rc = main(["relate", str(csv), "-t", "y", "-f", "x1,x3", "--model", "ridge", "--alpha", "0.5",
               "--cv", "5", "--test", str(test), "--out", str(tmp_path / "r"), "--no-plots"])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "(ridge, 5-fold CV, n = 20, p = 2)" in out and "5-fold CV R²" in out and "test (n = 6) R²" in out
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["model_options"] == {"alpha": 0.5} and cfg["cv"] == "5-fold"
    assert len(cfg["tables"]) == 2 and all(t["sha256"] for t in cfg["tables"])
    assert not (tmp_path / "r" / "parity.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "nope"], "error: table has no target column 'nope'; its columns are x0"),
        (["--target", "y", "--features", "x1,sample"], "error: table: column sample is not numeric"),
        (["--target", "y", "--formula", "z = __import__('os')"], "error: formula \"z = __import__('os')\""),
        (["--target", "y", "--model", "svm"], "error: model='svm' is not one of linear, ridge, gbr"),
        (["--target", "y", "--search", "2", "--pca", "2"], "error: --search and --pca cannot be combined"),
    ],
)
def test_bad_input_is_one_line_error(csv, tmp_path, capsys, args, message):
    rc = main(["relate", str(csv), *args, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err
    assert "Traceback" not in err


def test_predict_property_missing_column(tmp_path, csv, noisy, capsys):
    run = tmp_path / "run"
    assert main(["relate", str(csv), "-t", "y", "-f", "x1,x3", "--out", str(run), "--no-plots"]) == 0
    bad = tmp_path / "bad.csv"
    noisy.drop(columns="x3").to_csv(bad, index=False)
    assert main(["predict-property", str(run), str(bad)]) == 2
    assert "lacks the feature column x3" in capsys.readouterr().err


def test_help_is_useful(capsys):
    assert main(["relate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--search" in out and "--formula" in out and "LOOCV" in out.replace("leave-one-out", "LOOCV")


def test_cli_run_folder_equals_the_api_run_folder(tmp_path, csv, capsys):
    """`semlab relate` and relate_table write the same files and the same report."""
    from semlab.relate import RelateConfig, relate_table

    cli_run, api_run = tmp_path / "cli", tmp_path / "api"
    assert main(["relate", str(csv), "-t", "y", "-f", "x0,x1,lt", "--search", "2", "--formula", "lt = log(tau)",
                 "--model", "gbr", "--out", str(cli_run), "--no-plots"]) == 0  # fmt: skip
    printed = [line for line in capsys.readouterr().out.splitlines() if line]  # the progress bar leaves a blank
    config = RelateConfig(features="x0,x1,lt", search=2, formulas=("lt = log(tau)",), model="gbr", plots=False)
    run = relate_table(csv, "y", config=config, out=api_run)
    assert printed == [*run.summary(), f"wrote {cli_run}"]
    for name in ("model.json", "metrics.json", "predictions.csv", "shap.csv", "search.csv"):
        assert (cli_run / name).read_text() == (api_run / name).read_text(), name
    cfg_cli = json.loads((cli_run / "config.json").read_text())
    cfg_api = json.loads((api_run / "config.json").read_text())
    assert {k: v for k, v in cfg_cli.items() if k != "created"} == {k: v for k, v in cfg_api.items() if k != "created"}
    # the gbr run predicts from model.json alone (no pickle)
    dest = tmp_path / "pred.csv"
    assert main(["predict-property", str(cli_run), str(csv), "--out", str(dest)]) == 0
    fitted = pd.read_csv(cli_run / "predictions.csv")["fitted"].to_numpy()
    np.testing.assert_allclose(pd.read_csv(dest)["predicted_y"], fitted, rtol=1e-9)
