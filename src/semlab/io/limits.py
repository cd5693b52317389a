"""One decoded-size limit for every image semlab reads, checked from the header.

A 1.7 MB PNG can declare 1.6 gigapixels; decoding it first and failing later costs
gigabytes.  :func:`check_decoded_size` reads only the header (PNG ``IHDR``, JPEG ``SOFn``,
BMP info header, TIFF page tags, NumPy ``.npy`` header) and refuses a file whose decoded size — pixels ×
channels × bytes per sample — is over the limit, before any pixel is decoded.  The CLI
readers and the web app's upload check share it.

The limit, in bytes, is the first of: the ``limit`` argument; the environment variable
``SEMLAB_MAX_DECODED_BYTES`` (an integer, or with a K/M/G suffix, powers of 1024);
:data:`DEFAULT_MAX_DECODED_BYTES`.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from semlab.errors import FileFormatError, ParameterError

#: Default decoded-size limit (512 MiB): a 16-bit 16k × 16k micrograph fits, a bomb does not.
DEFAULT_MAX_DECODED_BYTES = 512 * 1024**2
#: Environment variable that overrides :data:`DEFAULT_MAX_DECODED_BYTES`.
ENV_VAR = "SEMLAB_MAX_DECODED_BYTES"

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str, name: str = ENV_VAR) -> int:
    """``'512M'``, ``'2G'`` or ``'1000000'`` as a positive number of bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), flags=re.IGNORECASE)
    if not m or float(m.group(1)) <= 0:
        raise ParameterError(f"{name}={text!r} is not a size in bytes; give e.g. 536870912, 512M or 2G")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def max_decoded_bytes(limit: int | str | None = None) -> int:
    """The decoded-size limit in bytes: ``limit``, else ``$SEMLAB_MAX_DECODED_BYTES``, else the default."""
    if limit is not None:
        if isinstance(limit, str):
            return parse_size(limit, "limit")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ParameterError(f"limit={limit!r} must be a positive number of bytes")
        return int(limit)
    env = os.environ.get(ENV_VAR, "").strip()
    return parse_size(env) if env else DEFAULT_MAX_DECODED_BYTES


def _human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _png(head: bytes) -> tuple[int, int, int, int]:
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise ValueError("PNG header (IHDR) is incomplete")
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    # palette images are expanded to RGBA by the reader
    channels = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}.get(colour)
    if channels is None or depth not in (1, 2, 4, 8, 16):
        raise ValueError(f"PNG header has colour type {colour}, bit depth {depth}")
    return height, width, channels, 2 if depth == 16 else 1


def _jpeg(data: bytes) -> tuple[int, int, int, int]:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f"JPEG marker expected at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if i + 10 > len(data):
                break
            precision, height, width, comps = struct.unpack(">BHHB", data[i + 4 : i + 10])
            return height, width, max(comps, 1), 2 if precision > 8 else 1
        if marker == 0xDA or length < 2:
            break
        i += 2 + length
    raise ValueError("JPEG frame header (SOF) not found")


def _bmp(head: bytes) -> tuple[int, int, int, int]:
    if len(head) < 30:
        raise ValueError("BMP header is incomplete")
    (hsize,) = struct.unpack("<I", head[14:18])
    if hsize == 12:
        width, height, _, bpp = struct.unpack("<HHHH", head[18:26])
    else:
        width, height, _, bpp = struct.unpack("<iiHH", head[18:30])
    channels = 4 if bpp == 32 else (3 if bpp > 8 else 4)  # palettes expand to RGB(A)
    return abs(int(height)), abs(int(width)), channels, 1


@contextlib.contextmanager
def quiet_tifffile() -> Iterator[None]:
    """Silence tifffile's log lines about damaged tags: semlab reports a damaged file in one line."""
    import logging

    log = logging.getLogger("tifffile")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


def _npy(data: bytes) -> tuple[int, str]:
    """(decoded bytes, description) from a NumPy ``.npy`` header."""
    import numpy as np

    fh = io.BytesIO(data)
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    return _prod(tuple(int(v) for v in shape)) * max(1, int(dtype.itemsize)), (
        f"array {' × '.join(map(str, shape))} of {dtype}"
    )


def _tiff(source: Any, page: int | None) -> tuple[int, str]:
    """(decoded bytes, description) from TIFF tags; ``page=None`` counts every page."""
    import tifffile

    with quiet_tifffile():
        with tifffile.TiffFile(source) as tif:
            n = len(tif.pages)
            if n == 0:
                raise ValueError("TIFF holds no image pages")
            if page is not None:
                p = tif.pages[page if -n <= page < n else 0]
                shape = tuple(int(s) for s in p.shape)
                size = _prod(shape) * _itemsize(p)
                return size, f"page {page}: {' × '.join(map(str, shape))}, {_itemsize(p)} byte(s) per sample"
            total = 0
            for s in tif.series:
                total += _prod(tuple(int(v) for v in s.shape)) * _itemsize(s)
            first = tif.pages[0]
            total = max(total, _prod(tuple(int(v) for v in first.shape)) * _itemsize(first))
            return total, f"{n} page(s)"


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for s in shape:
        out *= max(int(s), 0)
    return out


