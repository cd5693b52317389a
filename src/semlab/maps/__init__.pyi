# Public API of semlab.maps: read by type checkers, and at import time by
# ``lazy_loader.attach_stub`` in ``__init__.py``, which loads each name from its module on
# first use.  Add a public name here (import + ``__all__``); tests/test_public_api.py
# checks that every name resolves and that ``__all__`` matches the imports.

from .embedding import METHODS, UMAP_DEFAULTS, EmbeddingModel, embed, fit_embedding, pool_features
from .mapdata import (
    MapData,
    build_map,
    color_columns,
    load_embedding,
    map_from_coords,
    map_from_features,
    page_payload,
    place_on_map,
    save_embedding,
)
from .page import MapServer, export_html, full_picture, render_page, serve_map
from .thumbs import cached_picture, encode_image, thumbnail, to_uint8

__all__ = [
    "EmbeddingModel",
    "METHODS",
    "MapData",
    "MapServer",
    "UMAP_DEFAULTS",
    "build_map",
    "cached_picture",
    "color_columns",
    "embed",
    "encode_image",
    "export_html",
    "fit_embedding",
    "full_picture",
    "load_embedding",
    "map_from_coords",
    "map_from_features",
    "page_payload",
    "place_on_map",
    "pool_features",
    "render_page",
    "save_embedding",
    "serve_map",
    "thumbnail",
    "to_uint8",
]
