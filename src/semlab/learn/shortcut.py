"""Shortcut check: can acquisition differences alone predict the label?

When each class comes from its own session, brightness, focus or magnification can give
the class away; a model can then score well for the wrong reason.  :func:`train_workspace`
fits the same head on *nuisance* features only (grey-value statistics, sharpness, image
size, pixel size) with the same grouped splits; :func:`shortcut_verdict` compares the
two image-level scores and warns when the nuisance model comes close.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["NUISANCE_FEATURES", "SHORTCUT_MESSAGE", "nuisance_vector", "shortcut_verdict"]

#: Names of the columns of :func:`nuisance_vector`.
NUISANCE_FEATURES = (
    "mean",
    "std",
    "p01",
    "p50",
    "p99",
    "dark_fraction",
    "saturated_fraction",
    "log10_laplacian_variance",
    "log10_height_px",
    "log10_width_px",
    "log10_pixel_size_um",
    "pixel_size_known",
)

#: The warning of a run whose label may be a shortcut.
SHORTCUT_MESSAGE = "the label may be predictable from acquisition differences"

#: Share of the image model's score above chance that a nuisance-only model must reach to warn.
SHORTCUT_MARGIN = 0.9


def _unit(image: np.ndarray) -> np.ndarray:
    """Grey values in [0, 1] by the data type's range (integers) or as given (floats, clipped)."""
    a = np.asarray(image)
    if a.ndim == 3:
        a = a[..., :3].mean(axis=-1) if a.shape[-1] in (3, 4) else a[..., 0]
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(np.float64) / float(np.iinfo(a.dtype).max)
    a = a.astype(np.float64)
    top = float(np.nanmax(a)) if a.size else 1.0
    return np.clip(a / top if top > 1.0 else a, 0.0, 1.0)


def nuisance_vector(image: np.ndarray, pixel_size: float | None) -> np.ndarray:
    """Acquisition statistics of one raw (data-bar-cropped, not equalised) image.

    Grey values scaled by the data type's range: mean, standard deviation, 1st/50th/99th
    percentiles, fractions of pixels at ≤ 1 % and ≥ 99 % of the range; sharpness as
    log10 of the variance of the 4-neighbour Laplacian; log10 of the height and width (px)
    and of the pixel size (µm; 0 with ``pixel_size_known`` 0 when unknown).  See
    :data:`NUISANCE_FEATURES`.
    """
    u = _unit(image)
    p01, p50, p99 = np.percentile(u, [1, 50, 99])
    lap = -4 * u[1:-1, 1:-1] + u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:]
    known = pixel_size is not None and math.isfinite(float(pixel_size)) and float(pixel_size) > 0
    return np.array(
        [
            u.mean(),
            u.std(),
            p01,
            p50,
            p99,
            float((u <= 0.01).mean()),
            float((u >= 0.99).mean()),
            math.log10(float(lap.var()) + 1e-12) if lap.size else -12.0,
            math.log10(u.shape[0]),
            math.log10(u.shape[1]),
            math.log10(float(pixel_size)) if known else 0.0,  # type: ignore[arg-type]
            1.0 if known else 0.0,
        ]
    )


def shortcut_verdict(
    image_score: float | None,
    nuisance_score: float | None,
    *,
    task: str,
    chance: float,
    image_interval: list[float] | None = None,
    nuisance_interval: list[float] | None = None,
) -> dict[str, Any]:
    """Compare the image model's score with the nuisance-only model's.

    The warning fires when the nuisance model is clearly above chance (the lower end of its
    95 % interval above ``chance``; for regression R² > 0.1 when there is no interval) and
    either matches the image model, reaches :data:`SHORTCUT_MARGIN` (90 %) of its score above
    chance, or lies inside its 95 % interval (or above).

    Returns
    -------
    dict
        ``warning`` (bool), ``message`` (the warning, or None), ``image_score``,
        ``nuisance_score``, ``chance``, ``ratio_above_chance``, ``rule``.
    """
    rule = (
        f"warn when the nuisance-only model is above chance (lower end of its 95 % interval) and matches "
        f"the image model, reaches {SHORTCUT_MARGIN:.0%} of its score above chance, or lies within its "
        "95 % interval"
    )
    out: dict[str, Any] = {
        "metric": "accuracy" if task == "classify" else "r2",
        "image_score": image_score,
        "nuisance_score": nuisance_score,
        "chance": chance,
        "ratio_above_chance": None,
        "rule": rule,
        "warning": False,
        "message": None,
    }
    if image_score is None or nuisance_score is None:
        return out
    gain = image_score - chance
    ratio = (nuisance_score - chance) / gain if gain > 1e-9 else None
    out["ratio_above_chance"] = ratio
    if nuisance_interval is not None:
        above = nuisance_interval[0] > chance
    else:
        above = nuisance_score - chance > (0.1 if task == "regress" else 0.0)
    close = (
        nuisance_score >= image_score
        or (ratio is not None and ratio >= SHORTCUT_MARGIN)
        or (image_interval is not None and nuisance_score >= image_interval[0])
    )
    if above and close:
        out["warning"] = True
        out["message"] = (
            f"WARNING: {SHORTCUT_MESSAGE}: a model of grey-value statistics, sharpness, image size and "
            f"pixel size alone reaches image {out['metric']} {nuisance_score:.3f} (image model "
            f"{image_score:.3f}, chance {chance:.3f}); check that classes were not imaged in separate sessions"
        )
    return out
