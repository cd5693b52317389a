"""Metrics of classifiers and regressors, and aggregation of patch predictions per image.

All metric values are plain Python numbers (JSON-ready); a value that is undefined (e.g.
ROC-AUC of a class absent from the test set) is ``None``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from semlab.errors import ParameterError

__all__ = [
    "aggregate_by_image",
    "apply_temperature",
    "calibration_report",
    "classification_metrics",
    "expected_calibration_error",
    "fit_temperature",
    "grouped_bootstrap_interval",
    "regression_metrics",
    "wilson_interval",
]


def aggregate_by_image(values: np.ndarray, image_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of patch rows per image.

    Parameters
    ----------
    values : (n,) or (n, C) ndarray
        Patch probabilities (classification) or predicted values (regression).
    image_ids : (n,) array-like
        Image of each row.

    Returns
    -------
    ids : (m,) ndarray
        Distinct image ids in order of first appearance.
    means : (m,) or (m, C) ndarray of float64
        Mean over each image's rows (for probabilities: rows still sum to 1).
    """
    values = np.asarray(values, dtype=np.float64)
    ids = np.asarray(image_ids)
    if ids.shape[0] != values.shape[0]:
        raise ParameterError(
            f"image_ids has {ids.shape[0]} rows but values {values.shape[0]}; give one id per row"
        )
    uniq, first, inverse = np.unique(ids.astype(str), return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    pos = rank[inverse.ravel()]
    counts = np.bincount(pos, minlength=order.size).astype(np.float64)
    flat = values.reshape(values.shape[0], -1)
    sums = np.zeros((order.size, flat.shape[1]))
    np.add.at(sums, pos, flat)
    means = sums / counts[:, None]
    return ids[first[order]], means.reshape((order.size, *values.shape[1:]))


def _num(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, *, classes: list[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro F1, one-vs-rest ROC-AUC per class, confusion matrix.

    Parameters
    ----------
    y_true : (n,) ndarray of int
        True class indices into ``classes``.
    proba : (n, C) ndarray
        Predicted class probabilities; the prediction is the arg-max.
    classes : list of str
        Class labels, ``C`` of them.

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``balanced_accuracy`` (mean recall over the classes present
        in ``y_true``), ``macro_f1`` (over the classes present in ``y_true`` or predicted,
        as scikit-learn), ``roc_auc`` ({class: one-vs-rest AUC, ``None`` when the class or
        its complement is absent}), ``macro_roc_auc`` (mean of the defined ones),
        ``confusion_matrix`` (C × C list, rows true, columns predicted, in ``classes``
        order) and ``classes``.  All fractions in [0, 1].
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        roc_auc_score,
    )

    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape != (y.shape[0], len(classes)):
        raise ParameterError(f"proba has shape {p.shape}; expected ({y.shape[0]}, {len(classes)})")
    pred = p.argmax(axis=1)
    aucs: dict[str, float | None] = {}
    for c, name in enumerate(classes):
        pos = y == c
        aucs[str(name)] = _num(roc_auc_score(pos, p[:, c])) if 0 < pos.sum() < y.size else None
    defined = [a for a in aucs.values() if a is not None]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # classes predicted but absent (or the reverse)
        balanced = balanced_accuracy_score(y, pred)
    return {
        "n": int(y.size),
        "accuracy": _num(accuracy_score(y, pred)),
        "balanced_accuracy": _num(balanced),
        "macro_f1": _num(f1_score(y, pred, average="macro", zero_division=0)),
        "roc_auc": aucs,
        "macro_roc_auc": _num(np.mean(defined)) if defined else None,
        "confusion_matrix": confusion_matrix(y, pred, labels=list(range(len(classes)))).tolist(),
        "classes": [str(c) for c in classes],
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """R², mean absolute error and root-mean-square error.

    Parameters
    ----------
    y_true, y_pred : (n,) ndarray
        True and predicted values, in the target's unit.

    Returns
    -------
    dict
        ``n``, ``r2`` (dimensionless; ``None`` for fewer than two rows), ``mae`` and
        ``rmse`` (in the target's unit).
    """
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    t = np.asarray(y_true, dtype=np.float64).ravel()
    q = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != q.shape:
        raise ParameterError(f"y_true has {t.size} values but y_pred {q.size}")
    return {
        "n": int(t.size),
        "r2": _num(r2_score(t, q)) if t.size >= 2 else None,
        "mae": _num(mean_absolute_error(t, q)),
        "rmse": _num(math.sqrt(mean_squared_error(t, q))),
    }


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion (e.g. accuracy = correct / n).

    Parameters
    ----------
    successes : int
        Number of successes (correctly classified images), ``0 ≤ successes ≤ n``.
    n : int
        Number of trials (images).  The interval assumes they are independent; images of one
        sample are not, so compare with :func:`grouped_bootstrap_interval`.
    confidence : float
        Two-sided coverage, default 0.95 (z = 1.96).

    Returns
    -------
    (float, float) or None
        Lower and upper bound in [0, 1]; ``None`` when ``n`` is 0.

    Examples
    --------
    >>> lo, hi = wilson_interval(8, 10)
    >>> round(lo, 4), round(hi, 4)
    (0.4902, 0.9433)
    """
    from scipy.stats import norm

    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ParameterError(f"successes={successes} must lie in 0 … n={n}")
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence={confidence} must lie between 0 and 1, e.g. 0.95")
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def grouped_bootstrap_interval(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: np.ndarray,
    *,
    metric: str = "accuracy",
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of accuracy or R², resampling whole groups (samples).

    Images of one sample are not independent; resampling samples with replacement (all
    their images together) gives an interval that reflects how many samples were tested.

    Parameters
    ----------
    y_true, y_pred : (n,) ndarray
        True and predicted class indices (``metric="accuracy"``) or values (``"r2"``), one
        per image.
    groups : (n,) array-like
        Independent unit of each image (sample, or specimen when the table declares one).
    metric : {"accuracy", "r2"}
    resamples : int
        Bootstrap resamples.
    confidence : float
        Two-sided coverage of the percentile interval.
    seed : int or None
        Seed of the resampling.

    Returns
    -------
    (float, float) or None
        Lower and upper bound (dimensionless); ``None`` with fewer than two groups or no
        defined resample.
    """
    t = np.asarray(y_true, dtype=np.float64).ravel()
    q = np.asarray(y_pred, dtype=np.float64).ravel()
    _, gid = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    if t.shape != q.shape or gid.size != t.size:
        raise ParameterError(
            f"y_true, y_pred and groups need one entry per image ({t.size}, {q.size}, {gid.size})"
        )
    if metric not in ("accuracy", "r2"):
        raise ParameterError(f"metric={metric!r} must be 'accuracy' or 'r2'")
    n_groups = int(gid.max()) + 1 if gid.size else 0
    if n_groups < 2 or resamples < 1:
        return None
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(int(resamples), n_groups))
    weight = np.stack([np.bincount(d, minlength=n_groups) for d in draws]).astype(np.float64)[:, gid]
    total = weight.sum(axis=1)
    if metric == "accuracy":
        stats = weight @ (t == q).astype(np.float64) / total
    else:
        mean = weight @ t / total
        ss_tot = weight @ (t * t) - total * mean * mean
        ss_res = weight @ ((t - q) ** 2)
        ok = ss_tot > 1e-12 * max(1.0, float(np.abs(t).max()) ** 2)
        stats = 1.0 - ss_res[ok] / ss_tot[ok]
    if stats.size == 0:
        return None
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return float(lo), float(hi)


# --------------------------------------------------------------------------- calibration

#: Bounds of a fitted temperature (a softer or sharper model than this is not trusted).
TEMPERATURE_BOUNDS = (0.05, 20.0)


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``(n, C)`` rescaled by a temperature: ``softmax(log p / T)``.

    ``T > 1`` softens over-confident probabilities, ``T < 1`` sharpens; the most probable
    class never changes.  Rows still sum to 1.
    """
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)
    z = np.log(p) / float(temperature)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(proba: np.ndarray, y_true: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood of held-out probabilities.

    Parameters
    ----------
    proba : (n, C) ndarray
        Out-of-fold probabilities (e.g. image-level means of patch probabilities).
    y_true : (n,) ndarray of int
        Class indices.

    Returns
    -------
    float
        ``T`` in :data:`TEMPERATURE_BOUNDS` (1.0 for fewer than two rows).
    """
    from scipy.optimize import minimize_scalar

    p = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y_true, dtype=np.int64)
    if p.ndim != 2 or y.shape != (p.shape[0],):
        raise ParameterError(f"proba has shape {p.shape} and y_true {y.shape}; give (n, C) and (n,)")
    if y.size < 2:
        return 1.0

    def nll(log_t: float) -> float:
        q = apply_temperature(p, math.exp(log_t))
        return float(-np.mean(np.log(np.clip(q[np.arange(y.size), y], 1e-12, 1.0))))

    lo, hi = (math.log(b) for b in TEMPERATURE_BOUNDS)
    res = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    best = float(res.x) if nll(float(res.x)) <= nll(0.0) else 0.0
    return float(math.exp(best))


def expected_calibration_error(
    proba: np.ndarray, y_true: np.ndarray, *, n_bins: int = 10
) -> tuple[float, list[dict[str, Any]]]:
    """Expected calibration error of the top-class confidence, and the reliability bins.

    Confidences (the largest probability of each row) fall into ``n_bins`` equal-width bins
    over [0, 1]; ECE is the count-weighted mean of ``|accuracy − mean confidence|``.

    Returns
    -------
    ece : float
        In [0, 1] (NaN without rows).
    bins : list of dict
        Per bin: ``lower``, ``upper``, ``count``, ``confidence`` (mean), ``accuracy``
        (``None`` for empty bins).
    """
    p = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y_true, dtype=np.int64)
    if n_bins < 1:
        raise ParameterError(f"n_bins={n_bins} must be at least 1")
    conf = p.max(axis=1) if p.size else np.zeros(0)
    correct = (p.argmax(axis=1) == y).astype(np.float64) if p.size else np.zeros(0)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    bins, ece = [], 0.0
    for b in range(n_bins):
        m = which == b
        k = int(m.sum())
        acc = float(correct[m].mean()) if k else None
        c = float(conf[m].mean()) if k else None
        if k:
            ece += k * abs(float(acc) - float(c))  # type: ignore[arg-type]
        bins.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": k,
                "confidence": c,
                "accuracy": acc,
            }
        )
    return (ece / y.size if y.size else float("nan")), bins


