"""Fit a structure-property relation with cross-validation, and search feature combinations.

Data in this field are scarce (five process settings, a few specimens each), so every fit is
validated by leave-one-out cross-validation (LOOCV) by default, and the fit warns, one line
each, when it is fragile: more features than a third of the rows, coefficients whose sign
flips between folds, near-collinear features.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from semlab.errors import ParameterError, TableError
from semlab.relate._common import (
    Scores,
    adjusted_r2,
    as_frame,
    check_columns,
    check_numeric,
    constant_columns,
    expand_features,
    finite_mask,
    information_criteria,
    name_list,
    numeric_columns,
    scores,
    warn,
)
from semlab.relate.formulas import Formula, parse_formula
from semlab.relate.models import (
    PCAFeatures,
    RelationModel,
    check_model,
    config_dict,
    fit_design,
    pca_features,
)

__all__ = ["RelateFitOptions", "RelationResult", "fit_relation", "search_features"]

#: Condition number of the standardized features above which a fit warns of collinearity.
COLLINEARITY_LIMIT = 30.0
#: Subset searches larger than this are refused (or sampled).
MAX_SUBSETS = 20_000
_ID_COLUMNS = ("image", "sample")


@dataclass(frozen=True, eq=False)
class RelationResult:
    """A fitted, cross-validated structure-property relation (see :func:`fit_relation`).

    Attributes
    ----------
    target : str
        Predicted column; predictions, RMSE and MAE are in its unit.
    features : tuple of str
        The regression's features (input columns, or ``pc1 …`` with PCA).
    model_kind : str
        ``linear``, ``ridge`` or ``gbr``.
    cv : str
        ``"loo"`` or ``"<K>-fold"``.
    n, p : int
        Training rows and features.
    coefficients : dict or None
        Feature → change of the target per unit of the feature (linear, ridge).
    intercept : float or None
    signs : dict or None
        Feature → +1 / −1 / 0, the sign of its coefficient.
    standardized_coefficients : dict or None
        Feature → coefficient × sd(feature) / sd(target) (dimensionless; comparable across features).
    sign_agreement : dict or None
        Feature → fraction of CV folds whose coefficient has the full fit's sign (1 = stable).
    feature_importances : dict or None
        Feature → impurity importance (gbr).
    y : (n,) ndarray
        Measured target of the training rows.
    fitted : (n,) ndarray
        In-sample predictions.
    cv_predictions : (n,) ndarray
        Each row predicted by the model fitted without it (LOOCV) or without its fold.
    cv_scores, train_scores : Scores
        R², RMSE, MAE of ``cv_predictions`` and of ``fitted``.
    test_scores : Scores or None
        On the held-out test table, when given.
    test_y, test_predictions : (m,) ndarray or None
    adjusted_r2 : float
        In-sample R² penalised for p (NaN when n ≤ p + 1).
    aicc, bic : float
        Gaussian information criteria with ``k = p + 2`` parameters (lower is better; NaN for gbr).
    condition_number : float
        Of the standardized feature matrix (> 30: near-collinear).
    warnings : tuple of str
        The one-line warnings this fit raised.
    formulas : tuple of Formula
    rows, test_rows : tuple
        Row labels (spreadsheet row numbers for files) of the training and test rows.
    ids, test_ids : dict
        ``image``/``sample`` values of those rows when the tables have such columns.
    model : RelationModel
        The fitted model (``model.predict(table)``).
    design : (n, p) ndarray
        The training feature matrix.
    test_design : (m, p) ndarray or None
    seed : int
    """

    target: str
    features: tuple[str, ...]
    model_kind: str
    cv: str
    n: int
    p: int
    coefficients: dict[str, float] | None
    intercept: float | None
    signs: dict[str, int] | None
    standardized_coefficients: dict[str, float] | None
    sign_agreement: dict[str, float] | None
    feature_importances: dict[str, float] | None
    y: np.ndarray = field(repr=False)
    fitted: np.ndarray = field(repr=False)
    cv_predictions: np.ndarray = field(repr=False)
    cv_scores: Scores = field(default=None)  # type: ignore[assignment]
    train_scores: Scores = field(default=None)  # type: ignore[assignment]
    test_scores: Scores | None = None
    test_y: np.ndarray | None = field(default=None, repr=False)
    test_predictions: np.ndarray | None = field(default=None, repr=False)
    adjusted_r2: float = float("nan")
    aicc: float = float("nan")
    bic: float = float("nan")
    condition_number: float = float("nan")
    warnings: tuple[str, ...] = ()
    formulas: tuple[Formula, ...] = ()
    rows: tuple = field(default=(), repr=False)
    test_rows: tuple = field(default=(), repr=False)
    ids: dict[str, list] = field(default_factory=dict, repr=False)
    test_ids: dict[str, list] = field(default_factory=dict, repr=False)
    model: RelationModel = field(default=None, repr=False)  # type: ignore[assignment]
    design: np.ndarray = field(default=None, repr=False)  # type: ignore[arg-type]
    test_design: np.ndarray | None = field(default=None, repr=False)
    seed: int = 0

    @property
    def loocv_r2(self) -> float:
        """Cross-validated R² (Q²); the LOOCV R² when ``cv == "loo"``."""
        return self.cv_scores.r2

    def to_dict(self) -> dict[str, Any]:
        """Scores, coefficients and diagnostics (JSON-compatible; no arrays of predictions)."""
        return {
            "target": self.target,
            "features": list(self.features),
            "model": self.model_kind,
            "cv": self.cv,
            "n": self.n,
            "p": self.p,
            "seed": self.seed,
            "cv_scores": self.cv_scores.to_dict(),
            "train_scores": self.train_scores.to_dict(),
            "test_scores": None if self.test_scores is None else self.test_scores.to_dict(),
            "adjusted_r2": self.adjusted_r2,
            "aicc": self.aicc,
            "bic": self.bic,
            "condition_number": self.condition_number,
            "coefficients": self.coefficients,
            "intercept": self.intercept,
            "signs": self.signs,
            "standardized_coefficients": self.standardized_coefficients,
            "sign_agreement": self.sign_agreement,
            "feature_importances": self.feature_importances,
            "formulas": [f.text for f in self.formulas],
            "warnings": list(self.warnings),
        }

    def predictions_table(self):
        """DataFrame, one row per training and test row: ids, measured, fitted, CV and test predictions.

        Columns: ``set`` (train/test), ``row``, ``image``/``sample`` when known, the measured
        target, ``fitted``, ``cv_predicted`` (train rows), ``predicted`` (CV prediction for
        training rows, model prediction for test rows) and ``residual`` (measured − predicted).
        """
        import pandas as pd

        parts = [
            pd.DataFrame(
                {
                    "set": "train",
                    "row": list(self.rows),
                    **self.ids,
                    self.target: self.y,
                    "fitted": self.fitted,
                    "cv_predicted": self.cv_predictions,
                    "predicted": self.cv_predictions,
                }
            )
        ]
        if self.test_y is not None:
            parts.append(
                pd.DataFrame(
                    {
                        "set": "test",
                        "row": list(self.test_rows),
                        **self.test_ids,
                        self.target: self.test_y,
                        "fitted": self.test_predictions,
                        "cv_predicted": np.nan,
                        "predicted": self.test_predictions,
                    }
                )
            )
        out = pd.concat(parts, ignore_index=True)
        out["residual"] = out[self.target] - out["predicted"]
        return out


@dataclass(frozen=True)
class RelateFitOptions:
    """How each relation is fitted and validated: the options of :func:`fit_relation` that
    :func:`search_features` applies to every subset.

    Attributes
    ----------
    model : {"linear", "ridge", "gbr"}, default "linear"
        Least squares, ridge on standardized features, or gradient-boosted trees.
    cv : "loo" or int, default "loo"
        Leave-one-out, or K-fold (shuffled with ``seed``).
    seed : int, default 0
        Seed of the fold shuffle, of random subsets and of gbr.
    formulas : tuple of str or Formula
        ``"name = expression"`` columns computed first (see :func:`apply_formulas`).
    dropna : bool, default False
        Drop rows with missing values (with a warning) instead of refusing them.
    options : dict, optional
        Regressor options (ridge: ``alpha``; gbr: ``n_estimators``, ``max_depth``, …).

    Examples
    --------
    >>> from semlab.relate import RelateFitOptions
    >>> RelateFitOptions(model="ridge", cv=5, options={"alpha": 2.0}).to_dict()["cv"]
    5
    """

    model: str = "linear"
    cv: str | int = "loo"
    seed: int = 0
    formulas: tuple[str | Formula, ...] = ()
    dropna: bool = False
    options: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_model(self.model)
        formulas = (self.formulas,) if isinstance(self.formulas, str | Formula) else tuple(self.formulas)
        object.__setattr__(self, "formulas", formulas)

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON-compatible values (formulas as their text)."""
        return {
            "model": self.model,
            "cv": self.cv,
            "seed": self.seed,
            "formulas": [f.text if isinstance(f, Formula) else str(f) for f in self.formulas],
            "dropna": self.dropna,
            "options": None if self.options is None else dict(self.options),
        }


