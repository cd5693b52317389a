"""Segmentation scores against a ground truth: IoU, Dice, precision, recall, accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from semlab.errors import ParameterError

__all__ = ["SegmentationScores", "check_label_pair", "confusion_matrix", "score_segmentation"]


def check_label_pair(truth: Any, pred: Any, *, name: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Integer label arrays of equal shape, else ParameterError (``name`` prefixes the message)."""
    t, p = np.asarray(truth), np.asarray(pred)
    where = f"{name}: " if name else ""
    if t.shape != p.shape:
        raise ParameterError(
            f"{where}truth has shape {t.shape} but prediction {p.shape}; labels must match their images pixel for pixel"
        )
    if t.size == 0:
        raise ParameterError(f"{where}label images are empty (shape {t.shape})")
    for label, a in (("truth", t), ("prediction", p)):
        if a.dtype == bool:
            continue
        if a.dtype.kind not in "iu":
            if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
                continue
            raise ParameterError(f"{where}{label} has dtype {a.dtype} with non-integer values; give integer labels")
    return t.astype(np.int64), p.astype(np.int64)


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """(C, C) pixel counts, rows = truth class, columns = predicted class, in ``classes`` order.

    Pixels whose truth or prediction is not in ``classes`` are left out.
    """
    t, p = check_label_pair(truth, pred)
    cls = np.asarray(list(classes), dtype=np.int64)
    lookup = {int(c): i for i, c in enumerate(cls)}
    ti = np.full(t.shape, -1, dtype=np.int64)
    pi = np.full(p.shape, -1, dtype=np.int64)
    for c, i in lookup.items():
        ti[t == c] = i
        pi[p == c] = i
    ok = (ti >= 0) & (pi >= 0)
    n = len(cls)
    return np.bincount(ti[ok] * n + pi[ok], minlength=n * n).reshape(n, n)


@dataclass(frozen=True, eq=False)
class SegmentationScores:
    """Per-class and mean scores of a label image against a ground truth.

    Attributes
    ----------
    classes : tuple of int
        Label values scored, in order.
    names : tuple of str
        A name per class.
    iou, dice, precision, recall : (C,) ndarray of float64
        Per class; NaN where undefined (class absent from both truth and prediction, or a
        zero denominator).
    accuracy : float
        Fraction of pixels labelled correctly.
    confusion : (C, C) ndarray of int64
        Pixel counts, rows = truth, columns = prediction.
    """

    classes: tuple[int, ...]
    names: tuple[str, ...]
    iou: np.ndarray
    dice: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    accuracy: float
    confusion: np.ndarray

    @property
    def mean_iou(self) -> float:
        """Mean Jaccard index over the classes where it is defined."""
        return _nanmean(self.iou)

    @property
    def mean_dice(self) -> float:
        """Mean Dice coefficient over the classes where it is defined."""
        return _nanmean(self.dice)

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-compatible dict: means, accuracy and ``iou_<name>`` etc. per class."""
        out: dict[str, Any] = {
            "mean_iou": self.mean_iou,
            "mean_dice": self.mean_dice,
            "accuracy": self.accuracy,
            "n_pixels": int(self.confusion.sum()),
        }
        for k, name in enumerate(self.names):
            for metric in ("iou", "dice", "precision", "recall"):
                out[f"{metric}_{name}"] = float(getattr(self, metric)[k])
        return out

    def to_frame(self) -> Any:
        """Per-class table (pandas DataFrame): class, name, iou, dice, precision, recall, pixel counts."""
        import pandas as pd

        return pd.DataFrame(
            {
                "class": list(self.classes),
                "name": list(self.names),
                "iou": self.iou,
                "dice": self.dice,
                "precision": self.precision,
                "recall": self.recall,
                "truth_pixels": self.confusion.sum(axis=1),
                "pred_pixels": self.confusion.sum(axis=0),
            }
        )


def _nanmean(a: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    return float(a[np.isfinite(a)].mean()) if np.isfinite(a).any() else float("nan")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = num.astype(np.float64)
    out = np.full(num.shape, np.nan)
    ok = den > 0
    out[ok] = num[ok] / den[ok]
    return out


def score_segmentation(
    truth: np.ndarray,
    pred: np.ndarray,
    *,
    classes: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
    ignore: int | None = None,
) -> SegmentationScores:
    """Score a label image against the ground truth.

    Parameters
    ----------
    truth, pred : (M, N) or (P, M, N) ndarray of int
        Ground truth and prediction, same shape, integer (or integral float / bool) labels.
    classes : sequence of int, optional
        Label values to score; default every value found in either image.  Pixels with
        other values count for neither.
    names : sequence of str, optional
        One name per class; default ``"class_<value>"``.
    ignore : int, optional
        Truth value to leave out of every score (unlabelled pixels).

    Returns
    -------
    SegmentationScores
        Per class ``c``: IoU = TP / (TP + FP + FN), Dice = 2 TP / (2 TP + FP + FN),
        precision = TP / (TP + FP), recall = TP / (TP + FN); accuracy over the scored pixels.

    Raises
    ------
    ParameterError
        Shapes differ, non-integer labels, or ``names`` of the wrong length.

    Examples
    --------
    >>> import numpy as np
    >>> from semlab.segment import score_segmentation
    >>> s = score_segmentation(np.array([[0, 0, 1, 1]]), np.array([[0, 1, 1, 1]]))
    >>> s.iou.tolist(), s.accuracy
    ([0.5, 0.6666666666666666], 0.75)
    """
    t, p = check_label_pair(truth, pred)
    if ignore is not None:
        keep = t != int(ignore)
        t, p = t[keep], p[keep]
    if classes is None:
        classes = np.union1d(np.unique(t), np.unique(p)).tolist()
    classes = tuple(int(c) for c in classes)
    if not classes:
        raise ParameterError("classes is empty; give at least one label value to score")
    if names is None:
        names = tuple(f"class_{c}" for c in classes)
    names = tuple(str(n) for n in names)
    if len(names) != len(classes):
        raise ParameterError(f"names has {len(names)} entries but there are {len(classes)} classes {classes}")
    cm = confusion_matrix(t, p, classes) if t.size else np.zeros((len(classes),) * 2, dtype=np.int64)
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    total = cm.sum()
    return SegmentationScores(
        classes=classes,
        names=names,
        iou=_ratio(tp, tp + fp + fn),
        dice=_ratio(2 * tp, 2 * tp + fp + fn),
        precision=_ratio(tp, tp + fp),
        recall=_ratio(tp, tp + fn),
        accuracy=float(tp.sum() / total) if total else float("nan"),
        confusion=cm,
    )
