"""The local web app: FastAPI backend and its static front end over the same public API.

>>> from semlab.serve import create_app   # doctest: +SKIP
>>> app = create_app("my-study")          # doctest: +SKIP

``semlab serve WORKSPACE`` runs it with uvicorn on 127.0.0.1:8000.  Upload micrographs
(TIFF 8/16-bit with vendor metadata, PNG, JPEG) and choose what to run on each: predict
(a trained model of ``semlab train``), segment (overlay), quantify (2-D descriptors) and
place on the map.  Work runs in a background thread; uploads and results are kept in the
workspace's catalog (tables ``serve_uploads`` and ``serve_jobs``) and files under
``<workspace>/serve/``.  See :mod:`semlab.serve.app` for the routes and the token rules.

Importing this package does not import FastAPI (``create_app`` is loaded on first use).
"""

import lazy_loader as _lazy

# The public names and their modules are listed in __init__.pyi (also read by type checkers).
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
