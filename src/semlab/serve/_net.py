"""Network helpers of the web app that need no web framework (used by ``semlab serve``)."""

from __future__ import annotations

__all__ = ["is_loopback", "new_token"]


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
