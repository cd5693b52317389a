"""Thumbnail sprite sheets (atlases) for large exported maps.

A map of 100 000 micrographs cannot embed one base64 picture per point: the export would be
gigabytes.  Instead the thumbnails are shrunk to one tile side, packed into JPEG sheets of
:data:`SHEET_SIDE` pixels in the order of a Z-curve over the map coordinates (points close on
the map share a sheet, so a zoomed-in view loads few sheets), and the page crops each point's
tile from its sheet when it is drawn.  Sheets load on demand, only when a view is zoomed in.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semlab._util import atomic_write_bytes
from semlab.errors import ParameterError

#: Side of one sprite sheet in pixels.
SHEET_SIDE = 1024
#: Bytes the thumbnails of one export may take (the rest of the 50 MB budget is the page's data).
ATLAS_BUDGET_BYTES = 30_000_000
#: Measured JPEG size of real SEM thumbnails in a sheet, bytes per pixel at quality 80 (nanofibre
#: and nanowire crops: 0.23 B/px at 32 px tiles, 0.21 at 64 px).
BYTES_PER_PIXEL = 0.25
#: JPEG quality of the sheets.
SHEET_QUALITY = 80


def atlas_tile_side(n: int, *, budget_bytes: int = ATLAS_BUDGET_BYTES, largest: int = 128) -> int:
    """Tile side in pixels for ``n`` thumbnails within ``budget_bytes``: a multiple of 8, 24–``largest``.

    100 000 points get 32 px tiles (about 26 MB of JPEG sheets), 20 000 get 72 px, and maps of at
    most about 7 000 points keep 128 px thumbnails.
    """
    if n <= 0:
        return largest
    side = int(math.sqrt(budget_bytes / (BYTES_PER_PIXEL * n)) // 8 * 8)
    return max(24, min(largest, side))


def z_order(coords: np.ndarray, *, bits: int = 10) -> np.ndarray:
    """Indices of ``coords`` (n, 2) sorted along a Z-curve (Morton order) over their bounding box."""
    c = np.asarray(coords, np.float64)
    if c.shape[0] == 0:
        return np.zeros(0, np.int64)
    lo, hi = c.min(axis=0), c.max(axis=0)
    q = ((c - lo) / np.where(hi > lo, hi - lo, 1.0) * ((1 << bits) - 1)).astype(np.int64)
    code = np.zeros(c.shape[0], np.int64)
    for b in range(bits):
        code |= ((q[:, 0] >> b) & 1) << (2 * b)
        code |= ((q[:, 1] >> b) & 1) << (2 * b + 1)
    return np.argsort(code, kind="stable")


def _tile(path: str, side: int, cache: dict[str, Any]) -> Any:
    from PIL import Image

    if path not in cache:
        with Image.open(path) as im:
            im.load()
            pic = im.convert("L") if im.mode in ("L", "I", "I;16", "F", "1", "LA") else im.convert("RGB")
        pic.thumbnail((side, side), Image.Resampling.LANCZOS)
        cache[path] = pic
    return cache[path]


def write_atlas(
    thumbnails: Sequence[str | os.PathLike | None],
    coords: np.ndarray,
    folder: str | os.PathLike,
    *,
    tile: int,
    url_prefix: str = "",
    quality: int = SHEET_QUALITY,
) -> dict[str, Any]:
    """Pack the thumbnails into JPEG sprite sheets ``atlas-000.jpg``, … in ``folder``.

    Parameters
    ----------
    thumbnails : sequence of (path or None)
        One 8-bit picture per point (JPEG/PNG); ``None`` for points without one.
    coords : (n, 2) ndarray
        Map coordinates: points near each other on the map share a sheet.
    folder : str or Path
        Where the sheets are written (created; old ``atlas-*.jpg`` there are removed).
    tile : int
        Tile side in pixels (see :func:`atlas_tile_side`); thumbnails keep their aspect ratio.
    url_prefix : str, default ""
        Prepended to each sheet's file name in the returned ``sheets`` (the page's relative URL).
    quality : int, default 80
        JPEG quality of the sheets.

    Returns
    -------
    dict
        The page's ``atlas`` object: ``tile`` and ``cols`` (tiles per sheet row, px), ``sheets``
        (URLs), and per point ``slot`` (tile index over all sheets, −1 without a thumbnail),
        ``w`` and ``h`` (the thumbnail's size in its tile, px).
    """
    from PIL import Image

    if int(tile) < 8 or int(tile) > SHEET_SIDE:
        raise ParameterError(f"tile={tile} must be between 8 and {SHEET_SIDE} pixels")
    tile = int(tile)
    n = len(thumbnails)
    if np.asarray(coords).shape[0] != n:
        raise ParameterError(f"coords has {np.asarray(coords).shape[0]} rows but there are {n} thumbnails")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("atlas-*.jpg"):
        old.unlink()
    cols = SHEET_SIDE // tile
    per = cols * cols
    order = [int(i) for i in z_order(coords) if thumbnails[int(i)] is not None]
    slot, w, h = [-1] * n, [0] * n, [0] * n
    cache: dict[str, Any] = {}  # repeated pictures are shrunk once
    sheets: list[str] = []
    for s0 in range(0, len(order), per):
        chunk = order[s0 : s0 + per]
        if len(cache) > 4 * per:
            cache.clear()
        tiles = [_tile(str(thumbnails[i]), tile, cache) for i in chunk]
        grey = all(t.mode == "L" for t in tiles)
        rows = math.ceil(len(chunk) / cols)
        sheet = Image.new("L" if grey else "RGB", (cols * tile, rows * tile), 0)
        for j, i in enumerate(chunk):
            pic = tiles[j]
            sheet.paste(pic if grey else pic.convert("RGB"), ((j % cols) * tile, (j // cols) * tile))
            slot[i], w[i], h[i] = s0 + j, pic.width, pic.height
        buf = io.BytesIO()
        sheet.save(buf, "JPEG", quality=int(quality), optimize=True)
        name = f"atlas-{len(sheets):03d}.jpg"
        atomic_write_bytes(out / name, buf.getvalue())
        sheets.append(url_prefix + name)
    return {"tile": tile, "cols": cols, "sheets": sheets, "slot": slot, "w": w, "h": h}
