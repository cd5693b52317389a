"""The map page: standalone HTML export and a small local server (stdlib ``http.server``).

The page is one HTML file with its CSS and JavaScript inlined (``static/``; no CDN, no build
step) and the map data in a ``<script type="application/json">`` element.  The export of a
small map embeds thumbnails and full images as base64 data URIs (each full image once); a
large map's export puts its thumbnails in JPEG sprite sheets in ``<name>_files/`` beside the
HTML file.  The server hands pictures out one at a time, when the page asks, as ``thumb/<i>``
and ``image/<i>``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from semlab._util import atomic_write_bytes, atomic_write_text
from semlab.errors import ParameterError
from semlab.maps.mapdata import MapData, page_payload
from semlab.maps.thumbs import FULL_MAX_SIDE, THUMB_SIZE, cached_picture

_MIME = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


#: Largest map exported as one self-contained file (with the 512 px thumbnails embedded); larger
#: maps get thumbnail sprite sheets in a folder beside the HTML file.
MAX_EMBEDDED_LARGE = 500
#: Most distinct full images a map with sprite sheets exports for its detail panel.
MAX_EXPORTED_IMAGES = 200


def _static(name: str) -> str:
    return resources.files("semlab.maps").joinpath("static", name).read_text(encoding="utf-8")


def render_page(payload: dict[str, Any]) -> str:
    """The page's HTML with CSS, JavaScript and ``payload`` (see :func:`page_payload`) inlined."""
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    # Inside <script>, "</" or "<!--" would end the element early or change how it is parsed:
    # escape <, >, & and the JS line separators as \uXXXX (valid JSON and JavaScript alike).
    for char in "<>&\u2028\u2029":
        data = data.replace(char, f"\\u{ord(char):04x}")
    html = _static("map.html")
    title = (
        str(payload.get("title", "semlab map"))
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )
    return (
        html.replace("/*SEMLAB:CSS*/", _static("map.css"))
        .replace("SEMLAB:TITLE", title)
        .replace("/*SEMLAB:JS*/", _static("map.js"))
        .replace("SEMLAB:DATA", data)
    )


def full_picture(data: MapData, i: int, *, max_side: int = FULL_MAX_SIDE) -> Path | None:
    """Path of point ``i``'s full image as an 8-bit PNG (converted once, cached), or ``None``.

    Files a browser shows (PNG, JPEG) are used as they are; TIFF and 16-bit images are
    converted (whole image, data bar included, longest side at most ``max_side`` pixels)
    and cached in ``data.cache_dir`` (a temporary folder when that is ``None``).
    """
    src = data.images[i]
    if src is None:
        return None
    path = Path(src)
    if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
        return path
    h = data.table["hash"].iloc[i] if "hash" in data.table.columns else None
    key = str(h) if isinstance(h, str) and h else hashlib.sha256(str(path.resolve()).encode()).hexdigest()
    cache = Path(data.cache_dir) if data.cache_dir else Path(tempfile.gettempdir()) / "semlab-map-full"

    def load():  # noqa: ANN202
        import warnings

        from semlab.io import read_micrograph

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return read_micrograph(path).image

    return cached_picture(cache, key, load, size=max_side, format="png")


