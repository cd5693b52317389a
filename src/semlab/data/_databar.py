"""A burned-in FEI/Thermo-style data bar with a scale bar, drawn with a tiny block font.

The bar imitates what FEI/Thermo microscopes write under the image: a 1-pixel, full-width
line at the dtype's maximum, a black band with white boxed fields (``HV``, ``mag``, ``HFW``,
``det`` …, a header above each value), a scale bar of a round length in nm or µm with its
label, and a closing bright line at the very bottom.  Text uses a hand-made 3×5 pixel font
scaled by an integer factor, so the pixels do not depend on any installed font.
"""

from __future__ import annotations

import math

import numpy as np

from semlab.errors import ParameterError

# 3 columns × 5 rows per glyph; "#" is lit.
_FONT: dict[str, tuple[str, ...]] = {
    "0": ("###", "#.#", "#.#", "#.#", "###"),
    "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("##.", "..#", ".#.", "#..", "###"),
    "3": ("##.", "..#", ".#.", "..#", "##."),
    "4": ("#.#", "#.#", "###", "..#", "..#"),
    "5": ("###", "#..", "##.", "..#", "##."),
    "6": (".##", "#..", "###", "#.#", "###"),
    "7": ("###", "..#", ".#.", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"),
    "9": ("###", "#.#", "###", "..#", "##."),
    ".": ("...", "...", "...", "...", ".#."),
    ",": ("...", "...", "...", ".#.", "#.."),
    "-": ("...", "...", "###", "...", "..."),
    " ": ("...", "...", "...", "...", "..."),
    "A": (".#.", "#.#", "###", "#.#", "#.#"),
    "B": ("##.", "#.#", "##.", "#.#", "##."),
    "C": (".##", "#..", "#..", "#..", ".##"),
    "D": ("##.", "#.#", "#.#", "#.#", "##."),
    "E": ("###", "#..", "##.", "#..", "###"),
    "F": ("###", "#..", "##.", "#..", "#.."),
    "G": (".##", "#..", "#.#", "#.#", ".##"),
    "H": ("#.#", "#.#", "###", "#.#", "#.#"),
    "I": ("###", ".#.", ".#.", ".#.", "###"),
    "K": ("#.#", "#.#", "##.", "#.#", "#.#"),
    "L": ("#..", "#..", "#..", "#..", "###"),
    "M": ("#.#", "###", "###", "#.#", "#.#"),
    "N": ("##.", "#.#", "#.#", "#.#", "#.#"),
    "O": (".#.", "#.#", "#.#", "#.#", ".#."),
    "P": ("##.", "#.#", "##.", "#..", "#.."),
    "R": ("##.", "#.#", "##.", "#.#", "#.#"),
    "S": (".##", "#..", ".#.", "..#", "##."),
    "T": ("###", ".#.", ".#.", ".#.", ".#."),
    "U": ("#.#", "#.#", "#.#", "#.#", "###"),
    "V": ("#.#", "#.#", "#.#", "#.#", ".#."),
    "W": ("#.#", "#.#", "###", "###", "#.#"),
    "X": ("#.#", "#.#", ".#.", "#.#", "#.#"),
    "Y": ("#.#", "#.#", ".#.", ".#.", ".#."),
    "a": ("...", ".##", "#.#", "#.#", ".##"),
    "c": ("...", "...", ".##", "#..", ".##"),
    "p": ("...", "##.", "#.#", "##.", "#.."),
    "u": ("...", "...", "#.#", "#.#", ".##"),
    "d": ("..#", ".##", "#.#", "#.#", ".##"),
    "e": ("...", ".#.", "###", "#..", ".##"),
    "g": ("...", ".##", "#.#", ".##", "##."),
    "k": ("#..", "#.#", "##.", "##.", "#.#"),
    "m": ("...", "...", "###", "###", "#.#"),
    "n": ("...", "...", "##.", "#.#", "#.#"),
    "o": ("...", "...", "###", "#.#", "###"),
    "r": ("...", "...", "#.#", "##.", "#.."),
    "t": (".#.", "###", ".#.", ".#.", ".##"),
    "x": ("...", "...", "#.#", ".#.", "#.#"),
    "µ": ("...", "#.#", "#.#", "###", "#.."),
}
_GLYPHS = {ch: np.array([[c == "#" for c in row] for row in rows], dtype=bool) for ch, rows in _FONT.items()}


def _text_mask(text: str, scale: int) -> np.ndarray:
    """Boolean (5·scale, width) mask of ``text``; unknown characters are drawn as blanks."""
    cols = []
    for i, ch in enumerate(text):
        glyph = _GLYPHS.get(ch, _GLYPHS.get(ch.upper(), _GLYPHS[" "]))
        if i:
            cols.append(np.zeros((5, 1), dtype=bool))
        cols.append(glyph)
    mask = np.concatenate(cols, axis=1) if cols else np.zeros((5, 0), dtype=bool)
    return np.kron(mask, np.ones((scale, scale), dtype=bool))


def nice_scale_bar(max_length_um: float) -> float:
    """Largest 1, 2 or 5 × 10^k µm that is not longer than ``max_length_um``."""
    if not max_length_um > 0:
        raise ParameterError(f"max_length_um={max_length_um!r} must be positive")
    exponent = math.floor(math.log10(max_length_um))
    best = 10.0**exponent
    for m in (2.0, 5.0, 10.0):
        if m * 10.0**exponent <= max_length_um * (1 + 1e-9):
            best = m * 10.0**exponent
    return float(f"{best:.6g}")


def format_length(length_um: float) -> str:
    """``0.5`` → ``"500 nm"``, ``2.0`` → ``"2 µm"``."""
    if length_um < 1:
        return f"{length_um * 1000:.4g} nm"
    if length_um >= 1000:
        return f"{length_um / 1000:.4g} mm"
    return f"{length_um:.4g} µm"


def databar_height(rows: int) -> int:
    """Rows taken by the data bar of an image ``rows`` high: ~7 %, at least 15."""
    return max(15, 1 + round(0.07 * rows))


def _default_fields(width_px: int, pixel_size: float | None) -> list[tuple[str, str]]:
    fields = [("HV", "5.00 kV"), ("curr", "50 pA")]
    if pixel_size is not None:
        hfw_um = width_px * pixel_size
        mag = 127_000.0 / hfw_um  # FEI quotes magnification against a 127 mm wide display
        mag_r = round(mag, -max(0, math.floor(math.log10(mag)) - 1))  # two significant digits
        fields.append(("mag", f"{mag_r:,.0f} x".replace(",", " ")))
        fields.append(("HFW", format_length(float(f"{hfw_um:.3g}"))))
    fields += [("mode", "SE"), ("det", "TLD"), ("WD", "4.1 mm")]
    return fields


def add_databar(
    content: np.ndarray,
    *,
    pixel_size: float | None = None,
    height: int | None = None,
    fields: list[tuple[str, str]] | None = None,
    label: str = "semlab synthetic",
) -> tuple[np.ndarray, int, dict]:
    """Append an FEI/Thermo-style data bar under ``content``.

    Parameters
    ----------
    content : (M, N) ndarray of uint8 or uint16
        The micrograph; it is copied, not changed.
    pixel_size : float, optional
        µm per pixel; when given, the bar carries a scale bar of a round length (1, 2 or
        5 × 10^k µm, at most about a quarter of the field width) and the field width (HFW).
    height : int, optional
        Rows of the bar including its top and bottom lines; default about 7 % of the final
        image height, at least 15.
    fields : list of (str, str), optional
        (header, value) pairs for the boxed fields, left to right; those that do not fit
        are left out.  Default: HV, curr, mag, HFW, mode, det, WD.
    label : str
        Text under the scale bar.

    Returns
    -------
    image : (M + height, N) ndarray
        Content with the bar below it, same dtype.
    databar_row : int
        First row of the bar (``M``): the full-width line at the dtype's maximum.
    info : dict
        ``scale_bar_um`` and ``scale_bar_px`` (``None`` without a pixel size), ``height``.
    """
    content = np.asarray(content)
    if content.ndim != 2:
        raise ParameterError(f"content has shape {content.shape}; add_databar takes a 2-D image")
    if content.dtype not in (np.uint8, np.uint16):
        raise ParameterError(f"content dtype {content.dtype} is not uint8 or uint16; convert it first")
    rows, width = content.shape
    if height is None:
        height = max(15, 1 + round(0.07 * rows / 0.93))
    if height < 15:
        raise ParameterError(f"height={height} is too small for a data bar; use at least 15 rows")
    white = np.iinfo(content.dtype).max
    bar = np.zeros((height, width), dtype=content.dtype)
    bar[0] = white
    bar[-1] = white
    inner = height - 2  # rows between the two lines: 1 … height-2
    scale = max(1, inner // 16)
    text_h = 5 * scale
    gap = max(1, (inner - 2 * text_h) // 3)
    top = 1 + (inner - 2 * text_h - gap) // 2
    lines = (top, top + text_h + gap)
    pad = 3 * scale

    def put(mask: np.ndarray, row: int, c0: int, c1: int) -> None:
        """Centre ``mask`` on ``row`` between columns c0 and c1 (clipped)."""
        w = mask.shape[1]
        start = c0 + max(0, (c1 - c0 - w) // 2)
        w = min(w, c1 - start)
        if w > 0:
            bar[row : row + mask.shape[0], start : start + w][mask[:, :w]] = white

    # the scale-bar cell, right-aligned
    info: dict = {"height": int(height), "scale_bar_um": None, "scale_bar_px": None}
    sb_w = max(int(0.3 * width), 8 * 4 * scale + 2 * pad)
    sb_c0 = width - sb_w
    if pixel_size is not None:
        length_um = nice_scale_bar(min(0.25 * width, 0.8 * (sb_w - 2 * pad)) * pixel_size)
        length_px = int(round(length_um / pixel_size))
        c0 = sb_c0 + (sb_w - length_px) // 2
        r_mid = lines[0] + text_h // 2
        thick = max(1, scale)
        bar[r_mid - thick // 2 : r_mid - thick // 2 + thick, c0 : c0 + length_px] = white
        bar[lines[0] : lines[0] + text_h, c0 : c0 + thick] = white
        bar[lines[0] : lines[0] + text_h, c0 + length_px - thick : c0 + length_px] = white
        put(_text_mask(format_length(length_um), scale), lines[1], sb_c0, width - 1)
        info.update(scale_bar_um=length_um, scale_bar_px=length_px)
    else:
        put(_text_mask(label, scale), lines[1], sb_c0, width - 1)
    bar[1:-1, sb_c0] = white
    bar[1:-1, width - 1] = white

    # the boxed fields, left to right while they fit
    bar[1:-1, 0] = white
    c = 0
    for header, value in fields if fields is not None else _default_fields(width, pixel_size):
        m_head, m_val = _text_mask(header, scale), _text_mask(value, scale)
        cell = max(m_head.shape[1], m_val.shape[1]) + 2 * pad
        if c + cell >= sb_c0:
            break
        put(m_head, lines[0], c + 1, c + cell)
        put(m_val, lines[1], c + 1, c + cell)
        c += cell
        bar[1:-1, c] = white
    return np.concatenate([content, bar], axis=0), rows, info
