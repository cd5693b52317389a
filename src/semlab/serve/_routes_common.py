"""What the web app's routers share: the app state, one-line errors, filters, previews."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from semlab.serve._store import STATUSES, TASKS

STATIC = Path(__file__).parent / "static"
_HASH_CHARS = set("0123456789abcdef")


@dataclass(frozen=True, eq=False)
class ServeState:
    """Everything a request needs, kept on ``app.state.serve``."""

    workspace: Any
    store: Any
    analyses: Any
    runner: Any
    token: str | None
    serve_dir: Path
    incoming: Path
    max_file_bytes: int
    max_pixels: int


def state(request: Request) -> ServeState:
    """The app's :class:`ServeState` (a FastAPI dependency)."""
    return request.app.state.serve


def error(status: int, message: str) -> JSONResponse:
    """A JSON error ``{"detail": message}``."""
    return JSONResponse({"detail": message}, status_code=status)


def check_filters(task: str | None, status: str | None) -> None:
    """422 for an unknown task or job state in a history filter."""
    if task and task not in TASKS:
        raise HTTPException(422, f"task: unknown {task!r}; choose from {', '.join(TASKS)}")
    if status and status not in STATUSES:
        raise HTTPException(422, f"status: unknown {status!r}; choose from {', '.join(STATUSES)}")


def record(st: ServeState, image_hash: str) -> dict[str, Any]:
    """The catalogue record of an image hash, else 404."""
    from semlab.serve import _images as images

    key = image_hash.lower()
    if len(key) != 64 or not set(key) <= _HASH_CHARS:
        raise HTTPException(404, f"{image_hash[:80]!r} is not an image hash (64 hex digits)")
    rec = images.record(st.workspace, st.store, key)
    if rec is None:
        raise HTTPException(404, f"no image {key} in this workspace")
    return rec


def write_preview(image: Any, path: Path) -> None:
    """An 8-bit PNG of the whole image (data bar included), contrast 0.5–99.5 %, ≤ 1024 px wide."""
    import numpy as np
    from PIL import Image

    from semlab._util import atomic_path

    a = np.asarray(image, dtype=np.float64)
    step = max(1, int(np.ceil(max(a.shape) / 1024)))
    a = a[::step, ::step]
    finite = a[np.isfinite(a)]
    lo, hi = np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0)
    if hi <= lo:
        lo, hi = (
            float(finite.min()) if finite.size else 0.0,
            (float(finite.max()) if finite.size else 0.0) + 1.0,
        )
    grey = np.clip((np.nan_to_num(a, nan=lo) - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(grey).save(tmp, format="PNG")
