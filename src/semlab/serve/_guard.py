"""Request checks that run before any route: the ``Host`` allow-list, same-origin writes, the body limit.

The app is driven by one person on this machine (or one who holds the token), so:

- ``Host`` must name this server — a loopback name (``localhost``, ``127.0.0.1``, ``[::1]``)
  or a host the server was bound to — else 400.  This defeats DNS rebinding, where a page on
  another site points its own name at 127.0.0.1.
- A state-changing request (anything but GET, HEAD, OPTIONS) that a browser marks as coming
  from another origin — an ``Origin`` (or, without one, a ``Referer``) whose scheme, host and
  port differ from this server's, ``Origin: null``, or ``Sec-Fetch-Site`` other than
  ``same-origin``/``none`` — is refused with 403.  Another port on 127.0.0.1 is another
  origin (though the same *site*, so a SameSite cookie alone would travel with it).
  Clients that are not browsers send none of these headers and are not affected.
- The body of an upload is counted while it arrives: past the limit the request is answered
  413 at once, so a chunked upload without ``Content-Length`` is never spooled whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException

__all__ = ["LOOPBACK_NAMES", "RequestGuard", "allowed_hosts", "split_host"]

#: Host names that always mean this machine.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Slack over the per-file limit for the multipart envelope and the form fields.
BODY_SLACK = 1_000_000


def split_host(value: str) -> tuple[str, int | None] | None:
    """(lower-case host name, port or None) of a ``Host`` value, or None when malformed.

    >>> split_host("LocalHost:8000"), split_host("[::1]:80"), split_host("a b")
    (('localhost', 8000), ('::1', 80), None)
    """
    text = value.strip().lower()
    if not text or any(c.isspace() or c in "/@\\?#" for c in text):
        return None
    host, port = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    elif ":" in text:
        return None
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        return None
    return (host.rstrip("."), int(port) if port else None) if host else None


def allowed_hosts(bound: Iterable[str] = ()) -> frozenset[str]:
    """Host names accepted in ``Host``: the loopback names plus each bound host.

    A wildcard bind (``0.0.0.0``, ``::``) adds this machine's host name, its fully
    qualified name and their addresses, so colleagues can use the address the server printed.
    """
    import socket

    names = set(LOOPBACK_NAMES)
    for host in bound:
        h = host.strip().strip("[]").lower()
        if h in ("0.0.0.0", "::", ""):
            for name in {socket.gethostname(), socket.getfqdn()}:
                names.add(name.lower())
                try:
                    names.update(str(info[4][0]).lower() for info in socket.getaddrinfo(name, None))
                except OSError:
                    pass
        else:
            names.add(h)
    return frozenset(names)


def _origin_of(url: str) -> tuple[str, str, int | None] | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    found = split_host(parts.netloc)
    if found is None:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), found[0], found[1] if found[1] is not None else default


class RequestGuard:
    """ASGI middleware applying the checks of this module (see the module docstring).

    Parameters
    ----------
    app : ASGI application
    hosts : frozenset of str
        Accepted ``Host`` names (:func:`allowed_hosts`).
    max_body : dict
        Path → largest body in bytes for POSTs to that path.
    access : callable, optional
        ``access(request)`` → a response that refuses the request (token checks), or None;
        run after the Host check and before the origin check.
    """

    def __init__(
        self, app: Any, *, hosts: frozenset[str], max_body: dict[str, int], access: Any = None
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.max_body = max_body
        self.access = access

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self._host_problem(headers.get("host"))
        if problem is None and self.access is not None:
            from starlette.requests import Request

            refused = self.access(Request(scope))
            if refused is not None:
                await refused(scope, receive, send)
                return
        if problem is None and scope["method"].upper() not in _SAFE_METHODS:
            problem = self._origin_problem(headers, scope)
        if problem is not None:
            await _send_error(send, *problem)
            return
        limit = self.max_body.get(scope["path"]) if scope["method"].upper() == "POST" else None
        if limit is not None:
            receive = _counting(receive, limit)
        await self.app(scope, receive, send)

    def _host_problem(self, host: str | None) -> tuple[int, str] | None:
        found = split_host(host or "")
        if found is None or found[0] not in self.hosts:
            shown = (host or "")[:80]
            return 400, (
                f"Host header {shown!r} is not this server's; open it as http://127.0.0.1:PORT/ "
                "(or the address `semlab serve` printed)"
            )
        return None

    def _origin_problem(self, headers: dict[str, str], scope: Any) -> tuple[int, str] | None:
        site = headers.get("sec-fetch-site", "").lower()
        if site and site not in ("same-origin", "none"):
            return (
                403,
                f"cross-origin request refused (Sec-Fetch-Site: {site[:40]}); use this server's own page",
            )
        given = headers.get("origin") or headers.get("referer")
        if given is None:
            return None
        here = _origin_of(f"{scope.get('scheme', 'http')}://{headers.get('host', '')}")
        there = _origin_of(given) if given.lower() != "null" else None
        if here is None or there != here:
            return 403, f"cross-origin request refused (from {given[:80]!r}); use this server's own page"
        return None


def _counting(receive: Any, limit: int) -> Any:
    """``receive`` that raises 413 as soon as more than ``limit`` body bytes arrived."""
    seen = 0

    async def wrapped() -> Any:
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(
                    413,
                    f"upload is over {seen / 2**20:.1f} MB so far; the limit is "
                    f"{(limit - BODY_SLACK) / 2**20:.0f} MB per file",
                )
        return message

    return wrapped


async def _send_error(send: Any, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
