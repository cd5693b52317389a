"""PNG plots of a training run: loss curves, ROC curves, confusion matrices, PCA scatter,
reliability diagram.

matplotlib (Agg backend) is imported inside each function.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semlab._util import atomic_path

__all__ = [
    "plot_confusion",
    "plot_loss_curves",
    "plot_pca",
    "plot_regression",
    "plot_reliability",
    "plot_roc",
]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike) -> Path:
    plt = _plt()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_loss_curves(
    histories: Sequence[Sequence[dict[str, Any]]], path: str | os.PathLike, *, title: str = ""
) -> Path:
    """Training loss per epoch (solid) and validation loss every ``val_every`` epochs (dashed),
    one colour per fold; a gap between them shows overfitting.  Without validation rows the
    figure says so (a falling training loss alone proves nothing)."""
    from semlab._plot import loss_curves

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    _, n_val = loss_curves(ax, histories)
    ax.set_title(title or "loss curves")
    if not n_val:
        ax.text(
            0.98, 0.95, "no validation rows: overfitting not visible", transform=ax.transAxes,
            ha="right", va="top", fontsize=8, color="C3",
        )  # fmt: skip
    return _save(fig, path)


def plot_roc(
    panels: dict[str, tuple[np.ndarray, np.ndarray]],
    classes: Sequence[str],
    path: str | os.PathLike,
    *,
    title: str = "",
) -> Path:
    """One-vs-rest ROC curve of every class, one panel per level (e.g. patch, image).

    ``panels`` maps a panel title to ``(y_true class indices (n,), probabilities (n, C))``.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    for ax, (name, (y, p)) in zip(axes[0], panels.items(), strict=True):
        for c, cls in enumerate(classes):
            pos = np.asarray(y) == c
            if 0 < pos.sum() < pos.size:
                fpr, tpr, _ = roc_curve(pos, p[:, c])
                ax.plot(fpr, tpr, lw=1.4, label=f"{cls} (AUC {roc_auc_score(pos, p[:, c]):.2f})")
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(f"{name} level")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    return _save(fig, path)


def plot_confusion(
    panels: dict[str, Any], classes: Sequence[str], path: str | os.PathLike, *, title: str = ""
) -> Path:
    """Confusion matrices (rows true, columns predicted), one panel per level, with counts."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.9), squeeze=False)
    for ax, (name, cm) in zip(axes[0], panels.items(), strict=True):
        cm = np.asarray(cm)
        ax.imshow(cm, cmap="Blues")
        top = cm.max() if cm.size else 0
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(
                    j,
                    i,
                    str(cm[i, j]),
                    ha="center",
                    va="center",
                    color="white" if cm[i, j] > top / 2 else "black",
                    fontsize=8,
                )
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(classes)), classes, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{name} level")
    fig.suptitle(title)
    return _save(fig, path)


def plot_pca(
    features: np.ndarray,
    values: Sequence[Any],
    path: str | os.PathLike,
    *,
    categorical: bool,
    label: str = "",
    seed: int = 0,
) -> Path:
    """First two principal components of the standardised features, coloured by the target."""
    from sklearn.decomposition import PCA

    from semlab._plot import axis_label

    plt = _plt()
    x = np.asarray(features, dtype=np.float64)
    scale = x.std(axis=0)
    scale[scale < 1e-12] = 1.0
    z = (x - x.mean(axis=0)) / scale
    k = min(2, z.shape[0], z.shape[1])
    pca = PCA(n_components=k, random_state=seed).fit(z)
    xy = pca.transform(z)
    if xy.shape[1] < 2:
        xy = np.column_stack([xy, np.zeros(len(xy))])
    fig, ax = plt.subplots(figsize=(5.4, 4.4))
    if categorical:
        vals = [str(v) for v in values]
        for c, cls in enumerate(dict.fromkeys(sorted(set(vals), key=_natural))):
            m = np.array([v == cls for v in vals])
            ax.scatter(xy[m, 0], xy[m, 1], s=10, alpha=0.7, color=f"C{c % 10}", label=cls)
        ax.legend(title=axis_label(label), fontsize=7)
    else:
        sc = ax.scatter(
            xy[:, 0], xy[:, 1], s=10, alpha=0.8, c=np.asarray(values, dtype=float), cmap="viridis"
        )
        fig.colorbar(sc, ax=ax, label=axis_label(label))
    ev = pca.explained_variance_ratio_
    ax.set_xlabel(f"PC 1 ({ev[0]:.0%})")
    ax.set_ylabel(f"PC 2 ({ev[1]:.0%})" if ev.size > 1 else "PC 2")
    ax.set_title(f"PCA of features, coloured by {label}")
    return _save(fig, path)


def plot_regression(
    panels: dict[str, tuple[np.ndarray, np.ndarray]], path: str | os.PathLike, *, label: str = ""
) -> Path:
    """Predicted against true values, one panel per level, with the identity line."""
    from semlab._plot import axis_label

    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4.2), squeeze=False)
    for ax, (name, (t, p)) in zip(axes[0], panels.items(), strict=True):
        ax.scatter(t, p, s=10, alpha=0.7)
        lo, hi = float(np.min([np.min(t), np.min(p)])), float(np.max([np.max(t), np.max(p)]))
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.8, ls=":")
        ax.set_xlabel(f"true {axis_label(label)}")
        ax.set_ylabel(f"predicted {axis_label(label)}")
        ax.set_title(f"{name} level")
    return _save(fig, path)


def _natural(s: str) -> tuple:
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


def plot_reliability(calibration: dict[str, Any], path: str | os.PathLike, *, title: str = "") -> Path:
    """Reliability diagram: accuracy against mean confidence per bin, before and after temperature
    scaling (:func:`semlab.learn.metrics.calibration_report`), with the diagonal of perfect
    calibration and each bin's image count."""
    plt = _plt()
    fig, (ax, axc) = plt.subplots(
        2, 1, figsize=(5.2, 6.0), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], color="0.5", ls=":", lw=1, label="perfect calibration")
    rel = calibration["reliability"]
    t = calibration["temperature"]
    width = 1.0 / max(int(calibration["n_bins"]), 1)
    for k, (key, label) in enumerate(
        (
            ("before", f"before (ECE {calibration['ece_before']:.3f})"),
            ("after", f"after T = {t:.2f} (ECE {calibration['ece_after']:.3f})"),
        )
    ):
        bins = [b for b in rel[key] if b["count"]]
        if not bins:
            continue
        conf = [b["confidence"] for b in bins]
        acc = [b["accuracy"] for b in bins]
        ax.plot(conf, acc, "o-" if k == 0 else "s--", color=f"C{k}", ms=5, lw=1.2, label=label)
        centres = [(b["lower"] + b["upper"]) / 2 + (k - 0.5) * width * 0.4 for b in rel[key]]
        axc.bar(centres, [b["count"] for b in rel[key]], width=width * 0.4, color=f"C{k}", label=key)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("observed accuracy (fraction correct)")
    ax.set_title(title or "reliability diagram")
    ax.legend(fontsize=8, loc="upper left")
    axc.set_xlabel("predicted confidence (probability of the predicted class)")
    axc.set_ylabel("images per bin")
    axc.set_title(f"{calibration['n']} out-of-fold images in {calibration['n_bins']} bins", fontsize=8)
    axc.legend(fontsize=7)
    return _save(fig, path)
