"""``/api/map`` and ``/map``: the workspace's latest map with the uploads placed on it."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from semlab.serve._routes_common import STATIC, ServeState, state

router = APIRouter()

#: Text columns with more levels than this are not offered as colours (names, free text).
MAX_TEXT_LEVELS = 12


@router.get("/map", include_in_schema=False)
def map_page() -> FileResponse:
    return FileResponse(STATIC / "map.html", headers={"Cache-Control": "no-store"})


def _number(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _columns(table: Any) -> list[dict[str, Any]]:
    """Colour choices of the map page: numeric columns with an ordered scale (``min``, ``max``,
    ``label`` with the unit of the name's suffix) and text columns of few levels as categories;
    identifier and all-missing columns are left out (as on ``semlab map``'s page)."""
    import pandas as pd

    from semlab._plot import axis_label
    from semlab.maps.mapdata import color_columns

    out = []
    for name in color_columns(table):
        series = table[name]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values = [_number(v) for v in series.tolist()]
            present = [v for v in values if v is not None]
            if present:
                out.append(
                    {"name": name, "label": axis_label(name), "numeric": True, "values": values,
                     "min": min(present), "max": max(present)}
                )  # fmt: skip
            continue
        text = [None if pd.isna(v) else str(v) for v in series.tolist()]
        levels = sorted({t for t in text if t is not None})
        if 1 < len(levels) <= MAX_TEXT_LEVELS:
            code = {t: i for i, t in enumerate(levels)}
            out.append(
                {"name": name, "label": axis_label(name), "numeric": False, "levels": levels,
                 "codes": [-1 if t is None else code[t] for t in text]}
            )  # fmt: skip
    return out


@router.get("/api/map", summary="The workspace's latest map: study images, colour columns, placed uploads")
def get_map(st: ServeState = Depends(state)) -> dict[str, Any]:
    from semlab.maps.mapdata import describe_coordinates
    from semlab.serve._jobs import _map_coords

    cap = st.analyses.capabilities()["map"]
    if not cap["available"]:
        return {"available": False, "reason": cap["reason"]}
    folder = st.analyses._map_folder()
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    hashes, coords = _map_coords(folder)
    info = st.workspace.table().drop_duplicates("hash").set_index("hash")
    rows = info.reindex(hashes)
    names = [
        str(v) if isinstance(v, str) else h[:12] for h, v in zip(hashes, rows["original_name"], strict=True)
    ]
    method = str(cfg.get("method") or "")
    return {
        "available": True,
        "title": f"Map of {st.workspace.path.name}: {len(set(hashes))} study images"
        + (f", {len(hashes)} patches" if len(hashes) != len(set(hashes)) else ""),
        "coordinates": describe_coordinates(method, cfg),
        "method": method,
        "backbone": cfg.get("backbone"),
        "points": {
            "image_hash": hashes,
            "name": names,
            "x": [float(v) for v in coords[:, 0]],
            "y": [float(v) for v in coords[:, 1]],
        },
        "columns": _columns(rows.reset_index(drop=True).drop(columns=["stored_path"], errors="ignore")),
        "uploads": st.store.placements(),
    }


@router.get("/map/explore", include_in_schema=False)
def explore_page(st: ServeState = Depends(state)) -> HTMLResponse:
    """The latest map in ``semlab map``'s page (100 000 points: WebGL on a GPU, a cached layer
    otherwise); each thumbnail is fetched from ``/map/thumb/<hash>`` when the view zooms in."""
    from semlab.maps import map_from_coords, page_payload, render_page
    from semlab.serve._jobs import _map_coords

    cap = st.analyses.capabilities()["map"]
    if not cap["available"]:
        raise HTTPException(404, cap["reason"])
    folder = st.analyses._map_folder()
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    hashes, coords = _map_coords(folder)
    info = st.workspace.table().drop_duplicates("hash").set_index("hash")
    rows = info.reindex(hashes).reset_index().drop(columns=["stored_path"], errors="ignore")
    data = map_from_coords(
        coords,
        rows,
        method=str(cfg.get("method") or "given"),
        info=cfg,
        title=f"Map of {st.workspace.path.name}",
    )
    payload = page_payload(data, thumb_urls=[f"/map/thumb/{h}" for h in hashes])
    return HTMLResponse(render_page(payload), headers={"Cache-Control": "no-store"})


@router.get("/map/thumb/{image_hash}", include_in_schema=False)
def map_thumbnail(image_hash: str, st: ServeState = Depends(state)) -> FileResponse:
    """A catalogued image's map thumbnail (8-bit JPEG, cached under ``WORKSPACE/maps/thumbs``)."""
    from semlab.maps.mapdata import MAPS_DIR
    from semlab.maps.thumbs import THUMB_SIZE, cached_picture

    known = set(st.workspace.table()["hash"].astype(str))
    if image_hash not in known:
        raise HTTPException(404, "no catalogued image with this hash")

    def load() -> Any:  # the stored image without its data bar, as semlab map's thumbnails
        return st.workspace.read(image_hash, crop=True).image

    path = cached_picture(st.workspace.path / MAPS_DIR / "thumbs", image_hash, load, size=THUMB_SIZE)
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})
