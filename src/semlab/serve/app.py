"""The FastAPI application behind ``semlab serve``.

Routes (all JSON errors are ``{"detail": "one line for people"}``):

``GET /``                          the single-page app (upload, results, history)
``GET /image/{hash}``              the page of one image
``GET /api/info``                  workspace, limits, which tasks can run (and why not), the
                                   segmentation methods and trained runs an upload may choose
``GET /api/models``                trained runs (name, target, task, date, CV score), newest first,
                                   and the default (the newest, or ``--model``)
``POST /api/uploads``              multipart ``file`` (one file) + ``tasks`` (comma-separated) and the
                                   options ``method`` (otsu, derivative, hybrid, model:NAME),
                                   ``foreground`` (auto, bright, dark), ``phase`` (a name for the
                                   measured phase), ``model`` (a run name) → 201 with ``options``
                                   and ``quality`` (arrival image checks)
``GET /api/uploads``               history, newest first; filters ``q``, ``task``, ``status``
``GET /api/uploads/{id}``          one upload with its jobs
``GET /api/history.csv|.json``     the (filtered) history as a download
``GET /api/jobs/{id}``             one job; ``POST /api/jobs/{id}/retry`` queues a failed one again
``GET /api/jobs/{id}/overlay.png`` the segmentation overlay of a segment job (with its colour key)
``GET /api/jobs/{id}/labels.tif``  a segment job's labels: the upload's shape, 255 = no data (the
                                   data bar), class names in the TIFF description and a header
``GET /api/jobs/{id}/particles.csv`` a quantify job's per-particle table
``GET /api/images/{hash}``         catalogue record, metadata, uploads and results of an image
``GET /api/images/{hash}/preview.png``  the image as an 8-bit PNG for the browser, with a scale
                                   bar when the pixel size is known
``GET /openapi.json``              the API description (OpenAPI 3)
``GET /docs``                      the API reference, drawn from ``/openapi.json`` by a page served
                                   here (works offline); ``/docs/swagger`` is FastAPI's Swagger UI,
                                   which loads its JavaScript from a CDN (needs internet access)

Checks before any route (:mod:`semlab.serve._guard`): a ``Host`` that is not a loopback name or a
bound host gets 400; a write (POST) a browser marks as from another origin gets 403; an upload
body is counted while it streams and refused with 413 once past the limit.

Access: with a token, every request must carry it — header ``Authorization: Bearer TOKEN``,
or the ``semlab_token`` cookie that a first visit to ``/?token=TOKEN`` sets (HttpOnly,
SameSite=Strict) before redirecting to the same page without the token in the address.

The routes live in routers (``_routes_pages``, ``_routes_uploads``, ``_routes_jobs``,
``_routes_images``, ``_routes_map``); what they share is ``app.state.serve`` (:class:`ServeState`).
"""

from __future__ import annotations

import hmac
import shutil
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from semlab.errors import SemlabError
from semlab.serve import _routes_images, _routes_jobs, _routes_map, _routes_pages, _routes_uploads
from semlab.serve._guard import BODY_SLACK, RequestGuard, allowed_hosts
from semlab.serve._jobs import Analyses, Runner
from semlab.serve._routes_common import STATIC, ServeState, error
from semlab.serve._store import Store
from semlab.serve._uploads import MAX_FILE_BYTES, MAX_PIXELS

COOKIE = "semlab_token"


