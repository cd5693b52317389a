"""Run folders of a relation and predictions from a saved model.

A run folder (every file written atomically) holds

``config.json``
    What was asked: target, features, model, options, cv, seed, formulas, input hashes, versions.
``metrics.json``
    :meth:`RelationResult.to_dict` plus mean |SHAP| per feature.
``model.json``
    Coefficients, intercept, features, means/scales, PCA, formulas: enough to predict with
    linear and ridge models; gbr models add ``model.joblib``.
``predictions.csv``
    Measured, fitted, CV-predicted and test-predicted target per row.
``shap.csv``
    SHAP value of every feature for every training row.
``search.csv``
    The feature-subset table, when a search was run.
``parity.png``, ``residuals.png``, ``shap_bar.png``, ``shap_beeswarm.png``
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import FileFormatError, MissingFileError
from semlab.relate.models import RelationModel

__all__ = ["load_model", "predict_property", "save_run"]

MODEL_JSON = "model.json"
MODEL_JOBLIB = "model.joblib"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if np.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _write_json(path: Path, obj: Any) -> None:
    from semlab._util import atomic_write_text

    atomic_write_text(path, json.dumps(_jsonable(obj), indent=2, ensure_ascii=False) + "\n")


def _write_csv(path: Path, df: Any) -> None:
    from semlab._util import atomic_path

    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def save_run(
    result: Any,
    out_dir: str | os.PathLike,
    *,
    search: Any = None,
    config: Mapping[str, Any] | None = None,
    inputs: list[str | os.PathLike] | None = None,
    plots: bool = True,
) -> Path:
    """Write a relation's run folder (see the module docstring) and return its path.

    Parameters
    ----------
    result : RelationResult
    out_dir : str or Path
        Created if missing; files already there are replaced.
    search : DataFrame, optional
        The :func:`search_features` table, written as ``search.csv``.
    config : mapping, optional
        Extra options to record in ``config.json`` (e.g. the command line).
    inputs : list of paths, optional
        Table files used (their SHA-256 goes into ``config.json``).
    plots : bool, default True
        Write the PNG plots.
    """
    from semlab import __version__
    from semlab._util import atomic_path
    from semlab.registry import input_hashes
    from semlab.relate.explain import shap_values

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileFormatError(f"{out} is a file; give a folder for the run")
    out.mkdir(parents=True, exist_ok=True)
    model: RelationModel = result.model

    import sklearn

    cfg = {
        "format": "semlab-relation-run",
        "semlab_version": __version__,
        "sklearn_version": sklearn.__version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "target": result.target,
        "inputs": list(model.inputs),
        "features": list(result.features),
        "model": result.model_kind,
        "model_options": model.config,
        "cv": result.cv,
        "seed": result.seed,
        "formulas": [f.text for f in result.formulas],
        "pca": None if model.pca is None else len(model.features),
        "tables": input_hashes(inputs or []),
        **dict(config or {}),
    }
    _write_json(out / "config.json", cfg)

    model_dict = model.to_dict()
    if model.kind == "gbr":
        import joblib

        from semlab._util import file_sha256

        with atomic_path(out / MODEL_JOBLIB) as tmp:
            joblib.dump(model.estimator, tmp)
        model_dict["estimator"] = MODEL_JOBLIB
        model_dict["estimator_sha256"] = file_sha256(out / MODEL_JOBLIB)
    _write_json(out / MODEL_JSON, model_dict)

    shap = shap_values(result)
    metrics = {
        **result.to_dict(),
        "shap": shap.to_dict(),
        "top_features_by_shap": shap.top(len(result.features)),
    }
    _write_json(out / "metrics.json", metrics)
    _write_csv(out / "predictions.csv", result.predictions_table())
    shap_df = shap.to_frame()
    shap_df.insert(0, "row", list(result.rows))
    _write_csv(out / "shap.csv", shap_df)
    if search is not None:
        _write_csv(out / "search.csv", search)
    if plots:
        from semlab.relate.plots import plot_parity, plot_residuals, plot_shap_bar, plot_shap_beeswarm

        plot_parity(result, path=out / "parity.png")
        plot_residuals(result, path=out / "residuals.png")
        plot_shap_bar(shap, path=out / "shap_bar.png")
        plot_shap_beeswarm(shap, path=out / "shap_beeswarm.png", seed=result.seed)
    return out


def load_model(path: str | os.PathLike) -> RelationModel:
    """A :class:`RelationModel` from a run folder or its ``model.json``.

    Raises
    ------
    MissingFileError, FileFormatError
        No such folder/file; not a relation model; gbr estimator missing or changed.
    """
    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"{p}: no such model; give a run folder of `semlab relate` or its model.json")
    mj = p / MODEL_JSON if p.is_dir() else p
    if not mj.is_file():
        raise FileFormatError(f"{p}: has no {MODEL_JSON}; give a run folder written by `semlab relate`")
    try:
        d = json.loads(mj.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{mj}: cannot be read as JSON ({exc}); run `semlab relate` again") from None
    estimator = None
    if isinstance(d, dict) and d.get("kind") == "gbr":
        jl = mj.parent / str(d.get("estimator", MODEL_JOBLIB))
        if not jl.is_file():
            raise FileFormatError(
                f"{mj.parent}: {jl.name} is missing; a gbr model needs it, run `semlab relate` again"
            )
        from semlab._util import file_sha256

        if d.get("estimator_sha256") and file_sha256(jl) != d["estimator_sha256"]:
            raise FileFormatError(f"{jl}: does not match the hash in {MODEL_JSON} (replaced or damaged)")
        import joblib

        estimator = joblib.load(jl)
    return RelationModel.from_dict(d, estimator=estimator, source=str(mj))


def predict_property(
    model: RelationModel | str | os.PathLike,
    table: Any,
    *,
    dropna: bool = False,
    column: str | None = None,
):
    """Predict the model's target for every row of ``table``.

    Parameters
    ----------
    model : RelationModel, or a run folder / model.json
    table : DataFrame or path
        Must hold the model's input columns (or the columns its formulas read).
    dropna : bool, default False
        Predict NaN for rows with missing inputs instead of refusing the table.
    column : str, optional
        Name of the prediction column (default ``predicted_<target>``).

    Returns
    -------
    DataFrame
        ``table`` (formulas applied) with the prediction column added, in the target's unit.
    """
    from semlab.relate._common import as_frame
    from semlab.relate.formulas import apply_formulas

    m = model if isinstance(model, RelationModel) else load_model(model)
    df = as_frame(table)
    if m.formulas:
        df = apply_formulas(df, m.formulas)
    x, keep = m.design(df, dropna=dropna, formulas=False)
    pred = np.full(len(df), np.nan)
    pred[np.asarray(keep)] = m.predict_design(x)
    df[column or f"predicted_{m.target}"] = pred
    return df
