"""Regression models for structure-property relations, their PCA front end and their JSON form.

Three regressors are registered in :mod:`semlab.registry` under the kind ``"regressor"``:
``linear`` (ordinary least squares), ``ridge`` (L2-penalised, on standardized features) and
``gbr`` (scikit-learn's gradient-boosted trees).  scikit-learn is imported when a model is
built.  A fitted model is a :class:`RelationModel`: linear and ridge models are fully
described by JSON (coefficients, intercept, feature means and scales, PCA, formulas), so
``model.json`` is enough to predict; gbr models are refitted from the training data it stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from semlab.errors import FileFormatError, ParameterError, TableError
from semlab.registry import create, register
from semlab.relate._common import check_numeric, finite_mask, name_list
from semlab.relate.formulas import Formula, apply_formulas, parse_formula

__all__ = [
    "GBRConfig",
    "LinearConfig",
    "MODELS",
    "PCAFeatures",
    "RelationModel",
    "RidgeConfig",
    "pca_features",
]

#: Regressor names :func:`~semlab.relate.fit_relation` accepts.
MODELS = ("linear", "ridge", "gbr")
MODEL_FORMAT = "semlab-relation-model"


@dataclass(frozen=True)
class LinearConfig:
    """Ordinary least squares with an intercept (no options)."""


@dataclass(frozen=True)
class RidgeConfig:
    """Ridge regression on standardized features.

    alpha : float, default 1.0
        L2 penalty on the standardized coefficients (0 → least squares).
    """

    alpha: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.alpha, (int, float)) and self.alpha >= 0):
            raise ParameterError(f"ridge alpha={self.alpha!r} must be a number ≥ 0")


@dataclass(frozen=True)
class GBRConfig:
    """Gradient-boosted regression trees, kept small for tens of samples."""

    n_estimators: int = 100
    max_depth: int = 2
    learning_rate: float = 0.1
    min_samples_leaf: int = 2
    subsample: float = 1.0
    seed: int = 0


@register("regressor", "linear", config=LinearConfig)
def _build_linear(config: LinearConfig) -> Any:
    """Ordinary least squares (scikit-learn LinearRegression)."""
    from sklearn.linear_model import LinearRegression

    return LinearRegression()


@register("regressor", "ridge", config=RidgeConfig)
def _build_ridge(config: RidgeConfig) -> Any:
    """Ridge regression (scikit-learn Ridge) on standardized features."""
    from sklearn.linear_model import Ridge

    return Ridge(alpha=float(config.alpha))


@register("regressor", "gbr", config=GBRConfig)
def _build_gbr(config: GBRConfig) -> Any:
    """Gradient-boosted trees (scikit-learn GradientBoostingRegressor)."""
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(
        n_estimators=int(config.n_estimators),
        max_depth=int(config.max_depth),
        learning_rate=float(config.learning_rate),
        min_samples_leaf=int(config.min_samples_leaf),
        subsample=float(config.subsample),
        random_state=int(config.seed),
    )


def check_model(model: str) -> str:
    if model not in MODELS:
        raise ParameterError(f"model={model!r} is not one of {', '.join(MODELS)}")
    return model


# --------------------------------------------------------------------------- PCA


@dataclass(frozen=True, eq=False)
class PCAFeatures:
    """Principal components of a feature matrix (e.g. CNN features ``f0 … f1279``).

    Attributes
    ----------
    inputs : tuple of str
        Names of the input columns (``x0 …`` for a bare array).
    mean, scale : (d,) ndarray
        Per-input mean and standard deviation used to standardize (scale 1 for constant inputs).
    components : (K, d) ndarray
        Unit loadings, sign fixed so each component's largest loading is positive.
    explained_variance_ratio : (K,) ndarray
        Share of the standardized variance each component carries.
    scores : (n, K) ndarray
        The training rows in component space (dimensionless).
    """

    inputs: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    scores: np.ndarray = field(repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        """``("pc1", "pc2", …)``."""
        return tuple(f"pc{k + 1}" for k in range(self.components.shape[0]))

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Project rows ``features`` (m, d) onto the components → (m, K)."""
        x = np.asarray(features, float)
        if x.ndim != 2 or x.shape[1] != self.mean.size:
            raise ParameterError(f"features have shape {x.shape}; expected (m, {self.mean.size})")
        return ((x - self.mean) / self.scale) @ self.components.T

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": list(self.inputs),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "components": self.components.tolist(),
            "explained_variance_ratio": self.explained_variance_ratio.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PCAFeatures:
        comps = np.asarray(d["components"], float)
        return cls(
            inputs=tuple(d["inputs"]),
            mean=np.asarray(d["mean"], float),
            scale=np.asarray(d["scale"], float),
            components=comps.reshape(-1, len(d["inputs"])),
            explained_variance_ratio=np.asarray(d["explained_variance_ratio"], float),
            scores=np.zeros((0, comps.shape[0] if comps.ndim == 2 else 0)),
        )