def create_app(
    workspace: Any,
    *,
    token: str | None = None,
    model: str | Path | None = None,
    workers: int = 1,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_pixels: int = MAX_PIXELS,
    max_decoded_bytes: int | None = None,
    max_job_bytes: int | None = None,
    segment_method: str = "hybrid",
    hosts: tuple[str, ...] = (),
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
        Default trained run folder for predictions; default: the newest ``<workspace>/runs/*``.
        An upload may choose any run of the workspace (``GET /api/models``).
    workers : int, default 1
        Background threads running analyses.
    max_file_bytes, max_pixels : int
        Upload limits (100 MB, 100 megapixels).
    max_decoded_bytes : int, optional
        Largest decoded size of an upload (pixels × channels × bytes per sample, every page),
        read from its header before decoding; default :func:`semlab.io.max_decoded_bytes`
        (``$SEMLAB_MAX_DECODED_BYTES``, else 512 MiB), the limit the CLI uses.
    max_job_bytes : int, optional
        Memory a segment or quantify job may take; an upload asking for one is refused (413,
        before decoding) when its pixels × 200 bytes (the stated bound, measured by
        ``benchmarks/bench_memory.py``) exceed its share per worker.  Default: the memory
        available at upload.
    segment_method : str, default "hybrid"
        Default segmentation method of segment and quantify; an upload may choose another,
        the phase of interest and its name (:mod:`semlab.serve._segjob`).
    hosts : tuple of str
        Host names besides the loopback ones accepted in the ``Host`` header (the ``--host``
        the server is bound to; a wildcard adds this machine's names).  Any other ``Host`` gets
        400, and a write from another origin 403 (:mod:`semlab.serve._guard`).

    Returns
    -------
    fastapi.FastAPI
        ``app.state`` holds ``workspace``, ``store``, ``runner`` and ``analyses``, and
        ``serve`` (all the routers need).  Jobs left queued or running by a previous server
        are queued again on creation.
    """
    from semlab import __version__
    from semlab.dataset import Workspace
    from semlab.io import max_decoded_bytes as max_decoded

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    serve_dir = ws.path / "serve"
    incoming = serve_dir / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    for leftover in incoming.iterdir():  # uploads a killed server did not finish
        shutil.rmtree(leftover, ignore_errors=True)
    store = Store(ws)
    analyses = Analyses(ws, store, model=model, segment_method=segment_method, max_pixels=max_pixels)
    runner = Runner(store, analyses, workers=workers)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        yield
        runner.shutdown()

    app = FastAPI(
        title="semlab",
        version=__version__,
        description="Upload SEM micrographs; predict, segment, quantify and place them on the map.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.serve = ServeState(
        workspace=ws, store=store, analyses=analyses, runner=runner, token=token, serve_dir=serve_dir,
        incoming=incoming, max_file_bytes=int(max_file_bytes), max_pixels=int(max_pixels),
        max_decoded_bytes=max_decoded(max_decoded_bytes), max_job_bytes=max_job_bytes,
        workers=max(1, int(workers)),
    )  # fmt: skip
    app.state.workspace = ws
    app.state.store = store
    app.state.runner = runner
    app.state.analyses = analyses
    app.state.token = token
    app.add_middleware(
        RequestGuard,
        hosts=allowed_hosts(hosts),
        max_body={"/api/uploads": int(max_file_bytes) + BODY_SLACK},
        access=_access,
    )  # Host, token, origin and streamed body size before anything else (pure ASGI, no task group)
    app.exception_handler(RequestValidationError)(_invalid_request)
    app.exception_handler(SemlabError)(_semlab_error)
    app.exception_handler(MemoryError)(_out_of_memory)
    for module in (_routes_pages, _routes_uploads, _routes_jobs, _routes_images, _routes_map):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    runner.submit(store.recover())
    return app


def _given_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    if "token" in request.query_params:
        return request.query_params["token"]
    return request.cookies.get(COOKIE)


def _access(request: Request) -> Response | None:
    """Token and declared-size checks before anything is read: a refusal, or None to go on."""
    st: ServeState = request.app.state.serve
    token = st.token
    if token is not None:
        given = _given_token(request)
        if given is None or not hmac.compare_digest(given.encode(), token.encode()):
            what = "wrong token" if given is not None else "this server needs a token"
            return error(
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
        limit = st.max_file_bytes
        if length is not None and length.isdigit() and int(length) > limit + BODY_SLACK:
            return error(
                413, f"upload is {int(length) / 2**20:.1f} MB; the limit is {limit / 2**20:.0f} MB per file"
            )
    return None


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    return error(422, f"{where or 'request'}: {first.get('msg', 'invalid value')}")


async def _out_of_memory(request: Request, exc: MemoryError) -> JSONResponse:
    return error(
        413,
        "not enough memory for this request; upload a smaller (cropped or binned) image, "
        "or lower SEMLAB_MAX_DECODED_BYTES so such files are refused at once",
    )


async def _semlab_error(request: Request, exc: SemlabError) -> JSONResponse:
    return error(422, str(exc))
