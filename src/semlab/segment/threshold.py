"""Histogram thresholds: Otsu and the second-derivative ("knee") threshold.

Label convention of every threshold here and of :func:`semlab.segment.hybrid_annotation`:
``0`` = bright phase (solid, above the threshold), ``1`` = dark phase (pore, at or below the
threshold).  ``semlab.data.render_sintered_film`` writes its ground truth the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from semlab.errors import ParameterError
from semlab.segment._common import finite_values, image_2d, positive_float, positive_int

__all__ = ["THRESHOLD_METHODS", "ThresholdResult", "derivative_threshold", "otsu_threshold", "threshold_image"]

#: Threshold methods :func:`threshold_image` accepts.
THRESHOLD_METHODS = ("otsu", "derivative")


@dataclass(frozen=True, eq=False)
class ThresholdResult:
    """A grey-value threshold and the label image it gives.

    Attributes
    ----------
    threshold : float
        Grey value in the image's units; pixels ``<= threshold`` are the dark phase.
    labels : (M, N) ndarray of uint8
        0 = bright phase (solid), 1 = dark phase (pore).
    method : str
        ``"otsu"`` or ``"derivative"``.

    Unpacks as ``threshold, labels = otsu_threshold(image)``.
    """

    threshold: float
    labels: np.ndarray
    method: str

    def __iter__(self) -> Iterator[Any]:
        return iter((self.threshold, self.labels))

    def to_dict(self) -> dict[str, Any]:
        """Threshold, method and the dark-phase (pore) area fraction."""
        return {
            "method": self.method,
            "threshold": self.threshold,
            "pore_fraction": float(self.labels.mean()) if self.labels.size else float("nan"),
        }


def _values(image: Any, func: str) -> tuple[np.ndarray, np.ndarray]:
    a = image_2d(image, func)
    if a.dtype == bool:
        a = a.astype(np.uint8)
    v = finite_values(a)
    if v.size == 0:
        raise ParameterError(f"image holds no finite grey values; {func} needs a real image")
    return a, v


def _labels(a: np.ndarray, t: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (a <= t).astype(np.uint8)


def _otsu_value(v: np.ndarray, nbins: int) -> float:
    if v.min() == v.max():
        return float(v.min())
    from skimage.filters import threshold_otsu

    return float(threshold_otsu(v, nbins=nbins))


def otsu_threshold(image: np.ndarray, *, nbins: int = 256) -> ThresholdResult:
    """Otsu's threshold: the grey value that maximises the between-class variance.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image, any real dtype (NaN and inf are ignored).
    nbins : int, default 256
        Histogram bins.

    Returns
    -------
    ThresholdResult
        ``threshold`` in grey values; ``labels`` 0 = bright (solid), 1 = dark (pore).

    Examples
    --------
    >>> import numpy as np
    >>> from semlab.segment import otsu_threshold
    >>> image = np.r_[np.full(50, 40), np.full(50, 200)].reshape(10, 10).astype(np.uint8)
    >>> t, labels = otsu_threshold(image)
    >>> 40 <= t < 200, int(labels.sum())
    (True, 50)
    """
    a, v = _values(image, "otsu_threshold")
    nbins = positive_int(nbins, "nbins", minimum=2)
    t = _otsu_value(v, nbins)
    return ThresholdResult(threshold=t, labels=_labels(a, t), method="otsu")


def _knees(d2: np.ndarray, lo: int, hi: int, *, reverse: bool) -> list[int]:
    """Indices of the positive maxima of ``d2`` in ``lo..hi`` that stand out of its noise."""
    from scipy.signal import find_peaks

    seg = d2[lo : hi + 1]
    if seg.size < 3 or seg.max() <= 0:
        return []
    peaks, _ = find_peaks(np.r_[-np.inf, seg, -np.inf], prominence=0.1 * seg.max())
    idx = [lo + int(p) - 1 for p in peaks if seg[p - 1] > 0]
    return idx[::-1] if reverse else idx


def derivative_threshold(
    image: np.ndarray, *, nbins: int = 256, smoothing: float = 3.0, side: str = "dark"
) -> ThresholdResult:
    """Second-derivative-of-histogram threshold (the porous-copper FIB-SEM workflow).

    The grey-value histogram is smoothed with a Gaussian and differentiated twice.  Between
    the peaks of the two phases the second derivative has a maximum where the histogram
    turns from the flank of a phase's peak into the valley (its "knee"); the threshold is
    the first such maximum going from the dark phase's peak towards the bright one.  For a
    phase with a Gaussian grey-value distribution of mean μ and spread σ (histogram
    smoothing included) this lies at μ + √3 σ: the threshold takes as pore only what is
    clearly pore, the pores that "shine through" with solid-like grey values are left to the
    superpixel step of :func:`hybrid_annotation`.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image, any real dtype (NaN and inf are ignored).
    nbins : int, default 256
        Histogram bins between the image's minimum and maximum (integer images: at most
        this many bins of whole grey levels each).
    smoothing : float, default 3.0
        Gaussian σ of the histogram smoothing, in bins.
    side : {"dark", "bright"}, default "dark"
        Search from the dark phase's peak (knee of the pore peak, a low threshold) or from
        the bright phase's peak (foot of the solid peak, a high threshold).

    Returns
    -------
    ThresholdResult
        ``threshold`` in grey values; ``labels`` 0 = bright (solid), 1 = dark (pore).

    Notes
    -----
    The two phase peaks are the highest bins of the smoothed histogram below and above
    Otsu's threshold.  Where the second derivative has no positive local maximum between the peaks,
    its largest value there is used.  The position is refined to sub-bin precision by a
    parabola through the maximum and its neighbours.

    Examples
    --------
    >>> import numpy as np
    >>> from semlab.segment import derivative_threshold
    >>> rng = np.random.default_rng(0)
    >>> image = np.r_[rng.normal(60, 10, 50000), rng.normal(180, 10, 50000)].reshape(200, 500)
    >>> t, labels = derivative_threshold(image)  # μ + √3 σ = 77.3
    >>> bool(abs(t - (60 + 3**0.5 * 10)) < 3)
    True
    """
    if side not in ("dark", "bright"):
        raise ParameterError(f"side={side!r} is not 'dark' or 'bright'")
    a, v = _values(image, "derivative_threshold")
    nbins = positive_int(nbins, "nbins", minimum=8)
    smoothing = positive_float(smoothing, "smoothing", allow_zero=True)
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        return ThresholdResult(threshold=lo, labels=_labels(a, lo), method="derivative")
    from scipy.ndimage import gaussian_filter1d
    if a.dtype.kind in "iub":
        # integer grey levels: bins of whole levels, so that no bin is empty by aliasing
        step = max(1, int(np.ceil((hi - lo + 1) / nbins)))
        edges = lo - 0.5 + step * np.arange(int(np.ceil((hi - lo + 1) / step)) + 1)
        hist, edges = np.histogram(v, bins=edges)
        nbins = len(hist)
    else:
        hist, edges = np.histogram(v, bins=nbins, range=(lo, hi))
    centres = 0.5 * (edges[:-1] + edges[1:])
    width = edges[1] - edges[0]
    h = gaussian_filter1d(hist.astype(np.float64), smoothing, mode="constant") if smoothing else hist * 1.0
    # The phases' peaks: the highest bin of the smoothed histogram on each side of Otsu's
    # threshold (robust to saturation spikes and to one phase being much smaller).
    k = int(np.clip(np.searchsorted(centres, _otsu_value(v, nbins)), 1, nbins - 1))
    dark, bright = int(np.argmax(h[:k])), k + int(np.argmax(h[k:]))
    d2 = np.gradient(np.gradient(h))
    if bright - dark < 2:
        i = dark
    else:
        cand = _knees(d2, dark + 1, bright - 1, reverse=(side == "bright"))
        i = cand[0] if cand else dark + 1 + int(np.argmax(d2[dark + 1 : bright]))
    offset = 0.0
    if 0 < i < nbins - 1:
        y0, y1, y2 = d2[i - 1], d2[i], d2[i + 1]
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            offset = float(np.clip(0.5 * (y0 - y2) / denom, -0.5, 0.5))
    t = float(centres[i] + offset * width)
    return ThresholdResult(threshold=t, labels=_labels(a, t), method="derivative")


def threshold_image(image: np.ndarray, *, method: str = "derivative", **options: Any) -> ThresholdResult:
    """Threshold by name: ``"otsu"`` (:func:`otsu_threshold`) or ``"derivative"``
    (:func:`derivative_threshold`); ``options`` go to that function."""
    if method == "otsu":
        return otsu_threshold(image, **options)
    if method == "derivative":
        return derivative_threshold(image, **options)
    raise ParameterError(f"method={method!r} is not one of {', '.join(map(repr, THRESHOLD_METHODS))}")