def pca_features(
    features: Any,
    n_components: int,
    *,
    scale: bool = True,
    names: Sequence[str] | None = None,
    reference: PCAFeatures | None = None,
) -> PCAFeatures:
    """Reduce a feature matrix to ``n_components`` principal components.

    Parameters
    ----------
    features : (n, d) array_like or DataFrame
        One row per sample (e.g. CNN features averaged per image).
    n_components : int
        K, at most ``min(n - 1, d)``.
    scale : bool, default True
        Standardize every input to unit variance first (constant inputs are only centred).
    names : sequence of str, optional
        Input names (default: the DataFrame's columns, else ``x0 …``).
    reference : PCAFeatures, optional
        Order and flip the components to match those of ``reference`` (same K and inputs),
        which keeps coefficients comparable across cross-validation folds.

    Returns
    -------
    PCAFeatures
        ``scores`` (n, K) are the reduced features.
    """
    if hasattr(features, "columns") and names is None:
        names = [str(c) for c in features.columns]
    x = np.asarray(features, float)
    if x.ndim != 2:
        raise ParameterError(f"features have shape {x.shape}; expected a 2-D (n, d) array")
    n, d = x.shape
    if not np.all(np.isfinite(x)):
        raise ParameterError("features hold NaN or inf; fill or drop those rows before PCA")
    k = int(n_components)
    if k < 1 or k > min(n - 1, d):
        raise ParameterError(
            f"n_components={n_components} must be between 1 and min(rows − 1, features) = {min(n - 1, d)}"
        )
    names = tuple(names) if names is not None else tuple(f"x{j}" for j in range(d))
    mean = x.mean(axis=0)
    sd = x.std(axis=0) if scale else np.ones(d)
    sd = np.where(sd > 0, sd, 1.0)
    z = (x - mean) / sd
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    comps = vt[:k].copy()
    var = s**2
    ratio = var[:k] / var.sum() if var.sum() > 0 else np.zeros(k)
    if reference is not None and reference.components.shape == comps.shape:
        # Order and orient the components like the reference's (components of nearly equal
        # variance may swap between folds): greedy matching on |cosine|.
        sim = np.abs(comps @ reference.components.T)
        order = [-1] * k
        for _ in range(k):
            i, j = (int(v) for v in np.unravel_index(np.argmax(sim), sim.shape))
            order[j] = i
            sim[i, :] = -1
            sim[:, j] = -1
        comps, ratio = comps[order], ratio[order]
        signs = np.sign(np.sum(comps * reference.components, axis=1))
        comps *= np.where(signs == 0, 1.0, signs)[:, None]
    else:
        for j in range(k):
            if comps[j][np.argmax(np.abs(comps[j]))] < 0:
                comps[j] = -comps[j]
    return PCAFeatures(names, mean, sd, comps, ratio, z @ comps.T)


# --------------------------------------------------------------------------- fitted model


