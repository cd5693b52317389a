"""Run folders of a relation and predictions from a saved model.

A run folder (every file written atomically) holds

``config.json``
    What was asked: target, features, model, options, cv, seed, formulas, input hashes, versions.
``metrics.json``
    :meth:`RelationResult.to_dict` plus mean |SHAP| per feature.
``model.json``
    Coefficients, intercept, features, means/scales, PCA, formulas: enough to predict with
    linear and ridge models.  gbr models add their training design, target and fitted values
    (``training``): :func:`load_model` refits the trees from them with the stored seed and
    checks the refit against the stored predictions.  No file is ever unpickled: a
    ``model.joblib`` of an older run is refused, with a one-line error.
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semlab.errors import FileFormatError, MissingFileError
from semlab.relate.models import RelationModel

if TYPE_CHECKING:
    from semlab.relate.fit import RelateFitOptions

__all__ = ["RelateConfig", "RelateRun", "load_model", "predict_property", "relate_table", "save_run"]

MODEL_JSON = "model.json"
MODEL_JOBLIB = "model.joblib"


def _write_json(path: Path, obj: Any) -> None:
    from semlab._util import write_json

    write_json(path, obj)


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
    shap: Any = None,
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
    shap : ShapValues, optional
        :func:`shap_values` of ``result`` when already computed.
    """
    from semlab import __version__
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
        model_dict["training"] = {
            "sklearn_version": sklearn.__version__,
            "design": np.asarray(result.design, float),
            "y": np.asarray(result.y, float),
            "fitted": np.asarray(result.fitted, float),
        }
    _write_json(out / MODEL_JSON, model_dict)
    (out / MODEL_JOBLIB).unlink(missing_ok=True)  # an older run's pickle: never loaded, not kept

    if shap is None:
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
        plot_shap_bar(shap, path=out / "shap_bar.png", target=result.target)
        plot_shap_beeswarm(shap, path=out / "shap_beeswarm.png", seed=result.seed, target=result.target)
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
        estimator = _refit_gbr(d, mj)
    return RelationModel.from_dict(d, estimator=estimator, source=str(mj))


def _refit_gbr(d: dict[str, Any], mj: Path) -> Any:
    """The gbr estimator refitted from ``model.json``'s training data and seed, checked
    against its stored fitted values; never unpickled."""
    import sklearn

    from semlab.relate.models import fit_design

    training = d.get("training")
    if not isinstance(training, dict):
        stored = d.get("estimator", MODEL_JOBLIB)
        raise FileFormatError(
            f"{mj}: this gbr model is stored as {stored} (a pickle), which can't be loaded safely "
            "(loading it would run code from the file); run `semlab relate` again to store it without code"
        )
    try:
        x = np.asarray(training["design"], float)
        y = np.asarray(training["y"], float)
        fitted = np.asarray(training["fitted"], float)
        if x.ndim != 2 or not (len(x) == len(y) == len(fitted)):
            raise ValueError("training arrays of different lengths")
        estimator, _, _ = fit_design("gbr", dict(d.get("config") or {}), x, y)
    except (KeyError, TypeError, ValueError) as exc:
        raise FileFormatError(f"{mj}: damaged gbr training data ({exc}); run `semlab relate` again") from None
    got = np.asarray(estimator.predict(x), float)
    if not np.allclose(got, fitted, rtol=1e-9, atol=1e-12 * max(1.0, float(np.abs(fitted).max(initial=0.0)))):
        raise FileFormatError(
            f"{mj}: the gbr model refitted from its stored training data does not reproduce its stored "
            f"predictions (scikit-learn {sklearn.__version__} here, {training.get('sklearn_version')} when saved); "
            "run `semlab relate` again"
        )
    return estimator


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


# --------------------------------------------------------------------------- the whole chain