def _itemsize(obj: Any) -> int:
    import numpy as np

    dtype = getattr(obj, "dtype", None)
    if dtype is None:
        bits = int(getattr(obj, "bitspersample", 8) or 8)
        return max(1, (bits + 7) // 8)
    return max(1, int(np.dtype(dtype).itemsize))


def decoded_size(path_or_header: str | os.PathLike | bytes, *, page: int | None = None) -> tuple[int, str]:
    """(bytes the image decodes to, a short description) from the header alone.

    Parameters
    ----------
    path_or_header : str, Path or bytes
        A file, or its first bytes (PNG needs 33, BMP 30, JPEG up to its frame header;
        TIFF needs every IFD, so give the whole file or its path).
    page : int, optional
        For TIFF: count this page only (what :func:`~semlab.io.read_micrograph` decodes);
        default: every page.

    Raises
    ------
    FileFormatError
        The header is unreadable or of an unknown format.
    """
    if isinstance(path_or_header, bytes | bytearray | memoryview):
        data, name = bytes(path_or_header), "image header"
        tiff_source: Any = io.BytesIO(data)
    else:
        p = Path(path_or_header)
        name = str(p)
        try:
            with open(p, "rb") as fh:
                data = fh.read(1 << 16)
        except OSError as exc:
            raise FileFormatError(f"{name}: cannot open ({exc.strerror or exc}); check the path") from None
        tiff_source = p
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            shape = _png(data)
        elif data[:3] == b"\xff\xd8\xff":
            if len(data) == 1 << 16 and not isinstance(path_or_header, bytes | bytearray | memoryview):
                with open(tiff_source, "rb") as fh:  # frame header after large EXIF/ICC blocks
                    data = fh.read(16 << 20)
            shape = _jpeg(data)
        elif data[:2] == b"BM":
            shape = _bmp(data)
        elif data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            return _tiff(tiff_source, page)
        elif data[:6] == b"\x93NUMPY":
            return _npy(data)
        else:
            raise FileFormatError(
                f"{name}: not a PNG, JPEG, BMP, TIFF or NPY file (first bytes {data[:8]!r})"
            )
    except FileFormatError:
        raise
    except Exception as exc:  # struct.error, ValueError, tifffile's many types
        msg = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise FileFormatError(
            f"{name}: cannot read the image header ({msg}); is the file complete?"
        ) from None
    rows, cols, channels, nbytes = shape
    desc = f"{cols} × {rows} px × {channels} channel(s) × {nbytes} byte(s)"
    return rows * cols * channels * nbytes, desc


def check_decoded_size(
    path_or_header: str | os.PathLike | bytes,
    *,
    limit: int | str | None = None,
    page: int | None = None,
) -> int:
    """Refuse an image whose decoded size is over the limit, reading only its header.

    Parameters
    ----------
    path_or_header : str, Path or bytes
        The file, or its first bytes (see :func:`decoded_size`).
    limit : int or str, optional
        Bytes (``'2G'`` works too).  Default: ``$SEMLAB_MAX_DECODED_BYTES``, else
        :data:`DEFAULT_MAX_DECODED_BYTES` (512 MiB).
    page : int, optional
        TIFF page that will be decoded; default every page.

    Returns
    -------
    int
        The decoded size in bytes (pixels × channels × bytes per sample).

    Raises
    ------
    FileFormatError
        Over the limit, or the header is unreadable; one line naming the file, the size and
        how to raise the limit.

    Examples
    --------
    >>> from semlab.io import check_decoded_size
    >>> png = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + (40000).to_bytes(4, "big") * 2
    >>> check_decoded_size(png + bytes([8, 0, 0, 0, 0]) + bytes(8), limit=2_000_000_000)
    1600000000
    """
    cap = max_decoded_bytes(limit)
    size, desc = decoded_size(path_or_header, page=page)
    if size > cap:
        name = "image" if isinstance(path_or_header, bytes | bytearray | memoryview) else str(path_or_header)
        raise FileFormatError(
            f"{name}: decodes to {_human(size)} ({desc}), over the {_human(cap)} limit; crop or bin it, "
            f"or raise the limit with {ENV_VAR} (e.g. {ENV_VAR}=4G) if you trust the file"
        )
    return size
