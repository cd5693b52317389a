"""``semlab relate, predict-property`` (stage: relate)."""

from __future__ import annotations

from semlab.cli import app  # noqa: F401