@dataclass(frozen=True)
class RelateConfig:
    """What :func:`relate_table` fits and how (the options of ``semlab relate``).

    Attributes
    ----------
    features : str or sequence of str, optional
        Feature columns; names, globs (``f*``) and ranges (``f0..f1279``), comma-separated in
        a string.  Default: every numeric column but the target.
    search : int, optional
        Cross-validate every subset of up to ``search`` features and fit the best.
    model : str, default "linear"
        ``linear``, ``ridge`` or ``gbr``.
    cv : "loo" or int, default "loo"
        Leave-one-out or K folds.
    formulas : tuple of str
        Engineered columns ``"name = expression"``.
    pca : int, optional
        Reduce the features to this many principal components first (not with ``search``).
    rank_by : str, default "r2"
        Order of the search: ``r2`` (CV R²), ``aicc``, ``bic`` or ``adjusted_r2``.
    max_subsets : int, default 20000
        Refuse (or, with ``sample``, sample) searches with more subsets.
    sample : bool, default False
        Search ``max_subsets`` random subsets when there are more.
    options : dict, optional
        Regressor options, e.g. ``{"alpha": 1.0}`` for ridge.
    dropna : bool, default False
        Drop rows with missing values instead of refusing them.
    seed : int, default 0
        Seed of K-fold shuffles, random subsets and gbr.
    plots : bool, default True
        Write parity, residual and SHAP plots into the run folder.
    """

    features: str | Sequence[str] | None = None
    search: int | None = None
    model: str = "linear"
    cv: str | int = "loo"
    formulas: tuple[str, ...] = ()
    pca: int | None = None
    rank_by: str = "r2"
    max_subsets: int = 20000
    sample: bool = False
    options: dict[str, Any] | None = None
    dropna: bool = False
    seed: int = 0
    plots: bool = True

    def __post_init__(self) -> None:
        from semlab.errors import ParameterError

        object.__setattr__(self, "formulas", tuple(self.formulas))
        if self.search is not None and self.pca is not None:
            raise ParameterError(
                f"search={self.search} and pca={self.pca} cannot be combined; search named features, or reduce them with pca"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fit_options(self) -> RelateFitOptions:
        """How each model is fitted (model, cv, seed, formulas, dropna, options), as :func:`search_features` takes it."""
        from semlab.relate.fit import RelateFitOptions

        return RelateFitOptions(model=self.model, cv=self.cv, seed=self.seed, formulas=self.formulas,
                                dropna=self.dropna, options=self.options)  # fmt: skip


@dataclass(frozen=True, eq=False)
class RelateRun:
    """The outcome of :func:`relate_table`.

    Attributes
    ----------
    result : RelationResult
        The fit (scores, coefficients, model).
    shap : ShapValues
        SHAP values of the training rows.
    search : DataFrame or None
        The feature-subset table, when a search was run.
    out : Path or None
        The run folder written, if any.
    """

    result: Any
    shap: Any
    search: Any = None
    out: Path | None = None
    config: RelateConfig = field(default_factory=RelateConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result.to_dict(), "shap": self.shap.to_dict(),
                "out": None if self.out is None else str(self.out), "config": self.config.to_dict()}  # fmt: skip

    def summary(self) -> list[str]:
        """The report ``semlab relate`` prints, one string per line."""
        r, s = self.result, self.result.cv_scores
        cv_label = "LOOCV" if r.cv == "loo" else f"{r.cv} CV"
        lines = [
            f"{r.target} ~ {' + '.join(r.features)}  ({r.model_kind}, {cv_label}, n = {r.n}, p = {r.p})",
            f"  {cv_label} R² {_num(s.r2)}  RMSE {_num(s.rmse, '.4g')}  MAE {_num(s.mae, '.4g')}   "
            f"train R² {_num(r.train_scores.r2)}  adjusted R² {_num(r.adjusted_r2)}  "
            f"AICc {_num(r.aicc, '.4g')}  BIC {_num(r.bic, '.4g')}",
        ]
        if r.test_scores is not None:
            t = r.test_scores
            lines.append(f"  test (n = {t.n}) R² {_num(t.r2)}  RMSE {_num(t.rmse, '.4g')}  MAE {_num(t.mae, '.4g')}")
        if r.coefficients is not None:
            lines.append(f"  intercept {r.intercept:.6g}")
            for f, c in r.coefficients.items():
                lines.append(
                    f"  {f}: {c:+.6g}  (standardized {r.standardized_coefficients[f]:+.3f}, "
                    f"sign agrees in {r.sign_agreement[f]:.0%} of folds)"
                )
        lines.append("  mean |SHAP|: " + ", ".join(f"{k} {v:.4g}" for k, v in list(self.shap.mean_abs.items())[:8]))
        if self.search is not None:
            table = self.search
            lines.append(f"  searched {len(table)} of {table.attrs['total_subsets']} subsets; best five:")
            r2col = [c for c in table.columns if c.endswith("_r2") and c not in ("train_r2", "adjusted_r2")][0]
            for _, row in table.head(5).iterrows():
                lines.append(f"    {row['rank']:>3}. {row[r2col]:.3f}  AICc {_num(row['aicc'], '.4g')}  {row['features']}")
        return lines


def _num(v: float | None, fmt: str = ".3f") -> str:
    import math

    return "n/a" if v is None or not math.isfinite(v) else format(v, fmt)


def relate_table(
    table: Any,
    target: str,
    *,
    config: RelateConfig | None = None,
    test: Any = None,
    out: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RelateRun:
    """Relate a property to structure descriptors: ``semlab relate`` as a function.

    Reads the table, chooses the features (or searches the best subset), fits and
    cross-validates the model, computes SHAP values and, with ``out``, writes the run folder
    (see the module docstring) that :func:`load_model` and :func:`predict_property` read.

    Parameters
    ----------
    table : DataFrame or path
        One row per specimen or image (.csv, .xlsx, .parquet).
    target : str
        Property column to predict; predictions are in its unit.
    config : RelateConfig, optional
        Features, search, model, CV, formulas, PCA, seed …; default ``RelateConfig()``.
    test : DataFrame or path, optional
        Held-out table with the same columns, scored at the end.
    out : path, optional
        Run folder to write (created if missing).
    progress : callable(done, total), optional
        Progress of the feature search.

    Returns
    -------
    RelateRun
        ``result``, ``shap``, ``search`` and ``out``; ``summary()`` gives the printed report.

    Examples
    --------
    >>> from semlab.relate import RelateConfig, relate_table
    >>> run = relate_table("structure.csv", "conductivity_MS_per_m",
    ...                    config=RelateConfig(search=3), out="runs/conductivity")  # doctest: +SKIP
    >>> print("\\n".join(run.summary()))  # doctest: +SKIP
    """
    from semlab.relate.explain import shap_values
    from semlab.relate.fit import fit_relation, search_features

    cfg = config or RelateConfig()
    chosen = cfg.features
    found = None
    if cfg.search is not None:
        found = search_features(
            table, target, cfg.features, max_features=cfg.search, rank_by=cfg.rank_by, max_subsets=cfg.max_subsets,
            sample=cfg.sample, fit=cfg.fit_options(), progress=progress,
        )  # fmt: skip
        chosen = found["features"].iloc[0].split(",")
    result = fit_relation(
        table, target, chosen, model=cfg.model, cv=cfg.cv, test=test, seed=cfg.seed, formulas=cfg.formulas,
        pca=cfg.pca, dropna=cfg.dropna, options=cfg.options,
    )  # fmt: skip
    shap = shap_values(result)
    run_dir = None
    if out is not None:
        inputs = [p for p in (table, test) if isinstance(p, str | os.PathLike)]
        run_dir = save_run(
            result, out, search=found, inputs=inputs, plots=cfg.plots, shap=shap,
            config={"command": "relate", "search": cfg.search, "rank_by": cfg.rank_by if cfg.search else None,
                    "max_subsets": cfg.max_subsets, "sample": cfg.sample, "dropna": cfg.dropna},
        )  # fmt: skip
    return RelateRun(result=result, shap=shap, search=found, out=run_dir, config=cfg)
