"""``semlab map`` (stage: maps)."""

from __future__ import annotations

from semlab.cli import app  # noqa: F401