# --------------------------------------------------------------------------- inputs


def _fit_options(fit: RelateFitOptions | None, keywords: dict[str, Any], *, caller: str) -> RelateFitOptions:
    """``fit`` (default ``RelateFitOptions()``) with ``keywords`` replacing its fields; unknown keywords refused."""
    if fit is not None and not isinstance(fit, RelateFitOptions):
        raise ParameterError(f"fit={fit!r} must be a RelateFitOptions(model=..., cv=..., ...)")
    known = [f.name for f in fields(RelateFitOptions)]
    unknown = [k for k in keywords if k not in known]
    if unknown:
        raise ParameterError(f"{caller}() got an unknown option {unknown[0]}=; its fitting options are {', '.join(known)}")
    return replace(fit or RelateFitOptions(), **keywords)


def _parse_cv(cv: Any, n: int) -> tuple[str, int | None]:
    if isinstance(cv, str):
        s = cv.strip().lower()
        if s in ("loo", "loocv", "leave-one-out"):
            return "loo", None
        if s.isdigit():
            cv = int(s)
        else:
            raise ParameterError(f"cv={cv!r} must be 'loo' or a number of folds K ≥ 2")
    if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)):
        raise ParameterError(f"cv={cv!r} must be 'loo' or a number of folds K ≥ 2")
    k = int(cv)
    if k < 2 or k > n:
        raise ParameterError(f"cv={k} folds needs 2 ≤ K ≤ rows ({n}); use 'loo' for tiny tables")
    if k == n:
        return "loo", None
    return f"{k}-fold", k


