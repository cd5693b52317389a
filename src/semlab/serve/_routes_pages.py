"""The web app's pages: the single-page app, an image's page and the API reference."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from semlab.serve._routes_common import STATIC

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


@router.get("/image/{image_hash}")
def image_page(image_hash: str) -> FileResponse:
    return FileResponse(STATIC / "image.html", headers={"Cache-Control": "no-store"})


@router.get("/docs")
def docs() -> FileResponse:
    return FileResponse(STATIC / "docs.html", headers={"Cache-Control": "no-store"})


@router.get("/docs/swagger")
def swagger() -> Response:
    from fastapi.openapi.docs import get_swagger_ui_html

    return get_swagger_ui_html(openapi_url="/openapi.json", title="semlab · Swagger UI")
