"""``semlab embed`` (stage: features)."""

from __future__ import annotations

from semlab.cli import app  # noqa: F401
