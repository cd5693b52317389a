"""Named phases: which grey phase is the phase of interest, and the "no data" label value.

A threshold splits a micrograph into a bright and a dark phase; which of the two is the phase
of interest (particles, pores, grains …) depends on the specimen: bright TiO2 particles on a
dark substrate, dark pores in a bright film.  :func:`auto_foreground` chooses it from the
image alone by a documented rule (:data:`FOREGROUND_RULES`):

``"border"`` (default)
    Objects of interest sit inside the field of view, the background surrounds them and fills
    the frame's edge.  Each phase (denoised Otsu split) gets the score

    ``(area fraction − fraction of the 1-px image border it covers)
    + 0.5 × (share of the other phase's pixels in regions touching the border
    − share of its own pixels in regions touching the border)``

    and the phase with the larger score is the foreground: the phase under-represented on the
    border and whose regions are less often cut by it.
``"minority"``
    The phase with fewer pixels.
``"border_fraction"``
    Only the first term: the phase whose share of the border is below its share of the image.
``"touching"``
    Only the second term: the phase whose pixels lie less in border-touching regions.

Measured on the shared real sets (``benchmarks/results/foreground.json``,
``benchmarks/bench_foreground.py``): the rule agrees with the truth's polarity (the phase that
overlaps the annotated particles best) on 75 of 80 EMPS particle images (93.8 %), against
78.8 % for ``"minority"``, 90.0 % for ``"border_fraction"`` and 85.0 % for ``"touching"``.  On
the 30 ISBI membrane images every border rule picks the cell interiors (the enclosed objects,
label 255) and ``"minority"`` the membranes.  The 0.5 weight was chosen on the EMPS images
(in-sample).  A choice decided by a margin below :data:`UNCERTAIN_MARGIN` (0.1) is flagged
``uncertain`` and :func:`semlab.segment.segment_labelled` warns: 8 of the 80 EMPS images, with
3 of the 5 misses among them.  Pass ``foreground="bright"`` or ``"dark"`` when you know the
polarity.

:data:`NO_DATA` (255) is the label value of pixels that hold no micrograph (the data-bar rows
of a SEM image): label images keep the input's shape and mark those rows with it; phase
fractions, descriptors and scores ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from semlab.errors import ParameterError
from semlab.segment._common import image_2d

__all__ = ["FOREGROUNDS", "FOREGROUND_RULES", "NO_DATA", "UNCERTAIN_MARGIN", "ForegroundChoice", "auto_foreground"]

#: Label value of pixels without micrograph data (data-bar rows); ignored by fractions and scores.
NO_DATA = 255

#: Values of every ``foreground`` option.
FOREGROUNDS = ("auto", "bright", "dark")

#: Rules :func:`auto_foreground` knows; the first is the default.
FOREGROUND_RULES = ("border", "minority", "border_fraction", "touching")

#: Below this ``|margin|`` an automatic choice is reported as uncertain (a warning): on the EMPS
#: images 8 of 80 choices of the "border" rule fall below it, 3 of its 5 misses among them.
UNCERTAIN_MARGIN = 0.1

#: Weight of the touching-regions term in the ``"border"`` rule (chosen on EMPS, see module docstring).
_TOUCH_WEIGHT = 0.5


@dataclass(frozen=True)
class ForegroundChoice:
    """Which phase is the phase of interest, and why.

    Attributes
    ----------
    foreground : {"bright", "dark"}
        The phase of interest.
    rule : str
        The rule that chose it: one of :data:`FOREGROUND_RULES`, ``"given"`` when the caller
        named the phase, or ``"constant"`` for an image without contrast.
    detail : str
        One line a person can check, e.g. ``"bright phase covers 23 % of the image and 4 % of
        its border"``.
    bright_fraction : float
        Area fraction of the bright phase of the denoised Otsu split (NaN when not measured).
    margin : float
        The rule's score, positive for bright (NaN when no rule ran); ``|margin|`` below
        :data:`UNCERTAIN_MARGIN` makes the choice :attr:`uncertain`.
    """

    foreground: str
    rule: str
    detail: str
    bright_fraction: float = float("nan")
    margin: float = float("nan")

    @property
    def uncertain(self) -> bool:
        """Whether an automatic rule decided by less than :data:`UNCERTAIN_MARGIN` (or could not decide)."""
        return self.rule == "constant" or (self.rule in FOREGROUND_RULES and abs(self.margin) < UNCERTAIN_MARGIN)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict of the fields."""
        return {
            "foreground": self.foreground,
            "rule": self.rule,
            "detail": self.detail,
            "bright_fraction": None if np.isnan(self.bright_fraction) else round(self.bright_fraction, 6),
            "margin": None if np.isnan(self.margin) else round(self.margin, 6),
            "uncertain": self.uncertain,
        }


