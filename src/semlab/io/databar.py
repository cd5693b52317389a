"""Finding the information bar that SEMs burn into the bottom of an image.

FEI/Thermo instruments append a black bar with white text (framed by bright one-pixel
lines); Zeiss instruments a white or light-grey band with black text under a black line.
:func:`find_databar` recognises both from the pixels alone.  When the file's metadata knows
where the bar starts (FEI/Thermo ``[Image] ResolutionY``, exposed by
:func:`semlab.io.read_micrograph` as ``metadata["databar_row"]``), that row wins:
:func:`locate_databar` applies this rule.  Where the bar is belongs to reading a file, so it
lives in ``io`` (the workspace records it at ingest); :func:`semlab.preprocess.crop_databar`
removes it.
"""

from __future__ import annotations

import math

import numpy as np

from semlab.errors import ParameterError

__all__ = ["find_databar", "locate_databar"]

# Tuning constants, as fractions of the image's grey-value range (max - min) or of a row.
_SEARCH_FRACTION = 0.4  # only the bottom 40 % of the rows are examined
_TOL = 0.05  # "same grey value": within 5 % of the range
_CONTRAST = 0.35  # "text pixel": at least 35 % of the range away from the bar background
_FLAT = 0.97  # a row is flat when >= 97 % of its pixels are within _TOL of its median
_EXTREME = 0.2  # the bar background lies within 20 % of the range from the min or the max
_ROW_BACKGROUND = 0.4  # a bar row is at least 40 % background ...
_ROW_INTERMEDIATE = 0.3  # ... and at most 30 % neither background nor text;
_BLOCK_BACKGROUND = 0.6  # over the whole bar at least 60 % background
_BLOCK_INTERMEDIATE = 0.1  # and at most 10 % intermediate grey (antialiased text edges)
_ABOVE_BACKGROUND = 0.25  # a band without separator starts under rows < 25 % background
_MAX_LINES = 6  # separator lines (flat rows of another value) allowed inside a bar
_TRAILING = 2  # odd rows allowed below the bar's bottom line
_MIN_HEIGHT = 6  # rows
_MIN_TEXT_FRACTION = 0.002  # of the bar's background rows' pixels
_MIN_TEXT_PIXELS = 10
_MIN_CLUSTERED = 0.5  # fraction of text pixels with a 4-neighbour that is text too
_EXACT = 0.01  # a drawn (noise-free) row: >= 97 % (_FLAT) of its pixels within 1 % of the range
_REFINE_ROWS = _MAX_LINES + 2  # rows under the first candidate searched for the exact top edge


