"""Metrics of classifiers and regressors, and aggregation of patch predictions per image.

All metric values are plain Python numbers (JSON-ready); a value that is undefined (e.g.
ROC-AUC of a class absent from the test set) is ``None``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from semlab.errors import ParameterError

__all__ = ["aggregate_by_image", "classification_metrics", "regression_metrics"]


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
