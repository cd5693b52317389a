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

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "is_loopback", "new_token"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A random access token (32 URL-safe characters)."""
    import secrets

    return secrets.token_urlsafe(24)


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from semlab.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'semlab.serve' has no attribute {name!r}")
