"""``semlab generate train/sample/evaluate`` (stage: generate)."""

from __future__ import annotations

from semlab.cli import app  # noqa: F401