def calibration_report(proba: np.ndarray, y_true: np.ndarray, *, n_bins: int = 10) -> dict[str, Any]:
    """Temperature scaling of held-out probabilities, with ECE and reliability bins before and after.

    Returns ``{"temperature", "fitted_temperature", "ece_before", "ece_after", "n_bins",
    "n", "method", "note", "reliability": {"before": bins, "after": bins}}`` (see
    :func:`fit_temperature`, :func:`expected_calibration_error`).  The temperature is fitted
    and scored on the same out-of-fold rows, so ``ece_after`` is optimistic for very few
    rows; a fitted temperature that raises the ECE (one confident miss among few rows can
    drive the likelihood) is not applied: ``temperature`` is then 1 and ``note`` says why.
    """
    fitted = fit_temperature(proba, y_true)
    before, bins_before = expected_calibration_error(proba, y_true, n_bins=n_bins)
    after, bins_after = expected_calibration_error(apply_temperature(proba, fitted), y_true, n_bins=n_bins)
    note = None
    t = fitted
    if np.isfinite(after) and after > before:  # few rows: one confident miss can drive the NLL fit
        t, after, bins_after = 1.0, before, bins_before
        note = (
            f"the fitted temperature {fitted:.3g} raised the ECE on these {np.asarray(y_true).size} rows; "
            "probabilities left as they are (temperature 1)"
        )
    return {
        "temperature": t,
        "fitted_temperature": fitted,
        "ece_before": _num(before),
        "ece_after": _num(after),
        "n_bins": int(n_bins),
        "n": int(np.asarray(y_true).size),
        "method": "temperature scaling of out-of-fold probabilities (negative log-likelihood); kept "
        "only when it does not raise the ECE",
        "note": note,
        "reliability": {"before": bins_before, "after": bins_after},
    }
