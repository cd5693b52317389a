"""Checking an uploaded file before it enters the workspace: type, size, pixel count, name.

The type comes from the file's first bytes, never from its name; the pixel count from the
header (TIFF page shape, PNG/JPEG size) before anything is decoded; the name is reduced to a
harmless display string (``../../x.tif`` → ``x.tif``) and never used as a path.
"""

from __future__ import annotations

import logging
import re
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

#: Default limits.
MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_PIXELS = 100_000_000

#: Stated peak memory of a segment or quantify job per pixel of the image (issue 19's bound;
#: benchmarks/bench_memory.py measures 132 B/px for hybrid and otsu, 95 B/px for quantify).
JOB_BYTES_PER_PX = 200
#: Tasks whose memory grows with the image (the others work on patches or stored results).
_HEAVY_TASKS = ("segment", "quantify")

#: Accepted types: (magic prefix, suffix the stored copy gets, name for people).
_MAGIC = (
    (b"II*\x00", ".tif", "TIFF"),
    (b"MM\x00*", ".tif", "TIFF"),
    (b"II+\x00", ".tif", "BigTIFF"),
    (b"MM\x00+", ".tif", "BigTIFF"),
    (b"\x89PNG\r\n\x1a\n", ".png", "PNG"),
    (b"\xff\xd8\xff", ".jpg", "JPEG"),
)
ACCEPTED = "TIFF (8/16-bit), PNG or JPEG"


class UploadError(Exception):
    """An upload refused, with the HTTP status to answer and a one-line message for people."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Checked:
    """An upload that passed the checks: sniffed kind, the suffix to store it with, its shape."""

    kind: str
    suffix: str
    rows: int
    cols: int


def sanitize_name(name: str | None, *, max_length: int = 120) -> str:
    """A display name from a user's file name: last path component, printable, no leading dots.

    >>> sanitize_name("../../x.tif"), sanitize_name("C:\\\\data\\\\a b.tif"), sanitize_name("")
    ('x.tif', 'a b.tif', 'upload')
    """
    text = unicodedata.normalize("NFC", str(name or ""))
    text = re.split(r"[\\/]", text)[-1]
    text = "".join(c if c.isprintable() and c not in '<>:"|?*' else "_" for c in text).strip()
    text = text.lstrip(".").strip()
    if len(text) > max_length:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: max_length - len(ext) - 1] + dot + ext) if dot and len(ext) <= 8 else text[:max_length]
    return text or "upload"


def check_name(name: str | None) -> str:
    """The display name of an upload; a name holding a path is refused.

    Browsers send bare file names; a name with ``/``, ``\\`` or a leading ``..`` is a client
    trying paths, answered with 400 (the name is never used as a path either way).

    Raises
    ------
    UploadError
        400 for a path-like name.
    """
    raw = str(name or "")
    if "/" in raw or "\\" in raw or raw.strip().startswith("..") or "\x00" in raw:
        raise UploadError(
            400,
            f"file name {sanitize_name(raw)!r} was sent as a path ({raw[:80]!r}); send the bare file name — "
            "names are never used as paths here",
        )
    return sanitize_name(raw)


def sniff(head: bytes) -> tuple[str, str] | None:
    """(kind, suffix) of a file from its first bytes, or ``None`` for anything else."""
    for magic, suffix, kind in _MAGIC:
        if head.startswith(magic):
            return kind, suffix
    return None


def check_file(
    path: Path,
    name: str,
    *,
    max_bytes: int = MAX_FILE_BYTES,
    max_pixels: int = MAX_PIXELS,
    max_decoded: int | None = None,
) -> Checked:
    """Check an uploaded file (already on disk) without decoding its pixels.

    ``max_decoded`` (bytes; default :func:`semlab.io.max_decoded_bytes`, shared with the CLI)
    bounds pixels × channels × bytes per sample over every page, read from the header.

    Raises
    ------
    UploadError
        400 empty; 413 over ``max_bytes``, ``max_pixels`` or ``max_decoded``; 415 not a
        TIFF/PNG/JPEG; 422 a header that cannot be read (truncated or corrupt file).
    """
    size = path.stat().st_size
    if size == 0:
        raise UploadError(400, f"{name}: the file is empty (0 bytes); choose the micrograph file again")
    if size > max_bytes:
        raise UploadError(
            413, f"{name}: file is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB per file"
        )
    with open(path, "rb") as fh:
        head = fh.read(16)
    found = sniff(head)
    if found is None:
        raise UploadError(
            415, f"{name}: not an image this app reads (first bytes {head[:8]!r}); upload {ACCEPTED} files"
        )
    kind, suffix = found
    rows, cols = _header_shape(path, name, kind)
    if rows * cols > max_pixels:
        raise UploadError(
            413,
            f"{name}: image is {cols} × {rows} pixels ({rows * cols / 1e6:.0f} megapixels); the limit is "
            f"{max_pixels / 1e6:.0f} megapixels — crop or bin it first",
        )
    if rows < 1 or cols < 1:
        raise UploadError(422, f"{name}: the header says the image has no pixels ({cols} × {rows})")
    _check_decoded(path, name, max_decoded)
    return Checked(kind=kind, suffix=suffix, rows=rows, cols=cols)


def available_memory() -> int | None:
    """Bytes this machine can still give: ``MemAvailable``, lowered to a cgroup v2 limit minus
    its usage when one is set; ``None`` where neither can be read (not Linux)."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        cap = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if cap.isdigit():
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            found.append(max(int(cap) - used, 0))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def check_memory(
    checked: Checked, name: str, tasks: list[str], *, budget: int | None, workers: int = 1
) -> None:
    """413 when segmenting or quantifying the image would not fit ``budget / workers`` bytes
    at :data:`JOB_BYTES_PER_PX` (jobs of ``workers`` threads may run at once); decided from
    the header's shape, before anything is decoded.

    ``budget`` None means :func:`available_memory` now (no check where that is unknown).
    """
    heavy = [t for t in tasks if t in _HEAVY_TASKS]
    if not heavy:
        return
    budget = available_memory() if budget is None else int(budget)
    budget = None if budget is None else budget // max(1, int(workers))
    need = checked.rows * checked.cols * JOB_BYTES_PER_PX
    if budget is not None and need > budget:
        raise UploadError(
            413,
            f"{name}: {checked.cols} × {checked.rows} pixels need about {need / 2**30:.1f} GiB to "
            f"{' and '.join(heavy)} ({JOB_BYTES_PER_PX} bytes per pixel); this server can give "
            f"{budget / 2**30:.1f} GiB per job — crop or bin the image, or upload it with tasks 'none'",
        )


