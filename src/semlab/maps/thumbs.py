"""Browser-ready pictures of micrographs: 8-bit thumbnails (JPEG) and full images (PNG), cached.

Browsers cannot show TIFF, and 16-bit or float images must be mapped to 8 bits first.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from semlab._util import atomic_write_bytes
from semlab.errors import ParameterError

#: Default thumbnail size: longest side in pixels.
THUMB_SIZE = 128
#: Size of the sharper thumbnails drawn when the map is zoomed in: longest side in pixels.
LARGE_THUMB_SIZE = 512
#: Longest side of the full images shown in the detail panel (larger images are reduced).
FULL_MAX_SIDE = 2048


def to_uint8(image: np.ndarray, *, percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Grey values as 8 bits for display.

    Parameters
    ----------
    image : (M, N) or (M, N, 3|4) ndarray
        Any real dtype.  ``uint8`` is kept as it is; other types (16-bit, float) are
        stretched so that the given percentiles map to 0 and 255 (SEM 16-bit images often
        use a narrow part of their range).
    percentiles : (float, float), default (0.5, 99.5)
        Percentiles (0–100) of the finite values mapped to black and white.

    Returns
    -------
    ndarray of uint8
        Same shape.
    """
    a = np.asarray(image)
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    f = a.astype(np.float64)
    finite = np.isfinite(f)
    if not finite.any():
        return np.zeros(a.shape, np.uint8)
    lo, hi = np.percentile(f[finite], percentiles)
    if hi <= lo:
        lo, hi = float(f[finite].min()), float(f[finite].max())
    if hi <= lo:
        return np.zeros(a.shape, np.uint8)
    out = np.clip((np.where(finite, f, lo) - lo) / (hi - lo), 0.0, 1.0)
    return np.round(out * 255).astype(np.uint8)


def _pil(image: np.ndarray):  # noqa: ANN202
    from PIL import Image

    a = to_uint8(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3):
        raise ParameterError(f"image has shape {a.shape}; give a 2-D grey image (or RGB)")
    return Image.fromarray(a)


def thumbnail(image: np.ndarray, *, size: int = THUMB_SIZE) -> np.ndarray:
    """An 8-bit thumbnail whose longest side is ``size`` pixels (aspect kept, never enlarged).

    Parameters
    ----------
    image : (M, N) ndarray
        Any real dtype (see :func:`to_uint8`).
    size : int, default 128
        Longest side in pixels.

    Returns
    -------
    (m, n) ndarray of uint8
    """
    from PIL import Image

    if int(size) < 4:
        raise ParameterError(f"size={size} must be at least 4 pixels")
    im = _pil(image)
    im.thumbnail((int(size), int(size)), Image.Resampling.LANCZOS)
    return np.asarray(im)


def encode_image(image: np.ndarray, *, format: str = "png", quality: int = 85) -> bytes:
    """The bytes of an 8-bit PNG or JPEG of ``image`` (converted with :func:`to_uint8`)."""
    fmt = format.lower()
    if fmt not in ("png", "jpeg", "jpg"):
        raise ParameterError(f"format={format!r} must be png or jpeg")
    buf = io.BytesIO()
    im = _pil(image)
    if fmt == "png":
        im.save(buf, format="PNG", optimize=False)
    else:
        im.save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def cached_picture(
    cache_dir: str | os.PathLike,
    key: str,
    load: Callable[[], np.ndarray],
    *,
    size: int | None = THUMB_SIZE,
    format: str = "jpeg",
) -> Path:
    """Path of a cached 8-bit picture, made from ``load()`` the first time.

    Parameters
    ----------
    cache_dir : str or Path
        Folder of the cache (created).
    key : str
        Identity of the image (e.g. its SHA-256); the file is ``<key>_<size>.<ext>``.
    load : callable
        Returns the image (any dtype) when the picture must be made.
    size : int or None, default 128
        Longest side in pixels (thumbnail); ``None`` keeps the size up to 2048 pixels.
    format : {"jpeg", "png"}
        JPEG for thumbnails (small), PNG for full images (lossless).

    Returns
    -------
    Path
        The picture file.
    """
    ext = "png" if format.lower() == "png" else "jpg"
    tag = str(int(size)) if size is not None else "full"
    path = Path(cache_dir) / f"{key}_{tag}.{ext}"
    if path.is_file() and path.stat().st_size > 0:
        return path
    image = load()
    small = thumbnail(image, size=size if size is not None else FULL_MAX_SIDE)
    atomic_write_bytes(path, encode_image(small, format=ext if ext == "png" else "jpeg"))
    return path
