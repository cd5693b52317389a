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
    max_decoded_bytes: int | None = None
    max_job_bytes: int | None = None
    workers: int = 1


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


def label_font(size: int) -> Any:
    """A font for labels on pictures that has µ: DejaVu Sans (matplotlib's copy or the system's),
    else Pillow's default."""
    import importlib.util

    from PIL import ImageFont

    spec = importlib.util.find_spec("matplotlib")
    places = (
        [Path(p) / "mpl-data" / "fonts" / "ttf" for p in (spec.submodule_search_locations or [])]
        if spec
        else []
    )
    places.append(Path("/usr/share/fonts/truetype/dejavu"))
    for folder in places:
        if (folder / "DejaVuSans.ttf").is_file():
            return ImageFont.truetype(str(folder / "DejaVuSans.ttf"), size=size)
    return ImageFont.load_default(size=size)


def scale_bar_length(width_um: float) -> tuple[float, str]:
    """A round bar length (1, 2 or 5 × 10^k µm) near a fifth of ``width_um``, and its label.

    >>> scale_bar_length(1000.0), scale_bar_length(1.3), scale_bar_length(0.08)
    ((200.0, '200 µm'), (0.2, '200 nm'), (0.01, '10 nm'))
    """
    import math

    target = max(width_um / 5.0, 1e-9)
    k = math.floor(math.log10(target))
    best = max((m * 10.0**k for m in (1, 2, 5) if m * 10.0**k <= target * 1.0000001), default=10.0**k)
    length = float(f"{best:.3g}")
    if length >= 1000:
        label = f"{length / 1000:g} mm"
    elif length >= 1:
        label = f"{length:g} µm"
    else:
        label = f"{length * 1000:g} nm"
    return length, label


def _draw_scale_bar(rgb: Any, um_per_px: float, bottom: int) -> Any:
    """Draw a white bar with its length on a black box at the lower right, ending above row ``bottom``."""
    from PIL import ImageDraw

    w = rgb.width
    length_um, label = scale_bar_length(w * um_per_px)
    bar_px = max(1, round(length_um / um_per_px))
    size = max(10, min(28, w // 30))
    font = label_font(size)
    draw = ImageDraw.Draw(rgb)
    text_w = draw.textlength(label, font=font)
    pad, thick = max(3, size // 3), max(3, size // 4)
    box_w = int(max(bar_px, text_w)) + 2 * pad
    box_h = size + thick + 3 * pad
    x0, y0 = w - box_w - pad, max(0, bottom - box_h - pad)
    draw.rectangle((x0, y0, x0 + box_w, y0 + box_h), fill=(0, 0, 0))
    bx = x0 + (box_w - bar_px) // 2
    draw.rectangle((bx, y0 + pad, bx + bar_px - 1, y0 + pad + thick - 1), fill=(255, 255, 255))
    draw.text((x0 + (box_w - text_w) / 2, y0 + 2 * pad + thick), label, fill=(255, 255, 255), font=font)
    return rgb


def write_preview(
    image: Any, path: Path, *, pixel_size: float | None = None, databar_row: int | None = None
) -> None:
    """An 8-bit PNG of the whole image (data bar included), contrast 0.5–99.5 %, ≤ 1024 px wide.

    With ``pixel_size`` (µm per pixel of ``image``) a scale bar (a round length, labelled) is
    drawn at the lower right of the micrograph, above the data bar when ``databar_row`` is known.
    """
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
    picture = Image.fromarray(grey)
    if pixel_size is not None and np.isfinite(pixel_size) and pixel_size > 0 and min(grey.shape) >= 48:
        bottom = grey.shape[0] if not databar_row else max(1, int(databar_row) // step)
        picture = _draw_scale_bar(picture.convert("RGB"), float(pixel_size) * step, bottom)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")
