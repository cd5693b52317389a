"""Small shared helpers: atomic writes and content hashes (no heavy imports)."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    """The process's umask (read from /proc where possible, so no other thread sees it change)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    The write is atomic on POSIX and Windows: readers see either the old file or the
    complete new one, never a half-written file.  On error the temporary file is removed
    and ``path`` is left untouched.  The file gets ``mode`` (default ``0o666`` less the
    umask, as an ordinary new file would), so colleagues sharing a folder can read it
    when the umask lets them.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with contextlib.suppress(OSError):  # e.g. a file system without POSIX modes
            os.chmod(tmp_path, mode if mode is not None else 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; undecodable file-name bytes are escaped."""
    atomic_write_bytes(path, shown_text(text).encode("utf-8"))


def file_sha256(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_pixel_size(value: object, name: str = "pixel_size", *, hint: str | None = None) -> float:
    """``value`` as a positive, finite pixel size in µm; else a one-line ``ParameterError``.

    Parameters
    ----------
    value : object
        The argument as the user gave it.
    name : str
        The parameter's name, used in the message.
    hint : str, optional
        What to do about it; default: give the size in µm per pixel.
    """
    from semlab.errors import ParameterError

    hint = hint or "give the size in µm per pixel"
    if value is None:
        raise ParameterError(f"{name} is None; {hint}")
    try:
        size = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} is not a number; {hint}") from None
    if not math.isfinite(size) or size <= 0:
        raise ParameterError(f"{name}={value!r} must be a positive number of µm per pixel; {hint}")
    return size


def shown_text(text: str) -> str:
    """``text`` with undecodable file-name bytes (lone surrogates) shown as ``\\xNN`` escapes.

    Python decodes a non-UTF-8 file name's bytes to lone surrogates, which no UTF-8 file,
    catalog or terminal accepts; this makes such a name printable and storable.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a surrogate that no file-name byte gives
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def shown_records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with every text cell passed through :func:`shown_text` (for tables of file names)."""
    return [{k: shown_text(v) if isinstance(v, str) else v for k, v in r.items()} for r in rows]


def to_jsonable(value: object, *, _depth: int = 0) -> Any:
    """``value`` as strict JSON data: semlab's one rule for every JSON file it writes.

    NaN and ±inf → ``None`` (JSON has no NaN); NumPy scalars → Python numbers and NumPy
    arrays → lists; dataclasses (``to_dict()`` when they have one) and mappings → dicts with
    string keys; tuples → lists; paths → strings; bytes → Latin-1 text; anything else →
    ``str(value)``.  Nesting deeper than 32 levels is cut with ``str``.
    """
    import dataclasses
    from collections.abc import Mapping

    if _depth > 32:
        return str(value)
    if isinstance(value, str):
        return shown_text(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    d = _depth + 1
    if isinstance(value, Mapping):
        return {shown_text(str(k)): to_jsonable(v, _depth=d) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v, _depth=d) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        return to_jsonable(to_dict() if callable(to_dict) else dataclasses.asdict(value), _depth=d)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, bytes):
        return value.decode("latin-1", "replace")
    if hasattr(value, "tolist") and callable(value.tolist):  # NumPy scalars and arrays
        return to_jsonable(value.tolist(), _depth=d)
    return str(value)


def write_json(path: str | os.PathLike, value: object, *, indent: int | None = 2) -> None:
    """Write ``value`` to ``path`` as strict JSON (:func:`to_jsonable`), atomically, with a newline."""
    import json

    text = json.dumps(to_jsonable(value), indent=indent, allow_nan=False, ensure_ascii=False)
    atomic_write_text(path, text + "\n")