def find_databar(image: np.ndarray, *, max_fraction: float = 0.3) -> int | None:
    """Find the first row of a burned-in SEM data bar at the bottom of an image.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image, any integer or float dtype (uint8, uint16, float32 …).
    max_fraction : float, default 0.3
        Tallest bar accepted, as a fraction of the image height.

    Returns
    -------
    int or None
        Row index (0-based) where the bar starts, so that ``image[:row]`` is the
        micrograph without the bar; ``None`` when no bar is found.  Constant images and
        images with at most two distinct values (label masks) never have a bar.

    Notes
    -----
    Detection is deliberately conservative: it returns ``None`` rather than cut into the
    micrograph.  Grey values are judged relative to the image's range ``span = max - min``
    (NaN and inf ignored).  Only the bottom 40 % of rows are examined.

    1. A row is *flat* when at least 97 % of its pixels lie within ``0.05 * span`` of
       the row's median.
    2. A candidate start is a flat row that does not continue a flat run of the same
       value from the row above: a separator line, or the top margin of a band.
    3. The block from the candidate to the last row must look like a bar.  Its
       background ``bg`` (median of the row medians) lies within ``0.2 * span`` of the
       image's min or max.  Every row is either a *bar row* -- at least 40 % of its pixels
       within ``0.05 * span`` of ``bg`` and at most 30 % *intermediate* pixels, neither
       background nor *text* (at least ``0.35 * span`` away from ``bg``) -- or a flat
       separator line of another value (at most six); up to two odd rows are allowed at
       the very bottom (Zeiss writes one under the frame).  Over all bar rows at least
       60 % of the pixels are background and at most 10 % intermediate (antialiased or
       blurred glyph edges).  The block is 6 rows or more and at most ``max_fraction`` of
       the image height.
    4. There must be text: at least 0.2 % of the bar rows' pixels (and 10 pixels), and at
       least half of the text pixels must touch another one (glyph strokes, not isolated
       noise or hot pixels).
    5. When the candidate is the band's own background rather than a separator line (a
       bar without a separator), none of the three rows above it may be 25 % or more
       background, so dark content that merely reaches the bottom edge is not a bar.

    6. The topmost candidate that passes is refined to the bar's exact top edge, a full-width
       step in the row statistics: the first *drawn* row at or up to eight rows below it (97 %
       of its pixels within ``0.01 * span`` of its median; imaged rows carry noise), when
       the row above it is not drawn in the same value and the block from it down to the
       bottom passes step 3 with ``0.01 * span`` as the tolerance.  Flat, dark or bright
       micrograph rows just above the bar (which pass the loose tests as "separator lines"
       or band rows) so stay in the micrograph.  The refinement never passes a drawn row
       (it cannot skip the bar's own first line); without such a row (noisy, blurred or
       recompressed bars) the candidate is returned unchanged.

    The row returned is the first row of the bar.  FEI/Thermo bars (bright line, black
    band with white text), Zeiss bars (black line, white band with black text) and JEOL
    bars (black band) are found; bars on a mid-grey background, bands without a separator
    line whose text touches their first row, text written over the micrograph itself, and
    bars only partly as wide as the image are not.

    Examples
    --------
    >>> import numpy as np
    >>> from semlab.io import find_databar
    >>> rng = np.random.default_rng(0)
    >>> image = rng.integers(60, 200, size=(100, 120)).astype(np.uint8)
    >>> image[80] = 255                        # separator line
    >>> image[81:] = 0                         # black band ...
    >>> image[85:92, 10:40:3] = 255            # ... with white "text" strokes
    >>> image[85:92, 60:90:2] = 255
    >>> find_databar(image)
    80
    >>> find_databar(rng.normal(size=(100, 120))) is None
    True
    """
    a = np.asarray(image)
    if a.ndim != 2:
        raise ParameterError(f"image has shape {a.shape}; find_databar takes a 2-D grey image")
    if not 0 < max_fraction <= 1:
        raise ParameterError(
            f"max_fraction={max_fraction!r} must be in (0, 1]; it is the tallest bar as a fraction"
        )
    height, width = a.shape
    if height < _MIN_HEIGHT + 2 or width < 8 or a.dtype == bool:
        return None
    if np.issubdtype(a.dtype, np.complexfloating):
        raise ParameterError(f"image dtype {a.dtype} is complex; give a real grey image")

    finite = a if np.issubdtype(a.dtype, np.integer) else a[np.isfinite(a)]
    if finite.size == 0:
        return None
    lo, hi = float(finite.min()), float(finite.max())
    span = hi - lo
    if not span > 0:
        return None
    # Label masks and binary images: no grey levels other than min and max.
    if not np.any((a != finite.min()) & (a != finite.max())):
        return None

    max_height = int(math.floor(max_fraction * height))
    start = max(1, height - int(math.ceil(_SEARCH_FRACTION * height)))
    first = max(0, start - 3)  # a few context rows above the search window
    region = np.asarray(a[first:], dtype=np.float64)
    if not np.issubdtype(a.dtype, np.integer):
        region = np.where(np.isfinite(region), region, lo)
    found = _first_bar_row(region, start - first, max_height=max_height, lo=lo, hi=hi)
    return None if found is None else first + found


