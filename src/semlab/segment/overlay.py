"""Side-by-side overlay images: micrograph, truth, prediction, errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from semlab.errors import ParameterError
from semlab.segment._common import image_2d
from semlab.segment.metrics import check_label_pair

__all__ = ["overlay_panels", "save_overlay"]

# Colour of the k-th label value (sorted); chosen to be told apart on grey micrographs.
_PALETTE = np.array(
    [
        (31, 119, 180),  # blue
        (255, 127, 14),  # orange
        (44, 160, 44),  # green
        (214, 39, 40),  # red
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (188, 189, 34),
        (23, 190, 207),
        (127, 127, 127),
    ],
    dtype=np.float64,
)
_GAP = 4
_TITLE = 14


def _grey_u8(image: np.ndarray) -> np.ndarray:
    a = image.astype(np.float64)
    finite = np.isfinite(a)
    if not finite.any():
        return np.zeros(a.shape, dtype=np.uint8)
    lo, hi = np.percentile(a[finite], [0.5, 99.5])
    if hi <= lo:
        lo, hi = float(a[finite].min()), float(a[finite].max())
    u = np.clip((np.where(finite, a, lo) - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros(a.shape)
    return np.rint(u * 255).astype(np.uint8)


def _blend(grey: np.ndarray, labels: np.ndarray, values: np.ndarray, alpha: float) -> np.ndarray:
    rgb = np.repeat(grey[..., None].astype(np.float64), 3, axis=2)
    idx = np.searchsorted(values, labels)
    colour = _PALETTE[idx % len(_PALETTE)]
    return np.rint((1 - alpha) * rgb + alpha * colour).astype(np.uint8)


def overlay_panels(
    image: np.ndarray, labels: np.ndarray, *, truth: np.ndarray | None = None, alpha: float = 0.45
) -> np.ndarray:
    """Side-by-side RGB panels: image | [truth] | prediction | [errors].

    Parameters
    ----------
    image : (M, N) ndarray
        Grey micrograph (any real dtype; shown with a 0.5–99.5 % contrast stretch).
    labels : (M, N) ndarray of int
        Predicted labels; each label value gets its own colour (sorted values: blue,
        orange, green, red, …), the same in truth and prediction.
    truth : (M, N) ndarray of int, optional
        Ground truth; adds a truth panel and an error panel (wrong pixels red, right ones
        the dimmed micrograph).
    alpha : float, default 0.45
        Opacity of the label colours.

    Returns
    -------
    (M + 14, K * N + 4 (K - 1), 3) ndarray of uint8
        K = 2 panels, or 4 with ``truth``; a 14-pixel title strip on top.
    """
    a = image_2d(image, "overlay_panels")
    if not 0 <= float(alpha) <= 1:
        raise ParameterError(f"alpha={alpha!r} must be in [0, 1]")
    lab, _ = check_label_pair(labels, labels)
    if lab.shape != a.shape:
        raise ParameterError(f"labels have shape {lab.shape} but the image {a.shape}; they must match")
    grey = _grey_u8(a)
    panels = [("image", np.repeat(grey[..., None], 3, axis=2))]
    if truth is not None:
        tru, lab = check_label_pair(truth, lab, name="overlay")
        values = np.union1d(np.unique(tru), np.unique(lab))
        panels.append(("truth", _blend(grey, tru, values, alpha)))
        panels.append(("prediction", _blend(grey, lab, values, alpha)))
        wrong = tru != lab
        err = np.repeat((grey[..., None] * 0.6), 3, axis=2)
        err[wrong] = (230, 30, 30)
        panels.append((f"errors {wrong.mean():.1%}", np.rint(err).astype(np.uint8)))
    else:
        panels.append(("labels", _blend(grey, lab, np.unique(lab), alpha)))
    rows, cols = a.shape
    k = len(panels)
    out = np.full((rows + _TITLE, k * cols + _GAP * (k - 1), 3), 255, dtype=np.uint8)
    for i, (_, p) in enumerate(panels):
        c0 = i * (cols + _GAP)
        out[_TITLE:, c0 : c0 + cols] = p
    from PIL import Image, ImageDraw

    im = Image.fromarray(out)
    draw = ImageDraw.Draw(im)
    for i, (title, _) in enumerate(panels):
        draw.text((i * (cols + _GAP) + 2, 1), title, fill=(0, 0, 0))
    return np.asarray(im)


def save_overlay(
    path: str | os.PathLike,
    image: np.ndarray,
    labels: np.ndarray,
    *,
    truth: np.ndarray | None = None,
    alpha: float = 0.45,
) -> Path:
    """Write :func:`overlay_panels` as a PNG (atomically) and return its path.

    Parameters
    ----------
    path : str or Path
        Destination ``.png``.
    image, labels, truth, alpha
        As in :func:`overlay_panels`.
    """
    from PIL import Image

    from semlab._util import atomic_path

    rgb = overlay_panels(image, labels, truth=truth, alpha=alpha)
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise ParameterError(f"path {target} must end with .png")
    with atomic_path(target) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG")
    return target