def check_foreground(foreground: Any) -> str:
    """``foreground`` if it is one of :data:`FOREGROUNDS`, else a one-line ParameterError."""
    if foreground not in FOREGROUNDS:
        raise ParameterError(f"foreground={foreground!r} must be one of {', '.join(FOREGROUNDS)}")
    return str(foreground)


def _touching_share(mask: np.ndarray, border: np.ndarray) -> float:
    """Share of ``mask``'s pixels in 8-connected regions that touch the image border."""
    from scipy.ndimage import label

    total = int(mask.sum())
    if total == 0:
        return 0.0
    lab, _ = label(mask, structure=np.ones((3, 3), bool))
    ids = np.unique(lab[border & mask])
    return float(np.isin(lab, ids[ids > 0]).sum()) / total


def phase_features(bright: np.ndarray) -> dict[str, float]:
    """Area, border and border-touching shares of the bright phase mask and of its complement."""
    border = np.zeros(bright.shape, bool)
    border[[0, -1], :] = True
    border[:, [0, -1]] = True
    dark = ~bright
    return {
        "bright_fraction": float(bright.mean()),
        "bright_border_fraction": float(bright[border].mean()),
        "bright_touching": _touching_share(bright, border),
        "dark_touching": _touching_share(dark, border),
    }


def rule_votes(f: dict[str, float]) -> dict[str, tuple[str, str, float]]:
    """``rule → (foreground, detail, margin)`` for every rule of :data:`FOREGROUND_RULES` from :func:`phase_features`."""
    a, b = f["bright_fraction"], f["bright_border_fraction"]
    tb, td = f["bright_touching"], f["dark_touching"]
    border_term, touch_term = a - b, td - tb
    score = border_term + _TOUCH_WEIGHT * touch_term

    def pick(s: float) -> str:
        return "bright" if s > 0 else "dark"

    where = f"bright phase covers {a:.0%} of the image and {b:.0%} of its border"
    touch = f"{tb:.0%} of bright and {td:.0%} of dark pixels lie in regions touching the border"
    return {
        "border": (pick(score), f"{pick(score)} phase chosen: {where}; {touch}", score),
        "minority": (
            pick(0.5 - a),
            f"{pick(0.5 - a)} phase is the minority: bright phase covers {a:.0%} of the image",
            0.5 - a,
        ),
        "border_fraction": (pick(border_term), f"{pick(border_term)} phase chosen: {where}", border_term),
        "touching": (pick(touch_term), f"{pick(touch_term)} phase chosen: {touch}", touch_term),
    }


def auto_foreground(image: Any, *, rule: str | None = None) -> ForegroundChoice:
    """Choose the phase of interest (bright or dark) of a grey micrograph.

    The image is split by a denoised Otsu threshold (Gaussian σ = 1 px, regions below 16 px
    merged) and one of :data:`FOREGROUND_RULES` picks the phase (see the module docstring for
    the rules and how often each was right on real images).

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image, data bar removed.
    rule : str, optional
        One of :data:`FOREGROUND_RULES`; default ``"border"``.

    Returns
    -------
    ForegroundChoice
        ``rule="constant"`` (and ``foreground="bright"``) when the image has no contrast.

    Examples
    --------
    >>> import numpy as np
    >>> from semlab.segment import auto_foreground
    >>> image = np.full((64, 64), 30.0)
    >>> image[20:40, 20:40] = 200.0  # a bright particle inside a dark field
    >>> auto_foreground(image).foreground
    'bright'
    """
    from semlab.segment.threshold import otsu_threshold

    rule = FOREGROUND_RULES[0] if rule is None else rule
    if rule not in FOREGROUND_RULES:
        raise ParameterError(f"rule={rule!r} must be one of {', '.join(FOREGROUND_RULES)}")
    a = image_2d(image, "auto_foreground")
    finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a
    if finite.size == 0 or float(finite.min()) == float(finite.max()):
        return ForegroundChoice("bright", "constant", "the image has a single grey value: no phase to choose")
    bright = otsu_threshold(a).labels == 0
    if bright.all() or not bright.any():
        return ForegroundChoice(
            "bright",
            "constant",
            "the threshold leaves a single phase: no phase to choose",
            float(bright.mean()),
        )
    f = phase_features(bright)
    fg, detail, margin = rule_votes(f)[rule]
    return ForegroundChoice(fg, rule, detail, f["bright_fraction"], float(margin))


def resolve_foreground(image: Any, foreground: Any, rule: str | None = None) -> ForegroundChoice:
    """A :class:`ForegroundChoice` for ``foreground`` ("auto" runs :func:`auto_foreground`)."""
    fg = check_foreground(foreground)
    if fg == "auto":
        return auto_foreground(image, rule=rule)
    return ForegroundChoice(fg, "given", f"{fg} phase given by the caller")
