"""Scale out: semlab's per-image work on a Ray cluster, results written by the one driver.

>>> from semlab.features import embed_workspace
>>> table = embed_workspace("my-study", engine="ray", address="auto")  # doctest: +SKIP

The stages (``embed_workspace``, ``segment_files``, ``descriptor_table``,
``Predictor.predict``) take ``engine="local"`` (default, unchanged) or ``"ray"`` and hand
their per-image work to :func:`run_batches`: a Ray Data pipeline over the list of items
(image hashes or paths, never image bytes), an actor pool whose workers set their model up
once, and results streamed back to the calling process, which alone writes the workspace's
cache and catalog.  Importing this package does not import Ray; :func:`ray_session` does,
when a run asks for it.  See docs/scale.md.
"""

import lazy_loader as _lazy

# The public names and their modules are listed in __init__.pyi (also read by type checkers).
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