def _first_bar_row(region: np.ndarray, begin: int, *, max_height: int, lo: float, hi: float) -> int | None:
    """First row (of ``region``, from ``begin`` on) where a bar reaching the bottom starts (see find_databar).

    ``region`` is the float64 bottom of the image (finite values), ``lo``/``hi`` the image's range.
    """
    span = hi - lo
    width = region.shape[1]
    tol = _TOL * span
    contrast = _CONTRAST * span

    med = np.median(region, axis=1)
    flat = np.mean(np.abs(region - med[:, None]) <= tol, axis=1) >= _FLAT
    n = region.shape[0]

    stats_cache: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def row_stats(bg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if bg not in stats_cache:
            dev = np.abs(region - bg)
            text = dev >= contrast
            back = np.mean(dev <= tol, axis=1)
            stats_cache[bg] = (back, np.mean(text, axis=1), text)
        return stats_cache[bg]

    for i in range(begin, n):
        if not flat[i]:
            continue
        if flat[i - 1] and abs(med[i - 1] - med[i]) <= tol:
            continue  # continues a flat run: not where something new starts
        bar_height = n - i
        if bar_height < _MIN_HEIGHT:
            break
        if bar_height > max_height:
            continue
        bg = float(np.median(med[i:]))
        if min(bg - lo, hi - bg) > _EXTREME * span:
            continue
        back, text_frac, text = row_stats(bg)
        separator = abs(med[i] - bg) > tol
        if not separator and np.max(back[max(0, i - 3) : i]) >= _ABOVE_BACKGROUND:
            continue  # a band without separator must start under content, not under more background
        if _is_bar_block(i, n, back, text_frac, text, flat, med, bg, tol, width):
            exact = _exact_top(region, i, bg=bg, span=span)
            return i if exact is None else exact
    return None


def _exact_top(region: np.ndarray, i: int, *, bg: float, span: float) -> int | None:
    """The bar's exact top edge at or below candidate row ``i`` (see find_databar, step 6).

    Dark or bright micrograph rows just above the bar can pass the loose tests of
    :func:`_is_bar_block` (a flat dark row reads as a separator line), so the candidate may lie
    a few rows inside the micrograph.  The top edge is the first *drawn* row ``r >= i`` --
    at least 97 % of its pixels within ``_EXACT * span`` of its median -- provided the row
    above it is not drawn in the same value (the row statistics step there across the whole
    width) and the block from ``r`` to the bottom is a bar under the same exact tolerance.
    The search never passes a drawn row, so it cannot skip the bar's own first line.
    ``None`` when there is no such row (a noisy or recompressed bar: keep ``i``).
    """
    n, width = region.shape
    exact = _EXACT * span
    med = np.median(region, axis=1)
    drawn = np.mean(np.abs(region - med[:, None]) <= exact, axis=1) >= _FLAT
    stop = min(i + _REFINE_ROWS, n - _MIN_HEIGHT + 1)
    r = next((k for k in range(i, stop) if drawn[k]), None)
    if r is None or r < 1:
        return None
    if drawn[r - 1] and abs(med[r - 1] - med[r]) <= exact:
        return None  # continues a drawn run from above: no step here
    dev = np.abs(region - bg)
    text = dev >= _CONTRAST * span
    back = np.mean(dev <= exact, axis=1)
    if _is_bar_block(r, n, back, np.mean(text, axis=1), text, drawn, med, bg, exact, width):
        return r
    return None


def _is_bar_block(
    i: int,
    n: int,
    back: np.ndarray,
    text_frac: np.ndarray,
    text: np.ndarray,
    flat: np.ndarray,
    med: np.ndarray,
    bg: float,
    tol: float,
    width: int,
) -> bool:
    """Whether region rows i..n-1 form a bar with background ``bg`` (see find_databar)."""
    inter = 1.0 - back - text_frac
    bar_row = (back >= _ROW_BACKGROUND) & (inter <= _ROW_INTERMEDIATE)
    line_row = flat & (np.abs(med - bg) > tol)
    rows = np.arange(i, n)
    ok = bar_row[i:] | line_row[i:]
    # Up to _TRAILING odd rows at the very bottom (Zeiss writes a stray row under the frame).
    bad = np.flatnonzero(~ok)
    if bad.size:
        if bad.size > _TRAILING or bad[0] < len(rows) - _TRAILING:
            return False
        rows = rows[: bad[0]]
    lines = line_row[rows] & ~bar_row[rows]
    if lines.sum() > _MAX_LINES:
        return False
    body = rows[~lines]
    if body.size < max(3, len(rows) // 2):
        return False
    if back[body].mean() < _BLOCK_BACKGROUND or inter[body].mean() > _BLOCK_INTERMEDIATE:
        return False
    mask = np.zeros(text.shape[0], dtype=bool)
    mask[body] = True
    txt = text & mask[:, None]
    n_text = int(txt.sum())
    if n_text < max(_MIN_TEXT_PIXELS, _MIN_TEXT_FRACTION * body.size * width):
        return False
    neighbour = np.zeros_like(txt)
    neighbour[1:] |= txt[:-1]
    neighbour[:-1] |= txt[1:]
    neighbour[:, 1:] |= txt[:, :-1]
    neighbour[:, :-1] |= txt[:, 1:]
    clustered = int((txt & neighbour).sum())
    return clustered >= _MIN_CLUSTERED * n_text


def locate_databar(
    image: np.ndarray, metadata: dict | None = None, *, detect: bool = True
) -> tuple[int | None, str | None]:
    """First data-bar row of a micrograph and where that row came from.

    The vendor's own statement wins (``metadata["databar_row"]``, which
    :func:`semlab.io.read_micrograph` fills for FEI/Thermo files and semlab's TIFFs);
    otherwise the bar is detected in the pixels with :func:`find_databar`.

    Parameters
    ----------
    image : (M, N) ndarray
        The micrograph as read (bar included).
    metadata : dict, optional
        ``Micrograph.metadata``.
    detect : bool, default True
        Fall back on :func:`find_databar` when the metadata says nothing.

    Returns
    -------
    row : int or None
        First row of the bar (crop with ``image[:row]``), or ``None``.
    source : {"metadata", "detected"} or None
    """
    rows = np.shape(image)[0]
    meta_row = (metadata or {}).get("databar_row")
    if isinstance(meta_row, int | float) and not isinstance(meta_row, bool) and 0 < int(meta_row) < rows:
        return int(meta_row), "metadata"
    if detect:
        found = find_databar(image)
        if found is not None and 0 < int(found) < rows:
            return int(found), "detected"
    return None, None