def _check_decoded(path: Path, name: str, limit: int | None) -> None:
    """413 when the decoded size (all pages, channels, bytes per sample) is over ``limit``."""
    from semlab.errors import FileFormatError
    from semlab.io import check_decoded_size

    try:
        check_decoded_size(path, limit=limit)
    except FileFormatError as exc:
        message = str(exc).replace(str(path), name).splitlines()[0]
        raise UploadError(413 if "limit" in message else 422, message) from None


def _header_shape(path: Path, name: str, kind: str) -> tuple[int, int]:
    """(rows, cols) of page 0 from the header only."""
    if "TIFF" in kind:
        import tifffile

        log = logging.getLogger("tifffile")
        level = log.level
        log.setLevel(logging.CRITICAL)
        try:
            with tifffile.TiffFile(path) as tif:
                if not len(tif.pages):
                    raise UploadError(422, f"{name}: TIFF holds no image pages; is the file complete?")
                page = tif.pages[0]
                shape = tuple(int(s) for s in page.shape)
                axes = getattr(page, "axes", "")
        except UploadError:
            raise
        except Exception as exc:  # tifffile raises many types on corrupt headers
            raise UploadError(
                422, f"{name}: cannot read the TIFF header ({exc}); is the file complete?"
            ) from None
        finally:
            log.setLevel(level)
        if "Y" in axes and "X" in axes:
            return shape[axes.index("Y")], shape[axes.index("X")]
        return (shape[0], shape[1]) if len(shape) >= 2 else (shape[0], 1)
    if kind == "PNG":  # IHDR: width and height right after the signature
        with open(path, "rb") as fh:
            head = fh.read(24)
        if len(head) < 24 or head[12:16] != b"IHDR":
            raise UploadError(422, f"{name}: PNG header is incomplete; is the file complete?")
        cols, rows = struct.unpack(">II", head[16:24])
        return int(rows), int(cols)
    from PIL import Image

    try:
        with Image.open(path) as im:  # reads the header only
            cols, rows = im.size
    except Image.DecompressionBombError as exc:
        raise UploadError(413, f"{name}: image is too large to read safely ({exc})") from None
    except Exception as exc:
        raise UploadError(
            422, f"{name}: cannot read the {kind} header ({exc}); is the file complete?"
        ) from None
    return int(rows), int(cols)
