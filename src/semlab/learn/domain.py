"""Is a new image like the training images?  The in-domain score of a run.

A run's domain model holds the training images' mean features (one row per image, in the
run's feature space), standardised by the training statistics.  The domain score of an
image is the mean distance of its own mean feature to its ``k`` nearest training images,
as a root-mean-square over features (unitless, in training standard deviations).  The
threshold is calibrated on the training data: each image is scored against the images of
the *other* sample groups (out of fold), and the threshold is a high quantile (default
the 99th percentile) of those distances.  An image scoring above the threshold is
"outside the training domain": its prediction is an extrapolation.

Stored in the run folder as ``domain.npz`` (plain arrays, no pickle) plus a JSON block in
``config.json`` (``extra.run.domain``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semlab._util import atomic_path
from semlab.errors import FileFormatError, ParameterError

__all__ = ["DOMAIN_FILE", "DomainModel", "fit_domain", "load_domain"]

#: File name of a run's domain model.
DOMAIN_FILE = "domain.npz"


@dataclass(frozen=True, eq=False)
class DomainModel:
    """k-nearest-neighbour distance to the training images, with a calibrated threshold.

    Attributes
    ----------
    center, scale : (d,) ndarray of float64
        Mean and (floored) standard deviation of the training images' mean features.
    reference : (m, d) ndarray of float32
        The standardised training images.
    k : int
        Neighbours averaged.
    threshold : float
        Scores above it are outside the training domain (unitless).
    quantile : float
        The quantile of the out-of-fold training scores the threshold is.
    oof_scores : (m,) ndarray
        Out-of-fold score of every training image (calibration data).
    """

    center: np.ndarray
    scale: np.ndarray
    reference: np.ndarray
    k: int
    threshold: float
    quantile: float
    oof_scores: np.ndarray

    def score(self, features: np.ndarray) -> np.ndarray:
        """Domain scores of image-level features ``(n, d)`` (mean over each image's patches)."""
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if x.shape[1] != self.center.shape[0]:
            raise ParameterError(
                f"features have {x.shape[1]} columns but the domain model {self.center.shape[0]}; "
                "use the run's feature set"
            )
        z = (x - self.center) / self.scale
        d = _distances(z, self.reference.astype(np.float64))
        k = min(self.k, d.shape[1])
        return np.sort(d, axis=1)[:, :k].mean(axis=1)

    def to_dict(self) -> dict[str, Any]:
        """The JSON block of ``config.json``: method, k, threshold, quantile, training scores."""
        oof = self.oof_scores
        return {
            "method": "mean distance to the k nearest training images (standardised image-mean features, RMS)",
            "k": int(self.k),
            "threshold": float(self.threshold),
            "quantile": float(self.quantile),
            "calibration": "out of fold: each training image scored against the other sample groups",
            "n_reference": int(self.reference.shape[0]),
            "training_scores": {
                "median": float(np.median(oof)) if oof.size else None,
                "max": float(oof.max()) if oof.size else None,
            },
            "file": DOMAIN_FILE,
        }

    def save(self, run_dir: str | os.PathLike) -> Path:
        """Write ``run_dir/domain.npz``."""
        path = Path(run_dir) / DOMAIN_FILE
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh,
                center=self.center,
                scale=self.scale,
                reference=self.reference,
                oof_scores=self.oof_scores,
                params=np.array([self.k, self.threshold, self.quantile], dtype=np.float64),
            )
        return path


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RMS distances ``(len(a), len(b))`` between rows (Euclidean / sqrt(d))."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0) / max(a.shape[1], 1))


def _standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation, floored at a tenth of the median one (near-constant features
    would dominate the distance otherwise)."""
    sd = x.std(axis=0)
    floor = max(0.1 * float(np.median(sd)), 1e-6)
    return x.mean(axis=0), np.maximum(sd, floor)


def _knn(reference: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Mean RMS distance of each query row to its ``k`` nearest reference rows, standardised by the
    reference statistics."""
    c, s = _standardiser(reference)
    d = _distances((query - c) / s, (reference - c) / s)
    return np.sort(d, axis=1)[:, : min(k, d.shape[1])].mean(axis=1)


def fit_domain(
    features: np.ndarray, groups: np.ndarray, *, k: int = 5, quantile: float = 0.99
) -> DomainModel:
    """Fit the domain model on training images' mean features and calibrate its threshold.

    Parameters
    ----------
    features : (m, d) ndarray
        One row per training image (mean of its patch features).
    groups : (m,) array-like
        Sample group of each image; an image is scored against the other groups only.
    k : int, default 5
        Neighbours averaged (fewer when fewer images remain).
    quantile : float, default 0.99
        Quantile of the out-of-fold scores used as threshold.

    Returns
    -------
    DomainModel
    """
    x = np.asarray(features, dtype=np.float64)
    g = np.asarray(groups).astype(str)
    if x.ndim != 2 or x.shape[0] < 2 or g.shape != (x.shape[0],):
        raise ParameterError(
            f"the domain model needs (m ≥ 2, d) image features and one group each; got {x.shape} and {g.shape}"
        )
    if not 0.5 <= quantile <= 1.0:
        raise ParameterError(f"quantile={quantile} must lie in [0.5, 1]")
    center, scale = _standardiser(x)
    z = (x - center) / scale
    oof = np.empty(x.shape[0])
    for gi in np.unique(g):  # leave the group out of the statistics and of the references
        held = g == gi
        if held.all():  # a single group: leave each image out instead
            for i in range(x.shape[0]):
                oof[i] = _knn(np.delete(x, i, axis=0), x[i : i + 1], k)[0]
            break
        oof[held] = _knn(x[~held], x[held], k)
    threshold = float(np.quantile(oof, quantile))
    return DomainModel(center, scale, z.astype(np.float32), int(k), threshold, float(quantile), oof)


def load_domain(run_dir: str | os.PathLike) -> DomainModel | None:
    """The run's domain model, or ``None`` when the run has none (older runs, fine-tuned models)."""
    path = Path(run_dir) / DOMAIN_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            k, threshold, quantile = (float(v) for v in f["params"])
            return DomainModel(
                f["center"], f["scale"], f["reference"], int(k), threshold, quantile, f["oof_scores"]
            )
    except (KeyError, ValueError, OSError) as exc:
        raise FileFormatError(f"{path}: not a semlab domain model ({exc}); retrain the run") from None
