"""Plots of a relation (matplotlib, imported when a function is called; headless).

Each function draws on a new :class:`matplotlib.figure.Figure` (no pyplot state), saves to
``path`` when given and returns the path, else returns the figure.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_parity", "plot_residuals", "plot_shap_bar", "plot_shap_beeswarm"]


def _figure(size=(5, 4)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def _finish(fig, path):
    if path is None:
        return fig
    from semlab._util import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    return path


def _shap_unit(target: str | None) -> str:
    """What a SHAP value is measured in: a change of the predicted target, in its unit."""
    if not target:
        return "target unit"
    from semlab._plot import axis_label

    return f"change in predicted {axis_label(target)}"


def _fmt(v: float) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.3f}"


def plot_parity(result: Any, *, path: str | os.PathLike | None = None):
    """Predicted vs measured: CV predictions of the training rows, test predictions, y = x.

    The legend gives the CV R² (and the test R² when there is a test set).
    """
    from semlab._plot import axis_label

    fig, ax = _figure()
    cv_label = "LOOCV" if result.cv == "loo" else result.cv
    ax.scatter(
        result.y,
        result.cv_predictions,
        s=28,
        alpha=0.85,
        label=f"{cv_label} (R² = {_fmt(result.cv_scores.r2)})",
    )
    values = [result.y, result.cv_predictions]
    if result.test_y is not None and len(result.test_y):
        ax.scatter(
            result.test_y, result.test_predictions, s=34, marker="s", alpha=0.85,
            label=f"test (R² = {_fmt(result.test_scores.r2)})",
        )  # fmt: skip
        values += [result.test_y, result.test_predictions]
    allv = np.concatenate([np.ravel(v) for v in values])
    allv = allv[np.isfinite(allv)]
    lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (0.0, 1.0)
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.4", lw=1, ls="--", label="y = x")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel(f"measured {axis_label(result.target)}")
    ax.set_ylabel(f"predicted {axis_label(result.target)}")
    ax.set_title(f"{result.model_kind}: {', '.join(result.features)}", fontsize=8)
    ax.legend(fontsize=8, loc="upper left")
    return _finish(fig, path)


def plot_residuals(result: Any, *, path: str | os.PathLike | None = None):
    """Residuals (measured − predicted) against predicted, CV and test points, zero line."""
    from semlab._plot import axis_label, split_unit

    fig, ax = _figure()
    cv_label = "LOOCV" if result.cv == "loo" else result.cv
    ax.scatter(result.cv_predictions, result.y - result.cv_predictions, s=28, alpha=0.85, label=cv_label)
    if result.test_y is not None and len(result.test_y):
        ax.scatter(
            result.test_predictions, result.test_y - result.test_predictions, s=34, marker="s", label="test"
        )
    ax.axhline(0.0, color="0.4", lw=1, ls="--")
    ax.set_xlabel(f"predicted {axis_label(result.target)}")
    unit = split_unit(result.target)[1]
    ax.set_ylabel("residual: measured − predicted" + (f" ({unit})" if unit else ""))
    ax.set_title(result.target, fontsize=9)
    ax.legend(fontsize=8)
    return _finish(fig, path)


def plot_shap_bar(
    shap: Any, *, path: str | os.PathLike | None = None, max_features: int = 20, target: str | None = None
):
    """Horizontal bars of mean |SHAP| per feature, largest on top.

    ``target`` (the target column's name, e.g. ``density_g_cm3`` or ``porosity``) puts its
    quantity and unit in the axis title; without it the axis says "target unit".
    """
    from semlab._plot import axis_label

    mean_abs = list(shap.mean_abs.items())[:max_features]
    fig, ax = _figure((5.5, 1.2 + 0.35 * len(mean_abs)))
    names = [axis_label(k) for k, _ in mean_abs][::-1]
    vals = [v for _, v in mean_abs][::-1]
    ax.barh(names, vals, color="#1f77b4")
    ax.set_xlabel(f"mean |SHAP value| ({_shap_unit(target)})")
    ax.set_title(f"feature importance ({shap.method})", fontsize=9)
    return _finish(fig, path)


def plot_shap_beeswarm(
    shap: Any,
    *,
    path: str | os.PathLike | None = None,
    max_features: int = 20,
    seed: int = 0,
    target: str | None = None,
):
    """One row of points per feature: SHAP value (x, a change of the predicted ``target`` in
    its unit), colour = feature value (low → high)."""
    from semlab._plot import axis_label

    order = [shap.features.index(f) for f in list(shap.mean_abs)[:max_features]]
    fig, ax = _figure((6, 1.2 + 0.4 * len(order)))
    rng = np.random.default_rng(seed)
    mappable = None
    for row, j in enumerate(order[::-1]):
        v = shap.values[:, j]
        d = shap.data[:, j]
        span = np.ptp(d)
        c = (d - d.min()) / span if span > 0 else np.full_like(d, 0.5)
        jitter = rng.uniform(-0.25, 0.25, size=v.size)
        mappable = ax.scatter(v, row + jitter, c=c, cmap="coolwarm", vmin=0, vmax=1, s=16, alpha=0.9)
    ax.set_yticks(range(len(order)), [axis_label(shap.features[j]) for j in order[::-1]])
    ax.axvline(0.0, color="0.5", lw=0.8)
    ax.set_xlabel(f"SHAP value ({_shap_unit(target)})")
    if mappable is not None:
        cb = fig.colorbar(mappable, ax=ax, ticks=[0, 1])
        cb.ax.set_yticklabels(["low", "high"])
        cb.set_label("feature value")
    return _finish(fig, path)
