"""Image-quality flags: blank, saturated and out-of-focus micrographs.

:func:`image_quality` measures three things of a grey micrograph and flags an image whose
value crosses a threshold stated below.  The thresholds were set on the shared real data
(``../shared/data``: 15 nanowire SEM images, 85 nanofibre SEM images, 80 EMPS particle
images and the vendor SEM TIFFs) so that none of the real micrographs is flagged, while a
black or constant frame, an over-exposed (clipped) image and a strongly blurred
(Gaussian sigma 5 px) real image are.

Measured on the shared data (2026-11-26; data bars included, as read by
:func:`semlab.io.read_micrograph`):

========================  ======================  =========================  ====================
set                       contrast (min)          saturated fraction (max)   blur effect (max)
========================  ======================  =========================  ====================
nanowires (15)            0.50                    0.003                      0.28
nanofibres (85)           0.15                    0.10                       0.61
EMPS (80)                 0.16                    0.17                       0.62
Zeiss SEM TIFFs (3)       0.60                    0.15                       0.50
========================  ======================  =========================  ====================

The two FEI Helios files and the FEI navcam file of ``sem-metadata/`` are black frames (98.6 %
and 100 % of the pixels at 0) and are flagged ``blank``, as they should be.

Pass the micrograph itself: a data bar (text, logo, frame) adds contrast and pinned pixels,
so crop it first (:func:`semlab.preprocess.crop_databar`) when the image still has one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from semlab.errors import ParameterError

__all__ = [
    "BLANK_CONTRAST",
    "BLUR_LIMIT",
    "QUALITY_FLAGS",
    "SATURATED_FRACTION",
    "ImageQuality",
    "image_quality",
]

#: Flags :func:`image_quality` can raise, in this order.
QUALITY_FLAGS = ("blank", "saturated", "out_of_focus")

#: An image is ``"blank"`` when its robust grey range (2.5th to 97.5th percentile) is below
#: this fraction of the full range (dtype range for integers, [0, 1] for floats in [0, 1]).
#: Real micrographs: at least 0.15; a black or constant frame: 0.
BLANK_CONTRAST = 0.03

#: An image is ``"saturated"`` when more than this fraction of its pixels sit at the lowest or
#: at the highest value of the full range (clipped).  Real micrographs: at most 0.17
#: (dark gaps between particles or fibres clip at 0).
SATURATED_FRACTION = 0.25

#: An image is ``"out_of_focus"`` when its blur effect (Crété-Roffet et al. 2007,
#: :func:`skimage.measure.blur_effect`; 0 = sharp, 1 = fully blurred), measured on its central
#: 1024 × 1024 px, exceeds this value.  Real micrographs: at most 0.62; every third image of
#: the three shared sets blurred with a Gaussian of sigma 3 px: 0.59 to 0.91 (partly flagged),
#: of sigma 5 px: 0.76 or more (all flagged).
BLUR_LIMIT = 0.7

_BLUR_WINDOW = 1024


@dataclass(frozen=True)
class ImageQuality:
    """What :func:`image_quality` measured, and the flags it raised.

    Attributes
    ----------
    contrast : float
        Robust grey range (2.5th to 97.5th percentile) as a fraction of the full range, 0–1.
    std : float
        Standard deviation of the grey values as a fraction of the full range.
    saturated_low, saturated_high : float
        Fraction of pixels at the lowest / highest value of the full range.
    blur : float
        Blur effect, 0 (sharp) to 1 (blurred); NaN for a blank image or one smaller than
        3 px on a side, where it is undefined.
    near_constant : bool
        ``contrast < BLANK_CONTRAST``.
    pixel_size : float or None
        Pixel size of the image in µm, as given (recorded, not used by the measurements).
    flags : tuple of str
        Among :data:`QUALITY_FLAGS`; empty when the image looks usable.
    messages : tuple of str
        One line per flag, saying what was measured against which threshold.
    """

    contrast: float
    std: float
    saturated_low: float
    saturated_high: float
    blur: float
    near_constant: bool
    pixel_size: float | None
    flags: tuple[str, ...]
    messages: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no flag was raised."""
        return not self.flags