def _data_uri(path: str | os.PathLike | None) -> str | None:
    if path is None:
        return None
    p = Path(path)
    mime = _MIME.get(p.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(p.read_bytes()).decode("ascii")


def export_html(
    map_data: MapData,
    path: str | os.PathLike,
    *,
    full_images: bool = True,
    full_size: int = 1024,
    large_thumbnails: bool | None = None,
    atlas: bool | None = None,
    atlas_tile: int | None = None,
) -> Path:
    """Write the map as a page that opens from disk: one HTML file, or for large maps the HTML
    file and a folder of pictures beside it.

    Maps of at most :data:`MAX_EMBEDDED_LARGE` points are one self-contained file (pictures
    embedded, each full image once).  Larger maps keep their thumbnails in JPEG sprite sheets
    (:mod:`semlab.maps.atlas`) in the folder ``<name>_files/`` beside ``path``, loaded only
    when a view is zoomed in; copy the HTML file and that folder together.  A 100 000-point
    map stays under 50 MB (measured in ``benchmarks/results/maps.json``).

    Parameters
    ----------
    map_data : MapData
        From :func:`semlab.maps.build_map` or :func:`semlab.maps.map_from_features`.
    path : str or Path
        The HTML file to write (atomically).
    full_images : bool, default True
        Include each full image (PNG, longest side ``full_size`` pixels) for the detail panel,
        once per image however many patches it has; with atlas sheets only when the map has at
        most :data:`MAX_EXPORTED_IMAGES` distinct images.  Without them the panel shows the
        thumbnail.
    full_size : int, default 1024
        Longest side of exported full images in pixels.
    large_thumbnails : bool, optional
        Embed the sharper thumbnails drawn when zoomed in (512 px, about 30 kB each); by
        default for maps of at most :data:`MAX_EMBEDDED_LARGE` points (never with sheets).
    atlas : bool, optional
        Thumbnails in sprite sheets in ``<name>_files/``; by default for maps of more than
        :data:`MAX_EMBEDDED_LARGE` points.
    atlas_tile : int, optional
        Tile side of the sheets in pixels; by default from the number of points so that the
        sheets stay near 30 MB (:func:`semlab.maps.atlas.atlas_tile_side`: 32 px for 100 000).

    Returns
    -------
    Path
        ``path``; it opens in a browser from disk (``file://``), no server needed.
    """
    from urllib.parse import quote

    from semlab.maps.atlas import atlas_tile_side, write_atlas

    if not isinstance(map_data, MapData):
        raise ParameterError("map_data must be a MapData (from build_map or map_from_features)")
    out = Path(path)
    n = len(map_data)
    use_atlas = n > MAX_EMBEDDED_LARGE if atlas is None else bool(atlas)
    folder = out.with_name(out.stem + "_files")
    prefix = quote(folder.name) + "/"
    sheets: dict[str, Any] | None = None
    thumbs: list[str | None]
    if use_atlas:
        tile = int(atlas_tile) if atlas_tile else atlas_tile_side(n, largest=THUMB_SIZE)
        sheets = write_atlas(map_data.thumbnails, map_data.coords, folder, tile=tile, url_prefix=prefix)
        for stale in folder.glob("image-*.*"):
            stale.unlink()
        thumbs = [None] * n
        large_thumbnails = False
    else:
        thumbs = [_data_uri(t) for t in map_data.thumbnails]
        for stale in (*folder.glob("atlas-*.jpg"), *folder.glob("image-*.*")) if folder.is_dir() else ():
            stale.unlink()  # pictures of an earlier, larger export under this name
    sources: list[str] = []
    index = [-1] * n
    distinct = {s for s in map_data.images if s is not None}
    if full_images and (not use_atlas or len(distinct) <= MAX_EXPORTED_IMAGES):
        seen: dict[str, int] = {}
        for i, src in enumerate(map_data.images):
            if src is None:
                continue
            if src not in seen:
                pic = full_picture(map_data, i, max_side=full_size)
                if pic is None:
                    continue
                if use_atlas:
                    name = f"image-{len(sources):05d}{pic.suffix.lower()}"
                    atomic_write_bytes(folder / name, pic.read_bytes())
                    sources.append(prefix + name)
                else:
                    sources.append(str(_data_uri(pic)))
                seen[src] = len(sources) - 1
            index[i] = seen[src]
    if large_thumbnails is None:
        large_thumbnails = n <= MAX_EMBEDDED_LARGE
    large = [_data_uri(t) for t in map_data.thumbnails_large] if large_thumbnails else []
    payload = page_payload(map_data, thumb_urls=thumbs, image_urls=None, large_urls=large or None)
    payload.update(imageSources=sources, imageIndex=index, atlas=sheets)
    atomic_write_text(out, render_page(payload))
    return out


def _host_name(header: str) -> str:
    """The name of a Host header without its port (``[::1]:8000`` → ``::1``), lower case."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


class MapServer:
    """A map page served on ``http://host:port/`` from a background thread.

    Use :func:`serve_map` to make one; ``close()`` (or leaving a ``with`` block) stops it.

    Attributes
    ----------
    url : str
        Address of the page.
    """

    def __init__(self, data: MapData, *, host: str = "127.0.0.1", port: int = 0) -> None:
        n = len(data)
        payload = page_payload(
            data,
            thumb_urls=[f"thumb/{i}" if t is not None else None for i, t in enumerate(data.thumbnails)],
            image_urls=[f"image/{i}" if s is not None else None for i, s in enumerate(data.images)],
            large_urls=[f"thumb-large/{i}" if t else None for i, t in enumerate(data.thumbnails_large)]
            or None,
        )
        page = render_page(payload).encode("utf-8")
        data_json = json.dumps(payload, allow_nan=False).encode("utf-8")
        lock = threading.Lock()
        # Only our own names: a forged Host (DNS rebinding from another page) gets 400.
        allowed = {"localhost", "127.0.0.1", "::1", str(host).strip("[]").lower()}

        class Handler(BaseHTTPRequestHandler):
            server_version = "semlab-map"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _send(self, body: bytes, mime: str, *, cache: bool = False) -> None:
                self.send_response(200)
                self.send_header("Content-Type", mime)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _file(self, path: Path | None) -> None:
                if path is None or not path.is_file():
                    self.send_error(404, "no picture for this point")
                    return
                self._send(
                    path.read_bytes(), _MIME.get(path.suffix.lower(), "application/octet-stream"), cache=True
                )

            def do_GET(self) -> None:  # noqa: N802
                if _host_name(self.headers.get("Host", "")) not in allowed:
                    self.send_error(
                        400, "unknown Host header; open the map at the address semlab map printed"
                    )
                    return
                route = self.path.split("?", 1)[0].strip("/")
                try:
                    if route in ("", "index.html"):
                        self._send(page, "text/html; charset=utf-8")
                    elif route == "data.json":
                        self._send(data_json, "application/json")
                    elif route.startswith(("thumb/", "image/", "thumb-large/")):
                        kind, _, idx = route.partition("/")
                        if not idx.isdigit() or int(idx) >= n:
                            self.send_error(404, "no such point")
                            return
                        i = int(idx)
                        if kind in ("thumb", "thumb-large"):
                            pics = data.thumbnails if kind == "thumb" else data.thumbnails_large
                            t = pics[i] if i < len(pics) else None
                            self._file(Path(t) if t else None)
                        else:
                            with lock:  # convert each image once even when asked twice at once
                                p = full_picture(data, i)
                            self._file(p)
                    elif route == "favicon.ico":
                        self.send_response(204)
                        self.end_headers()
                    else:
                        self.send_error(404, "not found")
                except (BrokenPipeError, ConnectionResetError):
                    pass

        try:
            self._httpd = ThreadingHTTPServer((host, int(port)), Handler)
        except OSError as exc:
            raise ParameterError(
                f"cannot serve the map on {host}:{port} ({exc.strerror}); choose another --port"
            ) from None
        self._httpd.daemon_threads = True
        bound_host, self.port = self._httpd.server_address[:2]
        self.host = bound_host.decode() if isinstance(bound_host, bytes) else bound_host
        self.url = f"http://{self.host}:{self.port}/"
        self._thread: threading.Thread | None = None

    def start(self) -> MapServer:
        """Serve from a daemon thread; returns ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, name="semlab-map", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C)."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def open_browser(self) -> bool:
        """Open the page in the default browser; whether one could be started."""
        return webbrowser.open(self.url)

    def close(self) -> None:
        """Stop serving and free the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> MapServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_map(data: MapData, *, host: str = "127.0.0.1", port: int = 0, background: bool = True) -> MapServer:
    """Serve the map page on ``http://host:port/`` (``port=0``: a free port).

    Parameters
    ----------
    data : MapData
        The map.
    host : str, default "127.0.0.1"
        Address to bind; the default serves this computer only.
    port : int, default 0
        TCP port; 0 picks a free one (see ``server.url``).
    background : bool, default True
        Serve from a daemon thread (call ``close()`` to stop); with ``False`` the server is
        returned unstarted, for :meth:`MapServer.serve_forever`.

    Returns
    -------
    MapServer
    """
    server = MapServer(data, host=host, port=port)
    return server.start() if background else server
