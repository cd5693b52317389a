"""Side-by-side overlay images: micrograph, truth, prediction, errors; colour key and scale bar.

With ``classes`` the picture gets a colour key under the panels (class name per colour, and
"no data" for the data-bar rows, which are left untinted); with ``pixel_size`` a scale bar on
the micrograph panel.  :func:`legend_entries` gives the key's ``(name, rgb)`` pairs, for front
ends that draw their own key.  Colours go to the label values present, sorted (blue, orange,
green, red, …), "no data" excluded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import ParameterError
from semlab.segment._common import image_2d
from semlab.segment.metrics import check_label_pair

__all__ = ["legend_entries", "overlay_panels", "save_overlay"]

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


#: Rows per chunk when 8-bit panels are computed (bounds the float64 temporaries).
_CHUNK_ROWS = 256

#: Default largest panel side (px) of :func:`overlay_panels` / :func:`save_overlay`.
OVERLAY_MAX_SIDE = 4096


def _grey_u8(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    finite = np.isfinite(a) if a.dtype.kind == "f" else None
    if finite is not None and not finite.any():
        return np.zeros(a.shape, dtype=np.uint8)
    vals = a[finite] if finite is not None else a
    lo, hi = np.percentile(vals, [0.5, 99.5])
    if hi <= lo:
        lo, hi = float(vals.min()), float(vals.max())
    del vals
    out = np.zeros(a.shape, dtype=np.uint8)
    if not hi > lo:
        return out
    for r0 in range(0, a.shape[0], _CHUNK_ROWS):  # row chunks: the same values, less memory
        c = a[r0 : r0 + _CHUNK_ROWS].astype(np.float64)
        if finite is not None:
            c = np.where(finite[r0 : r0 + _CHUNK_ROWS], c, lo)
        out[r0 : r0 + _CHUNK_ROWS] = np.rint(np.clip((c - lo) / (hi - lo), 0, 1) * 255)
    return out


def _blend(
    grey: np.ndarray, labels: np.ndarray, values: np.ndarray, alpha: float, no_data: int | None = None
) -> np.ndarray:
    """RGB uint8: each pixel's grey blended with its label colour, through a lookup table
    (label index × grey level → colour) applied in row chunks."""
    n = max(len(values), 1)
    g = np.arange(256, dtype=np.float64)
    colours = _PALETTE[np.arange(n) % len(_PALETTE)]
    lut = np.empty((n + 1, 256, 3), dtype=np.uint8)
    lut[:n] = np.rint((1 - alpha) * g[None, :, None] + alpha * colours[:, None, :])
    lut[n] = g[:, None].astype(np.uint8)  # no data: the grey itself
    flat = lut.reshape(-1, 3)
    out = np.empty((*labels.shape, 3), dtype=np.uint8)
    for r0 in range(0, labels.shape[0], _CHUNK_ROWS):
        lab = labels[r0 : r0 + _CHUNK_ROWS]
        idx = np.clip(np.searchsorted(values, lab), 0, n - 1)
        if no_data is not None:
            idx[lab == no_data] = n
        out[r0 : r0 + _CHUNK_ROWS] = flat[idx * 256 + grey[r0 : r0 + _CHUNK_ROWS]]
    return out


def _block_mean(a: np.ndarray, f: int) -> np.ndarray:
    """Mean of each ``f`` × ``f`` block (ragged blocks at the far edges), float32."""
    rows, cols = a.shape
    starts = np.arange(0, cols, f)
    widths = np.diff(np.append(starts, cols))
    out = np.empty((-(-rows // f), len(starts)), dtype=np.float32)
    for i, r0 in enumerate(range(0, rows, f)):
        band = a[r0 : r0 + f].sum(axis=0, dtype=np.float64)
        out[i] = np.add.reduceat(band, starts) / (widths * band.dtype.type(min(f, rows - r0)))
    return out


def _shrink_factor(shape: tuple[int, ...], max_side: int | None) -> int:
    if max_side is None:
        return 1
    if isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) or max_side < 16:
        raise ParameterError(f"max_side={max_side!r} must be an integer of at least 16 px, or None")
    return max(1, -(-max(shape) // int(max_side)))


def _check_labels(labels: Any, name: str) -> np.ndarray:
    """Integer labels as given (no int64 copy of a large image), else ParameterError."""
    lab = np.asarray(labels)
    if lab.dtype == bool or lab.dtype.kind in "iu":
        return lab
    return check_label_pair(lab, lab, name=name)[0]


#: Key colour of the "no data" (data-bar) pixels, which the panels leave untinted.
NO_DATA_RGB = (200, 200, 200)


def _present(arrays: list[np.ndarray], no_data: int | None) -> np.ndarray:
    values = np.unique(np.concatenate([np.unique(a) for a in arrays]))
    return values[values != no_data] if no_data is not None else values


def legend_entries(
    labels: np.ndarray, classes: dict[int, str] | None = None, *, no_data: int | None = None
) -> list[tuple[str, tuple[int, int, int]]]:
    """The colour key of an overlay: ``(class name, (r, g, b))`` per label value present.

    Parameters
    ----------
    labels : ndarray of int
        Label image (or the truth and prediction stacked: all values drawn).
    classes : dict of int to str, optional
        Label value → name; default ``"label <value>"``.
    no_data : int, optional
        Label value of pixels without data; listed last as ``"no data (data bar)"`` when present.

    Returns
    -------
    list of (str, tuple of int)
        In the order of the sorted label values, the colours :func:`overlay_panels` uses.

    Examples
    --------
    >>> import numpy as np
    >>> legend_entries(np.array([[0, 1], [1, 255]]), {0: "background", 1: "particle"}, no_data=255)
    [('background', (31, 119, 180)), ('particle', (255, 127, 14)), ('no data (data bar)', (200, 200, 200))]
    """
    lab = np.asarray(labels)
    shown = no_data if no_data is not None and bool((lab == no_data).any()) else None
    return _entries(_present([lab], no_data), classes, shown)


def _entries(
    values: np.ndarray, classes: dict[int, str] | None, no_data_shown: int | None
) -> list[tuple[str, tuple[int, int, int]]]:
    names = dict(classes or {})
    out = [
        (str(names.get(int(v), f"label {int(v)}")), tuple(int(c) for c in _PALETTE[i % len(_PALETTE)]))
        for i, v in enumerate(values)
    ]
    if no_data_shown is not None:
        out.append(("no data (data bar)", NO_DATA_RGB))
    return out  # type: ignore[return-value]


def _font(size: int = 12) -> tuple[Any, str]:
    """A TrueType font with a µ glyph (DejaVu Sans: system, else matplotlib's copy) and the
    micro sign to write; Pillow's default font and ``"u"`` when neither is found."""
    import importlib.util

    from PIL import ImageFont

    candidates = ["DejaVuSans.ttf"]
    spec = importlib.util.find_spec("matplotlib")  # its bundled font file, without importing it
    if spec is not None and spec.origin:
        candidates.append(str(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"))
    for name in candidates:
        try:
            return ImageFont.truetype(name, size), "µ"
        except OSError:
            continue
    return ImageFont.load_default(size=size), "u"


def _nice_length(width_px: int, pixel_size: float, micro: str = "µ") -> tuple[float, str]:
    """A 1-2-5 length (µm) near a fifth of the width, and its label in nm, µm or mm."""
    target = width_px * pixel_size / 5
    exp = np.floor(np.log10(target))
    best = max((m * 10**exp for m in (1, 2, 5) if m * 10**exp <= target), default=10**exp)
    if best < 1:
        text = f"{best * 1000:g} nm"
    elif best >= 1000:
        text = f"{best / 1000:g} mm"
    else:
        text = f"{best:g} {micro}m"
    return float(best), text


def _draw_scale_bar(
    draw: Any, x0: int, y1: int, width: int, pixel_size: float, font: Any, micro: str
) -> None:
    """A white bar on a black box with its length, bottom-left of a panel ending at row ``y1``."""
    length, text = _nice_length(width, pixel_size, micro)
    n = max(1, int(round(length / pixel_size)))
    h = max(3, width // 120)
    x, y = x0 + 8, y1 - 10 - h
    tw = int(draw.textlength(text, font=font))
    draw.rectangle([x - 3, y - 17, x + max(n, tw) + 3, y + h + 3], fill=(0, 0, 0))
    draw.rectangle([x, y, x + n - 1, y + h - 1], fill=(255, 255, 255))
    draw.text((x, y - 15), text, fill=(255, 255, 255), font=font)


def _key_strip(entries: list[tuple[str, tuple[int, int, int]]], width: int, font: object) -> np.ndarray:
    """White strip with a swatch and name per entry, wrapped over as many rows as needed."""
    from PIL import Image, ImageDraw

    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    items = [("key:", None)] + list(entries)
    rows: list[list[tuple[int, str, Any]]] = [[]]
    x, row = 4, 0
    for text, colour in items:
        w = int(probe.textlength(text, font=font)) + (18 if colour is not None else 0) + 12  # type: ignore[arg-type]
        if x + w > width and rows[row]:
            rows.append([])
            row, x = row + 1, 4
        rows[row].append((x, text, colour))
        x += w
    im = Image.new("RGB", (width, 18 * len(rows) + 4), (255, 255, 255))
    d = ImageDraw.Draw(im)
    for r, items_r in enumerate(rows):
        y = 3 + 18 * r
        for x0, text, colour in items_r:
            if colour is not None:
                d.rectangle([x0, y + 1, x0 + 13, y + 13], fill=colour, outline=(0, 0, 0))
                x0 += 18
            d.text((x0, y), text, fill=(0, 0, 0), font=font)  # type: ignore[arg-type]
    return np.asarray(im)


def overlay_panels(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    truth: np.ndarray | None = None,
    alpha: float = 0.45,
    classes: dict[int, str] | None = None,
    pixel_size: float | None = None,
    no_data: int | None = None,
    max_side: int | None = OVERLAY_MAX_SIDE,
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
    classes : dict of int to str, optional
        Class names: adds a colour key under the panels (:func:`legend_entries`).
    pixel_size : float, optional
        µm per pixel: adds a scale bar (1-2-5 length near a fifth of the width) to the
        micrograph panel.
    no_data : int, optional
        Label value of pixels without data (default :data:`~semlab.segment.NO_DATA` when
        ``classes`` are given and do not name it): left untinted, not scored as errors.
    max_side : int or None, default 4096
        Largest panel side in pixels.  A larger image is shown reduced by the smallest
        integer factor *f* that fits (grey: mean of each *f* × *f* block; labels: every
        *f*-th pixel), the titles say "shown at 1/f size", and the scale bar and error
        share are those of the reduced panels.  ``None``: full size.  The colours and the key still cover
        every label value of the full image.

    Returns
    -------
    (M' + 14 [+ key], K * N' + 4 (K - 1), 3) ndarray of uint8
        M' = ⌈M / f⌉, N' = ⌈N / f⌉ (f = 1 for images within ``max_side``); K = 2 panels,
        or 4 with ``truth``; a 14-pixel title strip on top; with ``classes`` a key strip
        (18 px per row of entries) below.
    """
    return np.asarray(
        _overlay_image(
            image,
            labels,
            truth=truth,
            alpha=alpha,
            classes=classes,
            pixel_size=pixel_size,
            no_data=no_data,
            max_side=max_side,
        )  # fmt: skip
    )


def _overlay_image(
    image: Any, labels: Any, *, truth: Any, alpha: float, classes: dict[int, str] | None,
    pixel_size: float | None, no_data: int | None, max_side: int | None,
) -> Any:  # fmt: skip
    """:func:`overlay_panels` as a PIL image (RGB)."""
    from PIL import Image, ImageDraw

    a = image_2d(image, "overlay_panels")
    if not 0 <= float(alpha) <= 1:
        raise ParameterError(f"alpha={alpha!r} must be in [0, 1]")
    lab = _check_labels(labels, "")
    if lab.shape != a.shape:
        raise ParameterError(f"labels have shape {lab.shape} but the image {a.shape}; they must match")
    tru = None
    if truth is not None:
        tru = _check_labels(truth, "overlay")
        if tru.shape != lab.shape:
            check_label_pair(tru, lab, name="overlay")  # raises the shape message
    if no_data is None and classes is not None:
        from semlab.segment.phases import NO_DATA

        no_data = NO_DATA if NO_DATA not in classes else None
    shown_full = [lab] if tru is None else [tru, lab]
    values = _present(shown_full, no_data)  # colours from the full image, as shown at any size
    with_no_data = no_data is not None and any(bool((x == no_data).any()) for x in shown_full)
    f = _shrink_factor(a.shape, max_side)
    if f > 1:
        a = _block_mean(a, f)
        lab = lab[::f, ::f]
        tru = None if tru is None else tru[::f, ::f]
    data = np.ones(a.shape, bool) if no_data is None else lab != no_data
    grey = _grey_u8(a) if data.all() or not data.any() else _grey_data(a, data)
    scale = "" if f == 1 else f" (shown at 1/{f} size)"
    panels: list[tuple[str, Any]] = [("image" + scale, None)]
    if tru is not None:
        panels.append(("truth", lambda: _blend(grey, tru, values, alpha, no_data)))
        panels.append(("prediction", lambda: _blend(grey, lab, values, alpha, no_data)))
        wrong = (tru != lab) & data
        share = wrong.sum() / max(int(data.sum()), 1)
        panels.append((f"errors {share:.1%}", lambda: _errors(grey, wrong)))
    else:
        panels.append(("labels" + scale, lambda: _blend(grey, lab, values, alpha, no_data)))
    rows, cols = a.shape
    k = len(panels)
    out = np.full((rows + _TITLE, k * cols + _GAP * (k - 1), 3), 255, dtype=np.uint8)
    for i, (_, make) in enumerate(panels):
        c0 = i * (cols + _GAP)
        out[_TITLE:, c0 : c0 + cols] = grey[..., None] if make is None else make()
    im = Image.fromarray(out)
    del out
    draw = ImageDraw.Draw(im)
    for i, (title, _) in enumerate(panels):
        draw.text((i * (cols + _GAP) + 2, 1), title, fill=(0, 0, 0))
    if classes is None and pixel_size is None:
        return im
    font, micro = _font()
    if pixel_size is not None:
        y1 = _TITLE + (int(np.flatnonzero(data.any(axis=1))[-1]) + 1 if data.any() else rows)
        _draw_scale_bar(draw, 0, y1, cols, float(pixel_size) * f, font, micro)
    if classes is None:
        return im
    key = Image.fromarray(
        _key_strip(_entries(values, classes, no_data if with_no_data else None), im.width, font)
    )
    both = Image.new("RGB", (im.width, im.height + key.height), (255, 255, 255))
    both.paste(im, (0, 0))
    both.paste(key, (0, im.height))
    return both


def _errors(grey: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    """Error panel: wrong pixels red, the rest the micrograph dimmed to 60 %."""
    err = np.empty((*grey.shape, 3), dtype=np.uint8)
    err[:] = np.rint(grey * 0.6).astype(np.uint8)[..., None]
    err[wrong] = (230, 30, 30)
    return err


def _grey_data(a: np.ndarray, data: np.ndarray) -> np.ndarray:
    """8-bit grey with the contrast stretch of the pixels with data (the bar keeps its own)."""
    grey = _grey_u8(a)
    grey[data] = _grey_u8(a[data][None, :])[0]
    return grey


def save_overlay(
    path: str | os.PathLike,
    image: np.ndarray,
    labels: np.ndarray,
    *,
    truth: np.ndarray | None = None,
    alpha: float = 0.45,
    classes: dict[int, str] | None = None,
    pixel_size: float | None = None,
    no_data: int | None = None,
    max_side: int | None = OVERLAY_MAX_SIDE,
) -> Path:
    """Write :func:`overlay_panels` as a PNG (atomically) and return its path.

    Parameters
    ----------
    path : str or Path
        Destination ``.png``.
    image, labels, truth, alpha, classes, pixel_size, no_data, max_side
        As in :func:`overlay_panels` (``classes`` adds the colour key, ``pixel_size`` a
        scale bar; images with a side above ``max_side`` are shown reduced, 1/f in the
        titles).
    """
    from semlab._util import atomic_path

    target = Path(path)
    if target.suffix.lower() != ".png":
        raise ParameterError(f"path {target} must end with .png")
    im = _overlay_image(image, labels, truth=truth, alpha=alpha, classes=classes, pixel_size=pixel_size,
                        no_data=no_data, max_side=max_side)  # fmt: skip
    with atomic_path(target) as tmp:
        im.save(tmp, format="PNG")
    return target