def _grey_and_range(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Grey values as float64 and the full range ``(lo, hi)`` they are judged against."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        grey = a[..., :3].astype(np.float64).mean(axis=-1)
    elif a.ndim == 2:
        grey = a.astype(np.float64) if a.dtype.kind in "buif" else a
    else:
        raise ParameterError(f"image has shape {a.shape}; image_quality takes a 2-D grey or RGB image")
    if a.size == 0:
        raise ParameterError("image is empty; image_quality needs at least one pixel")
    kind = a.dtype.kind
    if kind == "b":
        return grey, 0.0, 1.0
    if kind in "ui":
        info = np.iinfo(a.dtype)
        return grey, float(info.min if kind == "i" else 0), float(info.max)
    if kind != "f":
        raise ParameterError(f"image dtype {a.dtype} is not a real number type; give a grey image")
    finite = np.isfinite(grey)
    if not finite.any():
        return np.zeros_like(grey), 0.0, 1.0
    fmin, fmax = float(grey[finite].min()), float(grey[finite].max())
    if fmin >= 0.0 and fmax <= 1.0:
        return np.where(finite, grey, 0.0), 0.0, 1.0
    return np.where(finite, grey, fmin), fmin, fmax


def _blur(f: np.ndarray) -> float:
    from skimage.measure import blur_effect

    h, w = f.shape
    if h < 3 or w < 3:
        return float("nan")
    top, left = max(0, (h - _BLUR_WINDOW) // 2), max(0, (w - _BLUR_WINDOW) // 2)
    crop = f[top : top + _BLUR_WINDOW, left : left + _BLUR_WINDOW]
    return float(blur_effect(crop))


def image_quality(image: np.ndarray, *, pixel_size: float | None = None) -> ImageQuality:
    """Measure contrast, clipping and sharpness of a micrograph and flag unusable ones.

    Parameters
    ----------
    image : ndarray
        2-D grey image (any real dtype) or RGB(A) image, without its data bar.
    pixel_size : float, optional
        Pixel size in µm; recorded in the result.

    Returns
    -------
    ImageQuality
        Measured values, ``flags`` among ``"blank"``, ``"saturated"``, ``"out_of_focus"``
        (thresholds :data:`BLANK_CONTRAST`, :data:`SATURATED_FRACTION`, :data:`BLUR_LIMIT`)
        and one message per flag.

    Examples
    --------
    >>> import numpy as np
    >>> image_quality(np.zeros((64, 64), np.uint8)).flags
    ('blank', 'saturated')
    """
    if pixel_size is not None and not (np.isfinite(pixel_size) and pixel_size > 0):
        raise ParameterError(f"pixel_size={pixel_size!r} must be a positive number of µm or None")
    f, lo, hi = _grey_and_range(image)
    span = hi - lo
    if span <= 0:
        contrast = std = 0.0
        sat_lo = sat_hi = 0.0
    else:
        p_lo, p_hi = np.percentile(f, [2.5, 97.5])
        contrast = float((p_hi - p_lo) / span)
        std = float(f.std() / span)
        sat_lo, sat_hi = float(np.mean(f <= lo)), float(np.mean(f >= hi))
    near_constant = contrast < BLANK_CONTRAST
    blur = float("nan") if near_constant else _blur(f)
    flags: list[str] = []
    messages: list[str] = []
    if near_constant:
        flags.append("blank")
        messages.append(
            f"blank: grey range {contrast:.3f} of the full range (< {BLANK_CONTRAST}); "
            "the image is black or constant"
        )
    worst = max(sat_lo, sat_hi)
    if worst > SATURATED_FRACTION:
        end = "lowest" if sat_lo >= sat_hi else "highest"
        flags.append("saturated")
        messages.append(
            f"saturated: {worst:.1%} of the pixels at the {end} grey value "
            f"(> {SATURATED_FRACTION:.0%}); detail is clipped"
        )
    if np.isfinite(blur) and blur > BLUR_LIMIT:
        flags.append("out_of_focus")
        messages.append(f"out_of_focus: blur effect {blur:.2f} (> {BLUR_LIMIT}; 0 = sharp, 1 = blurred)")
    return ImageQuality(
        contrast=contrast,
        std=std,
        saturated_low=sat_lo,
        saturated_high=sat_hi,
        blur=blur,
        near_constant=near_constant,
        pixel_size=None if pixel_size is None else float(pixel_size),
        flags=tuple(flags),
        messages=tuple(messages),
    )
