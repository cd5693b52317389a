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

Names load on first use (``lazy_loader``, listed in ``__init__.pyi``); scikit-learn,
umap-learn and pandas are imported by the functions that use them.
"""

import lazy_loader as _lazy

# The public names and their modules are listed in __init__.pyi (also read by type checkers).
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
