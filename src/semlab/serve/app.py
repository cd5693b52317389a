"""The FastAPI application behind ``semlab serve``.

Routes (all JSON errors are ``{"detail": "one line for people"}``):

``GET /``                          the single-page app (upload, results, history)
``GET /image/{hash}``              the page of one image
``GET /api/info``                  workspace, limits, which tasks can run (and why not)
``POST /api/uploads``              multipart ``file`` (one file) + ``tasks`` (comma-separated) → 201
``GET /api/uploads``               history, newest first; filters ``q``, ``task``, ``status``
``GET /api/uploads/{id}``          one upload with its jobs
``GET /api/history.csv|.json``     the (filtered) history as a download
``GET /api/jobs/{id}``             one job; ``POST /api/jobs/{id}/retry`` queues a failed one again
``GET /api/jobs/{id}/overlay.png`` the segmentation overlay of a segment job
``GET /api/images/{hash}``         catalogue record, metadata, uploads and results of an image
``GET /api/images/{hash}/preview.png``  the image as an 8-bit PNG for the browser
``GET /openapi.json``              the API description (OpenAPI 3)
``GET /docs``                      the API reference, drawn from ``/openapi.json`` by a page served
                                   here (works offline); ``/docs/swagger`` is FastAPI's Swagger UI,
                                   which loads its JavaScript from a CDN (needs internet access)

Access: with a token, every request must carry it — header ``Authorization: Bearer TOKEN``,
or the ``semlab_token`` cookie that a first visit to ``/?token=TOKEN`` sets (HttpOnly,
SameSite=Strict) before redirecting to the same page without the token in the address.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import shutil
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile as StarletteUploadFile

from semlab.errors import SemlabError
from semlab.serve import _images as images
from semlab.serve._jobs import Analyses, Runner
from semlab.serve._store import STATUSES, TASKS, Store, jsonable
from semlab.serve._uploads import MAX_FILE_BYTES, MAX_PIXELS, UploadError, check_file, check_name

STATIC = Path(__file__).parent / "static"
COOKIE = "semlab_token"
_HASH_CHARS = set("0123456789abcdef")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def create_app(
    workspace: Any,
    *,
    token: str | None = None,
    model: str | Path | None = None,
    workers: int = 1,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_pixels: int = MAX_PIXELS,
    segment_method: str = "hybrid",
) -> FastAPI:
    """The web app over one workspace.

    Parameters
    ----------
    workspace : Workspace or path
        An existing semlab workspace (``semlab init``).  Uploads are added to it; the app's
        history lives in its catalog; result files under ``<workspace>/serve/``.
    token : str, optional
        Required on every request when given (see the module docstring).
    model : path, optional
        Trained run folder for predictions; default: the newest ``<workspace>/runs/*``.
    workers : int, default 1
        Background threads running analyses.
    max_file_bytes, max_pixels : int
        Upload limits (100 MB, 100 megapixels).
    segment_method : str, default "hybrid"
        Method of :func:`semlab.segment.segment_image` for segment and quantify.

    Returns
    -------
    fastapi.FastAPI
        ``app.state`` holds ``workspace``, ``store``, ``runner`` and ``analyses``.
        Jobs left queued or running by a previous server are queued again on creation.
    """
    from semlab.dataset import Workspace

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    serve_dir = ws.path / "serve"
    incoming = serve_dir / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    for leftover in incoming.iterdir():  # uploads a killed server did not finish
        shutil.rmtree(leftover, ignore_errors=True)
    store = Store(ws.catalog)
    analyses = Analyses(ws, store, model=model, segment_method=segment_method, max_pixels=max_pixels)
    runner = Runner(store, analyses, workers=workers)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        yield
        runner.shutdown()

    from semlab import __version__

    app = FastAPI(
        title="semlab",
        version=__version__,
        description="Upload SEM micrographs; predict, segment, quantify and place them on the map.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.workspace = ws
    app.state.store = store
    app.state.runner = runner
    app.state.analyses = analyses
    app.state.token = token

    # -- access and size checks before anything is read ------------------------------------

    @app.middleware("http")
    async def guard(request: Request, call_next):  # noqa: ANN001, ANN202
        if token is not None:
            given = None
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            elif "token" in request.query_params:
                given = request.query_params["token"]
            else:
                given = request.cookies.get(COOKIE)
            if given is None or not hmac.compare_digest(given.encode(), token.encode()):
                what = "wrong token" if given is not None else "this server needs a token"
                return _error(
                    401,
                    f"{what}: open the address `semlab serve` printed (…/?token=…) or send "
                    "`Authorization: Bearer TOKEN`",
                )
            if "token" in request.query_params and request.method == "GET":
                rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                query = urlencode(rest)
                target = request.url.path + (f"?{query}" if query else "")
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
                return response
        if request.method == "POST" and request.url.path == "/api/uploads":
            length = request.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > max_file_bytes + 1_000_000:
                return _error(
                    413,
                    f"upload is {int(length) / 2**20:.1f} MB; the limit is {max_file_bytes / 2**20:.0f} MB per file",
                )
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        return _error(422, f"{where or 'request'}: {first.get('msg', 'invalid value')}")

    @app.exception_handler(SemlabError)
    async def semlab_error(request: Request, exc: SemlabError) -> JSONResponse:
        return _error(422, str(exc))

    # -- pages -----------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/image/{image_hash}", include_in_schema=False)
    def image_page(image_hash: str) -> FileResponse:
        return FileResponse(STATIC / "image.html", headers={"Cache-Control": "no-store"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", headers={"Cache-Control": "no-store"})

    @app.get("/docs/swagger", include_in_schema=False)
    def swagger() -> Response:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url="/openapi.json", title="semlab · Swagger UI")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -- API -------------------------------------------------------------------------------

    @app.get("/api/info", summary="Workspace, limits and which tasks can run")
    def info() -> dict[str, Any]:
        return {
            "workspace": str(ws.path),
            "n_images": len(ws),
            "tasks": list(TASKS),
            "capabilities": analyses.capabilities(),
            "limits": {"max_file_bytes": max_file_bytes, "max_pixels": max_pixels},
            "accepted": ["image/tiff", "image/png", "image/jpeg"],
            "history": store.counts(),
            "version": __version__,
        }

    @app.post("/api/uploads", status_code=201, summary="Upload one micrograph and queue its analyses")
    def upload(
        file: UploadFile | None = File(None, description="TIFF (8/16-bit), PNG or JPEG micrograph"),
        tasks: str = Form(
            "segment,quantify",
            description="comma-separated: " + ", ".join(TASKS) + "; `none` to only store the file",
        ),
    ) -> dict[str, Any]:
        if file is None or not isinstance(file, StarletteUploadFile):
            raise HTTPException(400, "no file in the request; send the image as multipart form field 'file'")
        try:
            name = check_name(file.filename)
        except UploadError as exc:
            raise HTTPException(exc.status, exc.message) from None
        wanted = [t.strip().lower() for t in tasks.split(",") if t.strip() and t.strip().lower() != "none"]
        unknown = [t for t in wanted if t not in TASKS]
        if unknown:
            raise HTTPException(422, f"tasks: unknown {unknown[0]!r}; choose from {', '.join(TASKS)}")
        wanted = [t for t in TASKS if t in wanted]  # canonical order, no repeats
        folder = incoming / uuid.uuid4().hex
        folder.mkdir(parents=True)
        try:
            raw = folder / "upload.bin"
            digest, size = hashlib.sha256(), 0
            with open(raw, "wb") as out:
                while block := file.file.read(1 << 20):
                    size += len(block)
                    if size > max_file_bytes:
                        raise UploadError(
                            413, f"{name}: file is over the limit of {max_file_bytes / 2**20:.0f} MB per file"
                        )
                    digest.update(block)
                    out.write(block)
            checked = check_file(raw, name, max_bytes=max_file_bytes, max_pixels=max_pixels)
            stem = (
                Path(name).stem
                if Path(name).suffix.lower() in (".tif", ".tiff", ".png", ".jpg", ".jpeg")
                else name
            )
            display = (
                f"{stem}{checked.suffix}"
                if Path(name).suffix.lower() not in _SUFFIXES[checked.suffix]
                else name
            )
            staged = folder / f"upload{checked.suffix}"  # the user's name is never a path
            raw.rename(staged)
            image_hash = digest.hexdigest()
            try:
                new = images.ingest(ws, store, staged, image_hash, checked.suffix, display)
            except SemlabError as exc:
                message = str(exc).replace(str(staged), name).replace(str(folder), "")
                raise UploadError(422, message) from None
            upload_id, job_ids = store.add_upload(image_hash, display, size, not new, wanted)
        except UploadError as exc:
            raise HTTPException(exc.status, exc.message) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        runner.submit(job_ids)
        return store.uploads(upload_id=upload_id)[0]

    @app.get("/api/uploads", summary="History of uploads with their results (filterable)")
    def list_uploads(
        q: str | None = Query(None, description="file name, hash prefix or predicted label contains"),
        task: str | None = Query(None, description="has a job of this task"),
        status: str | None = Query(None, description="has a job in this state"),
        label: str | None = Query(None, description="predicted exactly this class (or value)"),
        limit: int = Query(200, ge=1, le=10_000),
        offset: int = Query(0, ge=0),
    ) -> dict[str, Any]:
        _check_filters(task, status)
        return {
            "uploads": store.uploads(q=q, task=task, status=status, label=label, limit=limit, offset=offset),
            "counts": store.counts(),
        }

    @app.get("/api/uploads/{upload_id}", summary="One upload with its jobs")
    def get_upload(upload_id: int) -> dict[str, Any]:
        found = store.uploads(upload_id=upload_id)
        if not found:
            raise HTTPException(404, f"no upload {upload_id}")
        return found[0]

    @app.get("/api/history.json", summary="The (filtered) history as a JSON download")
    def history_json(
        q: str | None = None, task: str | None = None, status: str | None = None, label: str | None = None
    ) -> Response:
        _check_filters(task, status)
        data = store.uploads(q=q, task=task, status=status, label=label, limit=1_000_000)
        body = json.dumps(jsonable(data), ensure_ascii=False, indent=1)
        return Response(
            body,
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="semlab-history.json"'},
        )

    @app.get("/api/history.csv", summary="The (filtered) history as a CSV download, one row per upload")
    def history_csv(
        q: str | None = None, task: str | None = None, status: str | None = None, label: str | None = None
    ) -> Response:
        _check_filters(task, status)
        rows = _flat_rows(store.uploads(q=q, task=task, status=status, label=label, limit=1_000_000))
        columns: list[str] = []
        for r in rows:
            columns += [c for c in r if c not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns or ["upload_id"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return Response(
            buf.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="semlab-history.csv"'},
        )

    def _flat_rows(uploads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        pixel = store.pixel_sizes({u["image_hash"] for u in uploads})
        out = []
        for u in uploads:
            row: dict[str, Any] = {
                "upload_id": u["id"],
                "uploaded_at": u["uploaded_at"],
                "original_name": u["original_name"],
                "image_hash": u["image_hash"],
                "duplicate": u["duplicate"],
                "pixel_size_um": pixel.get(u["image_hash"]),
            }
            for j in u["jobs"]:
                t, res = j["task"], j["result"] or {}
                row[f"{t}_status"] = j["status"]
                if j["error"]:
                    row[f"{t}_error"] = j["error"]
                if t == "predict" and res:
                    row["target"] = res.get("target")
                    row["prediction"] = res.get("prediction")
                    row["confidence"] = res.get("confidence")
                elif t == "segment" and res:
                    row["segment_method"] = res.get("method")
                    row["pore_fraction"] = res.get("pore_fraction")
                    for k, v in (res.get("fractions") or {}).items():
                        row[f"{k}_area_fraction"] = v
                elif t == "quantify" and res:
                    for k, v in (res.get("descriptors") or {}).items():
                        row[k if k != "pixel_size_um" else "quantify_pixel_size_um"] = (
                            json.dumps(v) if isinstance(v, list) else v
                        )
                elif t == "map" and res:
                    row["map_x"], row["map_y"] = res.get("x"), res.get("y")
            out.append(row)
        return out

    @app.get("/api/jobs/{job_id}", summary="One job: status, error, result")
    def get_job(job_id: int) -> dict[str, Any]:
        job = store.job(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        return job

    @app.post("/api/jobs/{job_id}/retry", summary="Queue a failed job again")
    def retry_job(job_id: int) -> dict[str, Any]:
        job = store.job(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        if not store.retry(job_id):
            raise HTTPException(409, f"job {job_id} is {job['status']}; only failed jobs can be retried")
        runner.submit([job_id])
        return store.job(job_id)

    @app.get("/api/jobs/{job_id}/overlay.png", summary="Segmentation overlay (image | labels)")
    def job_overlay(job_id: int, download: bool = False) -> FileResponse:
        job = store.job(job_id)
        if job is None or not job.get("artifact"):
            raise HTTPException(404, f"job {job_id} has no overlay (only finished segment jobs have one)")
        path = (ws.path / job["artifact"]).resolve()
        if not path.is_relative_to(serve_dir.resolve()) or not path.is_file():
            raise HTTPException(404, f"overlay of job {job_id} is missing; retry the job")
        name = f"{Path(job['artifact']).stem[:16]}-overlay.png"
        return FileResponse(path, media_type="image/png", filename=name if download else None)

    @app.get("/api/images/{image_hash}", summary="An image: record, metadata, uploads, results")
    def get_image(image_hash: str) -> dict[str, Any]:
        out = dict(_record(image_hash))
        out.pop("stored_path", None)
        metadata = dict(out.pop("metadata") or {})
        raw = metadata.pop("raw", None) or {}
        out["metadata"] = metadata
        out["raw_metadata"] = {
            str(k): (v if isinstance(v, int | float | bool) or v is None else str(v)[:300])
            for k, v in list(raw.items())[:300]
            if not isinstance(v, dict)
        }
        out["uploads"] = store.uploads(image_hash=out["hash"], limit=1000)
        out["latest"] = {t: store.latest_result(out["hash"], t) for t in TASKS}
        return jsonable(out)

    @app.get(
        "/api/images/{image_hash}/preview.png", summary="The image as an 8-bit PNG (at most 1024 px wide)"
    )
    def image_preview(image_hash: str) -> FileResponse:
        h = _record(image_hash)["hash"]
        path = serve_dir / "previews" / f"{h}.png"
        if not path.is_file():
            _write_preview(images.read(ws, store, h, crop=False).image, path)
        return FileResponse(path, media_type="image/png")

    def _record(image_hash: str) -> dict[str, Any]:
        key = image_hash.lower()
        if len(key) != 64 or not set(key) <= _HASH_CHARS:
            raise HTTPException(404, f"{image_hash[:80]!r} is not an image hash (64 hex digits)")
        rec = images.record(ws, store, key)
        if rec is None:
            raise HTTPException(404, f"no image {key} in this workspace")
        return rec

    def _check_filters(task: str | None, status: str | None) -> None:
        if task and task not in TASKS:
            raise HTTPException(422, f"task: unknown {task!r}; choose from {', '.join(TASKS)}")
        if status and status not in STATUSES:
            raise HTTPException(422, f"status: unknown {status!r}; choose from {', '.join(STATUSES)}")

    runner.submit(store.recover())
    return app


_SUFFIXES = {".tif": (".tif", ".tiff"), ".png": (".png",), ".jpg": (".jpg", ".jpeg")}


def _write_preview(image: Any, path: Path) -> None:
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
