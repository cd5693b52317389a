"""``/api/images``: an image's record, metadata, uploads and results, and its preview."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from semlab.serve._routes_common import ServeState, record, state, write_preview
from semlab.serve._store import TASKS

router = APIRouter(prefix="/api/images")


@router.get("/{image_hash}", summary="An image: record, metadata, uploads, results")
def get_image(image_hash: str, st: ServeState = Depends(state)) -> dict[str, Any]:
    from semlab._util import to_jsonable

    out = dict(record(st, image_hash))
    out.pop("stored_path", None)
    metadata = dict(out.pop("metadata") or {})
    raw = metadata.pop("raw", None) or {}
    out["metadata"] = metadata
    out["raw_metadata"] = {
        str(k): (v if isinstance(v, int | float | bool) or v is None else str(v)[:300])
        for k, v in list(raw.items())[:300]
        if not isinstance(v, dict)
    }
    out["uploads"] = st.store.uploads(image_hash=out["hash"], limit=1000)
    out["latest"] = {t: st.store.latest_result(out["hash"], t) for t in TASKS}
    return to_jsonable(out)


@router.get(
    "/{image_hash}/preview.png",
    summary="The image as an 8-bit PNG (at most 1024 px wide), with a scale bar when the pixel size is known",
)
def image_preview(image_hash: str, st: ServeState = Depends(state)) -> FileResponse:
    from semlab.serve import _images as images

    rec = record(st, image_hash)
    h = rec["hash"]
    path = st.serve_dir / "previews" / f"{h}-scalebar.png"
    if not path.is_file():
        m = images.read(st.workspace, st.store, h, crop=False)
        write_preview(m.image, path, pixel_size=m.pixel_size, databar_row=rec.get("databar_row"))
    return FileResponse(path, media_type="image/png")