def _folds(n: int, k: int | None, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    idx = np.arange(n)
    if k is None:
        return [(np.delete(idx, i), np.array([i])) for i in range(n)]
    from sklearn.model_selection import KFold

    return list(KFold(n_splits=k, shuffle=True, random_state=seed).split(idx))


@dataclass
class _Prepared:
    df: Any
    x: np.ndarray  # (n, d) inputs
    y: np.ndarray
    inputs: list[str]
    formulas: tuple[Formula, ...]
    kept: np.ndarray


def _prepare(
    table: Any,
    target: str,
    features: Any,
    *,
    formulas: Sequence[str | Formula],
    dropna: bool,
    allow_constant: bool,
    table_name: str = "table",
) -> _Prepared:
    df = as_frame(table, table_name)
    parsed: list[Formula] = []
    for f in formulas:
        formula = parse_formula(f, list(df.columns))
        df[formula.name] = formula.evaluate(df)
        parsed.append(formula)
    if not isinstance(target, str) or target not in df.columns:
        raise TableError(
            f"{table_name} has no target column {target!r}; its columns are {name_list(list(map(str, df.columns)), 20)}"
        )
    check_numeric(df, [target], table_name=table_name)
    explicit = expand_features(features, [str(c) for c in df.columns])
    if explicit is None:
        names = numeric_columns(df, exclude=[target])
        values = df[names].to_numpy(float) if names else np.zeros((len(df), 0))
        bad_nan = (
            [n for j, n in enumerate(names) if not np.all(np.isfinite(values[:, j]))] if not dropna else []
        )
        const = constant_columns(values, names)
        skipped = set(bad_nan) | set(const)
        if skipped:
            warn(
                f"left out {len(skipped)} column(s) that are constant or have missing values: "
                f"{name_list([n for n in names if n in skipped])}",
                stacklevel=4,
            )
        inputs = [n for n in names if n not in skipped]
        if not inputs:
            raise TableError(
                f"{table_name} has no usable numeric feature column besides {target!r}; name them"
            )
    else:
        inputs = explicit
        check_columns(df, inputs, role="feature", table_name=table_name)
        if target in inputs:
            raise ParameterError(f"the target {target!r} is also a feature; leave it out of the features")
        check_numeric(df, inputs, table_name=table_name)
    keep = finite_mask(df, [target, *inputs], table_name=table_name, dropna=dropna)
    x = df.loc[keep, inputs].to_numpy(float)
    y = df.loc[keep, target].to_numpy(float)
    if len(y) and np.ptp(y) <= 1e-12 * max(1.0, float(np.max(np.abs(y)))):
        raise TableError(f"{table_name}: the target {target!r} is constant; there is nothing to relate")
    if not allow_constant:
        const = constant_columns(x, inputs)
        if const:
            raise TableError(f"{table_name}: feature column {name_list(const)} is constant; leave it out")
    return _Prepared(df.loc[keep], x, y, inputs, tuple(parsed), np.asarray(keep))


def _condition_number(x: np.ndarray) -> float:
    if x.shape[1] < 2 or x.shape[0] < 2:
        return 1.0
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    s = np.linalg.svd(z, compute_uv=False)
    return float(s[0] / s[-1]) if s[-1] > 1e-12 * s[0] else float("inf")


def _most_correlated(x: np.ndarray, names: Sequence[str]) -> str:
    with np.errstate(all="ignore"):
        r = np.corrcoef(x, rowvar=False)
    r = np.nan_to_num(np.abs(r))
    np.fill_diagonal(r, 0)
    i, j = np.unravel_index(np.argmax(r), r.shape)
    return f"{names[int(i)]} ~ {names[int(j)]}, |r| = {r[i, j]:.3f}"


def _signs(coef: np.ndarray, sx: np.ndarray, sy: float) -> np.ndarray:
    """Signs of coefficients; standardized magnitudes below 1e-9 (round-off) count as 0."""
    coef = np.asarray(coef, float)
    return np.where(np.abs(coef * sx / sy) < 1e-9, 0.0, np.sign(coef))


def _ids(df) -> dict[str, list]:
    return {c: df[c].astype(str).tolist() for c in _ID_COLUMNS if c in df.columns}


# --------------------------------------------------------------------------- fit


def _cross_validate(kind, config, x_in, y, folds, pca_k, ref_pca):
    """CV predictions (n,) and per-fold coefficients (folds, p) or None."""
    n = len(y)
    pred = np.full(n, np.nan)
    coefs = []
    for train, test in folds:
        xtr, xte = x_in[train], x_in[test]
        if pca_k:
            pca = pca_features(xtr, pca_k, reference=ref_pca)
            xtr, xte = pca.scores, pca.transform(xte)
        est, coef, intercept = fit_design(kind, config, xtr, y[train])
        if coef is not None:
            pred[test] = xte @ coef + intercept
            coefs.append(coef)
        else:
            pred[test] = est.predict(xte)
    return pred, (np.array(coefs) if coefs else None)


def fit_relation(
    table: Any,
    target: str,
    features: Sequence[str] | str | None = None,
    *,
    model: str = "linear",
    cv: str | int = "loo",
    test: Any = None,
    seed: int = 0,
    formulas: Sequence[str | Formula] = (),
    pca: int | None = None,
    dropna: bool = False,
    options: dict[str, Any] | None = None,
) -> RelationResult:
    """Fit ``target`` from ``features`` and cross-validate the fit.

    Parameters
    ----------
    table : DataFrame or path
        One row per specimen (or image); CSV/XLSX/Parquet files are read with
        :func:`semlab.dataset.read_table` (rows are then named by spreadsheet row number).
    target : str
        Column to predict (e.g. ``conductivity_MS_per_m``).
    features : sequence of str or str, optional
        Feature columns, or a comma-separated string with globs (``f*``) and ranges
        (``f0..f1279``).  Default: every numeric column but the target (constant columns and
        columns with missing values are left out, with a warning).
    model : {"linear", "ridge", "gbr"}, default "linear"
        Least squares, ridge on standardized features, or gradient-boosted trees.
    cv : "loo" or int, default "loo"
        Leave-one-out, or K-fold (shuffled with ``seed``).
    test : DataFrame or path, optional
        A held-out table with the same columns, scored with the model fitted on ``table``.
    seed : int, default 0
        Seed of the fold shuffle and of gbr.
    formulas : sequence of str, optional
        ``"name = expression"`` columns computed first (see :func:`apply_formulas`).
    pca : int, optional
        Reduce the features to this many principal components (standardized inputs; refitted
        inside every fold) before regression: for CNN features ``f0 … f1279``.
    dropna : bool, default False
        Drop rows with missing values (with a warning) instead of refusing them.
    options : dict, optional
        Regressor options (ridge: ``alpha``; gbr: ``n_estimators``, ``max_depth``, ``learning_rate``,
        ``min_samples_leaf``, ``subsample``).

    Returns
    -------
    RelationResult

    Raises
    ------
    TableError
        Target missing (the columns are listed), non-numeric or constant columns, missing values
        (rows and columns named), too few rows.
    ParameterError
        Unknown model, bad ``cv``, unsafe or unknown formula.

    Warns
    -----
    RelateWarning
        One line each: more features than rows/3; coefficient signs that flip between CV folds;
        near-collinear features (condition number > 30).
    """
    check_model(model)
    seed = int(seed)
    prep = _prepare(
        table,
        target,
        features,
        formulas=formulas,
        dropna=dropna,
        allow_constant=bool(pca),
        table_name="table",
    )
    setup = _setup_fit(prep, model=model, cv=cv, seed=seed, pca=pca, options=options)
    n, p = len(prep.y), setup.p
    issued: list[str] = []
    if p > n / 3:
        _note(issued, f"{p} features for {n} rows: more than rows/3 = {n / 3:.1f}; expect over-fitting, search smaller subsets")  # fmt: skip
    fit = _fit_and_cross_validate(model, setup, prep, seed)
    cond = _condition_number(setup.x)
    if model != "gbr" and p >= 2 and cond > COLLINEARITY_LIMIT:
        _note(issued, f"near-collinear features: condition number {cond:.3g} > {COLLINEARITY_LIMIT:g} "
              f"(most correlated: {_most_correlated(setup.x, setup.names)}); coefficients are not interpretable one by one")  # fmt: skip
    report = _coefficient_report(setup.names, setup.x, prep.y, fit)
    unstable = [f"{f} {a:.0%}" for f, a in (report["sign_agreement"] or {}).items() if a < 1.0]
    if unstable:
        _note(issued, f"unstable coefficients (share of the {fit.n_folds} CV folds whose sign agrees with the full fit): "
              f"{name_list(unstable)}")  # fmt: skip
    relation = _relation_model(model, target, prep, setup, fit)
    tested = _score_test(relation, test, dropna=dropna)
    return _assemble_result(
        relation, prep, setup, fit, report=report, tested=tested, condition_number=cond, issued=issued,
        seed=seed,
    )  # fmt: skip


# --------------------------------------------------------------------------- fit_relation's steps


@dataclass(frozen=True, eq=False)
class _Setup:
    """The checked regression of :func:`fit_relation`: regressor config, design and CV plan."""

    config: Any
    x: np.ndarray  # (n, p) design: the inputs, or their PCA scores
    names: list[str]  # the design's columns
    p: int
    cv_name: str
    k: int | None  # folds; None for LOOCV
    reducer: PCAFeatures | None
    pca_k: int  # components refitted in every fold (0: no PCA)


def _setup_fit(
    prep: _Prepared, *, model: str, cv: Any, seed: int, pca: int | None, options: dict[str, Any] | None
) -> _Setup:
    """Regressor config, row-count checks, CV plan and (with ``pca``) the reduced design."""
    from semlab.registry import make_config

    x_in, inputs = prep.x, prep.inputs
    n, d = x_in.shape
    opts = dict(options or {})
    if model == "gbr":
        opts.setdefault("seed", seed)
    config = make_config("regressor", model, **opts)
    p = int(pca) if pca else d
    if n < 3:
        raise TableError(f"table has {n} usable rows; a cross-validated fit needs at least 3")
    if model == "linear" and n < p + 2:
        raise TableError(
            f"table has {n} rows for {p} features; a linear fit needs at least features + 2 = {p + 2} rows — "
            "use fewer features (search with --search k), --pca, or model='ridge'"
        )
    cv_name, k = _parse_cv(cv, n)
    if pca:
        if int(pca) > min(d, n - 2):
            raise ParameterError(
                f"pca={pca} components needs at most min(features, rows − 2) = {min(d, n - 2)}"
            )
        pcs = pca_features(x_in, int(pca), names=inputs)
        reducer: PCAFeatures | None = pcs
        x, names = pcs.scores, list(pcs.names)
    else:
        reducer, x, names = None, x_in, list(inputs)
    return _Setup(config, x, names, p, cv_name, k, reducer, int(pca or 0))


def _note(issued: list[str], message: str) -> None:
    """Record a :func:`fit_relation` warning and issue it at the caller of ``fit_relation``."""
    issued.append(message)
    warn(message, stacklevel=4)


@dataclass(frozen=True, eq=False)
class _Fitted:
    """The full fit and its cross-validation."""

    estimator: Any
    coef: np.ndarray | None  # (p,) for linear and ridge, None for gbr
    intercept: float | None
    fitted: np.ndarray  # (n,) in-sample predictions
    cv_pred: np.ndarray  # (n,) CV predictions
    fold_coefs: np.ndarray | None  # (folds, p)
    n_folds: int


def _fit_and_cross_validate(model: str, setup: _Setup, prep: _Prepared, seed: int) -> _Fitted:
    """Fit the design once on every row, then once per CV fold (PCA refitted inside each fold)."""
    x, y = setup.x, prep.y
    est, coef, intercept = fit_design(model, setup.config, x, y)
    fitted = x @ coef + intercept if coef is not None else np.asarray(est.predict(x), float)
    folds = _folds(len(y), setup.k, seed)
    cv_pred, fold_coefs = _cross_validate(model, setup.config, prep.x, y, folds, setup.pca_k, setup.reducer)
    return _Fitted(est, coef, intercept, fitted, cv_pred, fold_coefs, len(folds))


def _coefficient_report(names: list[str], x: np.ndarray, y: np.ndarray, fit: _Fitted) -> dict[str, Any]:
    """Coefficients, signs, standardized coefficients and sign agreement (linear, ridge), or importances (gbr)."""
    report: dict[str, Any] = dict.fromkeys(
        ("coefficients", "signs", "standardized_coefficients", "sign_agreement", "feature_importances")
    )
    coef = fit.coef
    if coef is None:
        importances = fit.estimator.feature_importances_
        report["feature_importances"] = {f: float(v) for f, v in zip(names, importances, strict=True)}
        return report
    assert fit.fold_coefs is not None  # every fold of a linear or ridge fit has coefficients
    sx, sy = x.std(axis=0), y.std()
    agree = np.mean(_signs(fit.fold_coefs, sx, sy) == _signs(coef, sx, sy), axis=0)
    report["coefficients"] = {f: float(c) for f, c in zip(names, coef, strict=True)}
    report["signs"] = {f: int(v) for f, v in zip(names, _signs(coef, sx, sy), strict=True)}
    report["standardized_coefficients"] = {
        f: float(c * s / sy) for f, c, s in zip(names, coef, sx, strict=True)
    }
    report["sign_agreement"] = {f: float(a) for f, a in zip(names, agree, strict=True)}
    return report


def _relation_model(model: str, target: str, prep: _Prepared, setup: _Setup, fit: _Fitted) -> RelationModel:
    """The fitted :class:`RelationModel` (what ``predict`` and the run folder use)."""
    return RelationModel(
        kind=model,
        target=target,
        inputs=tuple(prep.inputs),
        features=tuple(setup.names),
        formulas=prep.formulas,
        config=config_dict(setup.config),
        x_mean=setup.x.mean(axis=0),
        x_scale=setup.x.std(axis=0),
        coefficients=fit.coef,
        intercept=fit.intercept,
        pca=setup.reducer,
        estimator=fit.estimator,
    )


def _score_test(relation: RelationModel, test: Any, *, dropna: bool) -> dict[str, Any]:
    """Predictions and scores on the held-out ``test`` table (the ``test_…`` fields of the result)."""
    tested: dict[str, Any] = {"test_scores": None, "test_y": None, "test_predictions": None,
                              "test_design": None, "test_rows": (), "test_ids": {}}  # fmt: skip
    if test is None:
        return tested
    target, inputs = relation.target, list(relation.inputs)
    tdf = as_frame(test, "test table")
    if target not in tdf.columns:
        raise TableError(
            f"test table has no target column {target!r}; its columns are {name_list(list(map(str, tdf.columns)), 20)}"
        )
    if relation.formulas:
        from semlab.relate.formulas import apply_formulas

        tdf = apply_formulas(tdf, relation.formulas)
    check_columns(tdf, inputs, role="feature", table_name="test table")
    check_numeric(tdf, [target, *inputs], table_name="test table")
    tkeep = finite_mask(tdf, [target, *inputs], table_name="test table", dropna=dropna)
    tdf = tdf.loc[tkeep]
    test_design, _ = relation.design(tdf, table_name="test table", formulas=False)
    test_y = tdf[target].to_numpy(float)
    test_pred = relation.predict_design(test_design)
    tested.update(test_scores=scores(test_y, test_pred), test_y=test_y, test_predictions=test_pred,
                  test_design=test_design, test_rows=tuple(tdf.index.tolist()), test_ids=_ids(tdf))  # fmt: skip
    return tested


def _assemble_result(
    relation: RelationModel,
    prep: _Prepared,
    setup: _Setup,
    fit: _Fitted,
    *,
    report: dict[str, Any],
    tested: dict[str, Any],
    condition_number: float,
    issued: list[str],
    seed: int,
) -> RelationResult:
    """The :class:`RelationResult`: scores, information criteria and every piece above."""
    y, fitted = prep.y, fit.fitted
    n, p = len(y), setup.p
    train_scores = scores(y, fitted)
    rss = float(np.sum((y - fitted) ** 2))
    nan = float("nan")
    aicc, bic = information_criteria(rss, n, p)[:2] if relation.kind != "gbr" else (nan, nan)
    return RelationResult(
        target=relation.target,
        features=tuple(setup.names),
        model_kind=relation.kind,
        cv=setup.cv_name,
        n=n,
        p=p,
        intercept=fit.intercept,
        **report,
        y=y,
        fitted=np.asarray(fitted, float),
        cv_predictions=fit.cv_pred,
        cv_scores=scores(y, fit.cv_pred),
        train_scores=train_scores,
        adjusted_r2=adjusted_r2(train_scores.r2, n, p),
        aicc=aicc,
        bic=bic,
        condition_number=condition_number,
        warnings=tuple(issued),
        formulas=prep.formulas,
        rows=tuple(prep.df.index.tolist()),
        ids=_ids(prep.df),
        model=relation,
        design=setup.x,
        seed=seed,
        **tested,
    )


# --------------------------------------------------------------------------- search


def _subsets(p: int, k: int, *, max_subsets: int, sample: bool, seed: int, names: Sequence[str]):
    total = sum(math.comb(p, i) for i in range(1, k + 1))
    if total <= max_subsets:
        return [c for i in range(1, k + 1) for c in itertools.combinations(range(p), i)], total, False
    if not sample:
        raise ParameterError(
            f"all subsets of up to {k} of {p} features are {total:,} fits, more than max_subsets={max_subsets:,}; "
            f"lower the subset size (--search), name fewer features, or sample {max_subsets:,} random subsets "
            "(sample=True, --sample)"
        )
    rng = np.random.default_rng(seed)
    sizes = np.arange(1, k + 1)
    weights = np.array([math.comb(p, i) for i in sizes], float)
    weights /= weights.sum()
    chosen: set[tuple[int, ...]] = set()
    tries = 0
    while len(chosen) < max_subsets and tries < 50 * max_subsets:
        size = int(rng.choice(sizes, p=weights))
        chosen.add(tuple(sorted(int(i) for i in rng.choice(p, size, replace=False))))
        tries += 1
    out = sorted(chosen, key=lambda c: (len(c), c))
    return out, total, True


def _fast_loo_linear(x: np.ndarray, y: np.ndarray):
    """Exact LOOCV of least squares with an intercept via the hat matrix (no refits).

    Returns (loo predictions (n,), fitted (n,), leave-one-out coefficients (n, p), coefficients (p,)),
    or None when a row has leverage 1 (its LOO prediction is undefined).
    """
    n = len(y)
    a = np.column_stack([np.ones(n), x])
    q, r = np.linalg.qr(a)
    if np.min(np.abs(np.diag(r))) <= 1e-10 * np.max(np.abs(np.diag(r))):
        return None
    beta = np.linalg.solve(r, q.T @ y)
    fitted = a @ beta
    e = y - fitted
    h = np.sum(q**2, axis=1)
    if np.any(h > 1 - 1e-10):
        return None
    loo = y - e / (1 - h)
    rinv = np.linalg.inv(r)
    ata_inv = rinv @ rinv.T
    # beta_(-i) = beta - (AᵀA)⁻¹ a_i e_i / (1 - h_i)
    loo_beta = beta[None, :] - (a @ ata_inv) * (e / (1 - h))[:, None]
    return loo, fitted, loo_beta[:, 1:], beta[1:]


def _score_subset(model: str, config: Any, x: np.ndarray, y: np.ndarray, folds: Any, prefix: str, name: str) -> dict:
    """One row of the :func:`search_features` table: CV and training scores of the subset ``x``."""
    n, q = x.shape
    if folds is None:
        fast = _fast_loo_linear(x, y)
        if fast is None:
            cv_pred = fitted = np.full(n, np.nan)
            agree = np.full(q, np.nan)
        else:
            cv_pred, fitted, loo_beta, beta = fast
            sx, sy = x.std(axis=0), y.std()
            agree = np.mean(_signs(loo_beta, sx, sy) == _signs(beta, sx, sy), axis=0)
    else:
        est, coef, intercept = fit_design(model, config, x, y)
        fitted = x @ coef + intercept if coef is not None else est.predict(x)
        cv_pred, fold_coefs = _cross_validate(model, config, x, y, folds, 0, None)
        sx, sy = x.std(axis=0), y.std()
        agree = (
            np.mean(_signs(fold_coefs, sx, sy) == _signs(coef, sx, sy), axis=0)
            if coef is not None
            else np.full(q, np.nan)
        )
    s_cv, s_tr = scores(y, cv_pred), scores(y, fitted)
    if model != "gbr" and np.all(np.isfinite(fitted)):
        aicc, bic, _ = information_criteria(float(np.sum((y - fitted) ** 2)), n, q)
    else:
        aicc = bic = float("nan")
    return {
        "features": name,
        "n_features": q,
        f"{prefix}_r2": s_cv.r2,
        f"{prefix}_rmse": s_cv.rmse,
        f"{prefix}_mae": s_cv.mae,
        "train_r2": s_tr.r2,
        "adjusted_r2": adjusted_r2(s_tr.r2, n, q),
        "aicc": aicc,
        "bic": bic,
        "min_sign_agreement": float(np.min(agree)) if np.all(np.isfinite(agree)) else float("nan"),
        "condition_number": _condition_number(x),
    }


def search_features(
    table: Any,
    target: str,
    candidates: Sequence[str] | str | None = None,
    *,
    max_features: int = 3,
    rank_by: str = "r2",
    max_subsets: int = MAX_SUBSETS,
    sample: bool = False,
    fit: RelateFitOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    **fit_options: Any,
):
    """Cross-validate every subset of up to ``max_features`` candidate features.

    Parameters
    ----------
    table, target
        As :func:`fit_relation`.
    candidates : sequence of str or str, optional
        Candidate features (names, globs, ranges); default every usable numeric column but the target.
    max_features : int, default 3
        Largest subset size k (linear fits are capped at rows − 2 features).
    rank_by : {"r2", "aicc", "bic", "adjusted_r2"}, default "r2"
        Order of the table: cross-validated R² (descending) or a penalised criterion.
    max_subsets : int, default 20000
        More subsets than this are refused, or ``sample``-d at random.
    sample : bool, default False
        Fit ``max_subsets`` random subsets (with a warning) instead of refusing.
    fit : RelateFitOptions, optional
        How every subset is fitted: ``model``, ``cv``, ``seed`` (also of the random subsets),
        ``formulas``, ``dropna``, regressor ``options``.  Default ``RelateFitOptions()``: linear,
        LOOCV (exact hat-matrix shortcut, no refits).
    progress : callable, optional
        ``progress(done, total)`` after each subset.
    **fit_options
        The fields of :class:`RelateFitOptions` as keywords, as :func:`fit_relation` takes them
        (``model="ridge", cv=5, seed=1, formulas=[...], dropna=True, options={...}``); they
        replace the same fields of ``fit``.  Any other keyword raises ``ParameterError``.

    Returns
    -------
    DataFrame
        One row per subset, best first: ``rank``, ``features`` (comma-joined), ``n_features``,
        ``loocv_r2``, ``loocv_rmse``, ``loocv_mae`` (``cv<K>_…`` for K-fold; in the target's unit),
        ``train_r2``, ``adjusted_r2``, ``aicc``, ``bic`` (NaN for gbr), ``min_sign_agreement``
        (linear, ridge) and ``condition_number``.  The table's ``attrs`` hold
        ``total_subsets``, ``sampled``, ``cv``, ``target`` and ``n``.
    """
    import pandas as pd

    from semlab.registry import make_config

    how = _fit_options(fit, fit_options, caller="search_features")
    model, seed = how.model, how.seed
    if rank_by not in ("r2", "aicc", "bic", "adjusted_r2"):
        raise ParameterError(f"rank_by={rank_by!r} must be one of r2, aicc, bic, adjusted_r2")
    prep = _prepare(table, target, candidates, formulas=how.formulas, dropna=how.dropna, allow_constant=False)
    x_all, y, names = prep.x, prep.y, prep.inputs
    n, p = x_all.shape
    if n < 3:
        raise TableError(f"table has {n} usable rows; a cross-validated fit needs at least 3")
    k = int(max_features)
    if k < 1:
        raise ParameterError(f"max_features={max_features} must be ≥ 1")
    k = min(k, p)
    if model == "linear" and k > n - 2:
        warn(
            f"subsets capped at {n - 2} features: a linear fit of {n} rows needs features + 2 rows",
            stacklevel=2,
        )
        k = n - 2
        if k < 1:
            raise TableError(f"table has {n} rows; a linear fit needs at least 3")
    cv_name, kf = _parse_cv(how.cv, n)
    opts = dict(how.options or {})
    if model == "gbr":
        opts.setdefault("seed", seed)
    config = make_config("regressor", model, **opts)
    subsets, total, sampled = _subsets(
        p, k, max_subsets=int(max_subsets), sample=sample, seed=seed, names=names
    )
    if sampled:
        warn(f"{total:,} subsets of up to {k} features exceed max_subsets={max_subsets:,}; "
             f"fitted {len(subsets):,} random subsets (seed {seed}), the best may be missed", stacklevel=2)  # fmt: skip
    folds = None if (model == "linear" and kf is None) else _folds(n, kf, seed)
    prefix = "loocv" if cv_name == "loo" else f"cv{kf}"
    rows = []
    for done, subset in enumerate(subsets, 1):
        cols = list(subset)
        rows.append(_score_subset(model, config, x_all[:, cols], y, folds, prefix, ",".join(names[j] for j in cols)))
        if progress:
            progress(done, len(subsets))
    out = pd.DataFrame(rows)
    key = {"r2": f"{prefix}_r2", "aicc": "aicc", "bic": "bic", "adjusted_r2": "adjusted_r2"}[rank_by]
    ascending = rank_by in ("aicc", "bic")
    out = out.sort_values(
        [key, "n_features", "features"],
        ascending=[ascending, True, True],
        na_position="last",
        kind="mergesort",
    ).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out.attrs.update({"total_subsets": total, "sampled": sampled, "cv": cv_name, "target": target, "n": n})
    return out
