"""SHAP values of a fitted relation: exact for linear and ridge models, TreeExplainer for gbr.

For a linear model ``f(x) = b + Σ c_j x_j`` with independent features the SHAP value of
feature *j* at row *x* is exactly ``c_j · (x_j − mean_j)`` (mean over the training rows),
and the base value is the mean training prediction; these are computed here without the
``shap`` package.  Gradient-boosted trees use ``shap.TreeExplainer`` (imported when needed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semlab.errors import ParameterError

__all__ = ["ShapValues", "shap_values"]


@dataclass(frozen=True, eq=False)
class ShapValues:
    """SHAP values of a relation's predictions.

    Attributes
    ----------
    values : (m, p) ndarray
        Contribution of each feature to each row's prediction, in the target's unit.
    base_value : float
        The mean prediction (target unit); ``base_value + values.sum(1)`` is the prediction.
    features : tuple of str
    data : (m, p) ndarray
        The feature values explained (for colouring beeswarm plots).
    method : str
        ``"linear-exact"`` or ``"tree"``.
    """

    values: np.ndarray = field(repr=False)
    base_value: float
    features: tuple[str, ...]
    data: np.ndarray = field(repr=False)
    method: str

    @property
    def mean_abs(self) -> dict[str, float]:
        """Feature → mean |SHAP| (target unit), largest first."""
        m = np.mean(np.abs(self.values), axis=0) if len(self.values) else np.zeros(len(self.features))
        order = np.argsort(-m, kind="stable")
        return {self.features[j]: float(m[j]) for j in order}

    def top(self, k: int = 3) -> list[str]:
        """The ``k`` features with the largest mean |SHAP|."""
        return list(self.mean_abs)[:k]

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "base_value": self.base_value, "mean_abs": self.mean_abs}

    def to_frame(self):
        """DataFrame (m, p) of SHAP values, one column per feature."""
        import pandas as pd

        return pd.DataFrame(self.values, columns=list(self.features))


def shap_values(result: Any, table: Any = None) -> ShapValues:
    """SHAP values of a :class:`~semlab.relate.RelationResult` (or its model) on rows.

    Parameters
    ----------
    result : RelationResult
        A fit from :func:`~semlab.relate.fit_relation`.
    table : DataFrame or path, optional
        Rows to explain (formulas and PCA are applied); default the training rows.

    Returns
    -------
    ShapValues
        Linear and ridge models: exact ``coef × (x − mean(x_train))``; gbr: ``shap.TreeExplainer``.
    """
    model = getattr(result, "model", None)
    if model is None:
        raise ParameterError("shap_values needs a RelationResult from fit_relation")
    if table is None:
        x = np.asarray(result.design, float)
    else:
        from semlab.relate._common import as_frame

        x, _ = model.design(as_frame(table))
    if model.kind in ("linear", "ridge"):
        coef = np.asarray(model.coefficients, float)
        values = coef[None, :] * (x - model.x_mean[None, :])
        base = float(model.x_mean @ coef + model.intercept)
        return ShapValues(values, base, tuple(model.features), x, "linear-exact")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # shap's own colormap set-up on import
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap

    explainer = shap.TreeExplainer(model.estimator)
    values = np.asarray(explainer.shap_values(x), float).reshape(x.shape)
    base = float(np.ravel(explainer.expected_value)[0])
    return ShapValues(values, base, tuple(model.features), x, "tree")