@dataclass(frozen=True, eq=False)
class RelationModel:
    """A fitted structure-property model that predicts the target from a table.

    Attributes
    ----------
    kind : str
        ``linear``, ``ridge`` or ``gbr``.
    target : str
        The predicted column (its unit is the target column's).
    inputs : tuple of str
        Columns read from a table (after the formulas have been applied).
    features : tuple of str
        The regression's features: ``inputs``, or ``pc1 … pcK`` with PCA.
    formulas : tuple of Formula
        Applied to a table before anything else.
    config : dict
        The regressor's options.
    x_mean, x_scale : (p,) ndarray
        Mean and standard deviation of each feature over the training rows.
    coefficients : (p,) ndarray or None
        Change of the target per unit of each feature (linear, ridge); None for gbr.
    intercept : float or None
        Target at all features zero (linear, ridge).
    pca : PCAFeatures or None
        The reduction of ``inputs`` to ``features``.
    estimator : object or None
        The fitted scikit-learn estimator (always present after fitting; for gbr
        refitted from the training data in ``model.json`` at load).
    """

    kind: str
    target: str
    inputs: tuple[str, ...]
    features: tuple[str, ...]
    formulas: tuple[Formula, ...]
    config: dict[str, Any]
    x_mean: np.ndarray
    x_scale: np.ndarray
    coefficients: np.ndarray | None = None
    intercept: float | None = None
    pca: PCAFeatures | None = None
    estimator: Any = field(default=None, repr=False)

    def design(
        self, table: Any, *, table_name: str = "table", dropna: bool = False, formulas: bool = True
    ) -> tuple[np.ndarray, Any]:
        """``(X (m, p), kept)``: the model's features for the rows of ``table`` and a row mask.

        Applies the formulas (unless ``formulas=False``: already applied), checks the input
        columns (missing, not numeric, non-finite), then the PCA.
        """
        df = apply_formulas(table, self.formulas) if (self.formulas and formulas) else table
        missing = [c for c in self.inputs if c not in df.columns]
        if missing:
            raise TableError(
                f"{table_name} lacks the feature column {name_list(missing)} the model needs; "
                f"its columns are {name_list(list(map(str, df.columns)), 15)}"
            )
        check_numeric(df, list(self.inputs), table_name=table_name)
        keep = finite_mask(df, list(self.inputs), table_name=table_name, dropna=dropna)
        x = df.loc[keep, list(self.inputs)].to_numpy(float)
        if self.pca is not None:
            x = self.pca.transform(x)
        return x, keep

    def predict_design(self, x: np.ndarray) -> np.ndarray:
        """Predictions (m,) from the feature matrix ``x`` (m, p), in the target's unit."""
        x = np.asarray(x, float)
        if self.kind in ("linear", "ridge") and self.coefficients is not None:
            return x @ self.coefficients + float(self.intercept or 0.0)
        if self.estimator is None:
            raise FileFormatError(
                f"the {self.kind} model has no fitted estimator; load it with load_model(run folder)"
            )
        return np.asarray(self.estimator.predict(x), float)

    def predict(self, table: Any, *, table_name: str = "table", dropna: bool = False) -> np.ndarray:
        """Predicted target (m,) for every row of ``table`` (NaN where a dropped row was)."""
        from semlab.relate._common import as_frame

        df = as_frame(table, table_name)
        x, keep = self.design(df, table_name=table_name, dropna=dropna)
        out = np.full(len(df), np.nan)
        out[np.asarray(keep)] = self.predict_design(x)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to ``model.json`` (everything but a gbr estimator)."""
        return {
            "format": MODEL_FORMAT,
            "format_version": 1,
            "kind": self.kind,
            "target": self.target,
            "inputs": list(self.inputs),
            "features": list(self.features),
            "formulas": [f.text for f in self.formulas],
            "config": dict(self.config),
            "x_mean": self.x_mean.tolist(),
            "x_scale": self.x_scale.tolist(),
            "coefficients": None if self.coefficients is None else self.coefficients.tolist(),
            "intercept": self.intercept,
            "coefficients_by_feature": (
                None
                if self.coefficients is None
                else {f: float(c) for f, c in zip(self.features, self.coefficients, strict=True)}
            ),
            "pca": None if self.pca is None else self.pca.to_dict(),
        }

    @classmethod
    def from_dict(
        cls, d: dict[str, Any], *, estimator: Any = None, source: str = "model.json"
    ) -> RelationModel:
        """Rebuild from :meth:`to_dict` output; FileFormatError when it is not one."""
        if not isinstance(d, dict) or d.get("format") != MODEL_FORMAT:
            raise FileFormatError(
                f"{source}: is not a semlab relation model; give model.json of a `semlab relate` run"
            )
        try:
            return cls(
                kind=check_model(d["kind"]),
                target=str(d["target"]),
                inputs=tuple(d["inputs"]),
                features=tuple(d["features"]),
                formulas=tuple(parse_formula(t) for t in d.get("formulas", [])),
                config=dict(d.get("config") or {}),
                x_mean=np.asarray(d["x_mean"], float),
                x_scale=np.asarray(d["x_scale"], float),
                coefficients=None if d.get("coefficients") is None else np.asarray(d["coefficients"], float),
                intercept=None if d.get("intercept") is None else float(d["intercept"]),
                pca=None if d.get("pca") is None else PCAFeatures.from_dict(d["pca"]),
                estimator=estimator,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(
                f"{source}: damaged relation model ({exc}); run `semlab relate` again"
            ) from None


# --------------------------------------------------------------------------- one fit


def fit_design(
    kind: str, config: Any, x: np.ndarray, y: np.ndarray
) -> tuple[Any, np.ndarray | None, float | None]:
    """Fit ``kind`` on design ``x`` (n, p) → (estimator, raw coefficients, intercept).

    Linear and ridge models are fitted on standardized features (training mean and standard
    deviation) and their coefficients converted back to the features' units.
    """
    est = create("regressor", kind, config=config)
    if kind == "gbr":
        est.fit(x, y)
        return est, None, None
    mean = x.mean(axis=0)
    sd = x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    est.fit((x - mean) / sd, y)
    coef = np.asarray(est.coef_, float) / sd
    intercept = float(est.intercept_) - float(coef @ mean)
    return est, coef, intercept


def config_dict(config: Any) -> dict[str, Any]:
    return asdict(config)
