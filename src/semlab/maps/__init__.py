"""2D maps of micrographs: embeddings (UMAP, PCA, t-SNE), map data, the interactive map page and its standalone export.

Every image (or patch) becomes a point placed by a 2-D embedding of its CNN features, so
that similar microstructures sit together; the page (canvas, no dependencies) draws each
point as its thumbnail when zoomed in, colours points by any descriptor column, shows an
image's metadata on hover and the full image on click, selects with a box or lasso and
downloads the selection as CSV.

>>> from semlab.maps import build_map, export_html, serve_map
>>> data = build_map("my-study", color_by="burst_count")  # doctest: +SKIP
>>> export_html(data, "map.html")  # doctest: +SKIP
>>> server = serve_map(data); server.url  # doctest: +SKIP
'http://127.0.0.1:40123/'

Only NumPy is imported with the package; scikit-learn, umap-learn and pandas are imported
by the functions that use them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "METHODS": "semlab.maps.embedding",
    "UMAP_DEFAULTS": "semlab.maps.embedding",
    "EmbeddingModel": "semlab.maps.embedding",
    "embed": "semlab.maps.embedding",
    "fit_embedding": "semlab.maps.embedding",
    "pool_features": "semlab.maps.embedding",
    "MapData": "semlab.maps.mapdata",
    "build_map": "semlab.maps.mapdata",
    "map_from_features": "semlab.maps.mapdata",
    "map_from_coords": "semlab.maps.mapdata",
    "place_on_map": "semlab.maps.mapdata",
    "save_embedding": "semlab.maps.mapdata",
    "load_embedding": "semlab.maps.mapdata",
    "page_payload": "semlab.maps.mapdata",
    "color_columns": "semlab.maps.mapdata",
    "export_html": "semlab.maps.page",
    "render_page": "semlab.maps.page",
    "serve_map": "semlab.maps.page",
    "MapServer": "semlab.maps.page",
    "full_picture": "semlab.maps.page",
    "thumbnail": "semlab.maps.thumbs",
    "to_uint8": "semlab.maps.thumbs",
    "encode_image": "semlab.maps.thumbs",
    "cached_picture": "semlab.maps.thumbs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'semlab.maps' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
