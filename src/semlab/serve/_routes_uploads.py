"""``/api/info``, ``/api/uploads`` and the history downloads."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import Response
from starlette.datastructures import UploadFile as StarletteUploadFile

from semlab.errors import SemlabError
from semlab.serve._routes_common import ServeState, check_filters, state
from semlab.serve._store import TASKS
from semlab.serve._uploads import UploadError, check_file, check_memory, check_name

router = APIRouter(prefix="/api")

_SUFFIXES = {".tif": (".tif", ".tiff"), ".png": (".png",), ".jpg": (".jpg", ".jpeg")}


@router.get("/models", summary="Trained runs an upload can predict with (newest first) and the default")
def models(st: ServeState = Depends(state)) -> dict[str, Any]:
    default = st.analyses.default_model()
    runs = st.analyses.runs()
    name = next((d["name"] for d in runs if default is not None and d["path"] == str(default)), None)
    return {"default": name, "models": runs}


@router.get("/info", summary="Workspace, limits and which tasks can run")
def info(st: ServeState = Depends(state)) -> dict[str, Any]:
    from semlab import __version__

    return {
        "workspace": str(st.workspace.path),
        "n_images": len(st.workspace),
        "tasks": list(TASKS),
        "capabilities": st.analyses.capabilities(),
        "limits": {
            "max_file_bytes": st.max_file_bytes,
            "max_pixels": st.max_pixels,
            "max_decoded_bytes": st.max_decoded_bytes,
            "max_job_bytes": st.max_job_bytes,
        },
        "accepted": ["image/tiff", "image/png", "image/jpeg"],
        "history": st.store.counts(),
        "version": __version__,
    }


def _wanted_tasks(tasks: str) -> list[str]:
    wanted = [t.strip().lower() for t in tasks.split(",") if t.strip() and t.strip().lower() != "none"]
    unknown = [t for t in wanted if t not in TASKS]
    if unknown:
        raise HTTPException(422, f"tasks: unknown {unknown[0]!r}; choose from {', '.join(TASKS)}")
    return [t for t in TASKS if t in wanted]  # canonical order, no repeats


def _receive(st: ServeState, file: Any, name: str, folder: Path) -> tuple[Path, str, int]:
    """Stream the upload to ``folder`` within the size limit; (raw file, SHA-256, bytes)."""
    raw = folder / "upload.bin"
    digest, size = hashlib.sha256(), 0
    with open(raw, "wb") as out:
        while block := file.file.read(1 << 20):
            size += len(block)
            if size > st.max_file_bytes:
                raise UploadError(
                    413, f"{name}: file is over the limit of {st.max_file_bytes / 2**20:.0f} MB per file"
                )
            digest.update(block)
            out.write(block)
    return raw, digest.hexdigest(), size


def _store_upload(
    st: ServeState, file: Any, name: str, wanted: list[str], folder: Path, options: dict[str, Any]
) -> tuple[int, list[int]]:
    """Check, ingest and record one upload with its options and quality checks; (upload id, job ids)."""
    from semlab.serve import _images as images

    raw, image_hash, size = _receive(st, file, name, folder)
    checked = check_file(
        raw, name, max_bytes=st.max_file_bytes, max_pixels=st.max_pixels, max_decoded=st.max_decoded_bytes
    )
    check_memory(checked, name, wanted, budget=st.max_job_bytes, workers=st.workers)
    suffix = Path(name).suffix.lower()
    stem = Path(name).stem if suffix in (".tif", ".tiff", ".png", ".jpg", ".jpeg") else name
    display = f"{stem}{checked.suffix}" if suffix not in _SUFFIXES[checked.suffix] else name
    staged = folder / f"upload{checked.suffix}"  # the user's name is never a path
    raw.rename(staged)
    try:
        new = images.ingest(st.workspace, st.store, staged, image_hash, checked.suffix, display)
    except SemlabError as exc:
        message = str(exc).replace(str(staged), name).replace(str(folder), "")
        raise UploadError(422, message) from None
    m = images.read(st.workspace, st.store, image_hash, crop=True)
    quality = images.quality(m.image, m.pixel_size)
    return st.store.add_upload(image_hash, display, size, not new, wanted, options=options, quality=quality)


@router.post("/uploads", status_code=201, summary="Upload one micrograph and queue its analyses")
def upload(
    file: UploadFile | None = File(None, description="TIFF (8/16-bit), PNG or JPEG micrograph"),
    tasks: str = Form(
        "segment,quantify",
        description="comma-separated: " + ", ".join(TASKS) + "; `none` to only store the file",
    ),
    method: str | None = Form(
        None,
        description="segmentation method: otsu, derivative, hybrid or model:NAME (GET /api/info lists them); "
        "default the server's",
    ),
    foreground: str = Form(
        "auto", description="phase of interest: auto (the rule is shown with the result), bright or dark"
    ),
    phase: str | None = Form(None, description="a name for the measured phase, e.g. particles (optional)"),
    model: str | None = Form(
        None, description="trained run for predict (a name from GET /api/models); default the newest"
    ),
    st: ServeState = Depends(state),
) -> dict[str, Any]:
    if file is None or not isinstance(file, StarletteUploadFile):
        raise HTTPException(400, "no file in the request; send the image as multipart form field 'file'")
    try:
        name = check_name(file.filename)
    except UploadError as exc:
        raise HTTPException(exc.status, exc.message) from None
    wanted = _wanted_tasks(tasks)
    asked = {"method": method, "foreground": foreground, "phase": phase, "model": model}
    options = st.analyses.check_options({k: v for k, v in asked.items() if v}, wanted)
    folder = st.incoming / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        upload_id, job_ids = _store_upload(st, file, name, wanted, folder, options)
    except UploadError as exc:
        raise HTTPException(exc.status, exc.message) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    st.runner.submit(job_ids)
    return st.store.uploads(upload_id=upload_id)[0]


@router.get("/uploads", summary="History of uploads with their results (filterable)")
def list_uploads(
    q: str | None = Query(None, description="file name, hash prefix or predicted label contains"),
    task: str | None = Query(None, description="has a job of this task"),
    status: str | None = Query(None, description="has a job in this state"),
    label: str | None = Query(None, description="predicted exactly this class (or value)"),
    limit: int = Query(200, ge=1, le=10_000),
    offset: int = Query(0, ge=0),
    st: ServeState = Depends(state),
) -> dict[str, Any]:
    check_filters(task, status)
    return {
        "uploads": st.store.uploads(q=q, task=task, status=status, label=label, limit=limit, offset=offset),
        "counts": st.store.counts(q=q, task=task, status=status, label=label),
        "total": st.store.counts(),
    }


@router.get("/uploads/{upload_id}", summary="One upload with its jobs")
def get_upload(upload_id: int, st: ServeState = Depends(state)) -> dict[str, Any]:
    found = st.store.uploads(upload_id=upload_id)
    if not found:
        raise HTTPException(404, f"no upload {upload_id}")
    return found[0]


@router.get("/history.json", summary="The (filtered) history as a JSON download")
def history_json(
    q: str | None = None,
    task: str | None = None,
    status: str | None = None,
    label: str | None = None,
    st: ServeState = Depends(state),
) -> Response:
    from semlab._util import to_jsonable

    check_filters(task, status)
    data = st.store.uploads(q=q, task=task, status=status, label=label, limit=1_000_000)
    body = json.dumps(to_jsonable(data), ensure_ascii=False, indent=1, allow_nan=False)
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="semlab-history.json"'},
    )


@router.get("/history.csv", summary="The (filtered) history as a CSV download, one row per upload")
def history_csv(
    q: str | None = None,
    task: str | None = None,
    status: str | None = None,
    label: str | None = None,
    st: ServeState = Depends(state),
) -> Response:
    check_filters(task, status)
    rows = flat_rows(st, st.store.uploads(q=q, task=task, status=status, label=label, limit=1_000_000))
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns or ["upload_id"], lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in r.items()} for r in rows)
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="semlab-history.csv"'},
    )


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a string starting like a formula gets a ``'``.

    >>> csv_cell("=HYPERLINK(1)"), csv_cell("-x.tif"), csv_cell(-1.5), csv_cell("a.tif")
    ("'=HYPERLINK(1)", "'-x.tif", -1.5, 'a.tif')
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _job_columns(row: dict[str, Any], job: dict[str, Any]) -> None:
    t, res = job["task"], job["result"] or {}
    row[f"{t}_status"] = job["status"]
    if job["error"]:
        row[f"{t}_error"] = job["error"]
    if t == "predict" and res:
        row["target"] = res.get("target")
        row["prediction"] = res.get("prediction")
        row["confidence"] = res.get("confidence")
        row["model"] = (res.get("model_info") or {}).get("name") or res.get("model")
        dom = res.get("domain") or {}
        if dom.get("available"):
            row["in_domain"], row["domain_score"] = dom.get("in_domain"), dom.get("score")
    elif t == "segment" and res:
        row["segment_method"] = res.get("method")
        row["measured_phase"] = res.get("phase")
        row["measured_phase_fraction"] = res.get("phase_fraction")
        row["foreground"] = (res.get("foreground") or {}).get("chosen")
        if "pore_fraction" in res:  # results of older servers
            row["pore_fraction"] = res.get("pore_fraction")
        for k, v in (res.get("fractions") or {}).items():
            row[f"{k}_area_fraction"] = v
    elif t == "quantify" and res:
        row["n_particles"] = (res.get("particles") or {}).get("n_particles")
        for k, v in (res.get("descriptors") or {}).items():
            row[k if k != "pixel_size_um" else "quantify_pixel_size_um"] = (
                json.dumps(v) if isinstance(v, list) else v
            )
    elif t == "map" and res:
        row["map_x"], row["map_y"] = res.get("x"), res.get("y")


def flat_rows(st: ServeState, uploads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per upload: its fields, then each job's status and main results."""
    pixel = st.store.pixel_sizes({u["image_hash"] for u in uploads})
    out = []
    for u in uploads:
        row: dict[str, Any] = {
            "upload_id": u["id"],
            "uploaded_at": u["uploaded_at"],
            "original_name": u["original_name"],
            "image_hash": u["image_hash"],
            "duplicate": u["duplicate"],
            "pixel_size_um": pixel.get(u["image_hash"]),
            "quality_flags": " ".join((u.get("quality") or {}).get("flags") or []),
        }
        for j in u["jobs"]:
            _job_columns(row, j)
        out.append(row)
    return out
