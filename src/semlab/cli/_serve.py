"""``semlab serve`` (stage: serve)."""

from __future__ import annotations

from semlab.cli import app  # noqa: F401
