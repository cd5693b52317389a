"""Shortcut check: can acquisition differences alone predict the label?

When each class comes from its own session, brightness, focus or magnification can give
the class away; a model can then score well for the wrong reason.  :func:`train_workspace`
fits the same head on *nuisance* features only (the ``nuisance`` feature set of
:mod:`semlab.features`: grey-value statistics of the unequalised patches, sharpness, image
size, pixel size) with the same grouped splits; :func:`shortcut_verdict` compares the
two image-level scores and warns when the nuisance model comes close.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SHORTCUT_MARGIN", "SHORTCUT_MESSAGE", "shortcut_verdict"]

#: The warning of a run whose label may be a shortcut.
SHORTCUT_MESSAGE = "the label may be predictable from acquisition differences"

#: Share of the image model's score above chance that a nuisance-only model must reach to warn.
SHORTCUT_MARGIN = 0.9


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
